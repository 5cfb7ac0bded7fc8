"""Monitoring the fraud model: drift, labels as they arrive, Prometheus and its alert rules.

Module 5.5 builds its page and its lab on these helpers, in two parts.

- A month to experiment on (the page's concept sections): ``monitored_month`` is four weeks of the
  running example from Monday 2026-01-05, with any drift injected from week 3 (2026-01-19); a
  lighter model is trained on week 1 and week 2 is its reference. The month is studied after the
  fact, on ``STUDY_DATE``, with the labels known that day.
- The served model (the lab and the capstone): the champion's prediction log joined with the
  chargebacks as they arrive (``chargebacks``, ``confirmed_recall``, ``daily_signals``), the
  feature store's freshness (``feature_age_seconds``), the signals as Prometheus gauges
  (``MetricsExporter``) and the alert rules of ``alerts.yml`` evaluated by ``promtool``
  (``promtool_test``).
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import precision_score, recall_score, roc_auc_score

from cardfraud.costs import DECISION_THRESHOLD
from cardfraud.features import FEATURE_COLUMNS, build_features
from cardfraud.generate import generate
from cardfraud.labels import as_timestamp, with_labels_as_known
from cardfraud.model import score, train

MONTH_START = "2026-01-05"
DRIFT_START = "2026-01-19"
WEEKS = 4
# A lighter version of the course model: 60 boosting rounds instead of 200 keep
# every block of module 5.5 within seconds; monitoring works the same for any model.
MONITORED_MODEL_PARAMS = {"max_iter": 60}
# The day the month is studied: its last payment is more than LABEL_MATURITY_DAYS old, so every
# week has matured, and every label the study uses is the one known that day.
STUDY_DATE = "2026-02-16"
# The Prometheus alert rules of module 5.5, as shipped in the course repository.
ALERT_RULES = Path(__file__).resolve().parents[1] / "module-5.5" / "alerts.yml"


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
    """The model under watch: trained on week 1 only, with the labels known on ``STUDY_DATE``."""
    return train(with_labels_as_known(month[month["week"] == 1], STUDY_DATE), **MONITORED_MODEL_PARAMS)


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

    def __init__(self, threshold: float = DECISION_THRESHOLD):
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


def realised(scores: np.ndarray, labels: np.ndarray, threshold: float = DECISION_THRESHOLD) -> dict[str, float]:
    """The same metrics from the true labels, once they have arrived."""
    flagged = scores >= threshold
    return {
        "roc_auc": float(roc_auc_score(labels, scores)),
        "precision": float(precision_score(labels, flagged, zero_division=0)),
        "recall": float(recall_score(labels, flagged)),
    }


# --8<-- [start:served]
# --- The served model: its prediction log, joined with the labels as they arrive ---------------

RECALL_WINDOW_DAYS = 14  # recall is measured on the payments of the last two weeks
# The alert CardfraudConfirmedRecallLow in alerts.yml, as code: at launch the model flagged over
# 90% of fraud at the decision threshold; below 75% of 20 or more confirmed frauds, it misses fraud.
RECALL_SLO = 0.75
MIN_CONFIRMED_FRAUD = 20


def chargebacks(transactions: pd.DataFrame) -> pd.DataFrame:
    """The label feed: one row per fraud, with the moment its chargeback reached the bank."""
    fraud = transactions[transactions["is_fraud"] == 1]
    return fraud[["transaction_id", "label_available_at"]].rename(columns={"label_available_at": "reported_at"})


def confirmed_recall(log: pd.DataFrame, feed: pd.DataFrame, as_of: pd.Timestamp,
                     window_days: int = RECALL_WINDOW_DAYS) -> tuple[float, int]:
    """Of the frauds confirmed by ``as_of`` among the last ``window_days`` of predictions, the
    share the model flagged, and how many there were. Chargebacks that have not arrived yet
    cannot count, so on any day this is the recall on the frauds the bank knows about. The
    holdout (module 5.4) is left out: its answers are never flagged, whatever the model said."""
    if "holdout" in log:
        log = log[~log["holdout"]]
    recent = log[(log["event_timestamp"] >= as_of - pd.Timedelta(days=window_days)) & (log["event_timestamp"] < as_of)]
    known = recent.merge(feed[feed["reported_at"] <= as_of], on="transaction_id")
    return (float(known["flagged"].mean()) if len(known) else float("nan")), len(known)


def daily_signals(log: pd.DataFrame, feed: pd.DataFrame, reference: pd.DataFrame, day: pd.Timestamp,
                  model_version: str | None = None) -> dict:
    """What the monitor exports at midnight after ``day``: recall on confirmed fraud, the day's
    alert rate, and PSI of the score and of each input against the ``reference`` window.

    With ``model_version``, only that model's predictions count: after a promotion the recall
    starts again from the new model's own confirmed frauds.
    """
    if model_version is not None:
        log = log[log["model_version"] == model_version]
    today = log[(log["event_timestamp"] >= day) & (log["event_timestamp"] < day + pd.Timedelta(days=1))]
    recall, confirmed = confirmed_recall(log, feed, day + pd.Timedelta(days=1))
    return {
        "confirmed_fraud_recall": recall,
        "confirmed_fraud": confirmed,
        "alert_rate": float(today["flagged"].mean()),
        "score_psi": psi(reference["score"], today["score"]),
        "feature_psi": {column: psi(reference[column], today[column]) for column in FEATURE_COLUMNS},
    }
# --8<-- [end:served]


# --8<-- [start:freshness]
# The daily batch writes merchant_risk at midnight, so its newest value is at most a day old; the
# rule CardfraudFeatureStale in alerts.yml fires when it is more than two days old (a run over a
# day late). Feast's online store serves whatever it holds, however old: nothing else would tell.
def feature_age_seconds(store, view: str, feature: str, entity_rows: list[dict], now) -> float:
    """Seconds from the newest value of ``view`` in the online store to ``now``.

    A value's time is the event time it was computed for (the daily batch's midnight); keys the
    store has never seen are left out. Infinite when none of ``entity_rows`` has a value.
    """
    with _feast_sqlite_timestamps():
        found = store.get_online_features(features=[f"{view}:{feature}"], entity_rows=entity_rows)
    stamps = [seconds for seconds in found.to_dict(include_event_timestamps=True)[f"{feature}__ts"] if seconds > 0]
    return as_timestamp(now).timestamp() - max(stamps) if stamps else float("inf")
# --8<-- [end:freshness]


@contextmanager
def _feast_sqlite_timestamps():
    """Read SQLite "timestamp" columns as UTC epoch seconds while Feast reads its online store.

    Feast's SQLite online store keeps event times as epoch seconds and registers a converter that
    turns them into naive *local* times, later taken as UTC: off by the machine's UTC offset. And
    the converter registry is process-wide, last registration wins: IPython's history module
    registers one that reads ISO text, and once MLflow has imported IPython (it does while logging
    a model), Feast's online reads in that process raise "Invalid isoformat string". So the read
    runs with a UTC converter, and the previous one is put back after it."""
    import sqlite3
    from datetime import datetime, timezone

    previous = sqlite3.converters.get("TIMESTAMP")
    sqlite3.register_converter("timestamp", lambda value: datetime.fromtimestamp(int(value), tz=timezone.utc))
    try:
        yield
    finally:
        if previous is None:
            sqlite3.converters.pop("TIMESTAMP", None)
        else:
            sqlite3.register_converter("timestamp", previous)


class MetricsExporter:
    """The daily signals as Prometheus gauges, served on 127.0.0.1 and scraped back, as Prometheus would."""

    def __init__(self, model: str = "fraud-detector"):
        from prometheus_client import CollectorRegistry, Gauge

        self.model, self.registry = model, CollectorRegistry()
        gauge = lambda name, text, *labels: Gauge(name, text, ["model", *labels], registry=self.registry)  # noqa: E731
        self.gauges = {
            "confirmed_fraud_recall": gauge("cardfraud_confirmed_fraud_recall", "Recall on frauds confirmed so far, last 14 days"),
            "confirmed_fraud": gauge("cardfraud_confirmed_fraud", "Frauds confirmed so far among the last 14 days"),
            "alert_rate": gauge("cardfraud_alert_rate", "Share of the day's payments sent to review"),
            "score_psi": gauge("cardfraud_score_psi", "PSI of the day's scores against the reference window"),
        }
        self.feature_psi = gauge("cardfraud_feature_psi", "PSI of an input against the reference window", "feature")
        # Freshness belongs to the feature store, not to one model: labelled by feature view only.
        self.feature_age = Gauge("cardfraud_feature_age_seconds", "Seconds since the newest value of a feature view was computed",
                                 ["view"], registry=self.registry)

    def __enter__(self) -> "MetricsExporter":
        from prometheus_client import start_http_server

        from cardfraud.serving import free_port

        self.port = free_port()
        self.server, _ = start_http_server(self.port, addr="127.0.0.1", registry=self.registry)
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def publish(self, signals: dict) -> None:
        for name, gauge in self.gauges.items():
            gauge.labels(self.model).set(signals[name])
        for feature, value in signals["feature_psi"].items():
            self.feature_psi.labels(self.model, feature).set(value)
        for view, seconds in signals.get("feature_age_seconds", {}).items():
            self.feature_age.labels(view).set(seconds)

    def scrape(self) -> dict[str, float]:
        """GET /metrics and parse it: {'name{label="value",...}': value} for every cardfraud sample."""
        from urllib.request import urlopen

        from prometheus_client.parser import text_string_to_metric_families

        text = urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5).read().decode()
        return {
            _series(sample.name, sample.labels): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name.startswith("cardfraud_")
        }


def _series(name: str, labels: dict[str, str]) -> str:
    return name + "{" + ", ".join(f'{key}="{value}"' for key, value in sorted(labels.items())) + "}"


def promtool_test(days: list[dict[str, float]], expected: dict[str, list[dict | None]], path: str | Path,
                  rules: Path = ALERT_RULES) -> tuple[bool, str]:
    """Check, with ``promtool test rules``, which alerts the rules fire at the end of each day.

    ``days`` holds one scrape per day (``MetricsExporter.scrape``); within a day each series keeps
    its value, sampled and evaluated every hour, so ``for:`` durations of hours mean what they say.
    ``expected[alert][k]`` is the labels the alert fires with at the end of day k, or None.
    Returns (passed, promtool's output).
    """
    import subprocess

    import yaml

    names = sorted({series for day in days for series in day})
    input_series = [
        {"series": name, "values": " ".join(_promtool_day(day.get(name)) for day in days)}
        for name in names
    ]
    annotations = _annotations(rules)
    tests = [
        {"eval_time": f"{(k + 1) * SAMPLES_PER_DAY - 2}h", "alertname": alert,
         "exp_alerts": [] if labels is None else [{"exp_labels": labels, "exp_annotations": _render(annotations[alert], labels)}]}
        for alert, by_day in expected.items()
        for k, labels in enumerate(by_day)
    ]
    document = {"rule_files": [str(Path(rules).resolve())], "evaluation_interval": "1h",
                "tests": [{"interval": "1h", "input_series": input_series, "alert_rule_test": tests}]}
    Path(path).write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    result = subprocess.run(["promtool", "test", "rules", str(path)], capture_output=True, text=True, check=False)
    return result.returncode == 0, (result.stdout + result.stderr).strip()


# Hourly samples and evaluations: a day's signals change once a day, and promtool evaluates every
# rule at every step (per minute, seven weeks took minutes). Evaluations land on the samples, so
# Prometheus' 5-minute lookback always finds one.
SAMPLES_PER_DAY = 24


def _annotations(rules: Path) -> dict[str, dict[str, str]]:
    import yaml

    groups = yaml.safe_load(Path(rules).read_text(encoding="utf-8"))["groups"]
    return {rule["alert"]: rule.get("annotations", {}) for group in groups for rule in group["rules"] if "alert" in rule}


_LABEL_TEMPLATE = re.compile(r"\{\{\s*\$labels\.(\w+)\s*\}\}")


def _render(annotations: dict[str, str], labels: dict[str, str]) -> dict[str, str]:
    """The alert's annotations as Prometheus renders them, for templates that use only ``$labels``."""
    rendered = {key: _LABEL_TEMPLATE.sub(lambda m: labels[m[1]], text) for key, text in annotations.items()}
    for key, text in rendered.items():
        if "{{" in text:
            raise ValueError(f"promtool_test renders only {{{{ $labels.x }}}} in annotations; {key} is {text!r}")
    return rendered


def _promtool_day(value: float | None) -> str:
    """A day of hourly samples in promtool's series notation. A missing or NaN value is no sample,
    which no comparison matches, as a NaN gauge matches none. Mind the counts: "vxN" is N + 1
    samples of v, "_xN" is N missing ones."""
    if value is None or np.isnan(value):
        return f"_x{SAMPLES_PER_DAY}"
    return f"{float(value)!r}x{SAMPLES_PER_DAY - 1}"


__all__ = [
    "chargebacks",
    "confirmed_recall",
    "daily_signals",
    "feature_age_seconds",
    "promtool_test",
    "MetricsExporter",
    "ALERT_RULES",
    "MIN_CONFIRMED_FRAUD",
    "RECALL_SLO",
    "STUDY_DATE",
    "CBPE",
    "DRIFT_START",
    "MONITORED_MODEL_PARAMS",
    "MONTH_START",
    "WEEKS",
    "monitored_month",
    "psi",
    "psi_table",
    "realised",
    "score",
    "train_monitored_model",
]
