# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lab 5.6: close the loop
#
# Module 5.5's alert fires: the model launched on 16 February misses fraud since the fraudsters
# changed their ways on 2 March. You retrain with the continuous-training pipeline of module 5.6
# (`cardfraud/pipelines.py`, run with `kfp.local`), on the labels the bank knew on the day of each
# run, and see why the first run has to wait. The challenger it registers goes through module 5.4's
# canary before it takes the traffic, and the monitor's reference moves with the new champion.
# You write three decisions: when the pipeline runs, the gate, and what it may cache.
#
# **Where this starts.** Module 5.3's result, rebuilt by one call: `course.champion()` builds 5.2's
# Feast repository, trains 5.3's tuned model on its training set and registers it as
# `fraud-detector@champion` in `./mlflow.db`.

# %% [markdown]
# ## Step 1: the champion and the bank's warehouse

# %%
# --8<-- [start:setup]
import pandas as pd

from cardfraud import course

TRACKING_URI = "sqlite:///mlflow.db"  # MLflow's SQLite store in the lab folder
END = "2026-03-27"  # the lab follows the bank until the end of 26 March

course.lab_folder("lab-5.6")  # emptied and entered: a second run starts as the first did
launch = course.champion(tracking_uri=TRACKING_URI)  # module 5.3's result: version 1, @champion
transactions = course.payments(END)  # every payment from 5 January; fraud changes from 2 March
# The bank's warehouse: the pipeline's ingest step keeps what it held on the day of a run.
transactions.to_parquet("warehouse.parquet", index=False)
print(f"champion: version {launch.version}; warehouse: {len(transactions):,} payments until {END}")
# --8<-- [end:setup]

# %% [markdown]
# ## Step 2: the monitor's signal
#
# The log module 5.5 watches is what the servers of module 5.4 wrote for every payment. Replaying
# five weeks through the servers takes minutes, so this lab computes the same log in one batch
# (`course.batch_prediction_log`): the same features (Feast's online values equal
# `build_features`, which module 5.2 checks), the same model, the same decision threshold; no HTTP
# requests and no request ids. Every midnight the monitor joins the log with the chargebacks that
# have arrived (`daily_signals`); the alert is module 5.5's `CardfraudConfirmedRecallLow`.

# %%
# --8<-- [start:monitor]
from cardfraud.monitoring import MIN_CONFIRMED_FRAUD, RECALL_SLO, chargebacks, daily_signals

LAST_DAY = "2026-03-24"  # the last midnight the monitor reports on before the runs below
log = course.batch_prediction_log(launch.model_uri, transactions, course.LAUNCH_DAY, "2026-03-25", tracking_uri=TRACKING_URI)
feed = chargebacks(transactions)  # each fraud's chargeback, with when it reached the bank
rows = []
for day in pd.date_range(course.LAUNCH_DAY, LAST_DAY, freq="D", tz="UTC"):
    signals = daily_signals(log, feed, launch.evaluation, day)  # reference: the launch week
    rows.append({"day": day, "confirmed_fraud_recall": signals["confirmed_fraud_recall"],
                 "confirmed_fraud": signals["confirmed_fraud"],
                 **{f"psi_{name}": value for name, value in signals["feature_psi"].items()}})
history = pd.DataFrame(rows)
history["alert"] = (history["confirmed_fraud_recall"] < RECALL_SLO) & (history["confirmed_fraud"] >= MIN_CONFIRMED_FRAUD)
first_alert = history.loc[history["alert"], "day"].min()
shown = history[(history["day"].dt.dayofweek == 1) | (history["day"] == first_alert)]  # Tuesdays, and the alert
print(shown.assign(day=shown["day"].dt.strftime("%a %d %b"))
      [["day", "confirmed_fraud_recall", "confirmed_fraud", "psi_merchant_risk_rate", "psi_amount", "alert"]]
      .round(3).to_string(index=False))
print(f"first alert: {first_alert:%d %B} (the drift began on 2 March)")
# --8<-- [end:monitor]

# %% [markdown]
# ## Exercise 1: when does the pipeline run?
#
# The alert fired; the pipeline should start. But which days exactly? Write the trigger: given the
# monitor's daily signals, return the `as_of` days of the pipeline runs. Two alerts start a run:
# module 5.5's recall alert (`RECALL_SLO`, `MIN_CONFIRMED_FRAUD`) and its input-drift alert (PSI above
# 0.25 on an input, except `merchant_risk_rate`, which accumulates chargebacks and moves by design).
# A day's signals exist at the midnight after it; while an alert keeps firing, the pipeline runs once
# a week, because new evidence (labels) arrives at its own pace.

# %%
# --8<-- [start:exercise-trigger]
INPUT_PSI_ALERT = 0.25  # module 5.5's CardfraudInputDrift
NOT_ALERTED = {"merchant_risk_rate"}
RETRAIN_EVERY = pd.Timedelta(days=7)


def pipeline_days(history: pd.DataFrame) -> list[pd.Timestamp]:
    """The as_of days on which the retraining pipeline starts.

    history: one row per day, in order: `day` (UTC midnight starting the day the signals describe),
    `confirmed_fraud_recall`, `confirmed_fraud`, and `psi_<feature>` for every input.
    A day alerts when recall < RECALL_SLO on at least MIN_CONFIRMED_FRAUD confirmed frauds, or when
    an input other than those in NOT_ALERTED has PSI > INPUT_PSI_ALERT. The first run is as of the
    midnight after the first alerting day; then again when an alert fires at least RETRAIN_EVERY
    after the last run.
    """
    # Hint: build one boolean Series per alert, combine them, then walk the days in order.
    raise NotImplementedError
# --8<-- [end:exercise-trigger]


# %% tags=["solution"]
# --8<-- [start:solution-trigger]
def pipeline_days(history: pd.DataFrame) -> list[pd.Timestamp]:
    drift_columns = [c for c in history.columns if c.startswith("psi_") and c.removeprefix("psi_") not in NOT_ALERTED]
    recall_low = (history["confirmed_fraud_recall"] < RECALL_SLO) & (history["confirmed_fraud"] >= MIN_CONFIRMED_FRAUD)
    drift = (history[drift_columns] > INPUT_PSI_ALERT).any(axis=1)
    runs = []
    for day, alert in zip(history["day"], recall_low | drift):
        as_of = day + pd.Timedelta(days=1)  # the day's signals exist at the midnight after it
        if alert and (not runs or as_of - runs[-1] >= RETRAIN_EVERY):
            runs.append(as_of)
    return runs
# --8<-- [end:solution-trigger]


# %%
# --8<-- [start:grade-trigger]
from cardfraud.exercises import lab_5_6

lab_5_6.grade_trigger(pipeline_days)
# --8<-- [end:grade-trigger]

# %% [markdown]
# ## Step 3: the first run waits
#
# The pipeline runs as of the midnight after the first alert: it ingests the warehouse as it stood
# that day (only the chargebacks that had arrived), trains a challenger on the payments matured by
# then, and scores challenger and champion on the newest matured week, the same rows for both, with
# a paired bootstrap interval of the gain. `kfp.local` runs each of the seven steps as a process of
# this Python; the cache is on.

# %%
# --8<-- [start:wait]
from pathlib import Path

from kfp import local
from mlflow import MlflowClient

from cardfraud.decisions import PROMOTION_MARGIN
from cardfraud.labels import EVALUATION_DAYS, LABEL_MATURITY_DAYS, label_as_known
from cardfraud.pipelines import continuous_training, kfp_logs_to

local.init(runner=local.SubprocessRunner(use_venv=False),  # tasks run in this Python: offline, no pip
           pipeline_root=str(Path("kfp_outputs").resolve()), enable_caching=True)
client = MlflowClient(TRACKING_URI)


def run_pipeline(as_of: pd.Timestamp) -> dict:
    with kfp_logs_to("kfp_local.log"):  # kfp.local's task logs go to a file
        run = continuous_training(warehouse=str(Path("warehouse.parquet").resolve()), as_of=f"{as_of:%Y-%m-%d}",
                                  margin=PROMOTION_MARGIN, tracking_uri=TRACKING_URI)
    outcome = {**run.outputs, "as_of": as_of}
    end = as_of - pd.Timedelta(days=LABEL_MATURITY_DAYS)
    window = f"{end - pd.Timedelta(days=EVALUATION_DAYS):%d %b}-{end - pd.Timedelta(days=1):%d %b}"
    print(f"as of {as_of:%d %B}: judged on {window} ({outcome['positives']} known frauds), PR-AUC champion "
          f"{outcome['champion']:.3f}, challenger {outcome['challenger']:.3f}, gain "
          f"{outcome['challenger'] - outcome['champion']:+.3f} [{outcome['low']:+.3f}, {outcome['high']:+.3f}] "
          f"-> {outcome['decision']}")
    # What the bank did not know that day (is_fraud is the final label, known only in hindsight).
    judged = transactions[(transactions["event_timestamp"] >= end - pd.Timedelta(days=EVALUATION_DAYS)) & (transactions["event_timestamp"] < end)]
    newest = transactions[(transactions["event_timestamp"] >= as_of - pd.Timedelta(days=EVALUATION_DAYS)) & (transactions["event_timestamp"] < as_of)]
    print(f"  in hindsight: the judged week had {judged['is_fraud'].sum()} frauds; the week before {as_of:%d %b} "
          f"had {newest['is_fraud'].sum()}, of which {label_as_known(newest, as_of).sum()} were known that day")
    return outcome


RUN_DAYS = [first_alert + pd.Timedelta(days=1) + k * pd.Timedelta(days=7) for k in range(3)]  # weekly while it fires
first_run = run_pipeline(RUN_DAYS[0])
# --8<-- [end:wait]

# %% [markdown]
# ## Exercise 2: the gate
#
# Write the rule the pipeline's `gate` step applies. `low` and `high` bound the paired bootstrap
# interval of the gain (challenger minus champion PR-AUC) on `positives` known frauds;
# `champion_version` is empty when no champion exists yet.

# %%
# --8<-- [start:exercise-gate]
from cardfraud.decisions import MIN_POSITIVES


def gate_decision(gain: float, low: float, high: float, positives: int, champion_version: str, margin: float) -> str:
    """'promote', 'keep' or 'wait'.

    promote: no champion yet, or the WHOLE interval lies above `margin` (low > margin);
    keep:    the whole interval lies below the margin (high < margin): not worth a rollout;
    wait:    fewer than MIN_POSITIVES known frauds, or the interval straddles the margin.
    """
    # Hint: decide the first-model case first, then the evidence (positives), then the interval.
    raise NotImplementedError
# --8<-- [end:exercise-gate]


# %% tags=["solution"]
# --8<-- [start:solution-gate]
def gate_decision(gain: float, low: float, high: float, positives: int, champion_version: str, margin: float) -> str:
    if not champion_version:
        return "promote"  # nothing to beat: the first model that passed validation
    if positives < MIN_POSITIVES:
        return "wait"
    if low > margin:
        return "promote"
    if high < margin:
        return "keep"
    return "wait"  # the interval straddles the margin: more labels will tell
# --8<-- [end:solution-gate]


# %%
# --8<-- [start:grade-gate]
lab_5_6.grade_gate(gate_decision)
# --8<-- [end:grade-gate]

# %% [markdown]
# ## Step 4: two weeks later, the evidence is in
#
# The run as of 18 March is the same pipeline a week later (try it). The lab jumps to the third
# weekly run, whose evaluation week is the first one after the drift.

# %%
# --8<-- [start:promote]
third_run = run_pipeline(RUN_DAYS[2])
aliases_after_pipeline = client.get_registered_model(course.MODEL_NAME).aliases
print("registry:", aliases_after_pipeline)
# --8<-- [end:promote]

# %% [markdown]
# ## Step 5: the canary
#
# The pipeline registered a winner as `@challenger`; `@champion` has not moved. Module 5.4's stack
# serves the champion (25 March), then at midnight a predictor for the challenger joins the router
# with 10% of the requests for one day, sent every ten minutes (`CANARY_WINDOW`) so that the split
# has enough units. The guardrails decide: promote, or roll back.

# %%
# --8<-- [start:canary]
from contextlib import ExitStack

CANARY_DAY = pd.Timestamp("2026-03-26", tz="UTC")
ONE_DAY = pd.Timedelta(days=1)
champion, version = f"v{launch.version}", str(aliases_after_pipeline["challenger"])
feeds = course.Feeds.of(transactions)  # what the stream and the daily batch write to the online store
with ExitStack() as servers:
    stack = servers.enter_context(course.serving_stack(launch.store, {champion: f"models:/{course.MODEL_NAME}/{launch.version}"},
                                                       tracking_uri=TRACKING_URI))
    prediction_log = course.PredictionLog(stack.prediction_log)
    course.replay(stack, feeds, CANARY_DAY - ONE_DAY, CANARY_DAY)  # 25 March: the champion alone
    challenger = course.start_canary(stack, servers, version, TRACKING_URI)
    served = course.replay(stack, feeds, CANARY_DAY, CANARY_DAY + ONE_DAY, window=course.CANARY_WINDOW)
    canary_log = prediction_log.frame().query("event_timestamp >= @CANARY_DAY")
    readout = course.canary_readout(served, stack.router.served, canary_log, {champion: launch.version, challenger: version})
    print(readout.per_arm.drop(columns="p99_seconds").round(4).to_string())  # latencies vary from run to run
    p99 = readout.per_arm.loc[challenger, "p99_seconds"]
    print(f"challenger's p99 within the {course.MAX_P99_SECONDS:.0f} s budget: {p99 <= course.MAX_P99_SECONDS}")
    print(f"split p={readout.srm_p:.3f}, more alerts p={readout.alerts_p:.3f}: {readout.decision} ({readout.reason})")
    if readout.decision == "promote":
        course.promote(stack, champion, challenger, TRACKING_URI)
    else:
        course.roll_back(stack, champion, challenger, TRACKING_URI)
print("registry:", client.get_registered_model(course.MODEL_NAME).aliases)
# --8<-- [end:canary]

# %% [markdown]
# ## Step 6: the monitor follows the new champion
#
# The monitor compares each day with a reference window. After a promotion the old reference (the
# launch week, scored by version 1) describes a model that no longer serves; the new one is the
# matured week the new champion was judged on, scored by it (`course.reference_window`).

# %%
# --8<-- [start:reference]
reference = launch.evaluation
if readout.decision == "promote":
    reference = course.reference_window(version, transactions, third_run["as_of"], TRACKING_URI)
next_day = course.batch_prediction_log(f"models:/{course.MODEL_NAME}@champion", transactions, CANARY_DAY, CANARY_DAY + ONE_DAY,
                                       tracking_uri=TRACKING_URI)  # 26 March as the champion scores it now
for name, window in {"launch week (version 1)": launch.evaluation, "current reference": reference}.items():
    score_psi = daily_signals(next_day, feed, window, CANARY_DAY)["score_psi"]
    print(f"score PSI of 26 March against the {name}: {score_psi:.3f}")
print(f"reference: {reference['event_timestamp'].min():%d %b}-{reference['event_timestamp'].max():%d %b}, {len(reference):,} payments")
# --8<-- [end:reference]

# %% [markdown]
# ## Exercise 3: what may the pipeline cache?
#
# kfp reuses a task's outputs when its cache key (component, command, inputs) matches a previous
# run. Write the rule: given a step, with its inputs, the outside state it reads (and the input that
# pins that state, if any) and the outside state it writes, may it be cached? The grader applies your
# rule to the seven steps of `continuous_training` and to a few others.

# %%
# --8<-- [start:exercise-caching]
from cardfraud.exercises.lab_5_6 import Step


def may_cache(step: Step) -> bool:
    """True when the step's result is fixed by its inputs: everything it reads outside the pipeline
    is pinned by one of its inputs (step.reads maps each read to that input's name, or None), and it
    changes nothing outside its outputs (step.writes is empty)."""
    # Hint: a read pinned by a name that is not in step.inputs is not in the cache key either.
    raise NotImplementedError
# --8<-- [end:exercise-caching]


# %% tags=["solution"]
# --8<-- [start:solution-caching]
def may_cache(step: Step) -> bool:
    pinned = all(pin is not None and pin in step.inputs for pin in step.reads.values())
    return pinned and not step.writes
# --8<-- [end:solution-caching]


# %%
# --8<-- [start:grade-caching]
lab_5_6.grade_caching(may_cache)
# --8<-- [end:grade-caching]

# %% [markdown]
# ## Step 7: the same day again
#
# Run the pipeline as of the same day once more: a retried workflow, a person who clicks twice.

# %%
# --8<-- [start:repeat]
versions_before = len(client.search_model_versions(f"name = '{course.MODEL_NAME}'"))
repeat_run = run_pipeline(RUN_DAYS[2])
newest = max(Path("kfp_outputs").glob("fraud-continuous-training-*"))  # each run has a folder...
executed = sorted(p.name for p in newest.iterdir())  # ...with one folder per task that executed
versions_after = len(client.search_model_versions(f"name = '{course.MODEL_NAME}'"))
print(f"tasks executed: {executed}; model versions: {versions_before} before, {versions_after} after")
# --8<-- [end:repeat]

# %% [markdown]
# ## Step 8: check
#
# Each decision against what the data supported, recomputed here: the known frauds in each
# evaluation window recounted from the warehouse, the gate's verdict from its interval, the registry
# after the pipeline and after the canary, the monitor's reference, and the repeat run.

# %%
# --8<-- [start:check]
from cardfraud.decisions import verdict
from cardfraud.exercises import report
from cardfraud.labels import decision_windows

RULE = {"promote": "promote", "keep": "keep", "not enough evidence": "wait"}
runs = [first_run, third_run]
recounted = [int(decision_windows(transactions[transactions["event_timestamp"] < run["as_of"]], run["as_of"])[1]["is_fraud"].sum())
             for run in runs]
champion_now = str(client.get_registered_model(course.MODEL_NAME).aliases["champion"])
checks = {
    "the alert fired after the drift, within 14 days": 0 <= (first_alert - pd.Timestamp(course.DRIFT_START, tz="UTC")).days <= 14,
    "each run judged on the frauds known that day (recounted)": recounted == [run["positives"] for run in runs],
    "each gate decision is the interval rule's": all(run["decision"] == RULE[verdict(run["low"], run["high"], run["positives"], PROMOTION_MARGIN)] for run in runs),
    "the first run waited, the third promoted": [run["decision"] for run in runs] == ["wait", "promote"],
    "the winner became @challenger, @champion stayed": aliases_after_pipeline == {"champion": int(launch.version), "challenger": int(version)},
    "the registry follows the canary": champion_now == (version if readout.decision == "promote" else launch.version),
    "the monitor's reference is the serving model's": (reference is launch.evaluation) == (readout.decision != "promote"),
    "the repeat run added no version and reused the cached steps": versions_after == versions_before and "train" not in executed,
}
for name, ok in checks.items():
    print(f"{'ok  ' if ok else 'FAIL'} {name}")
print("PASS" if all(checks.values()) else "FAIL")
print(report(lab_5_6.EXERCISES))
# --8<-- [end:check]
