# %% [markdown]
# # Lab 5.5: catch the drift in week 3
#
# Replay a month of card payments through the fraud model, with the feed changing from
# week 3: purchases grow and move online, fraud triples, and an upstream change breaks
# the amounts. Compute drift per feature per week with PSI and with Evidently, export the
# scores as Prometheus metrics and scrape them, estimate the model's ROC AUC without
# labels, and compare with the realised value once the labels have arrived.

# %% [markdown]
# ## Step 1: the month, the model and its reference

# %%
# --8<-- [start:month]
import os

os.environ["DO_NOT_TRACK"] = "1"  # Evidently's (and other tools') usage telemetry off
os.environ["EVIDENTLY_DISABLE_TELEMETRY"] = "1"  # the legacy API's own switch

import numpy as np
import pandas as pd

from cardfraud import CovariateDrift, DataQualityFaults, LabelShift
from cardfraud.features import FEATURE_COLUMNS
from cardfraud.monitoring import DRIFT_START, monitored_month, score, train_monitored_model

DRIFTS = [CovariateDrift(DRIFT_START), LabelShift(DRIFT_START), DataQualityFaults(DRIFT_START)]
REFERENCE_WEEK = 2  # held out from training, labels complete: what "normal" looks like

month = monitored_month(DRIFTS)
model = train_monitored_model(month)  # trained on week 1
month["score"] = score(model, month)
reference = month[month["week"] == REFERENCE_WEEK]
weeks = {w: month[month["week"] == w] for w in range(1, 5)}
print({w: len(rows) for w, rows in weeks.items()})
# --8<-- [end:month]

# %% [markdown]
# ## Step 2: PSI per feature per week
#
# `merchant_risk_rate` accumulates chargebacks, so its distribution moves every week
# by design: it is charted, not alerted on.

# %%
# --8<-- [start:psi]
from cardfraud.monitoring import psi

ALERT_PSI = 0.25  # "major shift" in the usual PSI reading
NOT_ALERTED = {"merchant_risk_rate"}
MONITORED = [*FEATURE_COLUMNS, "score"]

psi_by_week = pd.DataFrame(
    {w: {col: psi(reference[col], rows[col]) for col in MONITORED} for w, rows in weeks.items()}
)
psi_by_week.columns = [f"week {w}" for w in psi_by_week.columns]
print(psi_by_week.round(3).to_string())
# --8<-- [end:psi]

# %% [markdown]
# ## Step 3: the same weeks through Evidently
#
# One report per week, reference week 2. With more than 1,000 reference rows Evidently
# picks Wasserstein distance for numeric columns and Jensen-Shannon for categorical ones.

# %%
# --8<-- [start:evidently]
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset

NUMERIC = ["amount", "hour", "tx_count_1h", "tx_count_24h", "avg_amount_7d", "amount_to_avg_ratio", "score"]
CATEGORICAL = ["channel", "merchant_category", "is_foreign"]
definition = DataDefinition(numerical_columns=NUMERIC, categorical_columns=CATEGORICAL)


def as_dataset(rows: pd.DataFrame) -> Dataset:
    return Dataset.from_pandas(rows[NUMERIC + CATEGORICAL], data_definition=definition)


reference_data = as_dataset(reference)
dataset_drift = {}
for w, rows in weeks.items():
    snapshot = Report([DataDriftPreset()], include_tests=True).run(as_dataset(rows), reference_data)
    result = snapshot.dict()
    drifted = sorted(
        m["config"]["column"]
        for m in result["metrics"]
        if m["config"]["type"].endswith("ValueDrift") and m["value"] >= m["config"]["threshold"]
    )
    # The preset's dataset-level test: fewer than half of the columns drifted.
    share_test = next(t for t in result["tests"] if t["name"].startswith("Share of Drifted Columns"))
    dataset_drift[w] = share_test["status"] == "FAIL"
    print(f"week {w}: {len(drifted)}/{len(NUMERIC + CATEGORICAL)} columns drifted, dataset drift {dataset_drift[w]} {drifted}")
snapshot.save_html("drift-week-4.html")
# --8<-- [end:evidently]

# %% [markdown]
# ## Step 4: export the signals to Prometheus and scrape them
#
# A real exporter keeps running and Prometheus scrapes it every few seconds; here the
# replay sets the gauges for one week at a time and scrapes `/metrics` after each week.

# %%
# --8<-- [start:export]
from urllib.request import urlopen

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.parser import text_string_to_metric_families

PORT = 9551
registry = CollectorRegistry()
feature_psi = Gauge("cardfraud_feature_psi", "PSI of a feature against the reference week", ["model", "feature"], registry=registry)
score_psi = Gauge("cardfraud_score_psi", "PSI of the fraud score against the reference week", ["model"], registry=registry)
missing = Gauge("cardfraud_feature_missing_ratio", "Share of rows with the feature missing", ["model", "feature"], registry=registry)
predictions = Counter("cardfraud_predictions", "Transactions scored", ["model"], registry=registry)
scores = Histogram("cardfraud_prediction_score", "Fraud score", ["model"], buckets=[0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9], registry=registry)

server, _thread = start_http_server(PORT, addr="127.0.0.1", registry=registry)
scraped = {}
try:
    for w, rows in weeks.items():
        for col in FEATURE_COLUMNS:
            feature_psi.labels("cardfraud", col).set(psi_by_week.loc[col, f"week {w}"])
            missing.labels("cardfraud", col).set(float(rows[col].isna().mean()))
        score_psi.labels("cardfraud").set(psi_by_week.loc["score", f"week {w}"])
        predictions.labels("cardfraud").inc(len(rows))
        score_histogram = scores.labels("cardfraud")
        for value in rows["score"]:
            score_histogram.observe(value)
        text = urlopen(f"http://127.0.0.1:{PORT}/metrics", timeout=5).read().decode()
        scraped[w] = {
            (sample.name, sample.labels.get("feature", "")): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }
finally:
    server.shutdown()
    server.server_close()

# The alerting rule, evaluated on what Prometheus would have scraped each week.
max_psi = {
    w: max(v for (name, feature), v in s.items() if name == "cardfraud_feature_psi" and feature not in NOT_ALERTED)
    for w, s in scraped.items()
}
alerts = {w: m > ALERT_PSI for w, m in max_psi.items()}
for w in weeks:
    print(
        f"week {w}: max PSI {max_psi[w]:.3f}, score PSI {scraped[w][('cardfraud_score_psi', '')]:.3f}, "
        f"missing amounts {scraped[w][('cardfraud_feature_missing_ratio', 'amount')]:.3f}, "
        f"scored so far {scraped[w][('cardfraud_predictions_total', '')]:.0f}, drift alert {alerts[w]}"
    )
# --8<-- [end:export]

# %% [markdown]
# ## Step 5: performance without labels, then with them
#
# CBPE is fitted on the reference week's scores and labels. The realised ROC AUC uses
# the labels known on 2026-03-20: every dispute window has closed and the slowest
# chargeback (45 days) has arrived.

# %%
# --8<-- [start:cbpe]
from cardfraud import labels_known
from cardfraud.monitoring import CBPE, realised

LABELS_AS_OF = "2026-03-20"  # the last chargeback of the month can take 45 days
cbpe = CBPE().fit(reference["score"].to_numpy(), reference["is_fraud"].to_numpy())
assert labels_known(month, LABELS_AS_OF).all(), "some labels are still missing"

rows_out = []
for w, rows in weeks.items():
    estimate = cbpe.estimate(rows["score"].to_numpy())
    actual = realised(rows["score"].to_numpy(), rows["is_fraud"].to_numpy())
    rows_out.append({"week": w, "estimated_roc_auc": estimate["roc_auc"], "realised_roc_auc": actual["roc_auc"]})
performance = pd.DataFrame(rows_out).set_index("week")
performance["gap"] = (performance["estimated_roc_auc"] - performance["realised_roc_auc"]).abs()
print(performance.round(3).to_string())
# --8<-- [end:cbpe]

# %% [markdown]
# ## Step 6: the check
#
# PASS only if the drift alert fires for week 3 and stays silent for weeks 1 and 2, and the
# estimate tracks the realised ROC AUC within 0.03 for every week the model did not train on.

# %%
# --8<-- [start:check]
TOLERANCE = 0.03
checks = {
    "alert silent in weeks 1 and 2": not alerts[1] and not alerts[2],
    "alert fires in week 3": alerts[3],
    "Evidently: dataset drift in week 3, not in weeks 1 and 2": dataset_drift[3] and not (dataset_drift[1] or dataset_drift[2]),
    f"estimate within {TOLERANCE} of realised (weeks 2-4)": bool((performance.loc[2:, "gap"] <= TOLERANCE).all()),
}
for name, ok in checks.items():
    print(f"{'ok  ' if ok else 'FAIL'} {name}")
print("PASS" if all(checks.values()) else "FAIL")
# --8<-- [end:check]
