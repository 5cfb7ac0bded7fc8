"""Lab 5.5's graders, tested three ways: the lab's solutions pass, its stubs are "not done yet",
and each plausible wrong answer below fails with the hint that names its mistake."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from cardfraud.exercises import FAIL, NOT_DONE, PASS, lab_5_5
from cardfraud.monitoring import MIN_CONFIRMED_FRAUD, RECALL_SLO
from tests.harness import SNIPPETS

LAB = SNIPPETS / "labs" / "lab-5.5.py"
GRADERS = {"psi": lab_5_5.grade_psi, "recall": lab_5_5.grade_confirmed_recall, "alert": lab_5_5.grade_recall_alert}
FUNCTIONS = {"psi": "psi", "recall": "confirmed_recall", "alert": "recall_alert_rule"}


def lab_section(name: str) -> dict:
    """Run one ``--8<-- [start:name]`` section of the lab, with what the lab has defined before it."""
    text = LAB.read_text(encoding="utf-8")
    match = re.search(rf"# --8<-- \[start:{name}\]\n(.*?)# --8<-- \[end:{name}\]", text, flags=re.DOTALL)
    assert match, f"{LAB.name} has no section {name}"
    namespace = {"pd": pd, "np": np, "RECALL_SLO": RECALL_SLO, "MIN_CONFIRMED_FRAUD": MIN_CONFIRMED_FRAUD}
    exec(compile(match[1], f"{LAB.name}:{name}", "exec"), namespace)
    return namespace


@pytest.mark.parametrize("exercise", GRADERS)
def test_the_solution_passes(exercise):
    solution = lab_section(f"solution-{exercise}")[FUNCTIONS[exercise]]
    result = GRADERS[exercise](solution)
    assert result.status == PASS, result.message


@pytest.mark.parametrize("exercise", GRADERS)
def test_the_stub_is_not_done_yet(exercise):
    stub = lab_section(f"exercise-{exercise}")[FUNCTIONS[exercise]]
    assert GRADERS[exercise](stub).status == NOT_DONE


# --- PSI: wrong answers --------------------------------------------------------------------------

EPSILON = 1e-4


def _edges(reference: pd.Series, basis: pd.Series, bins: int) -> np.ndarray:
    inner = np.unique(np.nanquantile(basis.to_numpy(dtype=float), np.linspace(0, 1, bins + 1)[1:-1]))
    return np.r_[-np.inf, inner, np.inf]


def _shares(reference: pd.Series, current: pd.Series, edges=None, missing=True) -> tuple[pd.Series, pd.Series]:
    if edges is not None:
        reference, current = pd.cut(reference, edges), pd.cut(current, edges)
    if missing:
        reference = reference.astype(str).where(reference.notna(), "missing")
        current = current.astype(str).where(current.notna(), "missing")
    ref, cur = reference.astype(str).value_counts(normalize=True), current.astype(str).value_counts(normalize=True)
    buckets = ref.index.union(cur.index)
    return ref.reindex(buckets, fill_value=0.0), cur.reindex(buckets, fill_value=0.0)


def _sum(ref: pd.Series, cur: pd.Series) -> float:
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(((cur - ref) * np.log(cur / ref)).sum())


def no_epsilon_for_empty_buckets(reference, current, bins=10):
    edges = _edges(reference, reference, bins) if pd.api.types.is_numeric_dtype(reference) else None
    return _sum(*_shares(reference, current, edges))


def bins_cut_on_the_current_window(reference, current, bins=10):
    edges = _edges(reference, current, bins) if pd.api.types.is_numeric_dtype(reference) else None
    ref, cur = _shares(reference, current, edges)
    return _sum(ref.clip(lower=EPSILON), cur.clip(lower=EPSILON))


def missing_values_dropped(reference, current, bins=10):
    reference, current = reference.dropna(), current.dropna()
    edges = _edges(reference, reference, bins) if pd.api.types.is_numeric_dtype(reference) else None
    ref, cur = _shares(reference, current, edges, missing=False)
    return _sum(ref.clip(lower=EPSILON), cur.clip(lower=EPSILON))


def empty_buckets_skipped(reference, current, bins=10):
    edges = _edges(reference, reference, bins) if pd.api.types.is_numeric_dtype(reference) else None
    ref, cur = _shares(reference, current, edges)
    both = (ref > 0) & (cur > 0)
    return _sum(ref[both], cur[both])


def equal_width_bins(reference, current, bins=10):
    if pd.api.types.is_numeric_dtype(reference):
        low, high = min(reference.min(), current.min()), max(reference.max(), current.max())
        edges = np.linspace(low, high, bins + 1)
        edges[0], edges[-1] = -np.inf, np.inf
    else:
        edges = None
    ref, cur = _shares(reference, current, edges)
    return _sum(ref.clip(lower=EPSILON), cur.clip(lower=EPSILON))


def returns_the_bucket_table(reference, current, bins=10):
    edges = _edges(reference, reference, bins) if pd.api.types.is_numeric_dtype(reference) else None
    ref, cur = (s.clip(lower=EPSILON) for s in _shares(reference, current, edges))
    return (cur - ref) * np.log(cur / ref)


def ignores_the_bins_argument(reference, current, bins=10):
    edges = _edges(reference, reference, 10) if pd.api.types.is_numeric_dtype(reference) else None
    ref, cur = _shares(reference, current, edges)
    return _sum(ref.clip(lower=EPSILON), cur.clip(lower=EPSILON))


PSI_MISTAKES = [
    (no_epsilon_for_empty_buckets, "ln(0) is undefined"),
    (bins_cut_on_the_current_window, "cut at the current window's deciles"),
    (missing_values_dropped, "missing values were dropped"),
    (empty_buckets_skipped, "left out of the sum"),
    (equal_width_bins, "equal-width buckets"),
    (returns_the_bucket_table, "return one number"),
    (ignores_the_bins_argument, "use the bins argument"),
]


# --- Recall on confirmed fraud: wrong answers ------------------------------------------------------


def _recall(window: pd.DataFrame, known: pd.DataFrame) -> tuple[float, int]:
    joined = window.merge(known, on="transaction_id")
    return (float(joined["flagged"].mean()) if len(joined) else float("nan")), len(joined)


def _window(log, as_of, days=14):
    return log[(log["event_timestamp"] >= as_of - pd.Timedelta(days=days)) & (log["event_timestamp"] < as_of)]


def counts_every_chargeback_in_the_feed(log, feed, as_of, window_days=14):
    """Reads the future: the feed holds chargebacks that arrive after as_of, like a final is_fraud."""
    return _recall(_window(log, as_of, window_days), feed)


def compares_dates_not_timestamps(log, feed, as_of, window_days=14):
    return _recall(_window(log, as_of, window_days), feed[feed["reported_at"].dt.date <= as_of.date()])


def window_without_a_start(log, feed, as_of, window_days=14):
    return _recall(log[log["event_timestamp"] < as_of], feed[feed["reported_at"] <= as_of])


def window_one_day_short(log, feed, as_of, window_days=14):
    return _recall(_window(log, as_of, window_days - 1), feed[feed["reported_at"] <= as_of])


def share_of_flagged_payments_that_are_fraud(log, feed, as_of, window_days=14):
    window = _window(log, as_of, window_days)
    flagged = window[window["flagged"]]
    known = flagged["transaction_id"].isin(feed.loc[feed["reported_at"] <= as_of, "transaction_id"])
    return (float(known.mean()) if len(flagged) else float("nan")), int(known.sum())


def zero_when_nothing_is_confirmed(log, feed, as_of, window_days=14):
    recall, count = _recall(_window(log, as_of, window_days), feed[feed["reported_at"] <= as_of])
    return (0.0 if count == 0 else recall), count


def ignores_window_days(log, feed, as_of, window_days=14):
    return _recall(_window(log, as_of, 14), feed[feed["reported_at"] <= as_of])


RECALL_MISTAKES = [
    (counts_every_chargeback_in_the_feed, "after as_of was counted"),
    (compares_dates_not_timestamps, "compare timestamps, not dates"),
    (window_without_a_start, "20 days before as_of was counted"),
    (window_one_day_short, "was left out"),
    (share_of_flagged_payments_that_are_fraud, "neither in the numerator nor in the denominator"),
    (zero_when_nothing_is_confirmed, "return (nan, 0)"),
    (ignores_window_days, "use the argument"),
]


# --- The alert rule: wrong answers -----------------------------------------------------------------

SHIPPED = "cardfraud_confirmed_fraud_recall < 0.75 and cardfraud_confirmed_fraud >= 20"


def _rule(expr: str, duration: str):
    def rule():
        return {"expr": expr, "for": duration}

    return rule


ALERT_MISTAKES = [
    (_rule("cardfraud_confirmed_fraud_recall < 0.75", "12h"), "Require at least MIN_CONFIRMED_FRAUD"),
    (_rule(SHIPPED, "5m"), "fired on a dip of 4 hours"),
    (_rule(SHIPPED, "0s"), "fired on a dip of 4 hours"),
    (_rule(SHIPPED, "1d"), "the ticket comes a day late"),
    (_rule("max by (model) (cardfraud_feature_psi) > 0.25", "1h"), "merchant_risk_rate's PSI is above 5 every day"),
    (_rule("cardfraud_feature_psi > 0.25", "1h"), "merchant_risk_rate's PSI is above 5 every day"),
    (_rule('max by (model) (cardfraud_feature_psi{feature!="merchant_risk_rate"}) > 0.25', "1h"),
     "no input's PSI moved"),
    (_rule("cardfraud_confirmed_fraud_recall > 0.75 and cardfraud_confirmed_fraud >= 20", "12h"),
     "check the comparison's side"),
    (_rule("cardfraud_confirmed_fraud_recall < 0.8 and cardfraud_confirmed_fraud >= 20", "12h"), "the SLO is 0.75"),
    (_rule("cardfraud_confirmed_fraud_recall < 0.75 and cardfraud_confirmed_fraud >= 30", "12h"), "not more"),
    (_rule("min(cardfraud_confirmed_fraud_recall) < 0.75 and min(cardfraud_confirmed_fraud) >= 20", "12h"),
     "keep the series' model label"),
    (_rule("cardfraud_confirmed_fraud_recall < 0.75 && cardfraud_confirmed_fraud >= 20", "12h"), "promtool cannot load your rule"),
    (lambda: "cardfraud_confirmed_fraud_recall < 0.75", 'return a dict with two strings'),
]


WRONG_ANSWERS = (
    [pytest.param("psi", f, hint, id=f"psi-{f.__name__}") for f, hint in PSI_MISTAKES]
    + [pytest.param("recall", f, hint, id=f"recall-{f.__name__}") for f, hint in RECALL_MISTAKES]
    + [pytest.param("alert", f, hint, id=f"alert-{i}") for i, (f, hint) in enumerate(ALERT_MISTAKES)]
)


@pytest.mark.parametrize("exercise, answer, hint", WRONG_ANSWERS)
def test_a_wrong_answer_fails_with_its_hint(exercise, answer, hint):
    result = GRADERS[exercise](answer)
    assert result.status == FAIL, f"{exercise}: a wrong answer passed"
    assert hint in result.message, result.message


OTHER_RIGHT_RULES = [
    _rule(SHIPPED, "6h"),
    _rule(SHIPPED, "23h"),
    _rule("cardfraud_confirmed_fraud_recall < 0.75 and on (model) cardfraud_confirmed_fraud > 19", "12h"),
    _rule("(cardfraud_confirmed_fraud_recall < 0.75) and (cardfraud_confirmed_fraud >= 20)", "720m"),
]


@pytest.mark.parametrize("rule", OTHER_RIGHT_RULES, ids=lambda r: f"{r()['expr']} for {r()['for']}")
def test_another_right_rule_passes(rule):
    """The grader asks for what the rule must do, not for one spelling of it."""
    result = lab_5_5.grade_recall_alert(rule)
    assert result.status == PASS, result.message
