# %% [markdown]
# # Lab 5.3: tune, track, register
#
# Tune the course's fraud model with Optuna on a fixed budget, with pruning, every trial
# tracked as a nested MLflow run; register the best model with a signature and alias it
# `@champion`; then check that the champion beats the untuned model on the held-out days.
# Everything runs locally: MLflow writes to `mlflow.db`, Optuna to `optuna.db`.

# %% [markdown]
# ## Step 1: data, split by time, and a local tracking store

# %%
# --8<-- [start:setup]
import os

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from pathlib import Path

import mlflow
import optuna
from sklearn.metrics import average_precision_score
from threadpoolctl import threadpool_limits

from cardfraud import generate
from cardfraud.features import FEATURE_COLUMNS, build_features
from cardfraud.model import DEFAULT_PARAMS, make_pipeline, score, split_by_time

CUTOFF = "2026-01-19"  # train on the days before, judge on the days after
VALID_FROM = "2026-01-15"  # the last training days validate each trial
MODEL_NAME = "fraud-detector"
N_TRIALS = 8  # the budget: a fixed number of trials keeps the run reproducible
STEPS = [50, 100, 150]  # boosting iterations at which a trial reports and may be pruned
PAYMENTS_PER_DAY = 2_500  # half the running example's volume: the lab runs in well under a minute

threadpool_limits(limits=1)  # one OpenMP thread: faster than two on a busy 2-core laptop
optuna.logging.set_verbosity(optuna.logging.WARNING)
mlflow.set_tracking_uri("sqlite:///mlflow.db")
experiment_id = mlflow.create_experiment("fraud-tuning", artifact_location=Path("mlartifacts").resolve().as_uri())
mlflow.set_experiment(experiment_id=experiment_id)

features = build_features(generate(days=28, transactions_per_day=PAYMENTS_PER_DAY, seed=42))
train_rows, holdout = split_by_time(features, CUTOFF)
fit_rows, valid_rows = split_by_time(train_rows, VALID_FROM)
print(f"fit {len(fit_rows)} rows, valid {len(valid_rows)}, holdout {len(holdout)} (fraud {holdout['is_fraud'].mean():.2%})")
# --8<-- [end:setup]

# %% [markdown]
# ## Step 2: an objective that reports as it trains
#
# `warm_start=True` lets the trees continue from where they stopped, so a trial
# grows 50 iterations at a time, reports its validation PR-AUC, and stops early
# when the pruner says it is worse than the median of earlier trials at that step.

# %%
# --8<-- [start:objective]
def objective(trial: optuna.Trial) -> float:
    params = {
        "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.3, log=True),
        "max_leaf_nodes": trial.suggest_int("max_leaf_nodes", 8, 64, log=True),
        "min_samples_leaf": trial.suggest_int("min_samples_leaf", 10, 200, log=True),
        "l2_regularization": trial.suggest_float("l2_regularization", 1e-3, 10.0, log=True),
    }
    pipeline = make_pipeline(seed=0, warm_start=True, **params)
    with mlflow.start_run(run_name=f"trial-{trial.number}", nested=True):
        mlflow.log_params(params)
        for step in STEPS:
            pipeline.set_params(trees__max_iter=step)
            pipeline.fit(fit_rows[FEATURE_COLUMNS], fit_rows["is_fraud"])
            pr_auc = float(average_precision_score(valid_rows["is_fraud"], score(pipeline, valid_rows)))
            mlflow.log_metric("valid_pr_auc", round(pr_auc, 4), step=step)
            trial.report(pr_auc, step)
            if trial.should_prune():
                mlflow.set_tag("state", "pruned")
                raise optuna.TrialPruned()
        mlflow.set_tag("state", "complete")
    trial.set_user_attr("max_iter", step)
    return pr_auc
# --8<-- [end:objective]

# %% [markdown]
# ## Step 3: run the study: stored in SQLite, resumable, one parent MLflow run

# %%
# --8<-- [start:tune]
study = optuna.create_study(
    study_name="fraud-hgb",
    storage="sqlite:///optuna.db",
    load_if_exists=True,  # a rerun continues the same study instead of failing
    direction="maximize",
    sampler=optuna.samplers.TPESampler(seed=0, n_startup_trials=4),
    pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=STEPS[0]),
)
with mlflow.start_run(run_name="tuning") as parent:
    study.optimize(objective, n_trials=N_TRIALS)
    mlflow.log_params({f"best_{k}": v for k, v in study.best_params.items()})
    mlflow.log_metric("best_valid_pr_auc", round(study.best_value, 4))

states = [t.state.name for t in study.trials]
print({state: states.count(state) for state in sorted(set(states))})
print("best trial:", study.best_trial.number, "valid PR-AUC", round(study.best_value, 4))
print("best params:", {k: round(v, 4) for k, v in study.best_params.items()})
# --8<-- [end:tune]

# %% [markdown]
# ## Step 4: refit the best on all training days, register it, make it the champion

# %%
# --8<-- [start:register]
from mlflow.models import infer_signature

from cardfraud.tracking import SKOPS_TRUSTED_TYPES, data_fingerprint, model_requirements

best = {**study.best_params, "max_iter": study.best_trial.user_attrs["max_iter"]}
champion = make_pipeline(seed=0, **best).fit(train_rows[FEATURE_COLUMNS], train_rows["is_fraud"])
example = train_rows[FEATURE_COLUMNS].head(5)
with mlflow.start_run(run_name="champion-refit", tags={"data_sha256": data_fingerprint(train_rows)}):
    mlflow.log_params(best)
    info = mlflow.sklearn.log_model(
        champion,
        name="model",
        signature=infer_signature(example, score(champion, example)),
        input_example=example,
        pip_requirements=model_requirements(),
        skops_trusted_types=SKOPS_TRUSTED_TYPES,
        registered_model_name=MODEL_NAME,
    )
client = mlflow.MlflowClient()
client.set_registered_model_alias(MODEL_NAME, "champion", info.registered_model_version)
print("registered", MODEL_NAME, "version", info.registered_model_version, "as @champion")
# --8<-- [end:register]

# %% [markdown]
# ## Step 5: the check
#
# Load the model through its alias, exactly as a server would, score the held-out
# days, and compare with the baseline: the same pipeline with the course's default
# parameters, trained on the same days.

# %%
# --8<-- [start:check]
loaded = mlflow.sklearn.load_model(f"models:/{MODEL_NAME}@champion")
baseline = make_pipeline(seed=0, **DEFAULT_PARAMS).fit(train_rows[FEATURE_COLUMNS], train_rows["is_fraud"])
champion_pr_auc = average_precision_score(holdout["is_fraud"], score(loaded, holdout))
baseline_pr_auc = average_precision_score(holdout["is_fraud"], score(baseline, holdout))
print(f"held-out PR-AUC: champion {champion_pr_auc:.4f}, untuned baseline {baseline_pr_auc:.4f}")
print("PASS" if champion_pr_auc > baseline_pr_auc else "FAIL: the tuned model does not beat the baseline")
# --8<-- [end:check]
