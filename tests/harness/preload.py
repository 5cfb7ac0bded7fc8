"""Imported once by the fork server; every Python block starts from this warm state.

Only what many pages import and what is safe to fork: libraries that start no
threads at import time. A block still imports what it uses; these imports just
make that free.
"""

import numpy  # noqa: F401
import pandas  # noqa: F401
import pyarrow.parquet  # noqa: F401
import scipy.stats  # noqa: F401
import sklearn.ensemble  # noqa: F401
import sklearn.metrics  # noqa: F401

import cardfraud.features  # noqa: F401
import cardfraud.model  # noqa: F401
