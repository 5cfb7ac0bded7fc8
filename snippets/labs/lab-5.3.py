# %% [markdown]
# # Lab 5.3: tune, decide, register
#
# This lab starts from module 5.2's result: the bank's Feast repository with its payments up to
# the launch day, Monday 16 February, rebuilt by one call,
# `course.feature_store(course.payments(course.LAUNCH_DAY))`. You train on Feast's point-in-time
# training set with the labels the bank knows that day, tune with Optuna (seeded, a fixed budget,
# pruning, every trial a nested MLflow run), derive the decision threshold from costs, decide with
# error bars whether the tuned model replaces the bank's rule, and register it as
# `fraud-detector@champion`: the model module 5.4 serves.
#
# You write three decisive steps yourself: the labels a launch-day model may learn from, the
# threshold from costs, and the promotion rule. A grader after each says PASS or what to fix.
# Everything stays on this machine: MLflow writes to `mlflow.db`, Optuna to `optuna.db`, in
# `./lab-5.3`, which the lab empties first.

# %% [markdown]
# ## Step 1: module 5.2's feature store, rebuilt

# %%
# --8<-- [start:setup]
import os

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import mlflow
import numpy as np
import optuna
import pandas as pd
from threadpoolctl import threadpool_limits

from cardfraud import course
from cardfraud.exercises import lab_5_3, report
from cardfraud.model import make_pipeline, score, split_by_time, train  # loads scikit-learn's OpenMP

course.lab_folder("lab-5.3")  # an empty ./lab-5.3, entered: a second run starts like the first
threadpool_limits(limits=1)  # one OpenMP thread for the trees: faster than two on a busy 2-core laptop
optuna.logging.set_verbosity(optuna.logging.WARNING)

transactions = course.payments(course.LAUNCH_DAY)  # 5 January to 15 February
store = course.feature_store(transactions)  # module 5.2's result: the Feast repository, applied
print(f"{len(transactions):,} payments until {course.LAUNCH_DAY}; feature services: "
      f"{[service.name for service in store.list_feature_services()]}")
# --8<-- [end:setup]

# %% [markdown]
# ## Exercise 1: the labels the bank has on launch day
#
# On 16 February a fraud is known only if its chargeback has arrived (`label_available_at`), and a
# payment from last week may still be a fraud nobody has reported. Write the rows a model trained
# that day may learn from, with the labels known that day. Train on final labels and your
# validation scores are a fiction no one could have measured on the day; train on the newest
# payments and the model learns that recent fraud is legitimate.

# %%
# --8<-- [start:exercise-labels]
from cardfraud.labels import LABEL_MATURITY_DAYS  # 14: by then nearly all chargebacks are in


def training_labels(transactions: pd.DataFrame, as_of: str) -> pd.DataFrame:
    """The payments a model trained at midnight (UTC) starting ``as_of`` may learn from.

    Keep only payments more than ``LABEL_MATURITY_DAYS`` old on ``as_of`` (``event_timestamp``
    before as_of - 14 days), every column kept, and replace ``is_fraud`` by the label known on
    ``as_of``: 1 for a fraud whose chargeback has arrived (``label_available_at <= as_of``),
    0 for every other payment (no chargeback yet means legitimate, as far as the bank knows).
    """
    # Hint: as_of = pd.Timestamp(as_of, tz="UTC"); two boolean masks, one on each timestamp column.
    raise NotImplementedError
# --8<-- [end:exercise-labels]

# %% tags=["solution"]
# --8<-- [start:solution-labels]
def training_labels(transactions: pd.DataFrame, as_of: str) -> pd.DataFrame:
    as_of = pd.Timestamp(as_of, tz="UTC")
    old_enough = transactions["event_timestamp"] < as_of - pd.Timedelta(days=LABEL_MATURITY_DAYS)
    rows = transactions[old_enough]
    charged_back = (rows["is_fraud"] == 1) & (rows["label_available_at"] <= as_of)
    return rows.assign(is_fraud=charged_back.astype("int8"))
# --8<-- [end:solution-labels]

# %%
# --8<-- [start:grade-labels]
lab_5_3.grade_labels(training_labels)
# --8<-- [end:grade-labels]

# %% [markdown]
# ## Step 2: Feast's training set, labels as known, split by time
#
# `course.launch_rows` asks Feast for the point-in-time training set of the payments matured on
# launch day, with the labels known that day (the rule you just wrote, as `cardfraud.labels` has
# it), and splits it: training weeks 5 to 25 January, the evaluation week 26 January to
# 1 February. Inside the training weeks, the last one (from 19 January) validates the trials.

# %%
# --8<-- [start:data]
from cardfraud.features import FEATURE_COLUMNS, build_features
from cardfraud.labels import decision_windows

VALID_FROM = "2026-01-19"  # the last training week validates each trial and sets the threshold

train_rows, evaluation = course.launch_rows(store, transactions)
fit_rows, valid_rows = split_by_time(train_rows, VALID_FROM)
for name, rows in [("fit", fit_rows), ("valid", valid_rows), ("evaluation", evaluation)]:
    first, last = rows["event_timestamp"].min(), rows["event_timestamp"].max()
    print(f"{name:10} {first:%d %b} to {last:%d %b}: {len(rows):6,} payments, {int(rows['is_fraud'].sum()):3} known frauds")
reference, _ = decision_windows(build_features(transactions), course.LAUNCH_DAY)  # module 5.2's batch reference
columns = ["transaction_id", *FEATURE_COLUMNS, "is_fraud"]
same = train_rows[columns].sort_values("transaction_id", ignore_index=True).equals(
    reference[columns].sort_values("transaction_id", ignore_index=True))
print("Feast's training set equals build_features on these payments:", same)
# --8<-- [end:data]

# %% [markdown]
# ## Step 3: an objective that reports as it trains
#
# `warm_start=True` lets the trees continue from where they stopped, so a trial grows 50
# iterations at a time, reports its validation PR-AUC, and stops early when the pruner says it
# is worse than the median of earlier trials at that step. Each trial is a nested MLflow run.

# %%
# --8<-- [start:objective]
from sklearn.metrics import average_precision_score

from cardfraud.tracking import use_local_tracking

N_TRIALS = 8  # the budget: a fixed number of trials keeps the run reproducible
STEPS = [50, 100, 150]  # boosting iterations at which a trial reports and may be pruned

use_local_tracking("sqlite:///mlflow.db")  # experiment "fraud-detector", artifacts in ./mlartifacts


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
# ## Step 4: the study: seeded, stored in SQLite, one parent MLflow run

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
with mlflow.start_run(run_name="tuning"):
    study.optimize(objective, n_trials=N_TRIALS)
    mlflow.log_params({f"best_{k}": v for k, v in study.best_params.items()})
    mlflow.log_metric("best_valid_pr_auc", round(study.best_value, 4))

best = {**study.best_params, "max_iter": study.best_trial.user_attrs["max_iter"]}
states = [t.state.name for t in study.trials]
print({state: states.count(state) for state in sorted(set(states))})
print("best trial:", study.best_trial.number, "valid PR-AUC", round(study.best_value, 4))
print("best params:", {k: round(v, 4) for k, v in best.items()})
print("the parameters later modules rebuild the champion with (course.TUNED_PARAMS):", best == course.TUNED_PARAMS)
# --8<-- [end:tune]

# %% [markdown]
# ## Exercise 2: the threshold from costs
#
# A score is not a decision: the bank reviews a payment when its score is at or above a
# threshold. A review costs `REVIEW_COST_EUR` (10 euros); a fraud let through costs its amount.
# Write the search for the cheapest threshold. Every later module decides with the one you derive
# here.

# %%
# --8<-- [start:exercise-threshold]
from cardfraud.costs import REVIEW_COST_EUR, THRESHOLD_GRID


def cost_based_threshold(rows: pd.DataFrame, scores: np.ndarray) -> float:
    """The threshold of ``THRESHOLD_GRID`` with the lowest expected cost on ``rows``.

    The cost of a threshold: ``REVIEW_COST_EUR`` for every payment flagged (score >= threshold),
    plus ``rows["amount"]`` of every fraud (``rows["is_fraud"] == 1``) that is not flagged.
    """
    # Hint: one cost per threshold in a list, then THRESHOLD_GRID[np.argmin(costs)].
    raise NotImplementedError
# --8<-- [end:exercise-threshold]

# %% tags=["solution"]
# --8<-- [start:solution-threshold]
def cost_based_threshold(rows: pd.DataFrame, scores: np.ndarray) -> float:
    fraud = (rows["is_fraud"] == 1).to_numpy()
    amount = rows["amount"].to_numpy()
    costs = []
    for threshold in THRESHOLD_GRID:
        flagged = scores >= threshold
        costs.append(REVIEW_COST_EUR * flagged.sum() + amount[fraud & ~flagged].sum())
    return float(THRESHOLD_GRID[int(np.argmin(costs))])
# --8<-- [end:solution-threshold]

# %%
# --8<-- [start:grade-threshold]
lab_5_3.grade_threshold(cost_based_threshold)
# --8<-- [end:grade-threshold]

# %% [markdown]
# ## Step 5: derive the course's threshold
#
# On the validation week, with the best parameters fitted on the weeks before it: scores of
# payments the model has not learned from, labels as known on launch day.

# %%
# --8<-- [start:threshold]
from cardfraud.costs import DECISION_THRESHOLD, cost_threshold

validator = train(fit_rows, **best)
threshold = cost_threshold(valid_rows, score(validator, valid_rows))
print(f"threshold from costs on the validation week: {threshold}; the course decides with "
      f"DECISION_THRESHOLD = {DECISION_THRESHOLD}: {'the same' if threshold == DECISION_THRESHOLD else 'DIFFERENT'}")
# --8<-- [end:threshold]

# %% [markdown]
# ## Exercise 3: the promotion rule
#
# Before the tuned model replaces anything, compare it with what runs today on the same rows,
# with an interval. Write the rule: promote only on evidence of a gain worth a rollout.

# %%
# --8<-- [start:exercise-promotion]
from cardfraud.decisions import MIN_POSITIVES, PROMOTION_MARGIN, paired_interval


def promotion_decision(y: np.ndarray, champion_scores: np.ndarray, challenger_scores: np.ndarray) -> str:
    """'promote', 'keep' or 'not enough evidence' for the challenger, on rows labelled as known.

    With fewer than ``MIN_POSITIVES`` known frauds (``y.sum()``): 'not enough evidence'.
    Otherwise take the 95% paired-bootstrap interval (low, high) of PR-AUC(challenger) -
    PR-AUC(champion): 'promote' when all of it lies above ``PROMOTION_MARGIN``, 'keep' when all of
    it lies below, 'not enough evidence' when it contains the margin.
    """
    # Hint: low, high = paired_interval(y, champion_scores, challenger_scores)
    raise NotImplementedError
# --8<-- [end:exercise-promotion]

# %% tags=["solution"]
# --8<-- [start:solution-promotion]
def promotion_decision(y: np.ndarray, champion_scores: np.ndarray, challenger_scores: np.ndarray) -> str:
    if int(np.sum(y)) < MIN_POSITIVES:
        return "not enough evidence"
    low, high = paired_interval(y, champion_scores, challenger_scores)
    if low > PROMOTION_MARGIN:
        return "promote"
    if high < PROMOTION_MARGIN:
        return "keep"
    return "not enough evidence"
# --8<-- [end:solution-promotion]

# %%
# --8<-- [start:grade-promotion]
lab_5_3.grade_promotion(promotion_decision)
# --8<-- [end:grade-promotion]

# %% [markdown]
# ## Step 6: decide on the evaluation week, then register
#
# The tuned model, refitted on all training weeks, against (a) the bank's rule, which runs
# today, and (b) the same model with the default parameters. Same rows, labels as known,
# `cardfraud.decisions.compare`. It becomes `@champion` only if it clears the margin over the
# rule; `log_and_register` logs it with its signature, input example, requirements and the
# decision threshold.

# %%
# --8<-- [start:decide]
from cardfraud.costs import incumbent_rule
from cardfraud.decisions import compare
from cardfraud.model import DEFAULT_PARAMS, evaluate
from cardfraud.tracking import log_and_register

champion = train(train_rows, **best)  # with course.TUNED_PARAMS: the model course.champion() rebuilds
untuned = train(train_rows, **DEFAULT_PARAMS)
y = evaluation["is_fraud"].to_numpy()
champion_scores = score(champion, evaluation)
versus_rule = compare(y, incumbent_rule(evaluation), champion_scores)
versus_untuned = compare(y, score(untuned, evaluation), champion_scores)
print("(a) tuned vs the bank's rule:", versus_rule)
print("(b) tuned vs untuned:        ", versus_untuned)

version = log_and_register(
    champion, train_rows, evaluate(champion, evaluation), {**best, "trained_on": course.LAUNCH_DAY},
    course.MODEL_NAME, alias="champion" if versus_rule.verdict == "promote" else None,
)
aliases = mlflow.MlflowClient().get_registered_model(course.MODEL_NAME).aliases
print(f"registered {course.MODEL_NAME} version {version}; aliases: {aliases}")
# --8<-- [end:decide]

# %% [markdown]
# ## Step 7: the check
#
# Load the model through its alias, as module 5.4's server will, and test the two decisions
# against what the data supports, recomputed independently: scikit-learn's PR-AUC on 300
# resamples with another seed.

# %%
# --8<-- [start:check]
from cardfraud.decisions import verdict

RESAMPLES, SEED = 300, 1


def independent_verdict(y: np.ndarray, champion_scores: np.ndarray, challenger_scores: np.ndarray) -> str:
    rng = np.random.default_rng(SEED)
    gains = []
    for _ in range(RESAMPLES):
        rows = rng.integers(0, len(y), size=len(y))
        gains.append(average_precision_score(y[rows], challenger_scores[rows])
                     - average_precision_score(y[rows], champion_scores[rows]))
    low, high = np.percentile(gains, [2.5, 97.5])
    return verdict(low, high, int(y.sum()))


client = mlflow.MlflowClient()
loaded = mlflow.sklearn.load_model(f"models:/{course.MODEL_NAME}@champion")
tags = client.get_model_version(course.MODEL_NAME, version).tags
checks = {
    "@champion is this lab's version and scores as the model trained here":
        str(client.get_model_version_by_alias(course.MODEL_NAME, "champion").version) == version
        and np.allclose(score(loaded, evaluation), champion_scores),
    "its decision_threshold tag is the threshold derived from costs": float(tags["decision_threshold"]) == threshold,
    "(a) promoted over the rule, and the data supports it":
        versus_rule.verdict == independent_verdict(y, incumbent_rule(evaluation), champion_scores) == "promote",
    "(b) the verdict on tuning is the one the data supports":
        versus_untuned.verdict == independent_verdict(y, score(untuned, evaluation), champion_scores),
}
for name, ok in checks.items():
    print(f"{'ok  ' if ok else 'FAIL'} {name}")
print("PASS" if all(checks.values()) else "FAIL")
print(report(lab_5_3.NAMES))
# --8<-- [end:check]
