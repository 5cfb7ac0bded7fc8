"""Graders for lab 5.4: the check one instance must pass, the stable bucket, the canary decision.

Each grader builds its own cases (no notebook state, no server, no network) and runs in well
under a second.

    >>> from cardfraud.exercises import lab_5_4
    >>> lab_5_4.grade_canary_decision(canary_decision)
    PASS  exercise canary_decision: correct on every case
"""

from __future__ import annotations

import builtins
import math

import numpy as np
import pandas as pd

from cardfraud.decisions import MIN_POSITIVES, PROMOTION_MARGIN, Comparison
from cardfraud.exercises import Exercise, Mistake

CHECK_INSTANCE = Exercise("check_instance")
STABLE_BUCKET = Exercise("stable_bucket")
CANARY_DECISION = Exercise("canary_decision")

# --- Exercise: check one instance --------------------------------------------------------------

# A payment from the running example, as the transformer sends it to the predictor.
VALID_INSTANCE = {
    "amount": 649.18, "hour": 0, "is_foreign": 0, "channel": "contactless", "merchant_category": "travel",
    "tx_count_1h": 3, "tx_count_24h": 3, "avg_amount_7d": 223.97, "amount_to_avg_ratio": 2.8985,
    "merchant_risk_rate": 0.01948,
}


def _without(key: str) -> dict:
    return {k: v for k, v in VALID_INSTANCE.items() if k != key}


# (name, instance, fields one of which the message must name, the hint when it is accepted)
BAD_INSTANCES = [
    ("a misspelt key", {**_without("tx_count_1h"), "tx_count_1hr": 3}, ["tx_count_1h", "tx_count_1hr"],
     "tx_count_1hr is a misspelt tx_count_1h: you accepted it, so tx_count_1h would reach the model as NaN. "
     "Compare the keys with FEATURE_COLUMNS both ways."),
    ("a missing key", _without("avg_amount_7d"), ["avg_amount_7d"],
     "an instance without avg_amount_7d passed: filled in as NaN, it would be scored as if the value were "
     "unknown, with a 200. Refuse every missing feature, by name."),
    ("an extra key", {**VALID_INSTANCE, "customer_name": "J. Smith"}, ["customer_name"],
     "an instance with an unknown key (customer_name) passed: a key the model ignores is usually a misspelling "
     "or the wrong schema version. Refuse unknown keys, by name."),
    ("a string where a number goes", {**VALID_INSTANCE, "amount": "649.18"}, ["amount"],
     'amount "649.18" (a string) passed: refuse a value whose type is not the feature\'s, by name.'),
    ("a bool where a number goes", {**VALID_INSTANCE, "is_foreign": True}, ["is_foreign"],
     "is_foreign: true passed: in Python `isinstance(True, int)` is True, but a JSON true is not the number "
     "the model was trained on. Refuse bools for numeric features."),
    ("a number where a string goes", {**VALID_INSTANCE, "channel": 2}, ["channel"],
     "channel: 2 passed: the categorical features take strings (the encoder would see an unknown category)."),
    ("a fraction where a count goes", {**VALID_INSTANCE, "tx_count_24h": 2.5}, ["tx_count_24h"],
     "tx_count_24h: 2.5 passed: a count is a whole number; refuse fractions for the integer features "
     "(hour, is_foreign, tx_count_1h, tx_count_24h)."),
]


@CHECK_INSTANCE.check
def _accepts_valid_instances(candidate):
    for instance in [VALID_INSTANCE, {**VALID_INSTANCE, "amount": 20, "tx_count_1h": 1.0}]:
        problem = candidate(dict(instance))
        if problem is not None:
            raise Mistake(f"a valid instance was refused ({problem!r}): return None when the model can score it "
                          "(an amount of 20 is a number too, and 1.0 is a whole number)")


@CHECK_INSTANCE.check
def _refuses_bad_instances(candidate):
    for name, instance, fields, hint in BAD_INSTANCES:
        problem = candidate(dict(instance))
        if problem is None:
            raise Mistake(f"{name}: {hint}")
        if not isinstance(problem, str) or not any(field in problem for field in fields):
            raise Mistake(f"{name}: you refused it, but your message {problem!r} does not name the field "
                          f"({' or '.join(fields)}): the client cannot fix what it is not told")


# --- Exercise: a stable bucket ------------------------------------------------------------------

UNITS = [f"2026-02-24-{n:04d}" for n in range(4_000)] + [str(n) for n in range(100_000, 104_000)]


def _values(candidate, salt: str = "fraud-canary-1") -> np.ndarray:
    return np.array([candidate(unit, salt) for unit in UNITS], dtype=float)


@STABLE_BUCKET.check
def _in_range(candidate):
    values = _values(candidate)
    if not np.all((values >= 0) & (values < 1)):
        raise Mistake(f"values must lie in [0, 1); got some in [{values.min():.3g}, {values.max():.3g}]")


@STABLE_BUCKET.check
def _same_every_time(candidate):
    if not np.array_equal(_values(candidate), _values(candidate)):
        raise Mistake("the same unit got a different bucket on a second call: random.random() (or any draw) "
                      "moves a customer between arms on every request. Derive the number from the unit id.")


@STABLE_BUCKET.check
def _same_in_every_process(candidate):
    """Python salts str hashes per process (PYTHONHASHSEED): another process is another hash()."""
    real_hash = builtins.hash
    before = _values(candidate)
    builtins.hash = lambda value: real_hash(("another process", value))
    try:
        after = _values(candidate)
    finally:
        builtins.hash = real_hash
    if not np.array_equal(before, after):
        raise Mistake("your buckets change with Python's hash(), which is salted per process (PYTHONHASHSEED): "
                      "every replica and every restart would put a unit in another arm. Use hashlib.")


@STABLE_BUCKET.check
def _evenly_spread(candidate):
    from scipy.stats import chisquare

    values = _values(candidate)
    counts = np.histogram(values, bins=20, range=(0, 1))[0]
    p = chisquare(counts).pvalue
    if p < 1e-4 or len(np.unique(values)) < 0.99 * len(values):
        raise Mistake(f"the buckets are not spread evenly over [0, 1) (chi-square p={p:.2g} over 20 bins, "
                      f"{len(np.unique(values))} distinct values for {len(values)} units): a 10% arm would not "
                      "get 10% of the units. Use enough bits of a cryptographic digest.")


@STABLE_BUCKET.check
def _salt_matters(candidate):
    first, second = _values(candidate, "experiment-a"), _values(candidate, "experiment-b")
    both_in_ten_percent = np.mean((first < 0.1) & (second < 0.1))
    if np.array_equal(first, second) or both_in_ten_percent > 0.02:
        raise Mistake("two salts give the same buckets: every experiment would put the same units in its small "
                      "arm, and the holdout would be the canary. Hash the salt with the unit id.")


# --- Exercise: the canary decision --------------------------------------------------------------

ARMS = ["v1", "v2"]


def _per_arm(requests=(900, 100), errors=(0, 0), p99=(0.20, 0.22), payments=(18_000, 2_000),
             alert_rate=(0.05, 0.05)) -> pd.DataFrame:
    return pd.DataFrame({"requests": requests, "errors": errors, "p99_seconds": p99, "payments": payments,
                         "alert_rate": alert_rate}, index=pd.Index(ARMS, name="arm"))


def _shadow(positives=120, low=0.03, high=0.09, champion=0.60, challenger=0.66) -> Comparison:
    from cardfraud.decisions import verdict

    return Comparison(champion, challenger, low, high, positives, 2_000, PROMOTION_MARGIN,
                      verdict(low, high, positives))


NAN = float("nan")
# (name, per_arm, challenger_share, shadow, expected, the hint when the answer differs)
CANARY_CASES = [
    ("a healthy canary with a clear gain", _per_arm(), 0.1, _shadow(), "promote",
     "every guardrail holds and the whole interval of the gain lies above the margin: promote."),
    ("a broken split", _per_arm(requests=(950, 50), errors=(0, 1)), 0.1, _shadow(), "hold",
     "950/50 where 900/100 was asked for is a sample-ratio mismatch (p < 0.001): check the split first and "
     "read nothing else, not even the errors. Test the requests against the shares with a chi-square test."),
    ("a broken split that looks like a win", _per_arm(requests=(955, 45)), 0.1, _shadow(), "hold",
     "you read quality before checking the split: with 45 requests where 100 were due, the arms are no longer "
     "comparable, however good the shadow looks."),
    ("a 50/50 split", _per_arm(requests=(500, 500), payments=(10_000, 10_000)), 0.5, _shadow(), "promote",
     "test the split against the share you were given (challenger_share), not a fixed 90/10."),
    ("errors in the challenger", _per_arm(errors=(0, 2)), 0.1, _shadow(), "rollback",
     "the challenger failed 2 requests the champion would have answered: roll back, whatever the shadow says."),
    ("a higher error rate", _per_arm(errors=(5, 1)), 0.1, _shadow(), "rollback",
     "1 failed request in 100 is a higher error rate than 5 in 900: compare rates, not counts, or a 10% arm "
     "may fail nine times as often as the champion and pass."),
    ("a slow challenger", _per_arm(p99=(2.4, 2.5)), 0.1, _shadow(), "rollback",
     "the challenger's p99 latency of 2.5 s is over the 2 s budget (MAX_P99_SECONDS): roll back, even if "
     "the champion is as slow. The budget is the gateway's timeout, not a ratio to the champion."),
    ("slower, within the budget", _per_arm(p99=(0.20, 0.35)), 0.1, _shadow(), "promote",
     "a p99 of 0.35 s is within the 2 s budget: the guardrail is the gateway's timeout, not a ratio to the "
     "champion (a ratio of two small samples of latencies flips with the load on the machine)."),
    ("significantly more alerts", _per_arm(payments=(1_800, 200), alert_rate=(0.05, 0.08)), 0.1, _shadow(), "rollback",
     "16 alerts in 200 payments against 5% is significantly more (one-sided p about 0.04): a two-sided test "
     "(p about 0.08) misses it. The guardrail asks one question: does the challenger raise MORE alerts?"),
    ("significantly fewer alerts", _per_arm(alert_rate=(0.05, 0.03)), 0.1, _shadow(), "promote",
     "the challenger raises fewer alerts than the champion: that is no breach of the alert guardrail, which "
     "is one-sided (alternative='larger', the challenger first)."),
    ("a single known fraud", _per_arm(), 0.1, _shadow(positives=1, low=NAN, high=NAN, champion=0.0, challenger=1.0),
     "continue", f"one known fraud is not evidence: with fewer than {MIN_POSITIVES} the comparison says "
     "'not enough evidence', so the canary continues."),
    ("a gain inside the margin", _per_arm(), 0.1, _shadow(low=-0.01, high=0.05), "continue",
     "the interval of the gain straddles the margin: not enough evidence either way, so the canary continues."),
    ("a challenger that is not better", _per_arm(), 0.1, _shadow(low=-0.08, high=0.01, challenger=0.57), "rollback",
     "the whole interval of the gain lies below the margin: the challenger is not worth a rollout, roll back."),
]


@CANARY_DECISION.check
def _decides_every_case(candidate):
    for name, per_arm, share, shadow, expected, hint in CANARY_CASES:
        got = candidate(per_arm.copy(), share, shadow)
        if got != expected:
            raise Mistake(f"{name}: expected {expected!r}, got {got!r}: {hint}")


def grade_check_instance(candidate, quiet: bool = False):
    return CHECK_INSTANCE.grade(candidate, quiet)


def grade_stable_bucket(candidate, quiet: bool = False):
    return STABLE_BUCKET.grade(candidate, quiet)


def grade_canary_decision(candidate, quiet: bool = False):
    return CANARY_DECISION.grade(candidate, quiet)


assert math.isclose(PROMOTION_MARGIN, 0.02), "the canary cases assume module 5.3's margin of 0.02"
