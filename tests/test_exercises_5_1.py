"""Lab 5.1's graders, tested three ways: the lab's solutions pass, its stubs are "not done yet",
and plausible wrong answers fail with the hint that names their mistake. A grader that passes a
wrong answer fails the suite."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cardfraud import runs
from cardfraud.exercises import FAIL, NOT_DONE, PASS, lab_5_1, report
from cardfraud.labels import EVALUATION_DAYS, LABEL_MATURITY_DAYS, decision_windows
from tests.harness import SNIPPETS

LAB = SNIPPETS / "labs" / "lab-5.1.py"
EXERCISES = {"fingerprint": lab_5_1.FINGERPRINT, "split": lab_5_1.SPLIT, "differences": lab_5_1.DIFFERENCES}
FUNCTION = {"fingerprint": "fingerprint", "split": "split_as_known", "differences": "differences"}


def section(name: str) -> str:
    """The code between ``# --8<-- [start:name]`` and ``# --8<-- [end:name]`` in the lab."""
    text = LAB.read_text(encoding="utf-8")
    found = re.search(rf"^# --8<-- \[start:{name}\]\n(.*?)^# --8<-- \[end:{name}\]", text, re.S | re.M)
    assert found, f"{LAB.name} has no section {name}"
    return found.group(1)


def lab_function(kind: str, exercise: str):
    """The reader's function as the lab defines it: ``kind`` is "exercise" (the stub) or "solution"."""
    namespace = {"pd": pd, "Path": Path, "json": json, "hashlib": hashlib,
                 "LABEL_MATURITY_DAYS": LABEL_MATURITY_DAYS, "EVALUATION_DAYS": EVALUATION_DAYS}
    exec(compile(section(f"{kind}-{exercise}"), f"{LAB.name}:{kind}-{exercise}", "exec"), namespace)
    return namespace[FUNCTION[exercise]]


def grade(exercise: str, candidate):
    return EXERCISES[exercise].grade(candidate, quiet=True)


@pytest.mark.parametrize("exercise", EXERCISES)
def test_solution_passes(exercise):
    result = grade(exercise, lab_function("solution", exercise))
    assert result.status == PASS, result


@pytest.mark.parametrize("exercise", EXERCISES)
def test_stub_is_not_done(exercise):
    assert grade(exercise, lab_function("exercise", exercise)).status == NOT_DONE


def test_report_counts_stubs_as_not_done():
    for exercise in EXERCISES:
        grade(exercise, lab_function("exercise", exercise))
    assert report(lab_5_1.NAMES) == "exercises: 0 of 3 passed; not done yet: fingerprint, split, differences"


@pytest.mark.parametrize("exercise, course_version", [
    ("fingerprint", runs.fingerprint), ("split", decision_windows), ("differences", runs.differences),
])
def test_the_runs_functions_meet_the_exercises(exercise, course_version):
    """The lab's run calls these in place of the reader's: they must pass the same graders."""
    assert grade(exercise, course_version).status == PASS


def test_graders_are_fast():
    import time

    started = time.perf_counter()
    for exercise in EXERCISES:
        grade(exercise, lab_function("solution", exercise))
    assert time.perf_counter() - started < 10  # a second or two on an idle laptop


# --- wrong answers, each named after its mistake -------------------------------------------------


def hashes_the_index(frame):
    return hashlib.sha256(pd.util.hash_pandas_object(frame).to_numpy().tobytes()).hexdigest()


def csv_with_the_index(frame):
    return hashlib.sha256(frame.to_csv().encode()).hexdigest()


def values_only(frame):  # what a plain hash_pandas_object(index=False) gives
    return hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()).hexdigest()


def ignores_dtypes(frame):
    names = json.dumps([str(c) for c in frame.columns]).encode()
    return hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes() + names).hexdigest()


def csv_without_index_ignores_dtypes(frame):
    return hashlib.sha256(frame.to_csv(index=False).encode()).hexdigest()


def hashes_only_the_column_names(frame):
    return hashlib.sha256(",".join(frame.columns).encode()).hexdigest()


def hashes_the_object(frame):
    return hashlib.sha256(str(id(frame)).encode()).hexdigest()


def returns_bytes(frame):
    return hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()).digest()


FINGERPRINT_MISTAKES = [
    (hashes_the_index, "another index"),
    (csv_with_the_index, "another index"),
    (values_only, "renamed column"),
    (ignores_dtypes, "changed dtype"),
    (csv_without_index_ignores_dtypes, "changed dtype"),
    (hashes_only_the_column_names, "changed by a cent"),
    (hashes_the_object, "two calls on the same data"),
    (returns_bytes, "non-empty str"),
]


def _bounds(as_of):
    end = as_of - pd.Timedelta(days=LABEL_MATURITY_DAYS)
    return end - pd.Timedelta(days=EVALUATION_DAYS), end


def _known(rows, as_of):
    return rows.assign(is_fraud=((rows["is_fraud"] == 1) & (rows["label_available_at"] <= as_of)).astype("int8"))


def random_split(rows, as_of):
    usable = _known(rows[rows["event_timestamp"] < _bounds(as_of)[1]], as_of)
    evaluation = usable.sample(frac=0.2, random_state=0)
    return usable.drop(index=evaluation.index), evaluation


def final_labels(rows, as_of):
    start, end = _bounds(as_of)
    times = rows["event_timestamp"]
    return rows[times < start].copy(), rows[(times >= start) & (times < end)].copy()


def no_maturity(rows, as_of):  # evaluates on the last week before as_of
    known, start = _known(rows, as_of), as_of - pd.Timedelta(days=EVALUATION_DAYS)
    times = known["event_timestamp"]
    return known[times < start], known[(times >= start) & (times < as_of)]


def no_end_at_all(rows, as_of):  # the evaluation week runs on into the future
    known, start = _known(rows, as_of), _bounds(as_of)[0]
    times = known["event_timestamp"]
    return known[times < start], known[times >= start]


def trains_on_the_unmatured_days_too(rows, as_of):
    known, (start, end) = _known(rows, as_of), _bounds(as_of)
    times = known["event_timestamp"]
    evaluation = (times >= start) & (times < end)
    return known[~evaluation & (times < as_of)], known[evaluation]


def maturity_boundary_inclusive(rows, as_of):
    known, (start, end) = _known(rows, as_of), _bounds(as_of)
    times = known["event_timestamp"]
    return known[times < start], known[(times >= start) & (times <= end)]


def evaluation_start_exclusive(rows, as_of):
    known, (start, end) = _known(rows, as_of), _bounds(as_of)
    times = known["event_timestamp"]
    return known[times <= start], known[(times > start) & (times < end)]


def chargeback_on_as_of_unknown(rows, as_of):
    known = rows.assign(is_fraud=((rows["is_fraud"] == 1) & (rows["label_available_at"] < as_of)).astype("int8"))
    start, end = _bounds(as_of)
    times = known["event_timestamp"]
    return known[times < start], known[(times >= start) & (times < end)]


def two_week_evaluation(rows, as_of):
    known, end = _known(rows, as_of), _bounds(as_of)[1]
    start = end - pd.Timedelta(days=2 * EVALUATION_DAYS)
    times = known["event_timestamp"]
    return known[times < start], known[(times >= start) & (times < end)]


def overwrites_the_callers_labels(rows, as_of):
    rows["is_fraud"] = ((rows["is_fraud"] == 1) & (rows["label_available_at"] <= as_of)).astype("int8")
    start, end = _bounds(as_of)
    times = rows["event_timestamp"]
    return rows[times < start], rows[(times >= start) & (times < end)]


def keeps_only_the_features(rows, as_of):
    training, evaluation = decision_windows(rows, as_of)
    return training[["amount", "is_fraud"]], evaluation[["amount", "is_fraud"]]


SPLIT_MISTAKES = [
    (random_split, "random split"),
    (final_labels, "kept the final is_fraud"),
    (no_maturity, "younger than LABEL_MATURITY_DAYS"),
    (no_end_at_all, "on or after as_of"),
    (trains_on_the_unmatured_days_too, "training rows include payments younger"),
    (maturity_boundary_inclusive, "exactly 14 days old"),
    (evaluation_start_exclusive, "opens the evaluation week"),
    (chargeback_on_as_of_unknown, "arrives on as_of itself"),
    (two_week_evaluation, "newest 7 days"),
    (overwrites_the_callers_labels, "changed the frame it was given"),
    (keeps_only_the_features, "keep every column"),
]


def _records(run_a, run_b):
    return [json.loads((Path(r) / "run.json").read_text(encoding="utf-8")) for r in (run_a, run_b)]


def _diff(a: dict, b: dict) -> list[str]:
    return sorted(k for k in a.keys() | b.keys() if k not in a or k not in b or a[k] != b[k])


def metrics_rounded_too_coarsely(run_a, run_b):
    rounded = [{k: round(v, 2) if isinstance(v, float) else v for k, v in runs.flatten(r).items()} for r in _records(run_a, run_b)]
    return _diff(*rounded)


def metrics_with_a_tolerance(run_a, run_b):
    a, b = (runs.flatten(r) for r in _records(run_a, run_b))
    return sorted(k for k in a.keys() | b.keys() if k not in a or k not in b
                  or not (np.isclose(a[k], b[k], rtol=1e-3) if isinstance(a[k], float) else a[k] == b[k]))


def ignores_the_model_file(run_a, run_b):
    return _diff(*(runs.flatten(r) for r in _records(run_a, run_b)))


def treats_the_hash_seed_as_irrelevant(run_a, run_b):
    flat = [runs.flatten(r) for r in _records(run_a, run_b)]
    for f in flat:
        f.pop("environment.pythonhashseed", None)
    runs.read_run(run_a), runs.read_run(run_b)  # checks the model files
    return _diff(*flat)


def compares_the_params_and_data_only(run_a, run_b):
    a, b = (runs.flatten(runs.read_run(r)) for r in (run_a, run_b))
    keep = ("params", "data_fingerprint", "metrics", "model_sha256", "predictions_sha256")
    return _diff({k: v for k, v in a.items() if k.startswith(keep)}, {k: v for k, v in b.items() if k.startswith(keep)})


def top_level_names_only(run_a, run_b):
    a, b = (runs.read_run(r) for r in (run_a, run_b))
    return _diff(a, b)


def shared_fields_only(run_a, run_b):
    a, b = (runs.flatten(runs.read_run(r)) for r in (run_a, run_b))
    return sorted(k for k in a.keys() & b.keys() if a[k] != b[k])


def compares_the_folder_names(run_a, run_b):
    return runs.differences(run_a, run_b) + ([] if Path(run_a).name == Path(run_b).name else ["run_dir"])


def returns_a_verdict(run_a, run_b):
    return not runs.differences(run_a, run_b)


DIFFERENCES_MISTAKES = [
    (metrics_rounded_too_coarsely, "fourth decimal"),
    (metrics_with_a_tolerance, "fourth decimal"),
    (ignores_the_model_file, "model.pkl was replaced"),
    (treats_the_hash_seed_as_irrelevant, "PYTHONHASHSEED"),
    (compares_the_params_and_data_only, "PYTHONHASHSEED"),
    (top_level_names_only, "full dotted path"),
    (shared_fields_only, "only one run"),
    (compares_the_folder_names, "two copies of the same run"),
    (returns_a_verdict, "list of field names"),
]


@pytest.mark.parametrize(
    "exercise, wrong, hint",
    [("fingerprint", fn, hint) for fn, hint in FINGERPRINT_MISTAKES]
    + [("split", fn, hint) for fn, hint in SPLIT_MISTAKES]
    + [("differences", fn, hint) for fn, hint in DIFFERENCES_MISTAKES],
    ids=lambda value: getattr(value, "__name__", None) if callable(value) else None,
)
def test_wrong_answer_fails_with_its_hint(exercise, wrong, hint):
    result = grade(exercise, wrong)
    assert result.status == FAIL, f"{wrong.__name__} passed the {exercise} grader"
    assert hint in result.message, f"{wrong.__name__}: expected a hint with {hint!r}, got: {result.message}"
