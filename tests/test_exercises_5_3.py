"""Lab 5.3's graders, three ways: the lab's solutions pass, its stubs are "not done yet", and
plausible wrong answers (each named after its mistake) fail with the hint that names it."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from cardfraud.costs import REVIEW_COST_EUR, THRESHOLD_GRID
from cardfraud.decisions import MIN_POSITIVES, PROMOTION_MARGIN, average_precision, compare, paired_interval
from cardfraud.exercises import FAIL, NOT_DONE, PASS, lab_5_3
from cardfraud.labels import LABEL_MATURITY_DAYS
from tests.harness import SNIPPETS

LAB = SNIPPETS / "labs" / "lab-5.3.py"
EXERCISES = {"labels": "training_labels", "threshold": "cost_based_threshold", "promotion": "promotion_decision"}


def section(name: str) -> str:
    found = re.search(rf"^# --8<-- \[start:{name}\]\n(.*?)^# --8<-- \[end:{name}\]", LAB.read_text(encoding="utf-8"), re.S | re.M)
    assert found, f"{LAB.name} has no section {name}"
    return found.group(1)


def lab_function(exercise: str, solved: bool):
    """The reader's function as the lab defines it: the stub cell, then (if solved) the solution cell."""
    namespace = {"pd": pd, "np": np}
    exec(section(f"exercise-{exercise}"), namespace)
    if solved:
        exec(section(f"solution-{exercise}"), namespace)
    return namespace[EXERCISES[exercise]]


def grade(exercise: str, candidate):
    return getattr(lab_5_3, f"grade_{exercise}")(candidate)


@pytest.mark.parametrize("exercise", EXERCISES)
def test_the_solution_passes(exercise):
    result = grade(exercise, lab_function(exercise, solved=True))
    assert result.status == PASS, result


@pytest.mark.parametrize("exercise", EXERCISES)
def test_the_stub_is_not_done_yet(exercise):
    result = grade(exercise, lab_function(exercise, solved=False))
    assert result.status == NOT_DONE, result


def test_the_lab_names_its_exercises():
    assert lab_5_3.NAMES == list(EXERCISES)
    assert "report(lab_5_3.NAMES)" in section("check")


# --- labels: wrong answers ---


def _utc(as_of):
    return pd.Timestamp(as_of, tz="UTC")


def oracle_final_labels(transactions, as_of):
    """Matured payments with their final is_fraud: what nobody knows on the day."""
    return transactions[transactions["event_timestamp"] < _utc(as_of) - pd.Timedelta(days=LABEL_MATURITY_DAYS)]


def every_payment_labels_as_known(transactions, as_of):
    """Labels as known, but on every payment, the newest included."""
    known = (transactions["is_fraud"] == 1) & (transactions["label_available_at"] <= _utc(as_of))
    return transactions.assign(is_fraud=known.astype(int))


def maturity_off_by_one_day(transactions, as_of):
    """13 days instead of 14: the youngest day of payments sneaks in."""
    rows = transactions[transactions["event_timestamp"] < _utc(as_of) - pd.Timedelta(days=LABEL_MATURITY_DAYS - 1)]
    return rows.assign(is_fraud=((rows["is_fraud"] == 1) & (rows["label_available_at"] <= _utc(as_of))).astype(int))


def chargeback_by_its_date(transactions, as_of):
    """Compares the chargeback's date with as_of: one arriving later on the day of as_of counts."""
    rows = transactions[transactions["event_timestamp"] < _utc(as_of) - pd.Timedelta(days=LABEL_MATURITY_DAYS)]
    arrived = rows["label_available_at"].dt.normalize() <= _utc(as_of)
    return rows.assign(is_fraud=((rows["is_fraud"] == 1) & arrived).astype(int))


def drops_open_dispute_windows(transactions, as_of):
    """Keeps only payments whose label is 'available' (a closed dispute window for legitimate ones)."""
    rows = transactions[(transactions["event_timestamp"] < _utc(as_of) - pd.Timedelta(days=LABEL_MATURITY_DAYS))
                        & (transactions["label_available_at"] <= _utc(as_of))]
    return rows


@pytest.mark.parametrize("wrong, hint", [
    (oracle_final_labels, "an oracle"),
    (every_payment_labels_as_known, "younger than 14 days"),
    (maturity_off_by_one_day, "younger than 14 days"),
    (chargeback_by_its_date, "label_available_at <= as_of"),
    (drops_open_dispute_windows, "without a chargeback is a legitimate example"),
], ids=lambda value: getattr(value, "__name__", "hint"))
def test_labels_wrong_answers_fail_with_their_hint(wrong, hint):
    result = lab_5_3.grade_labels(wrong)
    assert result.status == FAIL and hint in result.message, result


# --- threshold: wrong answers ---


def half(rows, scores):
    return 0.5


def flags_below_the_threshold(rows, scores):
    fraud, amount = (rows["is_fraud"] == 1).to_numpy(), rows["amount"].to_numpy()
    costs = [REVIEW_COST_EUR * (scores < t).sum() + amount[fraud & (scores >= t)].sum() for t in THRESHOLD_GRID]
    return float(THRESHOLD_GRID[int(np.argmin(costs))])


def every_fraud_at_the_mean_amount(rows, scores):
    fraud = (rows["is_fraud"] == 1).to_numpy()
    mean_fraud = rows.loc[fraud, "amount"].mean()
    costs = [REVIEW_COST_EUR * (scores >= t).sum() + mean_fraud * (fraud & (scores < t)).sum() for t in THRESHOLD_GRID]
    return float(THRESHOLD_GRID[int(np.argmin(costs))])


def counts_errors(rows, scores):
    fraud = (rows["is_fraud"] == 1).to_numpy()
    errors = [((scores >= t) & ~fraud).sum() + ((scores < t) & fraud).sum() for t in THRESHOLD_GRID]
    return float(THRESHOLD_GRID[int(np.argmin(errors))])


@pytest.mark.parametrize("wrong, hint", [
    (half, "0.5 is nobody's decision"),
    (flags_below_the_threshold, "*below* it are flagged"),
    (every_fraud_at_the_mean_amount, "costs its amount"),
    (counts_errors, "costs its amount"),
], ids=lambda value: getattr(value, "__name__", "hint"))
def test_threshold_wrong_answers_fail_with_their_hint(wrong, hint):
    result = lab_5_3.grade_threshold(wrong)
    assert result.status == FAIL and hint in result.message, result


# --- promotion: wrong answers ---


def _interval_rule(low, high):
    return "promote" if low > PROMOTION_MARGIN else "keep" if high < PROMOTION_MARGIN else "not enough evidence"


def point_estimates(y, champion, challenger):
    """A bare > on the two PR-AUCs."""
    return "promote" if average_precision(y, challenger)[0] > average_precision(y, champion)[0] else "keep"


def point_estimates_and_margin(y, champion, challenger):
    """The margin, but on the point estimate of the gain."""
    gain = average_precision(y, challenger)[0] - average_precision(y, champion)[0]
    return "promote" if gain > PROMOTION_MARGIN else "keep"


def promotes_on_overlap(y, champion, challenger):
    """Promotes as soon as the interval reaches above the margin."""
    if y.sum() < MIN_POSITIVES:
        return "not enough evidence"
    low, high = paired_interval(y, champion, challenger)
    return "promote" if high > PROMOTION_MARGIN else "keep"


def ignores_known_frauds(y, champion, challenger):
    """The right interval rule, on however few frauds."""
    return _interval_rule(*paired_interval(y, champion, challenger))


def unpaired(y, champion, challenger, resamples=1_000, seed=0):
    """Each model resampled on its own draws: the interval of the difference adds both models' noise."""
    if y.sum() < MIN_POSITIVES:
        return "not enough evidence"
    rng = np.random.default_rng(seed)

    def draws():
        return np.stack([np.bincount(rng.integers(0, len(y), len(y)), minlength=len(y)) for _ in range(resamples)])

    gains = average_precision(y, challenger, draws()) - average_precision(y, champion, draws())
    return _interval_rule(*np.percentile(gains, [2.5, 97.5]))


@pytest.mark.parametrize("wrong, hint", [
    (point_estimates, "not the point estimates"),
    (point_estimates_and_margin, "not the point estimates"),
    (promotes_on_overlap, "reaches above the margin"),
    (ignores_known_frauds, "MIN_POSITIVES"),
    (unpaired, "(paired)"),
], ids=lambda value: getattr(value, "__name__", "hint"))
def test_promotion_wrong_answers_fail_with_their_hint(wrong, hint):
    result = lab_5_3.grade_promotion(wrong)
    assert result.status == FAIL and hint in result.message, result


@pytest.mark.parametrize("seed, resamples", [(1, 500), (2, 2_000), (3, 1_000)])
def test_promotion_cases_do_not_depend_on_the_bootstrap_seed(seed, resamples):
    """A reader's bootstrap with another seed or size reaches the same decision on every case."""
    for name, (make, arguments, expected) in lab_5_3.PROMOTION_CASES.items():
        y, champion, challenger = make(*arguments)
        if y.sum() < MIN_POSITIVES:
            assert compare(y, champion, challenger).verdict == expected, name
            continue
        assert _interval_rule(*paired_interval(y, champion, challenger, resamples=resamples, seed=seed)) == expected, name
