"""Monitoring the fraud model: the month it is watched over, PSI, and CBPE.

Module 5.5 builds its examples and lab on these helpers; module 5.6 can reuse
``monitored_month`` and ``psi`` to turn a drift signal into a retraining trigger.

The timeline: the running example's month starts on Monday 2026-01-05. Week 1
trains the model, week 2 is its reference (held out, labels complete), and any
drift is injected from week 3 (2026-01-19).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import precision_score, recall_score, roc_auc_score

from cardfraud.features import build_features
from cardfraud.generate import generate
from cardfraud.model import score, train

MONTH_START = "2026-01-05"
DRIFT_START = "2026-01-19"
WEEKS = 4
# A lighter version of the course model: 60 boosting rounds instead of 200 keep
# every block of module 5.5 within seconds; monitoring works the same for any model.
MONITORED_MODEL_PARAMS = {"max_iter": 60}
# The Prometheus alert rules of module 5.5, as shipped in the course repository.
ALERT_RULES = Path(__file__).resolve().parents[1] / "module-5.5" / "alerts.yml"
# Scores at or above this go to the fraud analysts' review queue.
REVIEW_THRESHOLD = 0.5


def monitored_month(drifts=(), seed: int = 42) -> pd.DataFrame:
    """Four weeks of features from ``MONTH_START``, with a ``week`` column (1 to 4).

    Fraud bursts that spill past midnight of the last day are dropped, so every
    row belongs to one of the four weeks.
    """
    features = build_features(generate(start=MONTH_START, days=7 * WEEKS, seed=seed, drifts=list(drifts)))
    start = pd.Timestamp(MONTH_START, tz="UTC")
    week = (features["event_timestamp"] - start).dt.days // 7 + 1
    return features.assign(week=week)[week <= WEEKS].reset_index(drop=True)


def train_monitored_model(month: pd.DataFrame):
    """The model under watch: trained on week 1 only."""
    return train(month[month["week"] == 1], **MONITORED_MODEL_PARAMS)


# --8<-- [start:psi]
EPSILON = 1e-4  # stands in for an empty bucket's share: log(0) is undefined


def psi_table(reference: pd.Series, current: pd.Series, bins: int = 10) -> pd.DataFrame:
    """One row per bucket: each window's share of rows and the bucket's PSI term.

    Numeric columns are cut at the reference's deciles; categorical columns use
    one bucket per category seen in either window. Missing values get their own
    bucket, so a feed that starts sending nulls shows up as drift.
    """
    if pd.api.types.is_numeric_dtype(reference):
        cuts = np.unique(np.nanquantile(reference.to_numpy(dtype=float), np.linspace(0, 1, bins + 1)[1:-1]))
        edges = np.r_[-np.inf, cuts, np.inf]
        labels = [f"({lo:.4g}, {hi:.4g}]" for lo, hi in zip(edges[:-1], edges[1:])]
        ref_bucket = pd.cut(reference, edges, labels=labels).astype(object)
        cur_bucket = pd.cut(current, edges, labels=labels).astype(object)
        order = labels
    else:
        ref_bucket, cur_bucket = reference.astype(object), current.astype(object)
        order = sorted(set(ref_bucket.dropna()) | set(cur_bucket.dropna()))
    order = [*order, "missing"]
    ref_share = ref_bucket.fillna("missing").value_counts(normalize=True).reindex(order, fill_value=0.0)
    cur_share = cur_bucket.fillna("missing").value_counts(normalize=True).reindex(order, fill_value=0.0)
    table = pd.DataFrame({"reference": ref_share, "current": cur_share})
    table = table[(table["reference"] > 0) | (table["current"] > 0)]
    ref, cur = table["reference"].clip(lower=EPSILON), table["current"].clip(lower=EPSILON)
    table["psi"] = (cur - ref) * np.log(cur / ref)
    return table.rename_axis("bucket")


def psi(reference: pd.Series, current: pd.Series, bins: int = 10) -> float:
    """Population stability index: the sum of the bucket terms."""
    return float(psi_table(reference, current, bins)["psi"].sum())
# --8<-- [end:psi]


# --8<-- [start:cbpe]
class CBPE:
    """Confidence-based performance estimation for a binary classifier.

    ``fit`` learns, on a labelled reference window, a map from the model's score
    to the observed fraud rate (isotonic calibration). ``estimate`` then treats
    each calibrated score as the chance that the row is fraud and returns the
    metrics a labelled window would give *in expectation*, without any label.
    """

    def __init__(self, threshold: float = REVIEW_THRESHOLD):
        self.threshold = threshold
        self.calibrator = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")

    def fit(self, scores: np.ndarray, labels: np.ndarray) -> "CBPE":
        self.calibrator.fit(scores, labels)
        return self

    def estimate(self, scores: np.ndarray) -> dict[str, float]:
        p = self.calibrator.predict(scores)  # P(fraud) for each row
        flagged = scores >= self.threshold
        expected_fraud = p.sum()
        # ROC AUC in expectation: sweep the threshold from the highest score down;
        # each row adds p to the expected true positives and 1 - p to the false ones.
        order = np.argsort(-scores, kind="stable")
        tpr = np.r_[0.0, np.cumsum(p[order]) / expected_fraud]
        fpr = np.r_[0.0, np.cumsum(1 - p[order]) / (1 - p).sum()]
        return {
            "roc_auc": float(np.trapezoid(tpr, fpr)),
            "precision": float(p[flagged].mean()) if flagged.any() else float("nan"),
            "recall": float(p[flagged].sum() / expected_fraud),
        }
# --8<-- [end:cbpe]


def realised(scores: np.ndarray, labels: np.ndarray, threshold: float = REVIEW_THRESHOLD) -> dict[str, float]:
    """The same metrics from the true labels, once they have arrived."""
    flagged = scores >= threshold
    return {
        "roc_auc": float(roc_auc_score(labels, scores)),
        "precision": float(precision_score(labels, flagged, zero_division=0)),
        "recall": float(recall_score(labels, flagged)),
    }


__all__ = [
    "ALERT_RULES",
    "CBPE",
    "DRIFT_START",
    "MONITORED_MODEL_PARAMS",
    "MONTH_START",
    "REVIEW_THRESHOLD",
    "WEEKS",
    "monitored_month",
    "psi",
    "psi_table",
    "realised",
    "score",
    "train_monitored_model",
]
