"""Graders for lab 5.3: the labels a launch-day model may learn from, the threshold from costs,
and the promotion decision from a paired interval.

Each grader builds its own data (a few weeks of the bank's payments, made with the course's
generator, and small hand-made cases), calls the reader's function, and says PASS or what to fix.

    >>> from cardfraud.exercises import lab_5_3
    >>> lab_5_3.grade_labels(training_labels)
    PASS  exercise labels: ...
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from cardfraud.costs import REVIEW_COST_EUR, THRESHOLD_GRID, cost_threshold, expected_cost, incumbent_rule
from cardfraud.decisions import MIN_POSITIVES, PROMOTION_MARGIN, average_precision
from cardfraud.exercises import Exercise, Mistake
from cardfraud.labels import LABEL_MATURITY_DAYS, as_timestamp, matured, with_labels_as_known

LABELS = Exercise("labels", passed="the rows a model may learn from on the day, with the labels known that day")
THRESHOLD = Exercise("threshold", passed="the threshold with the lowest expected cost, on every case")
PROMOTION = Exercise("promotion", passed="promotes, keeps or waits exactly when the paired interval says so")
NAMES = ["labels", "threshold", "promotion"]

BANK_START = "2026-01-05"
BANK_AS_OF = "2026-02-02"  # four weeks of payments: two matured weeks to train on, one to judge
_DAY = pd.Timedelta(days=1)


@lru_cache(maxsize=1)
def _bank() -> pd.DataFrame:
    """Four weeks of a small bank's payments (the course's generator, its own seed)."""
    from cardfraud import generate

    return generate(start=BANK_START, days=28, transactions_per_day=600, n_customers=1_500, seed=7)


def bank_score(rows: pd.DataFrame) -> np.ndarray:
    """A scoring formula over the course's features (no training: graders must be fast), better
    than the bank's rule and roughly calibrated: it stands in for a model in the graders' cases."""
    logit = (-7.0 + 2.0 * rows["is_foreign"] + 1.0 * (rows["channel"] == "online") + 0.8 * (rows["hour"] < 6)
             + 0.7 * np.log(rows["tx_count_1h"]) + 40 * rows["merchant_risk_rate"]
             + 0.8 * np.log(rows["amount_to_avg_ratio"].clip(0.05, 50)))
    return (1 / (1 + np.exp(-logit))).to_numpy()


@lru_cache(maxsize=1)
def _bank_week() -> tuple[pd.DataFrame, np.ndarray]:
    """The bank's matured week on ``BANK_AS_OF`` (labels as known) and ``bank_score`` on it."""
    from cardfraud.features import build_features
    from cardfraud.labels import decision_windows

    _, week = decision_windows(build_features(_bank()), BANK_AS_OF)
    return week, bank_score(week)


# --- labels: the training set of a day, with the labels known that day ---


def _edge_payments(as_of: pd.Timestamp) -> pd.DataFrame:
    """Seven payments around the two boundaries: a payment's age, and when its chargeback arrived."""
    cases = [  # (name, age of the payment on as_of, is_fraud, chargeback or dispute window after the payment)
        ("fraud, charged back long ago", pd.Timedelta(days=30), 1, pd.Timedelta(days=6)),
        ("fraud, chargeback still on its way", pd.Timedelta(days=20), 1, pd.Timedelta(days=25)),
        ("fraud, chargeback at 06:00 on as_of", pd.Timedelta(days=16), 1, pd.Timedelta(days=16, hours=6)),
        ("fraud, chargeback exactly at as_of", pd.Timedelta(days=18), 1, pd.Timedelta(days=18)),
        ("legitimate, 15 days old", pd.Timedelta(days=15), 0, pd.Timedelta(days=30)),
        ("fraud, 13.5 days old, already charged back", pd.Timedelta(days=13, hours=12), 1, pd.Timedelta(days=3)),
        ("legitimate, 2 days old", pd.Timedelta(days=2), 0, pd.Timedelta(days=30)),
    ]
    times = [as_of - age for _, age, _, _ in cases]
    return pd.DataFrame({
        "transaction_id": np.arange(1, len(cases) + 1),
        "event_timestamp": pd.DatetimeIndex(times).as_unit("ns"),
        "amount": 50.0,
        "is_fraud": np.array([fraud for _, _, fraud, _ in cases], dtype="int8"),
        "label_available_at": pd.DatetimeIndex([t + delay for t, (_, _, _, delay) in zip(times, cases)]).as_unit("ns"),
        "case": [name for name, _, _, _ in cases],
    })


def _labels_of(candidate, transactions: pd.DataFrame, as_of: str) -> pd.Series:
    """The candidate's labels, by transaction_id, checked for shape."""
    answer = candidate(transactions.copy(), as_of)
    if not isinstance(answer, pd.DataFrame):
        raise Mistake(f"return the rows as a DataFrame (with their columns and `is_fraud`), not a {type(answer).__name__}")
    missing = {"transaction_id", "is_fraud"} - set(answer.columns)
    if missing:
        raise Mistake(f"keep the payments' columns: {sorted(missing)} missing from what you returned")
    if answer["transaction_id"].duplicated().any():
        raise Mistake("each payment appears once in the training set: your rows repeat some")
    return answer.set_index("transaction_id")["is_fraud"].astype(int)


def _diagnose_labels(got: pd.Series, transactions: pd.DataFrame, as_of: str) -> None:
    expected = with_labels_as_known(transactions[matured(transactions, as_of)], as_of).set_index("transaction_id")["is_fraud"]
    by_id = transactions.set_index("transaction_id")
    extra = got.index.difference(expected.index)
    if len(extra):
        youngest = (as_timestamp(as_of) - by_id.loc[extra, "event_timestamp"]).min()
        which = f"some made after {as_of} itself" if youngest < pd.Timedelta(0) else f"the youngest {youngest.days} days old"
        raise Mistake(
            f"you kept {len(extra)} payment(s) younger than {LABEL_MATURITY_DAYS} days on {as_of} ({which}): their "
            "chargebacks have not had time to arrive, so they would teach the model that recent fraud is "
            f"legitimate. Keep only payments before as_of - {LABEL_MATURITY_DAYS} days"
        )
    dropped = expected.index.difference(got.index)
    if len(dropped):
        frauds = int(by_id.loc[dropped, "is_fraud"].sum())
        raise Mistake(
            f"you dropped {len(dropped)} payment(s) old enough to train on ({len(dropped) - frauds} of them legitimate). "
            "A matured payment without a chargeback is a legitimate example: keep it with label 0 "
            "(its dispute window may still be open; that does not make it unknown)"
        )
    got = got.loc[expected.index]
    final = by_id.loc[expected.index, "is_fraud"].astype(int)
    arrival = by_id.loc[expected.index, "label_available_at"]
    late = (got == 1) & (expected == 0) & (final == 1)
    if late.any():
        first = arrival[late].min()
        if (arrival[late] >= as_timestamp(as_of) + 2 * _DAY).any():
            raise Mistake(
                f"{int(late.sum())} of your frauds had no chargeback by {as_of} (the latest arrived on {arrival[late].max().date()}): "
                "that is the final label, which nobody has on the day (an oracle). A fraud counts only once its "
                "chargeback has arrived: label_available_at <= as_of"
            )
        raise Mistake(
            f"you counted a chargeback that arrived after {as_of} (at {first}): compare the full timestamp, "
            "label_available_at <= as_of, not its date"
        )
    wrong = got != expected
    if wrong.any():
        raise Mistake(
            f"{int(wrong.sum())} label(s) differ from what the bank knew on {as_of}, e.g. payment "
            f"{wrong.idxmax()}: 1 for a fraud whose chargeback arrived by as_of, 0 for every other payment"
        )


@LABELS.check
def _labels_on_the_bank(candidate) -> None:
    transactions = _bank()
    for as_of in ("2026-01-26", BANK_AS_OF):
        _diagnose_labels(_labels_of(candidate, transactions, as_of), transactions, as_of)


@LABELS.check
def _labels_at_the_boundaries(candidate) -> None:
    as_of = "2026-02-16"
    payments = _edge_payments(as_timestamp(as_of))
    got = _labels_of(candidate, payments.drop(columns="case"), as_of)
    expected = with_labels_as_known(payments[matured(payments, as_of)], as_of).set_index("transaction_id")["is_fraud"]
    names = payments.set_index("transaction_id")["case"]
    for transaction_id in names.index:
        if transaction_id in expected.index and transaction_id not in got.index:
            raise Mistake(f"on {as_of} the payment '{names[transaction_id]}' belongs in the training set: you dropped it")
        if transaction_id not in expected.index and transaction_id in got.index:
            raise Mistake(f"on {as_of} the payment '{names[transaction_id]}' is too young to train on "
                          f"(younger than {LABEL_MATURITY_DAYS} days): you kept it")
        if transaction_id in expected.index and int(got[transaction_id]) != int(expected[transaction_id]):
            raise Mistake(f"'{names[transaction_id]}': its label on {as_of} is {int(expected[transaction_id])}, "
                          f"you gave {int(got[transaction_id])} (a chargeback counts when label_available_at <= as_of)")


def grade_labels(candidate):
    """Grade ``candidate(transactions, as_of) -> DataFrame``: the rows to train on, labels as known."""
    return LABELS.grade(candidate)


# --- threshold: the one decision threshold, from what a review and a missed fraud cost ---


def _threshold_cases() -> dict[str, tuple[pd.DataFrame, np.ndarray]]:
    """Hand-made cases where the usual shortcuts pick another threshold than the cheapest."""
    rng = np.random.default_rng(3)
    legit = 2_000
    scores_legit = rng.beta(1, 60, size=legit)  # most legitimate payments score near 0
    # Big frauds the model is unsure about, small frauds it is sure about.
    big = pd.DataFrame({"amount": 4_000.0, "is_fraud": 1, "score": rng.uniform(0.004, 0.012, size=6)})
    small = pd.DataFrame({"amount": 15.0, "is_fraud": 1, "score": rng.uniform(0.3, 0.95, size=40)})
    payments = pd.DataFrame({"amount": rng.gamma(2.0, 30.0, size=legit), "is_fraud": 0, "score": scores_legit})
    big_and_unsure = pd.concat([payments, big, small], ignore_index=True)
    # Frauds worth less than a review: the cheapest is to flag (almost) nothing.
    tiny = pd.DataFrame({"amount": 4.0, "is_fraud": 1, "score": rng.uniform(0.02, 0.6, size=60)})
    not_worth_a_review = pd.concat([payments, tiny], ignore_index=True)
    return {name: (frame.drop(columns="score"), frame["score"].to_numpy())
            for name, frame in {"big frauds with low scores": big_and_unsure,
                                "frauds worth less than a review": not_worth_a_review}.items()}


def _threshold_answer(candidate, rows: pd.DataFrame, scores: np.ndarray) -> float:
    answer = candidate(rows.copy(), scores.copy())
    try:
        return float(answer)
    except (TypeError, ValueError):
        raise Mistake(f"return one threshold (a float), not a {type(answer).__name__}") from None


def _check_threshold(candidate, name: str, rows: pd.DataFrame, scores: np.ndarray) -> None:
    got = _threshold_answer(candidate, rows, scores)
    best = cost_threshold(rows, scores)
    cost_got, cost_best = expected_cost(rows, scores, got), expected_cost(rows, scores, best)
    if cost_got <= cost_best + 1e-6:
        return
    if got == 0.5:
        raise Mistake(
            f"{name}: 0.5 is nobody's decision, only predict()'s default: it costs EUR {cost_got:,.0f} where "
            f"{best} costs EUR {cost_best:,.0f}. Try every threshold of THRESHOLD_GRID and keep the cheapest"
        )
    if got == _flag_below_threshold(rows, scores):
        raise Mistake(
            f"{name}: your threshold {got} is the cheapest if payments *below* it are flagged; a payment is "
            "flagged when its score is at or above the threshold (score >= threshold)"
        )
    if got in _count_threshold(rows, scores):
        amounts = rows.loc[rows["is_fraud"] == 1, "amount"]
        raise Mistake(
            f"{name}: your threshold {got} would be right if every missed fraud cost the same; a missed fraud "
            f"costs its amount (from EUR {amounts.min():,.0f} to EUR {amounts.max():,.0f} here), a review "
            f"EUR {REVIEW_COST_EUR:.0f}. Add up rows['amount'] of the frauds you let through"
        )
    raise Mistake(
        f"{name}: your threshold {got} costs EUR {cost_got:,.0f}; {best} costs EUR {cost_best:,.0f}. The cost of a "
        f"threshold is EUR {REVIEW_COST_EUR:.0f} per payment flagged (score >= threshold) plus the amount of every "
        "fraud not flagged; return the threshold of THRESHOLD_GRID where it is lowest"
    )


def _flag_below_threshold(rows: pd.DataFrame, scores: np.ndarray) -> float:
    """The threshold the search picks when it flags the payments scoring *below* it."""
    fraud, amount = (rows["is_fraud"] == 1).to_numpy(), rows["amount"].to_numpy()
    costs = [REVIEW_COST_EUR * (scores < t).sum() + amount[fraud & (scores >= t)].sum() for t in THRESHOLD_GRID]
    return float(THRESHOLD_GRID[int(np.argmin(costs))])


def _count_threshold(rows: pd.DataFrame, scores: np.ndarray) -> set[float]:
    """Thresholds that ignoring the amounts would pick: fraud counts, or every fraud at the mean amount."""
    fraud = (rows["is_fraud"] == 1).to_numpy()
    picks = set()
    for miss_cost in (1.0, REVIEW_COST_EUR, float(rows["amount"].mean()), float(rows.loc[fraud, "amount"].mean())):
        costs = [REVIEW_COST_EUR * (scores >= t).sum() + miss_cost * (fraud & (scores < t)).sum() for t in THRESHOLD_GRID]
        picks.add(float(THRESHOLD_GRID[int(np.argmin(costs))]))
    errors = [((scores >= t) & ~fraud).sum() + (fraud & (scores < t)).sum() for t in THRESHOLD_GRID]
    picks.add(float(THRESHOLD_GRID[int(np.argmin(errors))]))
    return picks


@THRESHOLD.check
def _threshold_on_the_bank(candidate) -> None:
    week, scores = _bank_week()
    _check_threshold(candidate, "the bank's matured week", week, scores)


@THRESHOLD.check
def _threshold_on_edge_cases(candidate) -> None:
    for name, (rows, scores) in _threshold_cases().items():
        _check_threshold(candidate, name, rows, scores)


def grade_threshold(candidate):
    """Grade ``candidate(rows, scores) -> float``: the threshold of THRESHOLD_GRID with the lowest cost."""
    return THRESHOLD.grade(candidate)


# --- promotion: the decision from the paired interval of the gain ---


def _correlated(seed: int, rows: int, frauds: int, extra: float, rho: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels and two models' scores: the challenger separates fraud by ``extra`` more, and its
    errors correlate with the champion's by ``rho`` (two versions of one model correlate highly)."""
    rng = np.random.default_rng(seed)
    y = np.zeros(rows, dtype=int)
    y[rng.choice(rows, frauds, replace=False)] = 1
    champion = rng.normal(size=rows)
    challenger = rho * champion + np.sqrt(1 - rho**2) * rng.normal(size=rows)
    return y, champion + 2.0 * y, challenger + (2.0 + extra) * y


def _shifted(seed: int, rows: int, frauds: int, shift: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The champion's own scores, every fraud raised by ``shift``: a small gain, measured precisely."""
    rng = np.random.default_rng(seed)
    y = np.zeros(rows, dtype=int)
    y[rng.choice(rows, frauds, replace=False)] = 1
    champion = rng.normal(size=rows) + 2.0 * y
    return y, champion, champion + shift * y


# Each case's gain and 95% paired interval, as `cardfraud.decisions.compare` measures them, are far
# enough from the margin that any seed and 500 to 2,000 resamples give the same decision (tested).
PROMOTION_CASES = {
    "clear win": (_correlated, (0, 1_500, 100, 0.5, 0.8), "promote"),  # +0.185 [+0.12, +0.25]
    "clear loss": (_correlated, (0, 1_500, 100, -0.5, 0.8), "keep"),  # -0.185 [-0.26, -0.11]
    "a small gain, measured on the same rows": (_correlated, (0, 1_500, 100, 0.2, 0.99), "promote"),  # +0.084 [+0.06, +0.11]
    "ahead by more than the margin, interval straddling it": (_correlated, (0, 1_500, 100, 0.1, 0.8), "not enough evidence"),  # +0.058 [-0.01, +0.13]
    "behind, interval reaching above the margin": (_correlated, (2, 1_500, 100, 0.0, 0.8), "not enough evidence"),  # -0.031 [-0.09, +0.03]
    "ahead, but surely by less than the margin": (_shifted, (0, 1_500, 100, 0.02), "keep"),  # +0.008 [+0.005, +0.012]
    "a big gain on 20 known frauds": (_correlated, (0, 1_500, 20, 1.0, 0.8), "not enough evidence"),  # +0.457 [+0.27, +0.61]
}


def _decision(candidate, y, champion, challenger) -> str:
    answer = candidate(y.copy(), champion.copy(), challenger.copy())
    if answer not in ("promote", "keep", "not enough evidence"):
        raise Mistake(f"return 'promote', 'keep' or 'not enough evidence', not {answer!r}")
    return answer


def _case(name: str):
    make, arguments, expected = PROMOTION_CASES[name]
    y, champion, challenger = make(*arguments)
    return y, champion, challenger, expected


def _point_gain(y, champion, challenger) -> float:
    return float(average_precision(y, challenger)[0] - average_precision(y, champion)[0])


@PROMOTION.check
def _promotion_clear_cases(candidate) -> None:
    for name in ("clear win", "clear loss"):
        y, champion, challenger, expected = _case(name)
        got = _decision(candidate, y, champion, challenger)
        if got != expected:
            raise Mistake(f"{name} (gain {_point_gain(y, champion, challenger):+.3f} of PR-AUC on {y.sum()} known frauds): "
                          f"expected '{expected}', you said '{got}'")


@PROMOTION.check
def _promotion_on_the_bank(candidate) -> None:
    week, scores = _bank_week()
    y = week["is_fraud"].to_numpy()
    got = _decision(candidate, y, incumbent_rule(week), scores)
    if got != "promote":
        raise Mistake(f"a scoring formula against the bank's rule on its matured week (gain {_point_gain(y, incumbent_rule(week), scores):+.2f} "
                      f"of PR-AUC, {y.sum()} known frauds): the interval clears the margin by far; you said '{got}'")


@PROMOTION.check
def _promotion_is_paired(candidate) -> None:
    y, champion, challenger, _ = _case("a small gain, measured on the same rows")
    got = _decision(candidate, y, champion, challenger)
    if got == "not enough evidence":
        raise Mistake(
            "two versions of one model, the challenger ahead by +0.08 on the same rows: the paired interval is "
            "[+0.06, +0.11], so promote. Yours was too wide: resample the rows once per draw and score both "
            "models on that same draw (paired); resampling each model on its own adds both models' noise"
        )
    if got != "promote":
        raise Mistake(f"a challenger ahead by +0.08 with a paired interval of [+0.06, +0.11]: promote, you said '{got}'")


@PROMOTION.check
def _promotion_reads_the_whole_interval(candidate) -> None:
    answers = {name: _decision(candidate, *_case(name)[:3]) for name in (
        "behind, interval reaching above the margin",
        "ahead by more than the margin, interval straddling it",
        "ahead, but surely by less than the margin",
    )}
    if answers["behind, interval reaching above the margin"] == "promote":
        raise Mistake(
            f"a challenger behind by 0.03 with an interval of [-0.09, +0.03]: you promoted because the interval "
            f"reaches above the margin ({PROMOTION_MARGIN}). Promote only when all of it does: low > margin"
        )
    if answers["ahead by more than the margin, interval straddling it"] == "promote":
        raise Mistake(
            "a challenger ahead by +0.058 with an interval of [-0.01, +0.13]: that lead may be luck. Compare the "
            "interval with the margin, not the point estimates: promote only when low > margin"
        )
    if answers["ahead, but surely by less than the margin"] == "promote":
        raise Mistake(
            f"a challenger ahead by +0.008 with an interval of [+0.005, +0.012]: better, surely, but by less than "
            f"the margin ({PROMOTION_MARGIN}) a rollout needs; that is 'keep' (high < margin)"
        )
    for name, got in answers.items():
        expected = PROMOTION_CASES[name][2]
        if got != expected:
            raise Mistake(f"{name}: expected '{expected}', you said '{got}'. Keep when the whole interval lies below "
                          "the margin; when it contains the margin, there is not enough evidence either way")


@PROMOTION.check
def _promotion_counts_known_frauds(candidate) -> None:
    y, champion, challenger, _ = _case("a big gain on 20 known frauds")
    got = _decision(candidate, y, champion, challenger)
    if got != "not enough evidence":
        raise Mistake(
            f"a gain of {_point_gain(y, champion, challenger):+.2f} measured on {y.sum()} known frauds: with fewer than "
            f"MIN_POSITIVES ({MIN_POSITIVES}) the interval itself is unreliable. Say 'not enough evidence' first "
            "when y.sum() < MIN_POSITIVES"
        )


def grade_promotion(candidate):
    """Grade ``candidate(y, champion_scores, challenger_scores) -> str``: the promotion rule."""
    return PROMOTION.grade(candidate)
