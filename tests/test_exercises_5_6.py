"""Lab 5.6's graders, tested three ways: the lab's solution passes, the stub is "not done yet", and
each plausible wrong answer (named after its mistake) fails with the hint that names it."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from cardfraud.decisions import MIN_POSITIVES
from cardfraud.exercises import FAIL, NOT_DONE, PASS, lab_5_6
from cardfraud.monitoring import MIN_CONFIRMED_FRAUD, RECALL_SLO
from tests.harness import SNIPPETS

LAB = SNIPPETS / "labs" / "lab-5.6.py"
PREAMBLE = "import pandas as pd\nfrom cardfraud.monitoring import MIN_CONFIRMED_FRAUD, RECALL_SLO\n"
FUNCTIONS = {"trigger": "pipeline_days", "gate": "gate_decision", "caching": "may_cache"}


def section(name: str) -> str:
    match = re.search(rf"# --8<-- \[start:{name}\]\n(.*?)# --8<-- \[end:{name}\]", LAB.read_text(encoding="utf-8"), re.S)
    assert match, f"{LAB.name} has no section {name}"
    return match.group(1)


def lab_function(exercise: str, solution: bool):
    """The reader's function as the lab defines it: the stub, or the stub then the solution."""
    namespace: dict = {}
    exec(PREAMBLE + section(f"exercise-{exercise}"), namespace)
    if solution:
        exec(section(f"solution-{exercise}"), namespace)
    return namespace[FUNCTIONS[exercise]]


@pytest.mark.parametrize("exercise", FUNCTIONS)
def test_solution_passes(exercise):
    result = getattr(lab_5_6, exercise.upper()).grade(lab_function(exercise, solution=True), quiet=True)
    assert result.status == PASS, result.message


@pytest.mark.parametrize("exercise", FUNCTIONS)
def test_stub_is_not_done(exercise):
    result = getattr(lab_5_6, exercise.upper()).grade(lab_function(exercise, solution=False), quiet=True)
    assert result.status == NOT_DONE, result.message


# --- Wrong answers: each named after its mistake, with the words its hint must contain ----------

INPUT_PSI_ALERT, NOT_ALERTED, WEEK = 0.25, {"merchant_risk_rate"}, pd.Timedelta(days=7)


def _weekly(history, alert, offset=pd.Timedelta(days=1), every=WEEK):
    runs = []
    for day, fires in zip(history["day"], alert):
        if fires and (not runs or day + offset - runs[-1] >= every):
            runs.append(day + offset)
    return runs


def _recall_low(h, minimum=MIN_CONFIRMED_FRAUD):
    return (h["confirmed_fraud_recall"] < RECALL_SLO) & (h["confirmed_fraud"] >= minimum)


def _drift(h, excluded=NOT_ALERTED):
    columns = [c for c in h.columns if c.startswith("psi_") and c.removeprefix("psi_") not in excluded]
    return (h[columns] > INPUT_PSI_ALERT).any(axis=1)


def ignores_minimum_confirmed(h):
    return _weekly(h, _recall_low(h, minimum=0) | _drift(h))


def alerts_on_merchant_risk_rate(h):
    return _weekly(h, _recall_low(h) | _drift(h, excluded=set()))


def runs_every_alert_day(h):
    return _weekly(h, _recall_low(h) | _drift(h), every=pd.Timedelta(0))


def runs_as_of_the_alert_day(h):  # off by one: the day's signals do not exist yet
    return _weekly(h, _recall_low(h) | _drift(h), offset=pd.Timedelta(0))


def ignores_input_drift(h):
    return _weekly(h, _recall_low(h))


def promotes_on_point_estimate(gain, low, high, positives, champion_version, margin):
    if not champion_version:
        return "promote"
    if positives < MIN_POSITIVES:
        return "wait"
    return "promote" if gain > margin else "keep" if high < margin else "wait"


def promotes_when_interval_overlaps_margin(gain, low, high, positives, champion_version, margin):
    if not champion_version:
        return "promote"
    if positives < MIN_POSITIVES:
        return "wait"
    return "promote" if high > margin else "keep"


def promotes_with_too_few_frauds(gain, low, high, positives, champion_version, margin):
    if not champion_version:
        return "promote"
    return "promote" if low > margin else "keep" if high < margin else "wait"


def never_promotes_the_first_model(gain, low, high, positives, champion_version, margin):
    if positives < MIN_POSITIVES:
        return "wait"
    return "promote" if low > margin else "keep" if high < margin else "wait"


def keeps_instead_of_waiting(gain, low, high, positives, champion_version, margin):
    if not champion_version:
        return "promote"
    if positives < MIN_POSITIVES:
        return "wait"
    return "promote" if low > margin else "keep"


def caches_evaluate_that_reads_the_registry(step):
    return not step.writes


def caches_nothing(step):
    return False


def never_caches_a_step_that_reads_outside_state(step):
    return not step.reads and not step.writes


def caches_a_step_with_side_effects(step):
    return all(pin is not None and pin in step.inputs for pin in step.reads.values())


def trusts_a_pin_that_is_not_an_input(step):
    return all(pin is not None for pin in step.reads.values()) and not step.writes


WRONG = [
    ("trigger", ignores_minimum_confirmed, "MIN_CONFIRMED_FRAUD"),
    ("trigger", alerts_on_merchant_risk_rate, "merchant_risk_rate"),
    ("trigger", runs_every_alert_day, "every day the alert fires"),
    ("trigger", runs_as_of_the_alert_day, "one day early"),
    ("trigger", ignores_input_drift, "input-drift alert"),
    ("gate", promotes_on_point_estimate, "point estimate"),
    ("gate", promotes_when_interval_overlaps_margin, "high end is above the margin"),
    ("gate", promotes_with_too_few_frauds, "MIN_POSITIVES"),
    ("gate", never_promotes_the_first_model, "no champion"),
    ("gate", keeps_instead_of_waiting, "not a 'keep'"),
    ("caching", caches_evaluate_that_reads_the_registry, "@champion points to NOW"),
    ("caching", caches_nothing, "you cache nothing"),
    ("caching", never_caches_a_step_that_reads_outside_state, "pinned by ['as_of']"),
    ("caching", caches_a_step_with_side_effects, "side effect"),
    ("caching", trusts_a_pin_that_is_not_an_input, "not one of this step's inputs"),
]


@pytest.mark.parametrize("exercise, wrong, hint", WRONG, ids=[w.__name__ for _, w, _ in WRONG])
def test_wrong_answer_fails_with_its_hint(exercise, wrong, hint):
    result = getattr(lab_5_6, exercise.upper()).grade(wrong, quiet=True)
    assert result.status == FAIL, f"{wrong.__name__} passed the {exercise} grader"
    assert hint in result.message, result.message


def test_the_running_example_is_the_labs():
    """The grader's recorded signals give the lab's run days (11, 18 and 25 March)."""
    assert [f"{d:%d %b}" for d in lab_5_6.expected_days(lab_5_6.running_example())] == ["11 Mar", "18 Mar", "25 Mar"]
