# %% [markdown]
# # Lab 5.1: from notebook to reproducible run
#
# Take a notebook-style training cell on the bank's payments and turn it into a run that
# records everything it depends on: a params file, the day it claims to run on, a fingerprint
# of the data, seeds and thread limits, the environment, the metrics, and the model with its
# hash. Then run it twice and let a check decide whether the two runs are the same run, and
# say what changed when not.
#
# This lab is the course's entry point: it starts from nothing but `cardfraud`'s generator,
# with the bank's calendar and volume (`cardfraud.course`). What it hands on is a discipline
# every later lab follows: start in a folder of its own (`course.lab_folder`), read every knob
# from one place, seed every draw, state the day the run claims to run on and use only the
# labels known that day (`cardfraud.labels.decision_windows`), and record enough to tell two
# runs apart. The thread of one model starts in lab 5.2.
#
# You write three functions: a fingerprint of the data, the windows a run may train and
# evaluate on, and the comparison that decides whether two runs are one. A grader checks each.

# %%
# --8<-- [start:folder]
from cardfraud import course

folder = course.lab_folder("lab-5.1")  # ./lab-5.1, emptied: a second run starts exactly as the first did
# --8<-- [end:folder]

# %% [markdown]
# ## Step 1: the notebook, as most of them start

# %%
# --8<-- [start:notebook]
import pandas as pd

from cardfraud import generate, labels_known
from cardfraud.features import build_features
from cardfraud.model import evaluate, split_by_time, train

CUTOFF = "2026-01-26"  # train on the first three weeks, test on the fourth
payments = generate(start=course.HISTORY_START, days=28, transactions_per_day=course.PAYMENTS_PER_DAY)
features = build_features(payments)


def notebook_cell() -> float:
    """What a first notebook does: downsample the legitimate rows, train, score."""
    history, holdout = split_by_time(features, CUTOFF)
    legit = history[history["is_fraud"] == 0].sample(frac=0.3)  # no seed: a fresh draw every run
    training_set = pd.concat([legit, history[history["is_fraud"] == 1]])
    return evaluate(train(training_set, max_iter=100), holdout)["pr_auc"]


first, second = notebook_cell(), notebook_cell()
print(f"same code, same data, run twice -> same PR-AUC: {first == second}")
test_week = payments[(payments["event_timestamp"] >= CUTOFF) & (payments["is_fraud"] == 1)]
print(f"frauds of the test week the bank knew of on 2 February: {labels_known(test_week, '2026-02-02').mean():.0%}")
# --8<-- [end:notebook]

# %% [markdown]
# ## Step 2: every knob in a params file
#
# Anything that changes the model goes into one file that is reviewed and versioned with the
# code: the day the run claims to run on (`as_of`), where the data comes from, the sampling and
# its seed, the model's hyperparameters, and the number of threads.

# %%
# --8<-- [start:params]
from pathlib import Path

import yaml

from cardfraud.labels import LABEL_MATURITY_DAYS, as_timestamp

AS_OF = course.LAUNCH_DAY  # 16 February: the day the bank trains the model it launches
# The extract: every payment from 5 January that is at least LABEL_MATURITY_DAYS old on AS_OF.
DAYS = (as_timestamp(AS_OF) - as_timestamp(course.HISTORY_START)).days - LABEL_MATURITY_DAYS
PARAMS = {
    "as_of": AS_OF,
    "data": {"start": course.HISTORY_START, "days": DAYS, "transactions_per_day": course.PAYMENTS_PER_DAY, "seed": 42},
    "sampling": {"legit_fraction": 0.3, "seed": 7},
    "model": {"seed": 0, "learning_rate": 0.1, "max_iter": 100, "max_leaf_nodes": 31},
    "threads": 1,
}
Path("params.yaml").write_text(yaml.safe_dump(PARAMS, sort_keys=True), encoding="utf-8")
print(Path("params.yaml").read_text(encoding="utf-8"))
# --8<-- [end:params]

# %% [markdown]
# ## Step 3: exercise — a fingerprint of the data
#
# A run must record which data it read, in a few characters that change whenever the data
# does: a value, a column's name, a column's dtype. It must not change when only the index
# does, because the same extract loaded twice, filtered or concatenated gets new row numbers.
# Write `fingerprint`; the grader tries it on a day of payments and on each of those changes.

# %%
# --8<-- [start:exercise-fingerprint]
from cardfraud.exercises import lab_5_1, report


def fingerprint(frame: pd.DataFrame) -> str:
    """A hex digest that identifies the data in ``frame``.

    It changes when a value, a column name or a column's dtype changes, and stays the same
    when only the index does.
    """
    # Hint: pd.util.hash_pandas_object(frame, index=False) gives one uint64 per row, from the
    # values alone; add the column names and dtypes, and hashlib.sha256 the bytes.
    raise NotImplementedError


# --8<-- [end:exercise-fingerprint]

# %% tags=["solution"]
# --8<-- [start:solution-fingerprint]
import hashlib
import json


def fingerprint(frame: pd.DataFrame) -> str:
    """A hex digest that identifies the data in ``frame``.

    It changes when a value, a column name or a column's dtype changes, and stays the same
    when only the index does.
    """
    row_hashes = pd.util.hash_pandas_object(frame, index=False).to_numpy()  # values, row by row
    schema = json.dumps([[str(column), str(dtype)] for column, dtype in frame.dtypes.items()])
    return hashlib.sha256(row_hashes.tobytes() + schema.encode()).hexdigest()


# --8<-- [end:solution-fingerprint]

# %%
# --8<-- [start:grade-fingerprint]
lab_5_1.grade_fingerprint(fingerprint)
# --8<-- [end:grade-fingerprint]

# %% [markdown]
# ## Step 4: exercise — the windows a run may use
#
# On `as_of` the bank knows a fraud only once its chargeback has arrived; a payment without one
# counts as legitimate. So a run on `as_of` trains and evaluates only on payments old enough for
# nearly all their chargebacks to be in (`LABEL_MATURITY_DAYS`, 14), with the labels known that
# day. This is the rule every later module's decisions follow. Write it.

# %%
# --8<-- [start:exercise-split]
from cardfraud.labels import EVALUATION_DAYS  # 7: the newest matured week is the evaluation window


def split_as_known(rows: pd.DataFrame, as_of: pd.Timestamp) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The (training, evaluation) rows a run on ``as_of`` (a UTC timestamp) may use.

    Evaluation: payments from as_of - 21 days (included) to as_of - 14 days (excluded), the
    newest EVALUATION_DAYS whose chargebacks have had LABEL_MATURITY_DAYS to arrive. Training:
    every payment before the evaluation week. Payments younger than 14 days are in neither.
    In both, ``is_fraud`` is the label known on as_of: 1 for a fraud whose chargeback has
    arrived (``label_available_at <= as_of``), 0 for every other payment. Return new frames
    with every column of ``rows``; leave ``rows`` as it is.
    """
    # Hint: compare rows["event_timestamp"] with as_of - pd.Timedelta(days=...), and build the
    # label with rows.assign(is_fraud=...).
    raise NotImplementedError


# --8<-- [end:exercise-split]

# %% tags=["solution"]
# --8<-- [start:solution-split]
def split_as_known(rows: pd.DataFrame, as_of: pd.Timestamp) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The (training, evaluation) rows a run on ``as_of`` (a UTC timestamp) may use."""
    end = as_of - pd.Timedelta(days=LABEL_MATURITY_DAYS)  # younger payments: labels still arriving
    start = end - pd.Timedelta(days=EVALUATION_DAYS)
    known = (rows["is_fraud"] == 1) & (rows["label_available_at"] <= as_of)
    labelled = rows.assign(is_fraud=known.astype(rows["is_fraud"].dtype))
    times = labelled["event_timestamp"]
    return labelled[times < start], labelled[(times >= start) & (times < end)]


# --8<-- [end:solution-split]

# %%
# --8<-- [start:grade-split]
lab_5_1.grade_split(split_as_known)
# --8<-- [end:grade-split]

# %% [markdown]
# ## Step 5: a run that records what it depended on
#
# `environment` records the interpreter, the library versions, the thread pools and the hash
# seed. `run` trains from the params file alone and writes `run.json` next to the model. It
# calls the course's versions of your two functions (`runs.fingerprint` and
# `decision_windows`: the same rules), so the lab carries on whatever state your exercises are in.

# %%
# --8<-- [start:run]
import json
import os
import pickle
import platform
from importlib.metadata import version

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from cardfraud import runs
from cardfraud.labels import decision_windows
from cardfraud.model import score

LIBRARIES = ["numpy", "pandas", "scikit-learn", "scipy"]


def environment() -> dict:
    return {
        "python": platform.python_version(),
        "libraries": {name: version(name) for name in LIBRARIES},
        "thread_pools": sorted({(pool["internal_api"], pool["num_threads"]) for pool in threadpool_info()}),
        "pythonhashseed": os.environ.get("PYTHONHASHSEED", "random"),
        "machine": platform.machine(),
    }


def run(params_path: str, out_dir: str) -> dict:
    params = yaml.safe_load(Path(params_path).read_text(encoding="utf-8"))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with threadpool_limits(limits=params["threads"]):
        data = params["data"]
        transactions = generate(start=data["start"], days=data["days"],
                                transactions_per_day=data["transactions_per_day"], seed=data["seed"])
        training, evaluation = decision_windows(build_features(transactions), params["as_of"])
        sampling = params["sampling"]
        legit = training[training["is_fraud"] == 0].sample(frac=sampling["legit_fraction"],
                                                           random_state=sampling["seed"])
        training_set = pd.concat([legit, training[training["is_fraud"] == 1]]).sort_values("transaction_id")
        knobs = {k: v for k, v in params["model"].items() if k != "seed"}
        model = train(training_set, seed=params["model"]["seed"], **knobs)
        model_bytes = pickle.dumps(model, protocol=5)
        record = {
            "params": params,
            "data_fingerprint": runs.fingerprint(transactions),
            "windows": {name: [part["event_timestamp"].min().isoformat(), part["event_timestamp"].max().isoformat()]
                        for name, part in (("training", training), ("evaluation", evaluation))},  # first, last payment
            "training_rows": len(training_set),
            "training_frauds": int(training_set["is_fraud"].sum()),  # the frauds known on as_of
            "environment": environment(),
            "metrics": evaluate(model, evaluation),
            "model_sha256": runs.sha256(model_bytes),
            "predictions_sha256": runs.sha256(np.round(score(model, evaluation), 12).tobytes()),
        }
    (out / "model.pkl").write_bytes(model_bytes)
    (out / "run.json").write_text(json.dumps(record, indent=2, sort_keys=True, default=list), encoding="utf-8")
    return record


record = run("params.yaml", "runs/a")
print(sorted(record))
print({name: f"{first[:10]} to {last[:10]}" for name, (first, last) in record["windows"].items()})
print(record["metrics"])
# --8<-- [end:run]

# %% [markdown]
# ## Step 6: exercise — is it the same run?
#
# Two runs are the same run only if every recorded field is equal, and each model file on disk
# still has the hash its record claims. Write `differences`: the list of fields that differ,
# empty for the same run. The grader builds pairs of run folders that differ in one field each.

# %%
# --8<-- [start:exercise-differences]
def differences(run_a: str, run_b: str) -> list[str]:
    """The recorded fields in which two runs differ, as dotted paths ("metrics.pr_auc",
    "environment.pythonhashseed"); [] when they are the same run.

    Each run folder holds run.json (the record) and model.pkl. Compare every field exactly,
    including a field that only one run recorded. Raise ValueError if a model.pkl does not have
    the SHA-256 its run.json states (``model_sha256``).
    """
    # Hint: flatten each record into {"dotted.path": value}, then compare the two dicts key by key.
    raise NotImplementedError


# --8<-- [end:exercise-differences]

# %% tags=["solution"]
# --8<-- [start:solution-differences]
def flatten(record: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in record.items():
        if isinstance(value, dict):
            flat |= flatten(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def differences(run_a: str, run_b: str) -> list[str]:
    """The recorded fields in which two runs differ, as dotted paths; [] for the same run."""
    flat = []
    for run_dir in (run_a, run_b):
        record = json.loads((Path(run_dir) / "run.json").read_text(encoding="utf-8"))
        if hashlib.sha256((Path(run_dir) / "model.pkl").read_bytes()).hexdigest() != record["model_sha256"]:
            raise ValueError(f"{run_dir}/model.pkl is not the model its run.json describes")
        flat.append(flatten(record))
    a, b = flat
    return sorted(key for key in a.keys() | b.keys() if key not in a or key not in b or a[key] != b[key])


# --8<-- [end:solution-differences]

# %%
# --8<-- [start:grade-differences]
lab_5_1.grade_differences(differences)
# --8<-- [end:grade-differences]

# %% [markdown]
# ## Step 7: the check
#
# `compare` prints PASS or FAIL, then every field that differs, its two values, and what a
# difference in that field usually means. It calls `runs.differences`, the course's version of
# yours.

# %%
# --8<-- [start:check]
WHAT_IT_MEANS = {
    "params": "someone changed a knob: expected, if it was on purpose",
    "data_fingerprint": "the input data changed: a new extract, an upstream fix, a late row",
    "windows": "the run used other payments: another as_of, or another extract",
    "environment": "a different interpreter, library version, thread count or hash seed",
    "training_rows": "the sampling or the windows selected different rows",
    "training_frauds": "the labels known on as_of differ: another as_of, or another chargeback feed",
    "metrics": "the model behaves differently",
    "model_sha256": "the model's bytes differ",
    "predictions_sha256": "the model predicts differently",
}


def compare(run_a: str, run_b: str) -> bool:
    """Print PASS, or FAIL with each differing field, its two values and what it usually means."""
    changed = runs.differences(run_a, run_b)
    print("PASS: the two runs are identical" if not changed else f"FAIL: {len(changed)} field(s) differ")
    flat = [runs.flatten(runs.read_run(r)) for r in (run_a, run_b)]
    for field in changed:
        a, b = str(flat[0].get(field)), str(flat[1].get(field))
        if field.endswith(("sha256", "fingerprint")):
            a, b = a[:12], b[:12]
        print(f"  {field}: {a} -> {b}")
        print(f"    ({WHAT_IT_MEANS[field.split('.')[0]]})")
    return not changed


run("params.yaml", "runs/b")
identical = compare("runs/a", "runs/b")
# --8<-- [end:check]

# %% [markdown]
# ## Step 8: break it on purpose
#
# First, remove the sampling seed: the same data and params now give a different model, which
# points at a hidden input inside training. Then take the extract one day later and keep every
# other knob.

# %%
# --8<-- [start:break]
unseeded = PARAMS | {"sampling": {"legit_fraction": 0.3, "seed": None}}
Path("params-unseeded.yaml").write_text(yaml.safe_dump(unseeded, sort_keys=True), encoding="utf-8")
run("params-unseeded.yaml", "runs/c")
run("params-unseeded.yaml", "runs/d")
# The values of an unseeded run change every time, so print the diagnosis, not the values.
changed = runs.differences("runs/c", "runs/d")
caught = bool(changed)
print("FAIL" if changed else "PASS")
print("  same data and params:", not any(f.startswith(("data_fingerprint", "params")) for f in changed))
print("  different model and predictions:", {"model_sha256", "predictions_sha256"} <= set(changed))
# --8<-- [end:break]

# %%
# --8<-- [start:newdata]
one_more_day = PARAMS | {"data": PARAMS["data"] | {"days": DAYS + 1}}
Path("params-one-more-day.yaml").write_text(yaml.safe_dump(one_more_day, sort_keys=True), encoding="utf-8")
run("params-one-more-day.yaml", "runs/e")
same_as_a = compare("runs/a", "runs/e")
# --8<-- [end:newdata]

# %% [markdown]
# ## Step 9: your check
#
# The lab passes when the seeded run is reproducible, the unseeded one is caught, the day
# too young for its labels changed the data but not the model, and run a learned from the
# labels the bank had on `as_of`, recounted here from the payments without the run's code.
# The last line counts your exercises.

# %%
# --8<-- [start:verdict]
recorded = runs.read_run("runs/a")
as_of = as_timestamp(recorded["params"]["as_of"])
matured_by = as_of - pd.Timedelta(days=LABEL_MATURITY_DAYS)
evaluation_starts = matured_by - pd.Timedelta(days=EVALUATION_DAYS)
extract = generate(**recorded["params"]["data"])  # the run's data again, from its record alone
window = extract[(extract["event_timestamp"] < evaluation_starts) & (extract["is_fraud"] == 1)]
known = int(labels_known(window, as_of).sum())  # the training window's frauds charged back by as_of
(_, last_trained), (first_evaluated, last_evaluated) = ([pd.Timestamp(t) for t in recorded["windows"][name]]
                                                       for name in ("training", "evaluation"))
outcomes = {
    "seeded runs identical": identical,
    "unseeded runs caught": caught,
    "the unmatured day changed the data, not the model": runs.differences("runs/a", "runs/e")
    == ["data_fingerprint", "params.data.days"],
    f"trained on the {known} frauds known on {as_of:%d %B} (of {len(window)})": recorded["training_frauds"] == known,
    f"every payment used is older than {LABEL_MATURITY_DAYS} days": last_trained < first_evaluated and last_evaluated < matured_by,
}
for name, ok in outcomes.items():
    print(f"{'ok  ' if ok else 'FAIL'} {name}")
print("LAB PASS" if all(outcomes.values()) else "LAB FAIL")
print(report(lab_5_1.NAMES))
# --8<-- [end:verdict]
