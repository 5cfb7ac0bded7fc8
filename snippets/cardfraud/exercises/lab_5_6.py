"""Graders for lab 5.6: the retraining trigger, the pipeline's gate, and what a pipeline may cache.

Each grader calls the reader's function on the running example (numbers the lab's own run
printed: the monitor's signals from the launch on 16 February, the pipeline's intervals on
11 and 25 March) and on edge cases chosen to catch the usual mistakes. Fast, offline, and
independent of the notebook's state.

    >>> from cardfraud.exercises import lab_5_6
    >>> lab_5_6.grade_trigger(pipeline_days)
    >>> lab_5_6.grade_gate(gate_decision)
    >>> lab_5_6.grade_caching(may_cache)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from cardfraud.decisions import MIN_POSITIVES, PROMOTION_MARGIN
from cardfraud.exercises import Exercise, Mistake
from cardfraud.features import FEATURE_COLUMNS
from cardfraud.monitoring import MIN_CONFIRMED_FRAUD, RECALL_SLO

# The rules the lab states (module 5.5's alerts.yml and the capstone's loop).
INPUT_PSI_ALERT = 0.25  # CardfraudInputDrift: a "major shift" of an input
NOT_ALERTED = ("merchant_risk_rate",)  # accumulates chargebacks: moves every week by design
RETRAIN_EVERY_DAYS = 7  # while an alert fires, the pipeline runs once a week

# --- Exercise "trigger": the days the pipeline runs, from the monitor's daily signals ---------

TRIGGER = Exercise("trigger", passed="runs on the day after the first alert, then weekly while it fires")

# The running example as the lab's monitor saw it (confirmed-fraud recall over the last 14 days
# and how many frauds were confirmed), from the launch on 16 February to 25 March. The alert
# first fires on 10 March.
_RECALL = [float("nan"), float("nan"), 1.0, 0.667, 0.857, 0.857, 0.9, 0.879, 0.881, 0.9, 0.92, 0.909, 0.918,
           0.909, 0.911, 0.929, 0.924, 0.912, 0.858, 0.843, 0.793, 0.763, 0.742, 0.675, 0.638, 0.593, 0.544,
           0.464, 0.479, 0.488, 0.462, 0.489, 0.469, 0.471, 0.467, 0.468, 0.487, 0.494]
_CONFIRMED = [0, 0, 2, 3, 7, 14, 20, 33, 42, 60, 75, 88, 98, 121, 123, 127, 119, 113, 120, 121, 111, 118, 128,
              126, 138, 140, 147, 140, 142, 129, 132, 141, 145, 155, 167, 171, 150, 162]
# PSI of merchant_risk_rate against the launch week: about 5 every day, by design (module 5.5).
_MERCHANT_RISK_PSI = 5.2
_QUIET_PSI = 0.005


def signals_table(recall: list[float], confirmed: list[int], start: str = "2026-02-16",
                  psi: dict[str, list[float]] | None = None) -> pd.DataFrame:
    """One row per day, as the lab builds it from ``daily_signals``: ``day`` (UTC midnight
    starting the day the signals describe), ``confirmed_fraud_recall``, ``confirmed_fraud``, and
    one ``psi_<feature>`` column per input."""
    days = pd.date_range(start, periods=len(recall), freq="D", tz="UTC")
    table = pd.DataFrame({"day": days, "confirmed_fraud_recall": recall, "confirmed_fraud": confirmed})
    for column in FEATURE_COLUMNS:
        default = _MERCHANT_RISK_PSI if column == "merchant_risk_rate" else _QUIET_PSI
        table[f"psi_{column}"] = (psi or {}).get(column, [default] * len(recall))
    return table


def running_example() -> pd.DataFrame:
    return signals_table(_RECALL, _CONFIRMED)


def expected_days(history: pd.DataFrame) -> list[pd.Timestamp]:
    """The reference answer: the first run as of the midnight after the first alert day, then
    one run every ``RETRAIN_EVERY_DAYS`` while the alert still fires on the day before."""
    drift_columns = [f"psi_{c}" for c in FEATURE_COLUMNS if c not in NOT_ALERTED]
    performance = (history["confirmed_fraud"] >= MIN_CONFIRMED_FRAUD) & (history["confirmed_fraud_recall"] < RECALL_SLO)
    drift = (history[drift_columns] > INPUT_PSI_ALERT).any(axis=1)
    runs, last = [], None
    for day, alert in zip(history["day"], performance | drift):
        as_of = day + pd.Timedelta(days=1)
        if alert and (last is None or as_of - last >= pd.Timedelta(days=RETRAIN_EVERY_DAYS)):
            runs.append(as_of)
            last = as_of
    return runs


def _days(candidate, history: pd.DataFrame) -> list[pd.Timestamp]:
    answer = candidate(history.copy())
    return [pd.Timestamp(day).tz_localize("UTC") if pd.Timestamp(day).tzinfo is None else pd.Timestamp(day) for day in answer]


def _show(days: list[pd.Timestamp]) -> str:
    return "[" + ", ".join(day.strftime("%d %b") for day in days) + "]" if days else "no run"


@TRIGGER.check
def _running_example(candidate):
    history = running_example()
    answer = candidate(history.copy())
    if not isinstance(answer, (list, tuple)):
        raise Mistake(f"return a list of days (pd.Timestamp), got {type(answer).__name__}")
    got, want = _days(candidate, history), expected_days(history)
    if got == want:
        return
    launch_run = history["day"].iloc[0] + pd.Timedelta(days=1)
    if got and got[0] == launch_run:
        raise Mistake("your first run is as of the day after the launch: merchant_risk_rate's PSI is about 5 every "
                      "day because the feature accumulates chargebacks. It is charted, not alerted on (module 5.5's "
                      "rule leaves it out): drop it from the drift check")
    if got and got[0] == want[0] - pd.Timedelta(days=1):
        raise Mistake(f"your runs are as of {_show(got[:3])}: one day early. The signals of a day are computed at "
                      "the midnight after it, so a run can use them only as of the next day (the day plus one)")
    if got and got[0] < want[0]:
        before = history.loc[history["day"] == got[0] - pd.Timedelta(days=1), "confirmed_fraud"]
        confirmed = int(before.iloc[0]) if len(before) else 0
        if confirmed < MIN_CONFIRMED_FRAUD:
            raise Mistake(f"your first run is as of {got[0]:%d %b}: the recall the day before was measured on "
                          f"{confirmed} confirmed frauds. Below MIN_CONFIRMED_FRAUD ({MIN_CONFIRMED_FRAUD}) a recall "
                          "is luck, not evidence: the alert needs both conditions")
    if len(got) > len(want) and got[:1] == want[:1]:
        raise Mistake(f"{len(got)} runs ({_show(got[:4])}...): you start the pipeline every day the alert fires. "
                      "Labels arrive at their own pace, so a run a day finds the same evidence; run again only "
                      f"{RETRAIN_EVERY_DAYS} days after the last run, while an alert still fires")
    raise Mistake(f"on the running example your runs are {_show(got)}; expected {_show(want)} (first alert: "
                  f"{want[0] - pd.Timedelta(days=1):%d %b})")


@TRIGGER.check
def _input_drift(candidate):
    n = 20
    drifted = [_QUIET_PSI] * 10 + [0.4] * (n - 10)  # a new merchant category from day 10
    history = signals_table([0.9] * n, [100] * n, psi={"merchant_category": drifted})
    got, want = _days(candidate, history), expected_days(history)
    if not got:
        raise Mistake("an input (merchant_category) drifted with PSI 0.4 > 0.25 from day 10 and your trigger never "
                      "ran: the input-drift alert (CardfraudInputDrift) starts the pipeline too")
    if got != want:
        raise Mistake(f"with merchant_category drifting from {history['day'][10]:%d %b} your runs are {_show(got)}; "
                      f"expected {_show(want)}")


@TRIGGER.check
def _quiet(candidate):
    n = 14
    history = signals_table([0.9] * n, [100] * n)
    if _days(candidate, history):
        raise Mistake("recall 0.9 on 100 confirmed frauds and no input drift: nothing should start a run")
    history = signals_table([float("nan")] * n, [0] * n)
    if _days(candidate, history):
        raise Mistake("no fraud confirmed yet (recall is NaN): not evidence of anything, no run")


def grade_trigger(candidate):
    return TRIGGER.grade(candidate)


# --- Exercise "gate": promote, keep, or wait for labels ---------------------------------------

GATE = Exercise("gate", passed="promotes only when the whole interval clears the margin")


@dataclass(frozen=True)
class _GateCase:
    why: str
    gain: float
    low: float
    high: float
    positives: int
    champion_version: str
    expected: str
    hints: dict[str, str]  # what a wrong answer returned -> what to tell the learner
    margin: float = PROMOTION_MARGIN


_GATE_CASES = [
    _GateCase("no champion yet (the first model)", 0.0, 0.0, 0.0, 10, "", "promote",
              {"wait": "with no champion (champion_version is empty) there is nothing to beat and no interval to "
                       "wait for: the first model that passed validation is promoted",
               "keep": "with no champion (champion_version is empty) there is nothing to keep: the first model that "
                       "passed validation is promoted"}),
    _GateCase("too few known frauds", 0.2, 0.1, 0.3, MIN_POSITIVES - 1, "3", "wait",
              {"promote": f"only {MIN_POSITIVES - 1} known frauds in the window: below MIN_POSITIVES ({MIN_POSITIVES}) "
                          "a PR-AUC interval says more about luck than about the models. Check the count first, and "
                          "wait for labels"}),
    _GateCase("an interval that straddles the margin, point estimate below it", 0.015, 0.0, 0.05, 150, "3", "wait",
              {"promote": "[+0.000, +0.050] straddles the margin 0.02: an interval whose high end is above the margin "
                          "only says the gain MIGHT be large enough. Promote only when the LOW end is above the margin",
               "keep": "[+0.000, +0.050] straddles the margin 0.02: the gain may still be large enough. That is a "
                       "'wait' (more labels narrow the interval), not a 'keep'"}),
    # The running example: the lab's runs as of 11 and 25 March.
    _GateCase("11 March: gain +0.022 [-0.005, +0.052], 119 known frauds", 0.022, -0.005, 0.052, 119, "1", "wait",
              {"promote": "the point estimate (+0.022) clears the margin, but the interval starts below zero: the "
                          "challenger may be no better at all. Promote only when the interval's LOW end is above the "
                          "margin, whatever the point estimate says"}),
    _GateCase("25 March: gain +0.058 [+0.025, +0.096], 116 known frauds", 0.058, 0.025, 0.096, 116, "1", "promote",
              {}),
    _GateCase("a clear loss", -0.04, -0.07, -0.01, 150, "3", "keep",
              {"wait": "the whole interval lies below the margin: more labels will not change that. Keep the champion"}),
    _GateCase("a small sure gain below the margin", 0.01, 0.005, 0.015, 400, "3", "keep",
              {"wait": "the interval [+0.005, +0.015] lies entirely below the margin 0.02: a real but too small gain "
                       "is a 'keep', not a 'wait'"}),
    _GateCase("the interval's low end exactly at the margin", 0.05, PROMOTION_MARGIN, 0.08, 150, "3", "wait",
              {"promote": "low == margin does not CLEAR the margin: promote only when low > margin"}),
    _GateCase("no interval (NaN bounds)", float("nan"), float("nan"), float("nan"), 5, "3", "wait", {}),
]
_GENERIC = ("promote when there is no champion or low > margin; keep when high < margin; wait when fewer than "
            "MIN_POSITIVES frauds are known or the interval straddles the margin")


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


@GATE.check
def _gate_cases(candidate):
    for case in _GATE_CASES:
        got = candidate(case.gain, case.low, case.high, case.positives, case.champion_version, case.margin)
        if got not in ("promote", "keep", "wait"):
            raise Mistake(f"return 'promote', 'keep' or 'wait'; got {got!r} ({case.why})")
        if got != case.expected:
            raise Mistake(f"{case.why}: you said {got!r}, expected {case.expected!r}. {_sentence(case.hints.get(got, _GENERIC))}")


@GATE.check
def _gate_uses_margin(candidate):
    got = candidate(0.2, 0.15, 0.25, 200, "3", 0.3)
    if got == "promote":
        raise Mistake("with margin=0.3 the interval [+0.15, +0.25] is below the margin: use the `margin` "
                      "argument, not a constant")


def grade_gate(candidate):
    return GATE.grade(candidate)


# --- Exercise "caching": which steps of a pipeline may be cached ------------------------------

CACHING = Exercise("caching", passed="caches exactly the steps whose result is fixed by their inputs")


@dataclass(frozen=True)
class Step:
    """A pipeline step as the cache sees it.

    ``inputs``: its parameters and input artifacts, which make the cache key. ``reads``: state
    outside the pipeline it reads, each mapped to the input that pins it (``"as_of"`` pins the
    warehouse as it stood that day), or to None when no input does ("the current @champion").
    ``writes``: state outside its outputs that it changes (a registry, a message)."""

    name: str
    inputs: tuple[str, ...]
    reads: dict[str, str | None] = field(default_factory=dict)
    writes: tuple[str, ...] = ()


# The seven steps of cardfraud.pipelines.continuous_training.
PIPELINE_STEPS = [
    Step("ingest", ("warehouse", "as_of"), reads={"the warehouse's payments and chargebacks": "as_of"}),
    Step("validate", ("transactions",)),
    Step("featurize", ("validated",)),
    Step("train", ("features", "as_of", "seed")),
    Step("evaluate", ("features", "model", "as_of", "tracking_uri", "model_name"),
         reads={"the version @champion points to now": None}),
    Step("gate", ("low", "high", "positives", "champion_version", "margin")),
    Step("register", ("features", "model", "challenger", "champion_version", "tracking_uri", "model_name"),
         reads={"the registry's versions": None}, writes=("a model version", "the @challenger alias")),
]
_EXPECTED = {"ingest": True, "validate": True, "featurize": True, "train": True, "evaluate": False, "gate": True,
             "register": False}
_EDGE_STEPS = [
    (Step("evaluate_pinned", ("features", "model", "champion_version"),
          reads={"models:/fraud-detector/<champion_version>": "champion_version"}), True,
     "this evaluate reads a version pinned by its input champion_version: a version's files never change, so "
     "the same inputs give the same score. Outside state pinned by an input is safe to cache"),
    (Step("ingest_latest", ("bucket",), reads={"the newest file in the bucket": None}), False,
     "'the newest file' changes while the input (the bucket) stays the same: a cached run returns last week's data"),
    (Step("features_now", ("customers",), reads={"the clock": None}), False,
     "a step that reads the clock gives a different answer tomorrow for the same inputs: do not cache it"),
    (Step("notify_team", ("decision",), writes=("a message in the team's channel",)), False,
     "a cached step does not run, so its side effect (the message) does not happen: never cache a step that "
     "writes outside its outputs"),
    (Step("ingest_unpinned", ("warehouse",), reads={"the warehouse's payments and chargebacks": "as_of"}), False,
     "the warehouse is pinned by as_of, but as_of is not one of this step's inputs, so it is not in the cache key"),
]


@CACHING.check
def _pipeline_plan(candidate):
    for step in PIPELINE_STEPS:
        got = candidate(step)
        if not isinstance(got, bool):
            raise Mistake(f"return True or False; got {got!r} for {step.name}")
    plan = {step.name: candidate(step) for step in PIPELINE_STEPS}
    if not any(plan.values()):
        raise Mistake("you cache nothing: safe, but every rerun repeats ingest, featurize and train, the expensive "
                      "steps. A step whose result is fixed by its inputs may be cached")
    if plan["evaluate"]:
        raise Mistake("you cache evaluate: it reads the version @champion points to NOW, which is not an input. After "
                      "a promotion a cached evaluate compares the challenger with last week's champion")
    if plan["register"]:
        raise Mistake("you cache register: it writes a model version and an alias. A cache hit skips the write and "
                      "reports a version the registry may not have")
    wrong = sorted(name for name, cached in plan.items() if cached != _EXPECTED[name])
    if wrong:
        name = wrong[0]
        step = next(s for s in PIPELINE_STEPS if s.name == name)
        why = f"it reads {list(step.reads)}, pinned by {list(step.reads.values())}" if step.reads else "it reads only its inputs"
        raise Mistake(f"{name}: you said {'cache' if plan[name] else 'do not cache'}, but {why} and writes nothing "
                      "outside its outputs")


@CACHING.check
def _edge_steps(candidate):
    for step, expected, hint in _EDGE_STEPS:
        got = candidate(step)
        if got != expected:
            raise Mistake(f"{step.name}: you said {got}, expected {expected}: {hint}")


def grade_caching(candidate):
    return CACHING.grade(candidate)


EXERCISES = [TRIGGER.name, GATE.name, CACHING.name]

__all__ = ["EXERCISES", "PIPELINE_STEPS", "Step", "grade_caching", "grade_gate", "grade_trigger", "running_example",
           "signals_table"]
