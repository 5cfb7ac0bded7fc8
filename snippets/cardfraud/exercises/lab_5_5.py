"""Lab 5.5's exercises: PSI from scratch, the recall on the frauds confirmed so far, and the alert
rule that turns it into a ticket. Each grader builds its own data (seeded, offline, in about a
second) and says PASS, "not done yet", or the mistake it found.

    >>> from cardfraud.exercises import lab_5_5
    >>> lab_5_5.grade_psi(psi)
    >>> lab_5_5.grade_confirmed_recall(confirmed_recall)
    >>> lab_5_5.grade_recall_alert(recall_alert_rule)
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from cardfraud.exercises import Exercise, Mistake

EPSILON = 1e-4  # the floor for an empty bucket's share, as in cardfraud.monitoring
TOLERANCE = 0.002  # PSI: the quantile method and the bucket edges' side may differ a little
RELATIVE_TOLERANCE = 0.03

PSI = Exercise("psi")
RECALL = Exercise("confirmed_recall")
ALERT = Exercise("recall_alert")


# --- PSI -------------------------------------------------------------------------------------


def _psi(reference: pd.Series, current: pd.Series, bins: int = 10, cut_on: str = "reference",
         missing: str = "bucket", floor: bool = True) -> float:
    """The grader's own PSI, and the usual wrong ones: buckets cut on the current window,
    missing values dropped, empty buckets not floored."""
    if missing == "drop":
        reference, current = reference.dropna(), current.dropna()
    if pd.api.types.is_numeric_dtype(reference):
        basis = (reference if cut_on == "reference" else current).to_numpy(dtype=float)
        cuts = np.unique(np.nanquantile(basis, np.linspace(0, 1, bins + 1)[1:-1]))
        edges = np.r_[-np.inf, cuts, np.inf]
        ref_bucket = pd.cut(reference, edges, labels=False).astype(float)
        cur_bucket = pd.cut(current, edges, labels=False).astype(float)
    else:
        ref_bucket, cur_bucket = reference.astype(object), current.astype(object)
    ref_share = ref_bucket.fillna(-1).value_counts(normalize=True)
    cur_share = cur_bucket.fillna(-1).value_counts(normalize=True)
    buckets = ref_share.index.union(cur_share.index)
    ref_share, cur_share = ref_share.reindex(buckets, fill_value=0.0), cur_share.reindex(buckets, fill_value=0.0)
    if floor:
        ref_share, cur_share = ref_share.clip(lower=EPSILON), cur_share.clip(lower=EPSILON)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(((cur_share - ref_share) * np.log(cur_share / ref_share)).sum())


def _close(value: float, expected: float) -> bool:
    return bool(np.isfinite(value)) and abs(value - expected) <= max(TOLERANCE, RELATIVE_TOLERANCE * abs(expected))


def _call_psi(candidate, reference: pd.Series, current: pd.Series, **kwargs) -> float:
    value = candidate(reference.copy(), current.copy(), **kwargs)
    if isinstance(value, (pd.Series, pd.DataFrame)) or np.ndim(value) != 0:
        raise Mistake("return one number (a float): the sum of the bucket terms, not the table of them")
    return float(value)


@lru_cache(maxsize=1)
def _payments() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two weeks of the running example, small: the first as the reference, the second with
    larger, more online purchases (covariate drift)."""
    from cardfraud.features import build_features
    from cardfraud.generate import CovariateDrift, generate

    features = build_features(generate(start="2026-01-05", days=14, transactions_per_day=800, seed=5,
                                       drifts=[CovariateDrift("2026-01-12")]))
    second_week = features["event_timestamp"] >= pd.Timestamp("2026-01-12", tz="UTC")
    return features[~second_week], features[second_week]


@PSI.check
def _same_window_is_zero(candidate):
    reference = _payments()[0]["amount"]
    value = _call_psi(candidate, reference, reference)
    if not abs(value) < 1e-9:
        raise Mistake(f"a window compared with itself must give 0, yours gave {value:.4g}: "
                      "each term is (current share - reference share) x ln(current share / reference share)")


@PSI.check
def _empty_bucket(candidate):
    reference = pd.Series(["chip"] * 50 + ["contactless"] * 30 + ["online"] * 20)
    current = pd.Series(["chip"] * 60 + ["contactless"] * 40)  # nobody paid online today
    value = _call_psi(candidate, reference, current)
    if not np.isfinite(value):
        raise Mistake(f"PSI came out as {value} when a category is missing from one window: ln(0) is undefined. "
                      f"Floor each bucket's share at EPSILON = {EPSILON} before taking the log")
    expected = _psi(reference, current)
    if not _close(value, expected):
        if _close(value, _skip_empty(reference, current)):
            raise Mistake("a bucket empty in one window was left out of the sum: it is the biggest change of all. "
                          f"Keep it, with its share floored at EPSILON = {EPSILON}")
        raise Mistake(f"on channel shares 50/30/20 against 60/40/0, PSI is {expected:.3f}, yours {value:.3f}: "
                      f"one bucket per category seen in either window, shares floored at EPSILON = {EPSILON}")


def _skip_empty(reference: pd.Series, current: pd.Series) -> float:
    ref, cur = reference.value_counts(normalize=True), current.value_counts(normalize=True)
    both = ref.index.intersection(cur.index)
    return float(((cur[both] - ref[both]) * np.log(cur[both] / ref[both])).sum())


@PSI.check
def _buckets_from_the_reference(candidate):
    rng = np.random.default_rng(11)
    reference = pd.Series(rng.normal(0, 1, 5_000))
    current = pd.Series(rng.normal(0, 2, 5_000))  # the same centre, twice the spread
    value = _call_psi(candidate, reference, current)
    expected = _psi(reference, current)
    if _close(value, expected):
        return
    if _close(value, _psi(reference, current, cut_on="current")):
        raise Mistake("the buckets were cut at the current window's deciles: cut them at the reference's, so that "
                      "every day is measured on the same buckets (the reference is 10% per bucket by construction)")
    equal_width = np.linspace(min(reference.min(), current.min()), max(reference.max(), current.max()), 11)
    if _close(value, _psi_on_edges(reference, current, equal_width)):
        raise Mistake("equal-width buckets over both windows: cut at the reference's deciles instead "
                      "(np.nanquantile of the reference at 0.1, ..., 0.9), with open outer buckets")
    raise Mistake(f"a normal sample against one twice as wide: PSI {expected:.3f} on the reference's deciles, "
                  f"yours {value:.3f}")


def _psi_on_edges(reference: pd.Series, current: pd.Series, edges: np.ndarray) -> float:
    ref = pd.cut(reference, edges, include_lowest=True).value_counts(normalize=True).clip(lower=EPSILON)
    cur = pd.cut(current, edges, include_lowest=True).value_counts(normalize=True).reindex(ref.index, fill_value=0).clip(lower=EPSILON)
    return float(((cur - ref) * np.log(cur / ref)).sum())


@PSI.check
def _missing_values_count(candidate):
    reference, current = _payments()
    nulls = current["amount"].copy()
    nulls.iloc[::5] = np.nan  # the feed starts sending one amount in five empty
    for name, ref, cur in [("amount", reference["amount"], nulls),
                           ("channel", reference["channel"], current["channel"].where(np.arange(len(current)) % 5 != 0))]:
        value = _call_psi(candidate, ref, cur)
        expected = _psi(ref, cur)
        if _close(value, expected):
            continue
        if _close(value, _psi(ref, cur, missing="drop")):
            raise Mistake(f"{name}: the missing values were dropped, so a feed that starts sending nulls looks "
                          "stable. Give them a bucket of their own (in both windows)")
        raise Mistake(f"{name} with one value in five missing: PSI {expected:.3f}, yours {value:.3f} "
                      "(missing values get a bucket of their own)")


@PSI.check
def _running_example(candidate):
    reference, current = _payments()
    for column in ["amount", "avg_amount_7d", "channel", "merchant_category"]:
        value = _call_psi(candidate, reference[column], current[column])
        expected = _psi(reference[column], current[column])
        if not _close(value, expected):
            raise Mistake(f"on the running example's {column}, a week of covariate drift against the week before, "
                          f"PSI is {expected:.3f}, yours {value:.3f}")
    value = _call_psi(candidate, reference["amount"], current["amount"], bins=5)
    expected = _psi(reference["amount"], current["amount"], bins=5)
    if not _close(value, expected):
        raise Mistake(f"with bins=5 (quintiles) PSI is {expected:.3f}, yours {value:.3f}: use the bins argument")


def grade_psi(candidate):
    """PASS when ``candidate(reference, current, bins=10)`` computes PSI as cardfraud.monitoring does."""
    return PSI.grade(candidate)


# --- Recall on the frauds confirmed so far ------------------------------------------------------

AS_OF = pd.Timestamp("2026-03-10", tz="UTC")  # midnight: the monitor's run after 9 March
HOUR = pd.Timedelta(hours=1)
DAY = pd.Timedelta(days=1)


def _case(payments: list[tuple[pd.Timedelta, bool, pd.Timedelta | None]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A log and a chargeback feed from (payment time before AS_OF, flagged, chargeback delay or None)."""
    log = pd.DataFrame({
        "transaction_id": np.arange(1, len(payments) + 1),
        "event_timestamp": [AS_OF - before for before, _, _ in payments],
        "score": [0.9 if flagged else 0.001 for _, flagged, _ in payments],
        "flagged": [flagged for _, flagged, _ in payments],
    })
    feed = pd.DataFrame({
        "transaction_id": [i + 1 for i, (_, _, delay) in enumerate(payments) if delay is not None],
        "reported_at": [AS_OF - before + delay for before, _, delay in payments if delay is not None],
    })
    return log, feed


def _call_recall(candidate, log: pd.DataFrame, feed: pd.DataFrame, as_of=AS_OF, **kwargs) -> tuple[float, int]:
    result = candidate(log.copy(), feed.copy(), as_of, **kwargs)
    if not isinstance(result, tuple) or len(result) != 2:
        raise Mistake("return a pair: (recall, number of confirmed frauds it was measured on)")
    recall, count = result
    return float(recall), int(count)


def _expect(candidate, log, feed, expected: tuple[float, int], hint: str, **kwargs) -> None:
    recall, count = _call_recall(candidate, log, feed, **kwargs)
    want_recall, want_count = expected
    same = count == want_count and (np.isnan(recall) if np.isnan(want_recall) else abs(recall - want_recall) < 1e-9)
    if not same:
        raise Mistake(f"{hint} (expected {want_recall:.2f} on {want_count}, got {recall:.2f} on {count})")


@RECALL.check
def _only_frauds_in_the_denominator(candidate):
    log, feed = _case([(5 * HOUR, True, 4 * HOUR), (2 * DAY, False, DAY), (3 * HOUR, True, None), (6 * HOUR, True, None)])
    _expect(candidate, log, feed, (0.5, 2),
            "recall is the share of the confirmed frauds that were flagged: payments without a chargeback are "
            "neither in the numerator nor in the denominator")


@RECALL.check
def _no_chargeback_from_the_future(candidate):
    log, feed = _case([(5 * HOUR, True, 4 * HOUR), (2 * DAY, False, 3 * DAY)])  # the second reaches the bank tomorrow
    _expect(candidate, log, feed, (1.0, 1),
            "a chargeback that reaches the bank after as_of was counted: the bank did not know that fraud yet. "
            "Keep only the feed's rows with reported_at <= as_of")


@RECALL.check
def _timestamps_not_dates(candidate):
    log, feed = _case([(5 * HOUR, True, 4 * HOUR), (20 * HOUR, False, 26 * HOUR)])  # reported at 06:00 on the day of as_of
    _expect(candidate, log, feed, (1.0, 1),
            "a chargeback reported at 06:00 on as_of's date, six hours after the monitor ran, was counted: "
            "compare timestamps, not dates")


@RECALL.check
def _window_starts_window_days_back(candidate):
    log, feed = _case([(5 * HOUR, True, 4 * HOUR), (20 * DAY, False, 5 * DAY)])  # a miss three weeks ago
    _expect(candidate, log, feed, (1.0, 1),
            "a fraud paid 20 days before as_of was counted: the window is the last window_days of payments "
            "(event_timestamp >= as_of - window_days)")
    log, feed = _case([(5 * HOUR, True, 4 * HOUR), (14 * DAY - HOUR, False, 5 * DAY)])  # inside, by an hour
    _expect(candidate, log, feed, (0.5, 2),
            "a fraud paid 13 days and 23 hours before as_of was left out: the window covers window_days full days")
    log, feed = _case([(5 * HOUR, True, 4 * HOUR), (10 * DAY, False, 5 * DAY)])
    _expect(candidate, log, feed, (1.0, 1), "with window_days=7, a fraud paid 10 days ago was counted: use the argument",
            window_days=7)


@RECALL.check
def _nothing_confirmed_yet(candidate):
    log, feed = _case([(5 * HOUR, True, None), (2 * DAY, False, 3 * DAY)])
    recall, count = _call_recall(candidate, log, feed)
    if count != 0 or not np.isnan(recall):
        raise Mistake(f"with no fraud confirmed yet, return (nan, 0), not ({recall:.2f}, {count}): a recall of 0 "
                      "would fire the alert on a day with no evidence at all")


@lru_cache(maxsize=1)
def _served_weeks() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Five weeks of payments with a made-up score that catches most fraud, logged at the course's threshold."""
    from cardfraud.costs import DECISION_THRESHOLD
    from cardfraud.generate import generate
    from cardfraud.monitoring import chargebacks

    payments = generate(start="2026-02-02", days=35, transactions_per_day=400, seed=9)
    rng = np.random.default_rng(9)
    score = np.where(payments["is_fraud"] == 1, rng.beta(2, 1, len(payments)), rng.beta(1, 40, len(payments)))
    log = payments[["transaction_id", "event_timestamp"]].assign(score=score, flagged=score >= DECISION_THRESHOLD)
    return log, chargebacks(payments)


@RECALL.check
def _running_example_recall(candidate):
    from cardfraud.monitoring import confirmed_recall

    log, feed = _served_weeks()
    for as_of in pd.date_range("2026-02-10", "2026-03-09", freq="6D", tz="UTC"):
        expected = confirmed_recall(log, feed, as_of)
        _expect(candidate, log, feed, expected, f"on five weeks of payments, as of {as_of.date()}", as_of=as_of)


def grade_confirmed_recall(candidate):
    """PASS when ``candidate(log, feed, as_of, window_days=14)`` measures recall on the frauds known at ``as_of``."""
    return RECALL.grade(candidate)


# --- The alert rule, tested by promtool ------------------------------------------------------------

MODEL = "fraud-detector"
RECALL_SERIES = f'cardfraud_confirmed_fraud_recall{{model="{MODEL}"}}'
CONFIRMED_SERIES = f'cardfraud_confirmed_fraud{{model="{MODEL}"}}'
MINUTES = {"h": 60, "d": 1440}


STEP = 10  # minutes between samples and between rule evaluations: fine enough for durations in hours


def _held(*parts: tuple[float, int]) -> str:
    """promtool's notation for values held for whole minutes: ((value, minutes), ...), a sample every STEP."""
    return " ".join(f"{value!r}x{minutes // STEP - 1}" for value, minutes in parts)


def _psi_series(minutes: int) -> list[dict]:
    """The inputs barely move (concept drift); merchant_risk_rate moves by design."""
    return [
        {"series": f'cardfraud_feature_psi{{model="{MODEL}", feature="amount"}}', "values": _held((0.01, minutes))},
        {"series": f'cardfraud_feature_psi{{model="{MODEL}", feature="merchant_risk_rate"}}', "values": _held((5.2, minutes))},
    ]


def _scenario(recall: list[tuple[float, int]], confirmed: list[tuple[int, int]]) -> list[dict]:
    minutes = sum(m for _, m in recall)
    return [{"series": RECALL_SERIES, "values": _held(*recall)},
            {"series": CONFIRMED_SERIES, "values": _held(*confirmed)}, *_psi_series(minutes)]


def _duration_minutes(text: str) -> float:
    """Minutes in a Prometheus duration such as 12h, 90m or 1d12h (0 for anything else)."""
    import re

    units = {"ms": 1 / 60_000, "s": 1 / 60, "m": 1, "h": 60, "d": 1440, "w": 10080, "y": 525600}
    parts = re.findall(r"(\d+)(ms|s|m|h|d|w|y)", str(text))
    return sum(int(n) * units[u] for n, u in parts)


def _promtool(directory: Path, *args: str) -> tuple[bool, str]:
    result = subprocess.run(["promtool", *args], cwd=directory, capture_output=True, text=True, check=False)
    return result.returncode == 0, (result.stdout + result.stderr).strip()


def _test_document(cases: list[tuple]) -> dict:
    """One promtool test file: a test group per (series, eval time, should fire) case."""
    alerts = {True: [{"exp_labels": {"model": MODEL, "severity": "ticket"}}], False: []}
    return {"rule_files": ["rule.yml"], "evaluation_interval": f"{STEP}m", "tests": [
        {"interval": f"{STEP}m", "input_series": series,
         "alert_rule_test": [{"eval_time": eval_time, "alertname": "CardfraudConfirmedRecallLow", "exp_alerts": alerts[fire]}]}
        for series, eval_time, fire, _ in cases
    ]}


def _passes(directory: Path, cases: list[tuple]) -> bool:
    import yaml

    (directory / "test.yml").write_text(yaml.safe_dump(_test_document(cases), sort_keys=False), encoding="utf-8")
    return _promtool(directory, "test", "rules", "test.yml")[0]


def _rule_directory(candidate) -> tuple[tempfile.TemporaryDirectory, dict]:
    import yaml

    if shutil.which("promtool") is None:
        raise Mistake("promtool is not installed: it comes with Prometheus (Debian/Ubuntu: apt install prometheus)")
    rule = candidate()
    if not isinstance(rule, dict) or not isinstance(rule.get("expr"), str) or not isinstance(rule.get("for"), str):
        raise Mistake('return a dict with two strings: {"expr": "<PromQL>", "for": "<duration, e.g. 30m>"}')
    folder = tempfile.TemporaryDirectory(prefix="recall-alert-")
    rules = {"groups": [{"name": "exercise", "rules": [{
        "alert": "CardfraudConfirmedRecallLow", "expr": rule["expr"], "for": rule["for"],
        "labels": {"severity": "ticket"},
    }]}]}
    (Path(folder.name) / "rule.yml").write_text(yaml.safe_dump(rules, sort_keys=False), encoding="utf-8")
    loaded, output = _promtool(Path(folder.name), "check", "rules", "rule.yml")
    if not loaded:
        folder.cleanup()
        raise Mistake("promtool cannot load your rule: " + " ".join(output.splitlines()[-2:]))
    return folder, rule


def _fires_when_healthy(rule):
    if "psi" in rule["expr"]:
        return ("your rule fired on a healthy day (recall 0.91): merchant_risk_rate's PSI is above 5 every day, "
                "by design, so a drift rule on it always fires. The model's misses show in the recall on confirmed fraud")
    return "your rule fired at recall 0.91: the condition is recall below RECALL_SLO (0.75), check the comparison's side"


def _silent_on_a_drop(rule):
    if "psi" in rule["expr"]:
        return ("your rule stayed silent while recall fell to 0.70 on 128 confirmed frauds: the fraudsters imitate "
                "customers, so no input's PSI moved (0.01). Alert on the recall on confirmed fraud")
    if _duration_minutes(rule["for"]) >= MINUTES["d"]:
        return (f"for: {rule['for']} holds a whole day of low recall back: the ticket comes a day late, and the recall "
                "is over 14 days of confirmed frauds already. Keep for: under a day")
    return "your rule did not fire after a day of recall 0.70 on 128 confirmed frauds"


DAY_MINUTES = MINUTES["d"]
# (series, eval time, should it fire, the hint when it does the opposite), in the order they are reported.
ALERT_CASES = [
    (_scenario([(0.91, 2 * DAY_MINUTES)], [(121, 2 * DAY_MINUTES)]), "47h50m", False, _fires_when_healthy),
    (_scenario([(0.76, DAY_MINUTES)], [(120, DAY_MINUTES)]), "23h50m", False,
     lambda rule: "your rule fired at recall 0.76: the SLO is 0.75 (RECALL_SLO), alert below it"),
    (_scenario([(0.667, DAY_MINUTES)], [(3, DAY_MINUTES)]), "23h50m", False,
     lambda rule: "your rule fired on recall 0.67 measured on 3 confirmed frauds: one miss more or less moves it by "
                  "33 points. Require at least MIN_CONFIRMED_FRAUD (20) confirmed frauds (cardfraud_confirmed_fraud >= 20), "
                  "joined with `and`"),
    (_scenario([(0.6, DAY_MINUTES)], [(19, DAY_MINUTES)]), "23h50m", False,
     lambda rule: "your rule fired on recall 0.60 measured on 19 confirmed frauds: require at least MIN_CONFIRMED_FRAUD (20)"),
    (_scenario([(0.91, 600), (0.6, 240), (0.91, 600)], [(120, 1440)]), "13h50m", False,
     lambda rule: f"your rule fired on a dip of 4 hours (for: {rule['for']}): one recomputation while a burst of "
                  "chargebacks lands is not a ticket. Make the condition hold longer with for:"),
    (_scenario([(0.91, DAY_MINUTES), (0.70, DAY_MINUTES)], [(121, DAY_MINUTES), (128, DAY_MINUTES)]), "47h50m", True,
     _silent_on_a_drop),
    (_scenario([(0.91, DAY_MINUTES), (0.6, DAY_MINUTES)], [(21, DAY_MINUTES), (25, DAY_MINUTES)]), "47h50m", True,
     lambda rule: "your rule did not fire on recall 0.60 over 25 confirmed frauds: the minimum is MIN_CONFIRMED_FRAUD (20), "
                  "not more"),
]


@ALERT.check
def _fires_exactly_when_it_should(candidate):
    """All cases in one promtool run; only when one fails, case by case, to say which."""
    folder, rule = _rule_directory(candidate)
    directory = Path(folder.name)
    try:
        if _passes(directory, ALERT_CASES):
            return
        for case in ALERT_CASES:
            series, eval_time, fire, hint = case
            if _passes(directory, [case]):
                continue
            if fire and _passes(directory, [(series, eval_time, False, hint)]):
                raise Mistake(hint(rule))
            if fire:
                raise Mistake("your alert fires, but not once with the labels {model, severity}: keep the series' model "
                              "label (an aggregation such as min() or sum() without `by (model)` drops it)")
            raise Mistake(hint(rule))
        raise Mistake("promtool failed on the cases together but passes each alone: run it yourself to see why")
    finally:
        folder.cleanup()


def grade_recall_alert(candidate):
    """PASS when the rule ``candidate()`` returns fires, by promtool, exactly when it should."""
    return ALERT.grade(candidate)
