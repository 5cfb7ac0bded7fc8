# %% [markdown]
# # Lab 5.1: from notebook to reproducible run
#
# Take a notebook-style training cell on the running example and turn it into a run that
# records everything it depends on: a params file, a fingerprint of the data, seeds and thread
# limits, the environment, the metrics, and the model with its hash. Then run it twice and
# let a check decide whether the two runs are identical, and say what changed when not.

# %% [markdown]
# ## Step 1: the notebook, as most of them start

# %%
# --8<-- [start:notebook]
import pandas as pd

from cardfraud import generate
from cardfraud.features import build_features
from cardfraud.model import evaluate, split_by_time, train

LAB_DAYS = 21
LAB_TRANSACTIONS_PER_DAY = 2_000  # a smaller feed than the course default keeps the lab quick


def notebook_cell() -> float:
    """What a first notebook does: load, downsample the legitimate rows, train, score."""
    features = build_features(generate(days=LAB_DAYS, transactions_per_day=LAB_TRANSACTIONS_PER_DAY))
    history, holdout = split_by_time(features, "2026-01-19")
    legit = history[history["is_fraud"] == 0].sample(frac=0.3)  # no seed: a fresh draw every run
    training_set = pd.concat([legit, history[history["is_fraud"] == 1]])
    return evaluate(train(training_set, max_iter=100), holdout)["pr_auc"]


first, second = notebook_cell(), notebook_cell()
print(f"same code, same data, run twice -> same PR-AUC: {first == second}")
# --8<-- [end:notebook]

# %% [markdown]
# ## Step 2: every knob in a params file
#
# Anything that changes the model goes into one file that is reviewed and versioned with the
# code: where the data comes from, the sampling and its seed, the model's hyperparameters, and
# the number of threads.

# %%
# --8<-- [start:params]
from pathlib import Path

import yaml

PARAMS = {
    "data": {"start": "2026-01-05", "days": LAB_DAYS, "transactions_per_day": LAB_TRANSACTIONS_PER_DAY, "seed": 42},
    "split": {"cutoff": "2026-01-19"},
    "sampling": {"legit_fraction": 0.3, "seed": 7},
    "model": {"seed": 0, "learning_rate": 0.1, "max_iter": 100, "max_leaf_nodes": 31},
    "threads": 1,
}
Path("params.yaml").write_text(yaml.safe_dump(PARAMS, sort_keys=True), encoding="utf-8")
print(Path("params.yaml").read_text(encoding="utf-8"))
# --8<-- [end:params]

# %% [markdown]
# ## Step 3: a run that records what it depended on
#
# `fingerprint` hashes the data's values, column names and dtypes. `environment` records the
# interpreter, the library versions, the thread pools and the hash seed. `run` trains from the
# params file alone and writes `run.json` next to the model.

# %%
# --8<-- [start:run]
import hashlib
import json
import os
import pickle
import platform
from importlib.metadata import version

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from cardfraud.model import score

LIBRARIES = ["numpy", "pandas", "scikit-learn", "scipy"]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fingerprint(frame: pd.DataFrame) -> str:
    """Same values, columns and dtypes give the same digest, whatever machine computed it."""
    row_hashes = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    schema = json.dumps([[column, str(dtype)] for column, dtype in frame.dtypes.items()])
    return sha256(row_hashes.tobytes() + schema.encode())


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
        features = build_features(transactions)
        history, holdout = split_by_time(features, params["split"]["cutoff"])
        sampling = params["sampling"]
        legit = history[history["is_fraud"] == 0].sample(frac=sampling["legit_fraction"],
                                                         random_state=sampling["seed"])
        training_set = pd.concat([legit, history[history["is_fraud"] == 1]]).sort_values("transaction_id")
        knobs = {k: v for k, v in params["model"].items() if k != "seed"}
        model = train(training_set, seed=params["model"]["seed"], **knobs)
        model_bytes = pickle.dumps(model, protocol=5)
        record = {
            "params": params,
            "data_fingerprint": fingerprint(transactions),
            "training_rows": len(training_set),
            "environment": environment(),
            "metrics": evaluate(model, holdout),
            "model_sha256": sha256(model_bytes),
            "predictions_sha256": sha256(np.round(score(model, holdout), 12).tobytes()),
        }
    (out / "model.pkl").write_bytes(model_bytes)
    (out / "run.json").write_text(json.dumps(record, indent=2, sort_keys=True, default=list), encoding="utf-8")
    return record


record = run("params.yaml", "runs/a")
print(sorted(record))
print(record["metrics"])
# --8<-- [end:run]

# %% [markdown]
# ## Step 4: the check
#
# Two runs are the same run only if every recorded field is equal, and the model file on disk
# still has the hash its record claims. The check prints PASS or FAIL, then every field that
# differs, and what a difference in that field usually means.

# %%
# --8<-- [start:check]
WHAT_IT_MEANS = {
    "params": "someone changed a knob: expected, if it was on purpose",
    "data_fingerprint": "the input data changed: a new extract, an upstream fix, a late row",
    "environment": "a different interpreter, library version, thread count or hash seed",
    "training_rows": "the sampling or the split selected different rows",
    "metrics": "the model behaves differently",
    "model_sha256": "the model's bytes differ",
    "predictions_sha256": "the model predicts differently",
}


def flatten(record: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat |= flatten(value, f"{name}.")
        else:
            flat[name] = value
    return flat


def differences(run_a: str, run_b: str) -> list[str]:
    """The recorded fields that differ between two runs; raises if a model file was swapped."""
    records = []
    for run_dir in (run_a, run_b):
        record = json.loads((Path(run_dir) / "run.json").read_text(encoding="utf-8"))
        if sha256((Path(run_dir) / "model.pkl").read_bytes()) != record["model_sha256"]:
            raise ValueError(f"{run_dir}/model.pkl is not the model its run.json describes")
        records.append(flatten(record))
    flat_a, flat_b = records
    return sorted(k for k in flat_a.keys() | flat_b.keys() if flat_a.get(k) != flat_b.get(k))


def compare(run_a: str, run_b: str) -> bool:
    """Print PASS, or FAIL with each differing field, its two values and what it usually means."""
    changed = differences(run_a, run_b)
    print("PASS: the two runs are identical" if not changed else f"FAIL: {len(changed)} field(s) differ")
    flat = [flatten(json.loads((Path(r) / "run.json").read_text(encoding="utf-8"))) for r in (run_a, run_b)]
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
# ## Step 5: break it on purpose
#
# First, remove the sampling seed: the same data and params now give a different model, which
# points at a hidden input inside training. Then change the data, one more day of
# transactions, and keep every other knob.

# %%
# --8<-- [start:break]
unseeded = PARAMS | {"sampling": {"legit_fraction": 0.3, "seed": None}}
Path("params-unseeded.yaml").write_text(yaml.safe_dump(unseeded, sort_keys=True), encoding="utf-8")
run("params-unseeded.yaml", "runs/c")
run("params-unseeded.yaml", "runs/d")
# The values of an unseeded run change every time, so print the diagnosis, not the values.
changed = differences("runs/c", "runs/d")
caught = bool(changed)
print("FAIL" if changed else "PASS")
print("  same data and params:", not any(f.startswith(("data_fingerprint", "params")) for f in changed))
print("  different model and predictions:", {"model_sha256", "predictions_sha256"} <= set(changed))
# --8<-- [end:break]

# %%
# --8<-- [start:newdata]
more_data = PARAMS | {"data": PARAMS["data"] | {"days": LAB_DAYS + 1}}
Path("params-more-data.yaml").write_text(yaml.safe_dump(more_data, sort_keys=True), encoding="utf-8")
run("params-more-data.yaml", "runs/e")
compare("runs/a", "runs/e")
# --8<-- [end:newdata]

# %% [markdown]
# ## Step 6: your check
#
# The lab passes when the seeded run is reproducible and the unseeded one is caught.

# %%
# --8<-- [start:verdict]
print(f"seeded runs identical: {identical}; unseeded runs caught: {caught}")
print("LAB PASS" if identical and caught else "LAB FAIL")
# --8<-- [end:verdict]
