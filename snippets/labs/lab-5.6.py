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
# Run the continuous-training pipeline of module 5.6 on your laptop with `kfp.local`:
# a first run registers a champion in MLflow, a run on drifted data retrains and
# promotes a challenger only if it wins on the holdout, and a repeat run proves the
# pipeline is idempotent. The last cell checks everything and prints PASS or FAIL.
# The pipeline's code is in `cardfraud/pipelines.py` (shown on the module page).

# %% [markdown]
# ## Step 1: start kfp.local and look at the pipeline

# %%
# --8<-- [start:setup]
import os

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # MLflow's usage events: off

from kfp import local
from mlflow import MlflowClient

from cardfraud.pipelines import continuous_training, kfp_logs_to

TRACKING_URI = "sqlite:///mlflow.db"
MODEL_NAME = "fraud-detector"
MIN_GAIN = 0.01  # the stated rule: promote only if PR-AUC improves by at least this much
DRIFTED = {"days": 42, "drift": "concept", "drift_start": "2026-02-02"}

local.init(
    runner=local.SubprocessRunner(use_venv=False),  # tasks run in this Python: offline, no pip
    pipeline_root="kfp_outputs",                    # artifacts stay in the working directory
    enable_caching=True,
)
client = MlflowClient(TRACKING_URI)
print("pipeline:", continuous_training.name)
print("tasks:", sorted(continuous_training.pipeline_spec.root.dag.tasks))
# --8<-- [end:setup]

# %% [markdown]
# ## Step 2: the first run registers a champion
#
# Four weeks of normal traffic. There is no champion yet, so the gate promotes
# whatever trains successfully. kfp.local's task logs go to `kfp_local.log`.

# %%
# --8<-- [start:first]
def run_pipeline(**arguments) -> dict:
    with kfp_logs_to("kfp_local.log"):
        run = continuous_training(tracking_uri=TRACKING_URI, model_name=MODEL_NAME, min_gain=MIN_GAIN, **arguments)
    return run.outputs  # decision, challenger and champion PR-AUC


def champion() -> tuple[str, float]:
    version = client.get_model_version_by_alias(MODEL_NAME, "champion")
    return str(version.version), float(version.tags["pr_auc"])


first = run_pipeline()
first_champion = champion()
print("first run:", first["decision"], "| champion version", first_champion[0], "| PR-AUC", first_champion[1])
# --8<-- [end:first]

# %% [markdown]
# ## Step 3: the world changes; run again
#
# From 2 February fraudsters imitate ordinary customers (concept drift). The
# pipeline ingests six weeks, retrains, and scores the new challenger and the
# current champion on the same last week.

# %%
# --8<-- [start:drift]
drifted = run_pipeline(**DRIFTED)
print("on the drifted week: challenger PR-AUC", drifted["challenger"], "vs champion", drifted["champion"])
print("drifted run:", drifted["decision"], "| champion version", champion()[0])
# --8<-- [end:drift]

# %% [markdown]
# ## Step 4: the same data again changes nothing
#
# Rerunning on the same batch reuses the cached data, features and model; only
# the steps that read the registry run again. The challenger is now the champion
# itself, so it cannot win by `MIN_GAIN`.

# %%
# --8<-- [start:repeat]
from pathlib import Path

repeat = run_pipeline(**DRIFTED)
# Each task that executes gets a folder under its run's folder; cached tasks do not.
newest_run = max(Path("kfp_outputs").glob("fraud-continuous-training-*"))
executed = sorted(p.name for p in newest_run.iterdir())
print("challenger PR-AUC", repeat["challenger"], "vs champion", repeat["champion"])
print("repeat run:", repeat["decision"], "| champion version", champion()[0], "| tasks executed:", executed)
# --8<-- [end:repeat]

# %% [markdown]
# ## Step 5: check
#
# The check compiles the pipeline to the YAML a Kubeflow Pipelines cluster
# accepts and confirms it names the same components that ran here.

# %%
# --8<-- [start:check]
import yaml
from kfp import compiler

compiler.Compiler().compile(continuous_training, package_path="fraud_pipeline.yaml")
spec = yaml.safe_load(Path("fraud_pipeline.yaml").read_text())
compiled_components = {name.removeprefix("comp-") for name in spec["components"] if not name.startswith("comp-condition")}
ran = {p.parent.name for p in Path("kfp_outputs").glob("*/*/executor_output.json")}

rule = "promote" if drifted["challenger"] >= drifted["champion"] + MIN_GAIN else "keep"
champion_after_drift = "2" if rule == "promote" else "1"
checks = {
    "first run registered a champion": first["decision"] == "promote" and first_champion[0] == "1",
    "drifted run followed the rule": drifted["decision"] == rule,
    "repeat run kept the champion": repeat["decision"] == "keep" and champion()[0] == champion_after_drift,
    "compiled YAML names the components that ran": ran == compiled_components,
    "compiled YAML is a KFP v2 pipeline": spec["schemaVersion"] == "2.1.0" and spec["pipelineInfo"]["name"] == continuous_training.name,
}
for name, ok in checks.items():
    print(f"{'ok  ' if ok else 'FAIL'} {name}")
print("PASS" if all(checks.values()) else "FAIL")
# --8<-- [end:check]
