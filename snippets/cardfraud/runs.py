"""Module 5.1's run record: what identifies the data a run read, and how two recorded runs differ.

Lab 5.1 has the reader write both functions (its exercises ``fingerprint`` and ``differences``);
its run calls these, so the lab carries on whatever the reader has done. A run folder holds
``run.json`` (the record) and ``model.pkl`` (the model whose SHA-256 the record states).

    >>> from cardfraud.runs import differences, fingerprint
    >>> fingerprint(transactions)              # same values, columns and dtypes: same digest
    >>> differences("runs/a", "runs/b")         # [] when the two runs are the same run
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fingerprint(frame: pd.DataFrame) -> str:
    """A digest of the frame's values, column names and dtypes, in order; the index is left out
    (a reset_index or a filter renumbers rows without changing the data)."""
    row_hashes = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    schema = json.dumps([[str(column), str(dtype)] for column, dtype in frame.dtypes.items()])
    return sha256(row_hashes.tobytes() + schema.encode())


def flatten(record: dict, prefix: str = "") -> dict:
    """{"metrics": {"pr_auc": 0.7}} -> {"metrics.pr_auc": 0.7}."""
    flat = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat |= flatten(value, f"{name}.")
        else:
            flat[name] = value
    return flat


def read_run(run_dir: str | Path) -> dict:
    """A run's record, after checking that its model file is the model the record describes."""
    run_dir = Path(run_dir)
    record = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    if sha256((run_dir / "model.pkl").read_bytes()) != record["model_sha256"]:
        raise ValueError(f"{run_dir}/model.pkl is not the model its run.json describes")
    return record


def differences(run_a: str | Path, run_b: str | Path) -> list[str]:
    """The recorded fields (dotted paths) in which two runs differ, sorted; [] for the same run.

    Raises ``ValueError`` when a model file does not have the hash its record states.
    """
    flat_a, flat_b = (flatten(read_run(run_dir)) for run_dir in (run_a, run_b))
    return sorted(key for key in flat_a.keys() | flat_b.keys() if flat_a.get(key, _MISSING) != flat_b.get(key, _MISSING))


_MISSING = object()
