# %% [markdown]
# # Capstone: the whole loop, on one machine
#
# Seven weeks of the bank's life in a few minutes. The model of module 5.3 is trained on the
# features of module 5.2, registered in a real MLflow server, served by KServe behind a Feast
# transformer and a router (module 5.4), and watched through the labels as they arrive (5.5).
# On 2 March fraudsters change their ways. When the monitor's alert fires, the retraining
# pipeline of module 5.6 runs once a week until the labels give it enough evidence; its
# challenger then goes through a canary before it takes the traffic. Everything runs on
# 127.0.0.1, offline.
#
# Run it in an empty folder: it works in `./capstone`, which it empties first.

# %% [markdown]
# ## Step 1: the bank's payments, a tracking server, the champion

# %%
# --8<-- [start:launch]
import atexit
from contextlib import ExitStack

import pandas as pd

from cardfraud import course
from cardfraud.tracking import tracking_server

END = "2026-04-06"  # seven weeks after the launch on 16 February
course.lab_folder("capstone")
transactions = course.payments(END)  # from 5 January; most fraud imitates customers from 2 March
servers = ExitStack()  # every server this notebook starts; the last step stops them
atexit.register(servers.close)  # so does the kernel, if it stops first

tracking_uri = servers.enter_context(tracking_server())  # mlflow server with a SQLite store
launch = course.champion(tracking_uri=tracking_uri)  # module 5.2's feature store, 5.3's tuned model
print(f"{len(transactions):,} payments until {END}; champion: version {launch.version}")
# --8<-- [end:launch]

# %% [markdown]
# ## Step 2: serve it, and watch it
#
# Predictor, router and Feast transformer start as three processes; the monitor exports its
# daily signals with `prometheus_client` on a port of its own and scrapes them back.

# %%
# --8<-- [start:serve]
from urllib.parse import urlsplit

from cardfraud.monitoring import MetricsExporter, chargebacks

stack = servers.enter_context(
    course.serving_stack(launch.store, {f"v{launch.version}": f"models:/fraud-detector/{launch.version}"}, tracking_uri=tracking_uri)
)
exporter = servers.enter_context(MetricsExporter())
log = course.PredictionLog(stack.prediction_log)
feeds = course.Feeds.of(transactions)  # what the stream and the daily batch write to the online store
chargeback_feed = chargebacks(transactions)  # each fraud's chargeback, with when it reached the bank
reference = launch.evaluation  # what "normal" looks like: the champion's matured evaluation week
print("serving:", sorted(stack.predictors), "behind a transformer and a router on", urlsplit(stack.url).hostname)
# --8<-- [end:serve]

# %% [markdown]
# ## Step 3: day by day
#
# Each day the payments go through the stack (a day's payments in as few requests as lab 5.5
# sends, ten-minute requests on a canary day); at midnight the monitor joins the predictions with
# the chargebacks that have arrived and exports its signals. The alert is the rule of
# `alerts.yml` (`CardfraudConfirmedRecallLow`); the last step checks with `promtool` that
# Prometheus fires it on the same days. While it fires, the pipeline runs once a week on the
# labels known that day; when it registers a challenger, the next day is a canary day.

# %%
# --8<-- [start:loop]
from cardfraud.monitoring import MIN_CONFIRMED_FRAUD, RECALL_SLO, daily_signals

RETRAIN_EVERY = pd.Timedelta(days=7)  # while the alert fires, the pipeline runs once a week
DAY_WINDOW = "1D"  # an ordinary day: its payments in as few requests as lab 5.5 sends (one per customer at most)
ONE_DAY = pd.Timedelta(days=1)
timeline, scrapes, pipeline_runs = [], [], []
champion, challenger, last_run = f"v{launch.version}", None, None
for day in pd.date_range(course.LAUNCH_DAY, END, freq="D", inclusive="left", tz="UTC"):
    served = course.replay(stack, feeds, day, day + ONE_DAY, window=course.CANARY_WINDOW if challenger else DAY_WINDOW)
    serving, events = champion, []
    if challenger:  # the canary day is over: read the guardrails, then promote or roll back
        readout = course.canary_readout(served, stack.router.served, log.frame().query("event_timestamp >= @day"),
                                        {champion: champion[1:], challenger: challenger[1:]})
        events.append(f"canary {challenger}: {readout.decision} ({readout.reason})")
        if readout.decision == "promote":
            course.promote(stack, champion, challenger, tracking_uri)
            champion, reference = challenger, course.reference_window(challenger[1:], transactions, day + ONE_DAY, tracking_uri)
        else:
            course.roll_back(stack, champion, challenger, tracking_uri)
        challenger = None
    signals = daily_signals(log.frame(), chargeback_feed, reference, day, model_version=champion[1:])
    exporter.publish(signals)
    scrapes.append(exporter.scrape())
    alert = signals["confirmed_fraud_recall"] < RECALL_SLO and signals["confirmed_fraud"] >= MIN_CONFIRMED_FRAUD
    if alert and (last_run is None or day + ONE_DAY - last_run >= RETRAIN_EVERY):
        last_run = day + ONE_DAY
        outcome = course.retrain(transactions, as_of=last_run, tracking_uri=tracking_uri)
        pipeline_runs.append(outcome)
        events.append(f"pipeline as of {last_run.date()}: {outcome['decision']} (gain {outcome['gain']})")
        if outcome["decision"] == "promote":
            challenger = course.start_canary(stack, servers, outcome["version"], tracking_uri)
            events.append(f"canary {challenger} takes {course.CANARY_SHARE:.0%} of tomorrow's requests")
    timeline.append({"day": day.date(), "model": serving, "requests": len(served), "failed": int((served["status"] != 200).sum()),
                     "recall": signals["confirmed_fraud_recall"], "confirmed": signals["confirmed_fraud"],
                     "alert": alert, "events": "; ".join(events)})
timeline = pd.DataFrame(timeline)
print(course.format_timeline(timeline))
# --8<-- [end:loop]

# %% [markdown]
# ## Step 4: Prometheus agrees, and nothing was lost

# %%
# --8<-- [start:check]
from cardfraud.monitoring import promtool_test

servers.close()  # every server stops before the check
# What the loop decided each day, as the alert Prometheus must fire (labels of the rule's series).
expected = {"CardfraudConfirmedRecallLow": [{"model": "fraud-detector", "severity": "ticket"} if a else None
                                            for a in timeline["alert"]]}
agrees, promtool_output = promtool_test(scrapes, expected, "alerts-replay-test.yml")
first_alert = timeline.loc[timeline["alert"], "day"].min()
promoted = [run for run in pipeline_runs if run["decision"] == "promote"]
logged = log.frame()
outcomes = {
    "no alert before the drift": not timeline.loc[timeline["day"] < pd.Timestamp(course.DRIFT_START).date(), "alert"].any(),
    "drift detected within 14 days of 2 March": bool(pd.notna(first_alert)) and (pd.Timestamp(first_alert) - pd.Timestamp(course.DRIFT_START)).days <= 14,
    "promtool fires the alert on the same days": agrees,
    "the pipeline promoted only on evidence": bool(promoted) and all(run["low"] > run["margin"] for run in promoted),
    "a retrained model serves by the end": champion != f"v{launch.version}",
    "no request was lost": timeline["failed"].sum() == 0 and logged["transaction_id"].is_unique
    and len(logged) == course.payments_between(transactions, course.LAUNCH_DAY, END),
}
for name, ok in outcomes.items():
    print(f"{'ok  ' if ok else 'FAIL'} {name}")
print("PASS" if all(outcomes.values()) else "FAIL")
# --8<-- [end:check]
