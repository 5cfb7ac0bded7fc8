# %% [markdown]
# # Lab 5.5: watch the champion after its launch
#
# This lab starts from module 5.4's result: module 5.3's champion, served behind the Feast
# transformer that logs every prediction. `course.champion()` rebuilds it (5.2's feature store,
# 5.3's tuned model registered as `@champion`) and `course.serving_stack` serves it. Four weeks
# of the bank's payments go through it, from the launch on 16 February to 16 March; on 2 March
# most fraudsters start to imitate ordinary customers. You monitor the logged predictions the
# way a bank can: PSI on the inputs and the score, Evidently as a second opinion, the recall on
# the frauds confirmed so far as the chargebacks arrive, the feature store's freshness, all
# exported to Prometheus, and the alert rules checked by `promtool` on the series the run produced.
#
# You write three pieces yourself: PSI, the recall on confirmed fraud, and the alert rule.

# %% [markdown]
# ## Step 1: the champion, and the payments it will see

# %%
# --8<-- [start:launch]
from cardfraud import course
from cardfraud.monitoring import chargebacks

END = "2026-03-16"  # four weeks after the launch; the fraudsters change their ways on 2 March
course.lab_folder("lab-5.5")  # works in ./lab-5.5, emptied first
launch = course.champion()  # 5.2's feature store and 5.3's tuned model, registered @champion
transactions = course.payments(END)  # the bank's payments from 5 January to END
feed = chargebacks(transactions)  # one row per fraud: when its chargeback reached the bank
# What "normal" looks like: the matured week the champion was judged on (26 January to 1 February),
# scored by it, with the labels known on launch day.
reference = launch.evaluation
print(f"champion: version {launch.version}; reference: {len(reference):,} payments, "
      f"{int(reference['is_fraud'].sum())} known frauds, "
      f"{reference['event_timestamp'].min():%d %b} to {reference['event_timestamp'].max():%d %b}")
# --8<-- [end:launch]

# %% [markdown]
# ## Step 2: serve it, day by day
#
# The predictor, the router and the Feast transformer run as three processes on 127.0.0.1. Each
# simulated day the daily batch writes the merchant risk to the online store, then the day's
# payments go through. A request carries one payment per customer (the stream writes each payment's
# customer features just before it is scored), so a day is a handful of requests; in production each
# payment is its own request. At each midnight the monitor also reads how old the newest merchant
# risk in the online store is: the feature store's freshness.

# %%
# --8<-- [start:replay]
import pandas as pd

from cardfraud.monitoring import feature_age_seconds

ONE_DAY = pd.Timedelta(days=1)
REQUEST_WINDOW = "1D"  # a day's payments per request batch: four weeks in about a minute
DAYS = pd.date_range(course.LAUNCH_DAY, END, freq="D", inclusive="left", tz="UTC")
feeds = course.Feeds.of(transactions)  # what the stream and the daily batch write to the online store
merchants = [{"merchant_id": int(m)} for m in sorted(transactions["merchant_id"].unique())]
served, freshness = [], {}
with course.serving_stack(launch.store, {f"v{launch.version}": f"models:/{course.MODEL_NAME}/{launch.version}"}) as stack:
    for day in DAYS:
        served.append(course.replay(stack, feeds, day, day + ONE_DAY, window=REQUEST_WINDOW))
        freshness[day] = feature_age_seconds(launch.store, "merchant_risk", "merchant_risk_rate", merchants, day + ONE_DAY)
served = pd.concat(served, ignore_index=True)
log = course.PredictionLog(stack.prediction_log).frame()  # one row per scored payment
expected_payments = course.payments_between(transactions, course.LAUNCH_DAY, END)
print(f"{len(served):,} requests over {len(DAYS)} days, answered {served['status'].value_counts().to_dict()}")
print(f"{len(log):,} payments logged (of {expected_payments:,}), each once: {log['transaction_id'].is_unique}")
print("a log row:", sorted(log.columns))
# --8<-- [end:replay]

# %% [markdown]
# ## Step 3: the monitor's midnight job
#
# After each day the monitor joins the prediction log with the chargebacks that have arrived
# (`daily_signals`): the recall on the frauds confirmed so far among the last 14 days of
# payments, the day's alert rate, PSI of the score and of each input against the reference.
# It exports them with the feature age as Prometheus gauges and scrapes them back, as
# Prometheus would. The alert is the rule `CardfraudConfirmedRecallLow`, written as code.

# %%
# --8<-- [start:monitor]
from cardfraud.features import FEATURE_COLUMNS
from cardfraud.monitoring import MIN_CONFIRMED_FRAUD, RECALL_SLO, MetricsExporter, daily_signals

INPUTS = [c for c in FEATURE_COLUMNS if c != "merchant_risk_rate"]  # it moves every day by design
scrapes, timeline = [], []
with MetricsExporter() as exporter:
    for day in DAYS:
        signals = daily_signals(log, feed, reference, day)
        signals["feature_age_seconds"] = {"merchant_risk": freshness[day]}
        exporter.publish(signals)
        scrapes.append(exporter.scrape())
        inputs_psi = {c: signals["feature_psi"][c] for c in INPUTS}
        timeline.append({
            "day": f"{day:%a %d %b}",
            "recall": signals["confirmed_fraud_recall"],
            "confirmed": signals["confirmed_fraud"],
            "alert rate": signals["alert_rate"],
            "score PSI": signals["score_psi"],
            "top input PSI": max(inputs_psi.values()),
            "merchant_risk_rate PSI": signals["feature_psi"]["merchant_risk_rate"],
            "risk age h": freshness[day] / 3600,
            "alert": signals["confirmed_fraud_recall"] < RECALL_SLO and signals["confirmed_fraud"] >= MIN_CONFIRMED_FRAUD,
        })
timeline = pd.DataFrame(timeline)
print(timeline.to_string(index=False, float_format=lambda v: f"{v:.3f}",
                         formatters={"alert": {True: "ALERT", False: ""}.get, "risk age h": "{:.0f}".format}))
# --8<-- [end:monitor]

# %% [markdown]
# ## Exercise 1: PSI from scratch
#
# The monitor's drift numbers are PSI. Write it: cut the reference into buckets at its deciles,
# measure each window's share per bucket, and add up the terms. The three usual mistakes each
# hide drift or invent it: no floor for an empty bucket (the sum becomes infinite), buckets cut
# on the current window (every day gets different buckets), and missing values dropped (a feed
# that starts sending nulls looks stable).

# %%
# --8<-- [start:exercise-psi]
import numpy as np

EPSILON = 1e-4  # the share an empty bucket counts as: log(0) is undefined


def psi(reference: pd.Series, current: pd.Series, bins: int = 10) -> float:
    """Population stability index of ``current`` against ``reference``.

    Numeric columns: buckets cut at the reference's quantiles (deciles for bins=10), the outer
    two open-ended. Other columns: one bucket per category seen in either window. Missing values
    get a bucket of their own. Each window's share per bucket is floored at EPSILON, and
    PSI = sum over buckets of (current share - reference share) * ln(current share / reference share).
    """
    # Hint: np.nanquantile(reference, np.linspace(0, 1, bins + 1)[1:-1]) gives the inner edges;
    # pd.cut(series, edges) buckets a series; .fillna("missing") keeps the nulls.
    raise NotImplementedError
# --8<-- [end:exercise-psi]

# %% tags=["solution"]
# --8<-- [start:solution-psi]
import numpy as np

EPSILON = 1e-4  # the share an empty bucket counts as: log(0) is undefined


def psi(reference: pd.Series, current: pd.Series, bins: int = 10) -> float:
    """Population stability index of ``current`` against ``reference`` (see the exercise)."""
    if pd.api.types.is_numeric_dtype(reference):
        inner = np.unique(np.nanquantile(reference.to_numpy(dtype=float), np.linspace(0, 1, bins + 1)[1:-1]))
        edges = np.r_[-np.inf, inner, np.inf]
        reference, current = pd.cut(reference, edges), pd.cut(current, edges)
    # Each row's bucket as text, missing values in a bucket of their own.
    ref_share = reference.astype(str).where(reference.notna(), "missing").value_counts(normalize=True)
    cur_share = current.astype(str).where(current.notna(), "missing").value_counts(normalize=True)
    buckets = ref_share.index.union(cur_share.index)
    ref_share = ref_share.reindex(buckets, fill_value=0.0).clip(lower=EPSILON)
    cur_share = cur_share.reindex(buckets, fill_value=0.0).clip(lower=EPSILON)
    return float(((cur_share - ref_share) * np.log(cur_share / ref_share)).sum())
# --8<-- [end:solution-psi]

# %%
# --8<-- [start:grade-psi]
from cardfraud.exercises import lab_5_5

lab_5_5.grade_psi(psi)
# --8<-- [end:grade-psi]

# %% [markdown]
# ## Step 4: Evidently on the same windows
#
# A second opinion from a library: the reference against the last week before the drift and
# against the last week of the run. With more than 1,000 reference rows Evidently uses the
# normalised Wasserstein distance for numeric columns and Jensen-Shannon for categorical ones,
# drift at 0.1.

# %%
# --8<-- [start:evidently]
import os

os.environ["DO_NOT_TRACK"] = "1"  # Evidently's telemetry switch (its UI and collector read it)

from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset

NUMERIC = ["amount", "hour", "tx_count_1h", "tx_count_24h", "avg_amount_7d", "amount_to_avg_ratio",
           "merchant_risk_rate", "score"]
CATEGORICAL = ["channel", "merchant_category", "is_foreign"]
WINDOWS = {"23 Feb-1 Mar": ("2026-02-23", "2026-03-02"), "9-15 Mar": ("2026-03-09", "2026-03-16")}
definition = DataDefinition(numerical_columns=NUMERIC, categorical_columns=CATEGORICAL)


def as_dataset(rows: pd.DataFrame) -> Dataset:
    return Dataset.from_pandas(rows[NUMERIC + CATEGORICAL], data_definition=definition)


scores, dataset_drift = {}, {}
for name, (start, end) in WINDOWS.items():
    window = log[(log["event_timestamp"] >= pd.Timestamp(start, tz="UTC")) & (log["event_timestamp"] < pd.Timestamp(end, tz="UTC"))]
    snapshot = Report([DataDriftPreset()], include_tests=True).run(as_dataset(window), as_dataset(reference))
    result = snapshot.dict()
    scores[name] = {m["config"]["column"]: m["value"] for m in result["metrics"] if m["config"]["type"].endswith("ValueDrift")}
    share_test = next(t for t in result["tests"] if t["name"].startswith("Share of Drifted Columns"))
    dataset_drift[name] = share_test["status"].value == "FAIL"
snapshot.save_html("drift-last-week.html")  # open it in a browser: a panel per column
print(pd.DataFrame(scores).round(3).to_string())
print("dataset drift (half of the columns or more):", dataset_drift)
# --8<-- [end:evidently]

# %% [markdown]
# ## Exercise 2: recall on the frauds confirmed so far
#
# The signal that does see the change needs labels, and they arrive late: a fraud is known when
# its chargeback reaches the bank. Write the recall the monitor exports: among the payments of
# the last `window_days` before `as_of`, take the frauds whose chargeback had arrived by
# `as_of`, and return the share the model flagged and how many there were. Read no label the
# bank did not have at `as_of`.

# %%
# --8<-- [start:exercise-recall]
def confirmed_recall(log: pd.DataFrame, feed: pd.DataFrame, as_of: pd.Timestamp,
                     window_days: int = 14) -> tuple[float, int]:
    """(recall, count) on the frauds confirmed by ``as_of`` among the last ``window_days`` of the log.

    ``log``: one row per scored payment (transaction_id, event_timestamp, flagged, ...).
    ``feed``: one row per chargeback (transaction_id, reported_at). Payments in the window are
    those with as_of - window_days <= event_timestamp < as_of. Return (nan, 0) when no fraud in
    the window is confirmed yet.
    """
    # Hint: filter the log on time, the feed on reported_at, then merge on transaction_id.
    raise NotImplementedError
# --8<-- [end:exercise-recall]

# %% tags=["solution"]
# --8<-- [start:solution-recall]
def confirmed_recall(log: pd.DataFrame, feed: pd.DataFrame, as_of: pd.Timestamp,
                     window_days: int = 14) -> tuple[float, int]:
    """(recall, count) on the frauds confirmed by ``as_of`` among the last ``window_days`` of the log."""
    start = as_of - pd.Timedelta(days=window_days)
    window = log[(log["event_timestamp"] >= start) & (log["event_timestamp"] < as_of)]
    known = window.merge(feed[feed["reported_at"] <= as_of], on="transaction_id")
    return (float(known["flagged"].mean()) if len(known) else float("nan")), len(known)
# --8<-- [end:solution-recall]

# %%
# --8<-- [start:grade-recall]
lab_5_5.grade_confirmed_recall(confirmed_recall)
# --8<-- [end:grade-recall]

# %% [markdown]
# ## Step 5: what the labels said later, and what CBPE guessed
#
# Two weeks after the run, on 30 March, every payment of it has matured: its chargeback, if any,
# has most likely arrived. The realised recall and ROC AUC per week use the labels known that day.
# CBPE, fitted on the reference's scores and labels (known on launch day), estimates the same
# metrics from the scores alone, as it could have on the day.

# %%
# --8<-- [start:later]
from cardfraud.costs import DECISION_THRESHOLD
from cardfraud.labels import label_as_known, matured
from cardfraud.monitoring import CBPE, realised

LABELS_AS_OF = "2026-03-30"  # every payment of the run is 14 days old or more
labelled = log.merge(transactions[["transaction_id", "is_fraud", "label_available_at"]], on="transaction_id")
assert matured(labelled, LABELS_AS_OF).all(), "some payments are too recent for their labels to be trusted"
labelled["known_fraud"] = label_as_known(labelled, LABELS_AS_OF)
cbpe = CBPE(DECISION_THRESHOLD).fit(reference["score"].to_numpy(), reference["is_fraud"].to_numpy())
weeks = []
for start in pd.date_range(course.LAUNCH_DAY, END, freq="7D", inclusive="left", tz="UTC"):
    rows = labelled[(labelled["event_timestamp"] >= start) & (labelled["event_timestamp"] < start + 7 * ONE_DAY)]
    estimate = cbpe.estimate(rows["score"].to_numpy())
    actual = realised(rows["score"].to_numpy(), rows["known_fraud"].to_numpy())
    weeks.append({"week of": f"{start:%d %b}", "frauds known 30 Mar": int(rows["known_fraud"].sum()),
                  "recall": actual["recall"], "CBPE recall": estimate["recall"],
                  "ROC AUC": actual["roc_auc"], "CBPE ROC AUC": estimate["roc_auc"]})
weeks = pd.DataFrame(weeks)
print(weeks.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
# --8<-- [end:later]

# %% [markdown]
# ## Exercise 3: the alert rule, tested by promtool
#
# Write the Prometheus rule that opens a ticket when the model misses fraud. The grader wraps
# your expression and `for:` in a rule named `CardfraudConfirmedRecallLow` (labels
# `severity: ticket`) and runs `promtool test rules` on series it makes up: a healthy fortnight,
# a launch week with three confirmed frauds, a dip of four hours, a day of low recall.

# %%
# --8<-- [start:exercise-alert]
def recall_alert_rule() -> dict:
    """{"expr": PromQL, "for": duration} for the ticket "the model misses fraud".

    The monitor exports cardfraud_confirmed_fraud_recall{model} and cardfraud_confirmed_fraud{model}
    (and cardfraud_feature_psi{model, feature}). Fire when the recall is below RECALL_SLO (0.75)
    on at least MIN_CONFIRMED_FRAUD (20) confirmed frauds, once it has lasted longer than a dip of
    a few hours (4 hours must not fire), and within a day of the drop.
    """
    # Hint: PromQL's `a < 0.75 and b >= 20` keeps the samples of a that have a match in b
    # with the same labels; for: "2h" means "true at every evaluation for two hours".
    raise NotImplementedError
# --8<-- [end:exercise-alert]

# %% tags=["solution"]
# --8<-- [start:solution-alert]
def recall_alert_rule() -> dict:
    """{"expr": PromQL, "for": duration} for the ticket "the model misses fraud"."""
    return {
        "expr": f"cardfraud_confirmed_fraud_recall < {RECALL_SLO} and cardfraud_confirmed_fraud >= {MIN_CONFIRMED_FRAUD}",
        "for": "12h",
    }
# --8<-- [end:solution-alert]

# %%
# --8<-- [start:grade-alert]
lab_5_5.grade_recall_alert(recall_alert_rule)
# --8<-- [end:grade-alert]

# %% [markdown]
# ## Step 6: Prometheus' verdict on the run's own series
#
# The course's rules (`alerts.yml`) evaluated by `promtool test rules` on the 28 scrapes, each
# held for its day: the recall alert must fire on exactly the days the monitor raised it, and
# neither the input-drift ticket nor the stale-feature page may fire.

# %%
# --8<-- [start:promtool]
from cardfraud.monitoring import promtool_test

ticket = {"model": "fraud-detector", "severity": "ticket"}
expected = {
    "CardfraudConfirmedRecallLow": [ticket if alert else None for alert in timeline["alert"]],
    "CardfraudInputDrift": [None] * len(DAYS),
    "CardfraudFeatureStale": [None] * len(DAYS),
}
agrees, promtool_output = promtool_test(scrapes, expected, "alerts-replay-test.yml")
print(promtool_output)
print("series tested:", len({series for scrape in scrapes for series in scrape}), "x", len(scrapes), "days")
# --8<-- [end:promtool]

# %% [markdown]
# ## Step 7: the check
#
# PASS only if the monitor stayed silent before the drift, raised the recall alert within 14 days
# of it, Prometheus fires on the same days, the labels known on 30 March confirm the alert (recall
# at or above the SLO before 2 March, below it after, recomputed from the payments without the
# monitor's code), and the run shows what the page claims: input PSI never reached 0.25.

# %%
# --8<-- [start:check]
from cardfraud.exercises import report

DRIFT_START = pd.Timestamp(course.DRIFT_START, tz="UTC")
first_alert = DAYS[timeline["alert"].to_numpy()].min()  # NaT if it never fired
before = labelled[labelled["event_timestamp"] < DRIFT_START]
after = labelled[labelled["event_timestamp"] >= DRIFT_START]
recall_before = before.loc[before["known_fraud"] == 1, "flagged"].mean()
recall_after = after.loc[after["known_fraud"] == 1, "flagged"].mean()
checks = {
    "every payment answered and logged once": (served["status"] == 200).all() and log["transaction_id"].is_unique
    and len(log) == expected_payments,
    "no alert before the drift (2 March)": not timeline["alert"].to_numpy()[DAYS < DRIFT_START].any(),
    f"alert within 14 days of the drift (first: {first_alert.strftime('%d %b') if pd.notna(first_alert) else 'none'})":
        pd.notna(first_alert) and first_alert - DRIFT_START <= 14 * ONE_DAY,
    "promtool fires the rules of alerts.yml on the same days": agrees,
    f"labels of 30 March agree: recall {recall_before:.2f} before, {recall_after:.2f} after": recall_before >= RECALL_SLO > recall_after,
    f"input PSI never reached 0.25 (max {timeline['top input PSI'].max():.3f})": timeline["top input PSI"].max() < 0.25,
}
for name, ok in checks.items():
    print(f"{'ok  ' if ok else 'FAIL'} {name}")
print("PASS" if all(checks.values()) else "FAIL")
print(report(["psi", "confirmed_recall", "recall_alert"]))
# --8<-- [end:check]
