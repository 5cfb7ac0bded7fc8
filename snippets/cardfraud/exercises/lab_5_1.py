"""Graders for lab 5.1's exercises: a fingerprint of the data, the windows a run on a given day
may use (labels as known then), and the comparison that decides whether two runs are one.

Each grader builds its own data (a small slice of the running example, and hand-made edge cases),
calls the reader's function, and prints PASS, "not done yet", or what went wrong.

    >>> from cardfraud.exercises import lab_5_1
    >>> lab_5_1.grade_fingerprint(fingerprint)
    >>> lab_5_1.grade_split(split_as_known)
    >>> lab_5_1.grade_differences(differences)
"""

from __future__ import annotations

import copy
import hashlib
import json
import tempfile
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from cardfraud.exercises import Exercise, Mistake
from cardfraud.generate import generate
from cardfraud.labels import EVALUATION_DAYS, LABEL_MATURITY_DAYS, as_timestamp

NAMES = ["fingerprint", "split", "differences"]  # the lab's final cell reports these

FINGERPRINT = Exercise("fingerprint", passed="changes with values, column names and dtypes, not with the index")
SPLIT = Exercise("split", passed="matured windows, labels as known on as_of, nothing from the future")
DIFFERENCES = Exercise("differences", passed="every field compared exactly, model files checked")

_DAY = pd.Timedelta(days=1)


@lru_cache(maxsize=1)
def _payments() -> pd.DataFrame:
    """Seven weeks of the bank's payments, a small feed (grading must take a second, not a minute)."""
    return generate(start="2026-01-05", days=49, transactions_per_day=300, seed=7)


# --- fingerprint ---------------------------------------------------------------------------


def _digest(candidate, frame: pd.DataFrame) -> str:
    digest = candidate(frame.copy())
    if not isinstance(digest, str) or not digest:
        raise Mistake(f"return the digest as a non-empty str (for example sha256(...).hexdigest()), not {type(digest).__name__}")
    return digest


def _one_day() -> pd.DataFrame:
    return _payments().iloc[:300].reset_index(drop=True)


@FINGERPRINT.check
def _deterministic(candidate):
    frame = _one_day()
    if _digest(candidate, frame) != _digest(candidate, frame.copy()):
        raise Mistake("two calls on the same data gave different digests: hash the data's content, not the "
                      "object (no id(), no time, no random salt)")


@FINGERPRINT.check
def _index_ignored(candidate):
    frame = _one_day()
    renumbered = frame.set_axis(frame.index + 1_000)
    if _digest(candidate, frame) != _digest(candidate, renumbered):
        raise Mistake("the same rows with another index got another digest: a filter, a concat or a reset_index "
                      "renumbers rows without changing the data; leave the index out "
                      "(pd.util.hash_pandas_object(frame, index=False))")


@FINGERPRINT.check
def _values_count(candidate):
    frame = _one_day()
    changed = frame.copy()
    changed.loc[5, "amount"] = round(changed.loc[5, "amount"] + 0.01, 2)
    if _digest(candidate, frame) == _digest(candidate, changed):
        raise Mistake("one amount changed by a cent and the digest stayed the same: hash every value of every "
                      "row, not only the column names or the shape")
    fewer = frame.iloc[:-1]
    if _digest(candidate, frame) == _digest(candidate, fewer):
        raise Mistake("a row was dropped and the digest stayed the same: hash every row")


@FINGERPRINT.check
def _column_names_count(candidate):
    frame = _one_day()
    renamed = frame.rename(columns={"amount": "amount_eur"})
    if _digest(candidate, frame) == _digest(candidate, renamed):
        raise Mistake("a renamed column (amount -> amount_eur) kept the digest: the values alone do not say which "
                      "column is which; add the column names to what you hash")


@FINGERPRINT.check
def _dtypes_count(candidate):
    frame = _one_day()
    for column, dtype, what in [("customer_id", "int32", "int64 -> int32"), ("channel", "category", "object -> category")]:
        cast = frame.astype({column: dtype})
        if _digest(candidate, frame) == _digest(candidate, cast):
            raise Mistake(f"{column} changed dtype ({what}) with the same values, and the digest stayed the same: "
                          "hash_pandas_object hashes values, not dtypes; add each column's dtype to what you hash")


# --- split: the windows a run on as_of may use -------------------------------------------------


def _boundary_rows(as_of: pd.Timestamp) -> pd.DataFrame:
    """Payments on the edges of the windows, each with a transaction id of its own."""
    template = _payments().iloc[[0]]
    maturity, evaluation_start = as_of - pd.Timedelta(days=LABEL_MATURITY_DAYS), as_of - pd.Timedelta(days=LABEL_MATURITY_DAYS + EVALUATION_DAYS)
    edges = [  # (when, is_fraud, chargeback arrives)
        (maturity, 0, maturity + pd.Timedelta(days=30)),  # exactly 14 days old: not matured
        (maturity - pd.Timedelta(seconds=1), 1, maturity + _DAY),  # matured, charged back before as_of
        (evaluation_start, 1, as_of),  # opens the evaluation week; its chargeback arrives on as_of itself
        (evaluation_start - pd.Timedelta(seconds=1), 1, as_of + 2 * _DAY),  # training; chargeback after as_of
        (maturity + 2 * _DAY, 1, maturity + 3 * _DAY),  # too young for either window
    ]
    rows = pd.concat([template] * len(edges), ignore_index=True)
    rows["transaction_id"] = 9_000_000 + pd.RangeIndex(len(edges))
    rows["event_timestamp"] = [when for when, _, _ in edges]
    rows["is_fraud"] = np.array([fraud for _, fraud, _ in edges], dtype="int8")
    rows["label_available_at"] = [arrives for _, _, arrives in edges]
    return rows


def _case(as_of: pd.Timestamp) -> pd.DataFrame:
    payments = _payments()
    payments = payments[payments["event_timestamp"] < as_of + 7 * _DAY]  # a week past as_of: the future
    frame = pd.concat([payments, _boundary_rows(as_of)], ignore_index=True)
    return frame.set_axis(frame.index + 100)  # an index that is not 0..n-1


def _expected(frame: pd.DataFrame, as_of: pd.Timestamp) -> tuple[dict, dict]:
    """{transaction_id: label known on as_of} for training and evaluation, computed here."""
    end = as_of - pd.Timedelta(days=LABEL_MATURITY_DAYS)
    start = end - pd.Timedelta(days=EVALUATION_DAYS)
    known = ((frame["is_fraud"] == 1) & (frame["label_available_at"] <= as_of)).astype(int)
    times = frame["event_timestamp"]
    windows = times < start, (times >= start) & (times < end)
    return tuple(dict(zip(frame.loc[w, "transaction_id"], known[w])) for w in windows)


def _labels(part: pd.DataFrame) -> dict:
    return dict(zip(part["transaction_id"], part["is_fraud"].astype(int)))


def _call_split(candidate, frame: pd.DataFrame, as_of: pd.Timestamp):
    before = frame.copy()
    result = candidate(frame, as_of)
    if not (isinstance(result, tuple) and len(result) == 2 and all(isinstance(p, pd.DataFrame) for p in result)):
        raise Mistake("return a tuple of two DataFrames: (training, evaluation)")
    if not frame.equals(before):
        raise Mistake("your function changed the frame it was given: return new frames (rows.assign(is_fraud=...)) "
                      "and leave the caller's data as it was")
    for name, part in zip(("training", "evaluation"), result):
        if list(part.columns) != list(frame.columns):
            raise Mistake(f"the {name} frame must keep every column of rows, in order (the run trains on the features "
                          f"and needs event_timestamp), got {list(part.columns)}")
    return result


@SPLIT.check
def _running_example(candidate):
    for as_of in (as_timestamp("2026-02-16"), as_timestamp("2026-02-09")):
        frame = _case(as_of)
        training, evaluation = _call_split(candidate, frame, as_of)
        want_training, want_evaluation = _expected(frame, as_of)
        end = as_of - pd.Timedelta(days=LABEL_MATURITY_DAYS)
        start = end - pd.Timedelta(days=EVALUATION_DAYS)
        for name, part in (("training", training), ("evaluation", evaluation)):
            if (part["event_timestamp"] >= as_of).any():
                raise Mistake(f"your {name} rows include payments from on or after as_of ({as_of:%Y-%m-%d}): a run "
                              "that claims to run that day cannot have seen them")
        if set(training["transaction_id"]) & set(evaluation["transaction_id"]):
            raise Mistake("training and evaluation share payments: the evaluation week must not be trained on")
        young = evaluation["event_timestamp"] >= end + pd.Timedelta(seconds=1)
        if young.any():
            raise Mistake(f"your evaluation rows include payments younger than LABEL_MATURITY_DAYS "
                          f"({LABEL_MATURITY_DAYS}) on as_of: their chargebacks are still arriving, so their frauds "
                          f"look legitimate. Evaluate on [as_of - {LABEL_MATURITY_DAYS + EVALUATION_DAYS} days, "
                          f"as_of - {LABEL_MATURITY_DAYS} days)")
        if (training["event_timestamp"] > end).any():
            raise Mistake(f"your training rows include payments younger than {LABEL_MATURITY_DAYS} days on as_of: "
                          "unreported fraud in them is learned as legitimate")
        if len(training) and len(evaluation) and training["event_timestamp"].max() > evaluation["event_timestamp"].min():
            raise Mistake("some training payments are later than evaluation payments: that is a random split, and "
                          "it trains on the future. Train on every payment before the evaluation week")
        if len(evaluation) == 0 or evaluation["event_timestamp"].min() < start - pd.Timedelta(seconds=1):
            raise Mistake(f"the evaluation window is the newest {EVALUATION_DAYS} days (EVALUATION_DAYS) of matured "
                          f"payments: from as_of - {LABEL_MATURITY_DAYS + EVALUATION_DAYS} days to as_of - "
                          f"{LABEL_MATURITY_DAYS} days")
        if set(training["transaction_id"]) != set(want_training) or set(evaluation["transaction_id"]) != set(want_evaluation):
            _boundaries(training, evaluation, want_training, want_evaluation)
            raise Mistake("your windows do not hold the payments they should: training is every payment before "
                          f"as_of - {LABEL_MATURITY_DAYS + EVALUATION_DAYS} days, evaluation the {EVALUATION_DAYS} "
                          "days after it")
        got = {**_labels(training), **_labels(evaluation)}
        want = {**want_training, **want_evaluation}
        wrong = [tid for tid in want if got[tid] != want[tid]]
        if wrong:
            final = {**dict(zip(frame["transaction_id"], frame["is_fraud"].astype(int)))}
            if all(got[tid] == final[tid] for tid in wrong):
                raise Mistake("you kept the final is_fraud: on as_of the bank knows a fraud only once its chargeback "
                              "has arrived (label_available_at <= as_of); until then the payment counts as legitimate")
            if any(tid >= 9_000_000 for tid in wrong):
                raise Mistake("a chargeback that arrives on as_of itself is known that day: use "
                              "label_available_at <= as_of, not <")
            raise Mistake("some labels are not the ones known on as_of: 1 only for a fraud whose chargeback has "
                          "arrived by then (label_available_at <= as_of), 0 for every other payment")


def _boundaries(training, evaluation, want_training, want_evaluation):
    """The hint for windows that differ only on their edges (< against <=)."""
    got_training, got_evaluation = set(training["transaction_id"]), set(evaluation["transaction_id"])
    oldest_young, first_evaluation = 9_000_000, 9_000_002  # see _boundary_rows
    if oldest_young in got_evaluation or oldest_young in got_training:
        raise Mistake(f"a payment exactly {LABEL_MATURITY_DAYS} days old on as_of is not matured yet: keep "
                      f"event_timestamp < as_of - {LABEL_MATURITY_DAYS} days (not <=)")
    if first_evaluation in got_training:
        raise Mistake(f"a payment exactly {LABEL_MATURITY_DAYS + EVALUATION_DAYS} days old opens the evaluation "
                      "week: training is event_timestamp < the evaluation start, evaluation >= it")


# --- differences: is it the same run? -----------------------------------------------------------


def _record(model: bytes) -> dict:
    return {
        "params": {"as_of": "2026-02-16", "model": {"learning_rate": 0.1, "max_iter": 100, "seed": 0},
                   "sampling": {"legit_fraction": 0.3, "seed": 7}, "threads": 1},
        "data_fingerprint": hashlib.sha256(b"the bank's payments").hexdigest(),
        "training_rows": 13_020,
        "environment": {"python": "3.11.2", "libraries": {"scikit-learn": "1.9.1"},
                        "thread_pools": [["openmp", 1]], "pythonhashseed": "0"},
        "metrics": {"pr_auc": 0.7159, "roc_auc": 0.9853},
        "model_sha256": hashlib.sha256(model).hexdigest(),
        "predictions_sha256": hashlib.sha256(b"predictions").hexdigest(),
    }


def _write(folder: Path, record: dict, model: bytes) -> str:
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps(record, indent=2, sort_keys=True), encoding="utf-8")
    (folder / "model.pkl").write_bytes(model)
    return str(folder)


def _compared(candidate, change=None, model_b: bytes | None = None):
    """The candidate's answer for run a against run b, where b is a with ``change`` applied."""
    model = b"a fitted model, pickled"
    record_a = _record(model)
    record_b = copy.deepcopy(record_a)
    if change:
        change(record_b)
    with tempfile.TemporaryDirectory(prefix="lab-5.1-grader-") as tmp:
        run_a = _write(Path(tmp) / "a", record_a, model)
        run_b = _write(Path(tmp) / "b", record_b, model if model_b is None else model_b)
        result = candidate(run_a, run_b)
    if not isinstance(result, (list, tuple, set)) or not all(isinstance(name, str) for name in result):
        raise Mistake(f"return a list of field names (str), got {type(result).__name__}")
    return sorted(result)


def _set(path: str, value):
    def change(record):
        *parents, leaf = path.split(".")
        for key in parents:
            record = record[key]
        record[leaf] = value

    return change


@DIFFERENCES.check
def _same_run(candidate):
    found = _compared(candidate)
    if found:
        raise Mistake(f"two copies of the same run are reported as different in {found}: compare the recorded "
                      "values, not the folders' paths or file times")


@DIFFERENCES.check
def _dotted_names(candidate):
    found = _compared(candidate, _set("params.model.max_iter", 200))
    if found != ["params.model.max_iter"]:
        raise Mistake(f"max_iter changed from 100 to 200 and you reported {found}: name each field by its full "
                      "dotted path (params.model.max_iter), so the report says which knob moved")


@DIFFERENCES.check
def _metrics_exactly(candidate):
    found = _compared(candidate, _set("metrics.pr_auc", 0.7163))
    if found != ["metrics.pr_auc"]:
        raise Mistake(f"PR-AUC went from 0.7159 to 0.7163 and you reported {found}: a change in the fourth decimal "
                      "is a model that behaves differently. The record's values are already rounded; compare them "
                      "exactly, with no tolerance or further rounding")


@DIFFERENCES.check
def _hash_seed_counts(candidate):
    found = _compared(candidate, _set("environment.pythonhashseed", "random"))
    if found != ["environment.pythonhashseed"]:
        raise Mistake(f"one run had PYTHONHASHSEED=0 and the other a random hash seed, and you reported {found}: "
                      "the hash seed changes the order of sets, hence of columns, hence the model (the "
                      "PYTHONHASHSEED block on the module page). Compare the environment too")


@DIFFERENCES.check
def _one_sided_fields(candidate):
    found = _compared(candidate, _set("git_commit", "4f1c2e9"))
    if found != ["git_commit"]:
        raise Mistake(f"run b records a git_commit that run a does not, and you reported {found}: a field recorded "
                      "by only one run is a difference")


@DIFFERENCES.check
def _model_file_checked(candidate):
    try:
        found = _compared(candidate, model_b=b"another model, copied over this one")
    except ValueError:
        return  # the swapped file was refused: what the docstring asks
    if not found:
        raise Mistake("run b's model.pkl was replaced by another file and you reported the same run: the record "
                      "states model_sha256; hash each model.pkl and raise ValueError when it does not match")


def grade_fingerprint(candidate):
    return FINGERPRINT.grade(candidate)


def grade_split(candidate):
    return SPLIT.grade(candidate)


def grade_differences(candidate):
    return DIFFERENCES.grade(candidate)
