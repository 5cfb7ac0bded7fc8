"""Imported once by the fork server; every Python block starts from this warm state.

What many blocks import and is safe to fork: none of these starts a thread at import
(checked with threading.active_count()). A block still imports what it uses; these imports
just make that free. Telemetry switches are set before this runs (tests/conftest.py).
"""

import numpy  # noqa: F401
import pandas  # noqa: F401
import pyarrow.parquet  # noqa: F401
import scipy.stats  # noqa: F401
import sklearn.ensemble  # noqa: F401
import sklearn.metrics  # noqa: F401

import cardfraud.features  # noqa: F401
import cardfraud.model  # noqa: F401

# Imported by most blocks of modules 5.3, 5.4 and 5.6.
import kfp.dsl  # noqa: F401
import kfp.local  # noqa: F401
import mlflow  # noqa: F401
import mlflow.sklearn  # noqa: F401
import optuna  # noqa: F401
# What saving a model (skops) and opening a SQLite tracking store import: ~3 s per block otherwise.
import mlflow.store.tracking.sqlalchemy_store  # noqa: F401
import skops.io  # noqa: F401
