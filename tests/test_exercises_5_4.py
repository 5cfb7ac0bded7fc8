"""Lab 5.4's graders, tested three ways: the lab's solutions pass, its stubs are "not done yet",
and plausible wrong answers fail with the hint that names their mistake.

The solutions and stubs are the lab's own sections (``snippets/labs/lab-5.4.py``), run here in
process; every wrong answer below is named after the mistake it makes.
"""

from __future__ import annotations

import functools
import hashlib
import math
import random
import re

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chisquare
from statsmodels.stats.proportion import proportions_ztest

from cardfraud.decisions import MIN_POSITIVES
from cardfraud.exercises import FAIL, NOT_DONE, PASS, lab_5_4
from cardfraud.features import CATEGORICAL_COLUMNS, FEATURE_COLUMNS
from tests.harness import SNIPPETS

LAB = SNIPPETS / "labs" / "lab-5.4.py"
EXERCISES = {
    "check_instance": lab_5_4.grade_check_instance,
    "stable_bucket": lab_5_4.grade_stable_bucket,
    "canary_decision": lab_5_4.grade_canary_decision,
}


def _section(name: str) -> str:
    match = re.search(rf"# --8<-- \[start:{name}\]\n(.*?)# --8<-- \[end:{name}\]", LAB.read_text(encoding="utf-8"), re.S)
    assert match, f"{LAB.name} has no section {name}"
    return match[1]


def _lab_function(exercise: str, with_solution: bool):
    """The reader's function as the lab defines it: the stub cell, then (optionally) the solution cell."""
    namespace = {"__name__": "lab", "np": np, "pd": pd}
    exec(compile(_section(f"exercise-{exercise}"), f"{LAB}:exercise-{exercise}", "exec"), namespace)
    if with_solution:
        exec(compile(_section(f"solution-{exercise}"), f"{LAB}:solution-{exercise}", "exec"), namespace)
    return namespace[exercise]


def test_every_exercise_is_in_the_lab_and_its_report():
    check = _section("check")
    for exercise in EXERCISES:
        assert f"grade_{exercise}({exercise})" in _section(f"grade-{exercise}")
        assert f'"{exercise}"' in check, f"the lab's final report() does not count {exercise}"


@pytest.mark.parametrize("exercise", EXERCISES)
def test_the_solution_passes(exercise):
    result = EXERCISES[exercise](_lab_function(exercise, with_solution=True), quiet=True)
    assert result.status == PASS, result.message


@pytest.mark.parametrize("exercise", EXERCISES)
def test_the_stub_is_not_done_yet(exercise):
    result = EXERCISES[exercise](_lab_function(exercise, with_solution=False), quiet=True)
    assert result.status == NOT_DONE, result.message


# --- Wrong answers: check_instance -------------------------------------------------------------


def fills_missing_keys_with_nan(instance):
    """Reads every feature with .get(), so a missing or misspelt key becomes NaN, and ignores extras."""
    for name in FEATURE_COLUMNS:
        value = instance.get(name, math.nan)
        if name in CATEGORICAL_COLUMNS and not isinstance(value, str):
            return f"{name}: expected a string"
        if name not in CATEGORICAL_COLUMNS and (isinstance(value, bool) or not isinstance(value, (int, float))):
            return f"{name}: expected a number"
    return None


def accepts_a_bool_as_a_number(instance):
    """Checks keys both ways, but isinstance(True, int) is True."""
    missing = [n for n in FEATURE_COLUMNS if n not in instance]
    unknown = [n for n in instance if n not in FEATURE_COLUMNS]
    if missing or unknown:
        return f"missing {missing}, unknown {unknown}"
    for name in FEATURE_COLUMNS:
        expected = str if name in CATEGORICAL_COLUMNS else (int, float)
        if not isinstance(instance[name], expected):
            return f"{name}: wrong type"
    return None


def ignores_unknown_keys(instance):
    """Refuses missing keys and wrong types, lets any extra key through."""
    missing = [n for n in FEATURE_COLUMNS if n not in instance]
    if missing:
        return f"missing {missing}"
    for name in FEATURE_COLUMNS:
        value = instance[name]
        if name in CATEGORICAL_COLUMNS:
            if not isinstance(value, str):
                return f"{name}: expected a string"
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"{name}: expected a number"
    return None


def refuses_without_naming_the_field(instance):
    """Finds every problem, but answers only "invalid input"."""
    return None if _solution("check_instance")(instance) is None else "invalid input"


def accepts_fractional_counts(instance):
    """Everything right, except that a count of 2.5 is a number too."""
    problem = ignores_unknown_keys(instance)
    unknown = sorted(set(instance) - set(FEATURE_COLUMNS))
    return problem or (f"unknown {unknown}" if unknown else None)


# --- Wrong answers: stable_bucket --------------------------------------------------------------


def uses_pythons_hash(unit_id, salt):
    """Stable within one process only: str hashes are salted per process (PYTHONHASHSEED)."""
    return (hash(f"{salt}:{unit_id}") % 2**32) / 2**32


def draws_at_random(unit_id, salt):
    """A fair coin per request: a customer changes arm on every payment."""
    return random.random()


def ignores_the_salt(unit_id, salt):
    """Stable and even, but every experiment (and the holdout) gets the same units."""
    return int.from_bytes(hashlib.sha256(unit_id.encode()).digest()[:8], "big") / 2**64


def keeps_one_byte(unit_id, salt):
    """A cryptographic digest cut to one byte: 256 values, so small arms get the wrong share."""
    return hashlib.sha256(f"{salt}:{unit_id}".encode()).digest()[0] / 256


# --- Wrong answers: canary_decision ------------------------------------------------------------

SRM_ALPHA, GUARDRAIL_ALPHA, MAX_P99_SECONDS = 0.001, 0.05, 2.0


def _srm_p(per_arm, share):
    requests = per_arm["requests"].to_numpy()
    return chisquare(requests, f_exp=np.array([1 - share, share]) * requests.sum()).pvalue


def _more_alerts_p(per_arm, alternative="larger", challenger_first=True):
    arms = per_arm.iloc[::-1] if challenger_first else per_arm
    alerts = (arms["alert_rate"] * arms["payments"]).round().astype(int)
    return proportions_ztest(alerts.to_numpy(), arms["payments"].to_numpy(), alternative=alternative)[1]


def _quality(shadow):
    if shadow.positives < MIN_POSITIVES:
        return "continue"
    return "promote" if shadow.low > shadow.margin else "rollback" if shadow.high < shadow.margin else "continue"


def _guardrails_breached(per_arm, alternative="larger", challenger_first=True, rates=True, p99_ratio=None):
    champion, challenger = per_arm.iloc[0], per_arm.iloc[1]
    errors = (challenger["errors"] / challenger["requests"] > champion["errors"] / champion["requests"]) if rates \
        else challenger["errors"] > champion["errors"]
    slow = challenger["p99_seconds"] > (p99_ratio * champion["p99_seconds"] if p99_ratio else MAX_P99_SECONDS)
    return bool(errors or slow or _more_alerts_p(per_arm, alternative, challenger_first) < GUARDRAIL_ALPHA)


def reads_guardrails_before_the_split(per_arm, share, shadow):
    """Rolls back on the challenger's errors before noticing that the split is broken."""
    if _guardrails_breached(per_arm):
        return "rollback"
    if _srm_p(per_arm, share) < SRM_ALPHA:
        return "hold"
    return _quality(shadow)


def reads_quality_before_the_split(per_arm, share, shadow):
    """Promotes on a good shadow before checking that the arms are comparable."""
    if _quality(shadow) == "promote" and not _guardrails_breached(per_arm):
        return "promote"
    return "hold" if _srm_p(per_arm, share) < SRM_ALPHA else "rollback" if _guardrails_breached(per_arm) else _quality(shadow)


def assumes_a_90_10_split(per_arm, share, shadow):
    """Tests the split against 90/10, whatever share the router was given."""
    if _srm_p(per_arm, 0.1) < SRM_ALPHA:
        return "hold"
    return "rollback" if _guardrails_breached(per_arm) else _quality(shadow)


def compares_error_counts(per_arm, share, shadow):
    """Rolls back only when the challenger failed more requests than the champion, in absolute numbers."""
    if _srm_p(per_arm, share) < SRM_ALPHA:
        return "hold"
    return "rollback" if _guardrails_breached(per_arm, rates=False) else _quality(shadow)


def compares_p99_with_the_champion(per_arm, share, shadow):
    """A latency guardrail relative to the champion (1.5x) instead of the gateway's budget."""
    if _srm_p(per_arm, share) < SRM_ALPHA:
        return "hold"
    return "rollback" if _guardrails_breached(per_arm, p99_ratio=1.5) else _quality(shadow)


def runs_a_two_sided_alert_test(per_arm, share, shadow):
    """A two-sided alert test: misses a significant rise, and rolls back on a significant fall."""
    if _srm_p(per_arm, share) < SRM_ALPHA:
        return "hold"
    return "rollback" if _guardrails_breached(per_arm, alternative="two-sided") else _quality(shadow)


def asks_if_the_champion_alerts_more(per_arm, share, shadow):
    """alternative='larger' with the champion first: asks whether the champion alerts more."""
    if _srm_p(per_arm, share) < SRM_ALPHA:
        return "hold"
    return "rollback" if _guardrails_breached(per_arm, challenger_first=False) else _quality(shadow)


def promotes_on_a_single_fraud(per_arm, share, shadow):
    """Promotes as soon as the challenger scores the known frauds better, however few they are."""
    if _srm_p(per_arm, share) < SRM_ALPHA:
        return "hold"
    if _guardrails_breached(per_arm):
        return "rollback"
    return "promote" if shadow.challenger > shadow.champion else "rollback"


@functools.cache
def _solution(exercise):
    return _lab_function(exercise, with_solution=True)


WRONG_ANSWERS = [
    ("check_instance", fills_missing_keys_with_nan, "NaN"),
    ("check_instance", accepts_a_bool_as_a_number, "isinstance(True, int)"),
    ("check_instance", ignores_unknown_keys, "unknown key (customer_name)"),
    ("check_instance", refuses_without_naming_the_field, "does not name the field"),
    ("check_instance", accepts_fractional_counts, "a count is a whole number"),
    ("stable_bucket", uses_pythons_hash, "PYTHONHASHSEED"),
    ("stable_bucket", draws_at_random, "random.random()"),
    ("stable_bucket", ignores_the_salt, "two salts give the same buckets"),
    ("stable_bucket", keeps_one_byte, "not spread evenly"),
    ("canary_decision", reads_guardrails_before_the_split, "check the split first"),
    ("canary_decision", reads_quality_before_the_split, "you read quality before checking the split"),
    ("canary_decision", assumes_a_90_10_split, "challenger_share"),
    ("canary_decision", compares_error_counts, "compare rates, not counts"),
    ("canary_decision", compares_p99_with_the_champion, "the gateway's timeout, not a ratio"),
    ("canary_decision", runs_a_two_sided_alert_test, "a two-sided test"),
    ("canary_decision", asks_if_the_champion_alerts_more, "MORE alerts"),
    ("canary_decision", promotes_on_a_single_fraud, "one known fraud is not evidence"),
]


@pytest.mark.parametrize("exercise, wrong, hint", WRONG_ANSWERS, ids=[w.__name__ for _, w, _ in WRONG_ANSWERS])
def test_a_wrong_answer_fails_with_its_hint(exercise, wrong, hint):
    result = EXERCISES[exercise](wrong, quiet=True)
    assert result.status == FAIL, f"{wrong.__name__} passed the {exercise} grader"
    assert hint in result.message, f"{wrong.__name__}: expected a hint with {hint!r}, got {result.message!r}"


def test_the_graders_own_cases_are_what_they_claim():
    """The canary cases' p-values are where their hints say (so the hints stay true)."""
    cases = {name: (per_arm, share) for name, per_arm, share, _, _, _ in lab_5_4.CANARY_CASES}
    assert _srm_p(*cases["a broken split"]) < SRM_ALPHA
    assert _srm_p(*cases["a 50/50 split"]) > 0.5
    more = cases["significantly more alerts"][0]
    assert 0.025 < _more_alerts_p(more) < GUARDRAIL_ALPHA < _more_alerts_p(more, "two-sided")
    assert _more_alerts_p(cases["significantly fewer alerts"][0], "two-sided") < GUARDRAIL_ALPHA
