"""Module 5.6's continuous-training pipeline: new data in, a champion out (or not).

Seven Kubeflow Pipelines components over the running example, chained into one
pipeline: ingest -> validate -> featurize -> train -> evaluate -> gate ->
register. Run it on a laptop with ``kfp.local`` or compile it for a cluster:

    >>> from kfp import local
    >>> from cardfraud.pipelines import continuous_training
    >>> local.init(runner=local.SubprocessRunner(use_venv=False))
    >>> continuous_training(drift="concept", days=42).output
    'promote'

    $ python -m cardfraud.pipelines compile fraud_pipeline.yaml    # IR YAML for a cluster

Each component is a lightweight Python component: kfp ships the function's
source to the task, so every import a component needs is inside its body.
The validation rules and the promotion rule live in ``cardfraud.checks``, plain
functions the components import, so they can be unit-tested without kfp.
"""

import builtins
import contextlib
import os
import sys
from typing import NamedTuple

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

# On a cluster every task runs in this image: the repository's requirements.txt
# (kfp included) and the cardfraud package installed. The course does not
# publish it; build your own from the repository and push it to your registry.
IMAGE = "registry.example.com/ml/cardfraud-python:1.0"
DRIFTS = ("none", "concept", "covariate", "faults")
CHAMPION_ALIAS = "champion"
@contextlib.contextmanager
def kfp_logs_to(path: str = "kfp_local.log"):
    """Send kfp.local's task logs to ``path`` instead of the screen.

    kfp.local prints every task's executor input and output to standard output
    and, while a task runs, replaces ``builtins.print`` with an indenting
    version. Tasks of a ParallelFor run in threads, and with kfp 2.17 that
    replacement can outlive the run; restoring ``print`` here undoes it.
    """
    original_print = builtins.print
    with open(path, "a", encoding="utf-8") as log, contextlib.redirect_stdout(log):
        try:
            yield path
        finally:
            builtins.print = original_print


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def ingest(
    start: str,
    days: int,
    transactions_per_day: int,
    drift: str,
    drift_start: str,
    seed: int,
    transactions: Output[Dataset],
) -> int:
    """Stand-in for landing a new batch: the running example, with the chosen drift switched on."""
    from cardfraud import ConceptDrift, CovariateDrift, DataQualityFaults, generate

    kinds = {"none": None, "concept": ConceptDrift, "covariate": CovariateDrift, "faults": DataQualityFaults}
    if drift not in kinds:
        raise ValueError(f"drift must be one of {sorted(kinds)}, got {drift!r}")
    drifts = [kinds[drift](start=drift_start)] if kinds[drift] else []
    frame = generate(start=start, days=days, transactions_per_day=transactions_per_day, seed=seed, drifts=drifts)
    frame.to_parquet(transactions.path, index=False)
    transactions.metadata.update({"rows": len(frame), "start": start, "days": days, "drift": drift})
    return len(frame)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def validate(transactions: Input[Dataset], validated: Output[Dataset]):
    """Stop the pipeline before training when the batch breaks the data contract."""
    import shutil

    import pandas as pd

    from cardfraud.checks import data_problems

    problems = data_problems(pd.read_parquet(transactions.path))
    if problems:
        raise ValueError("data validation failed: " + "; ".join(problems))
    shutil.copyfile(transactions.path, validated.path)
    validated.metadata.update(transactions.metadata)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def featurize(validated: Input[Dataset], features: Output[Dataset]):
    """Point-in-time features (module 5.2's batch definitions)."""
    import pandas as pd

    from cardfraud.features import build_features

    build_features(pd.read_parquet(validated.path)).to_parquet(features.path, index=False)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def train(features: Input[Dataset], holdout_days: int, seed: int, model: Output[Model]):
    """Fit the challenger on every row before the holdout window."""
    import joblib
    import pandas as pd
    from threadpoolctl import threadpool_limits

    from cardfraud.model import split_by_time, train as fit

    rows = pd.read_parquet(features.path)
    cutoff = rows["event_timestamp"].max().normalize() - pd.Timedelta(days=holdout_days - 1)
    train_rows, _ = split_by_time(rows, cutoff.strftime("%Y-%m-%d"))
    # One OpenMP thread: the trees' thread pool fights other processes for the cores otherwise.
    with threadpool_limits(limits=1):
        fitted = fit(train_rows, seed=seed)
    joblib.dump(fitted, model.path)
    model.metadata.update({"framework": "scikit-learn", "train_rows": len(train_rows), "cutoff": str(cutoff.date())})


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def evaluate(
    features: Input[Dataset],
    model: Input[Model],
    holdout_days: int,
    tracking_uri: str,
    model_name: str,
    metrics: Output[Metrics],
) -> NamedTuple("Scores", challenger=float, champion=float, champion_version=str):
    """Score challenger and current champion on the same holdout rows: the only fair comparison."""
    from collections import namedtuple

    import joblib
    import pandas as pd
    from threadpoolctl import threadpool_limits

    import mlflow
    from mlflow.exceptions import MlflowException

    from cardfraud.model import evaluate as measure
    from cardfraud.model import split_by_time

    rows = pd.read_parquet(features.path)
    cutoff = rows["event_timestamp"].max().normalize() - pd.Timedelta(days=holdout_days - 1)
    _, holdout = split_by_time(rows, cutoff.strftime("%Y-%m-%d"))
    mlflow.set_tracking_uri(tracking_uri)

    with threadpool_limits(limits=1):
        challenger = measure(joblib.load(model.path), holdout)["pr_auc"]
        try:
            version = str(mlflow.MlflowClient().get_model_version_by_alias(model_name, "champion").version)
            champion_model = mlflow.sklearn.load_model(f"models:/{model_name}@champion")
            champion = measure(champion_model, holdout)["pr_auc"]
        except MlflowException:  # no registered model or no alias yet: the first run
            version, champion = "", -1.0
    metrics.log_metric("challenger_pr_auc", challenger)
    metrics.log_metric("champion_pr_auc", champion)
    metrics.log_metric("holdout_rows", len(holdout))
    return namedtuple("Scores", ["challenger", "champion", "champion_version"])(challenger, champion, version)


# --8<-- [start:gate]
@dsl.component(base_image=IMAGE, install_kfp_package=False)
def gate(challenger: float, champion: float, champion_version: str, min_gain: float) -> str:
    """The promotion rule: 'promote' if there is no champion yet or the challenger wins by min_gain."""
    if not champion_version:
        return "promote"
    return "promote" if challenger >= champion + min_gain else "keep"
# --8<-- [end:gate]


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def register(
    model: Input[Model],
    challenger: float,
    champion_version: str,
    tracking_uri: str,
    model_name: str,
) -> str:
    """Log the challenger to MLflow, register it and move @champion to it; returns the new version."""
    import joblib

    from cardfraud.tracking import SKOPS_TRUSTED_TYPES, model_requirements, use_local_tracking

    use_local_tracking(tracking_uri)
    import mlflow

    with mlflow.start_run(run_name="challenger") as run:
        mlflow.log_metric("pr_auc", challenger)
        mlflow.log_params({k: v for k, v in model.metadata.items() if k != "framework"})
        info = mlflow.sklearn.log_model(
            joblib.load(model.path),
            name="model",
            pip_requirements=model_requirements(),
            skops_trusted_types=SKOPS_TRUSTED_TYPES,
            registered_model_name=model_name,
        )
    client = mlflow.MlflowClient()
    version = str(info.registered_model_version)
    # Remember who held the alias before: rolling back is moving it back there.
    client.set_model_version_tag(model_name, version, "previous_champion", champion_version or "none")
    client.set_model_version_tag(model_name, version, "pr_auc", str(challenger))
    client.set_model_version_tag(model_name, version, "run_id", run.info.run_id)
    client.set_registered_model_alias(model_name, "champion", version)
    return version


# --8<-- [start:pipeline]
@dsl.pipeline(name="fraud-continuous-training", description="Retrain the fraud model and promote it only if it wins.")
def continuous_training(
    start: str = "2026-01-05",
    days: int = 28,
    drift: str = "none",
    drift_start: str = "2026-02-02",
    transactions_per_day: int = 2_000,
    holdout_days: int = 7,
    min_gain: float = 0.01,
    tracking_uri: str = "sqlite:///mlflow.db",
    model_name: str = "fraud-detector",
    seed: int = 42,
) -> NamedTuple("Outcome", decision=str, challenger=float, champion=float):
    raw = ingest(
        start=start, days=days, transactions_per_day=transactions_per_day,
        drift=drift, drift_start=drift_start, seed=seed,
    )
    checked = validate(transactions=raw.outputs["transactions"])
    feats = featurize(validated=checked.outputs["validated"])
    challenger = train(features=feats.outputs["features"], holdout_days=holdout_days, seed=seed)
    # What the cluster schedules the training pod with; kfp.local ignores these (with a warning).
    challenger.set_cpu_request("1").set_cpu_limit("2").set_memory_request("2G").set_memory_limit("4G")
    challenger.set_retry(num_retries=2, backoff_duration="30s")  # a preempted node is not a failed model
    # The champion lives outside the pipeline (in MLflow): never reuse a cached score.
    scores = evaluate(
        features=feats.outputs["features"], model=challenger.outputs["model"],
        holdout_days=holdout_days, tracking_uri=tracking_uri, model_name=model_name,
    ).set_caching_options(enable_caching=False)
    decision = gate(
        challenger=scores.outputs["challenger"], champion=scores.outputs["champion"],
        champion_version=scores.outputs["champion_version"], min_gain=min_gain,
    ).set_caching_options(enable_caching=False)
    with dsl.If(decision.output == "promote", name="challenger-wins"):
        register(
            model=challenger.outputs["model"], challenger=scores.outputs["challenger"],
            champion_version=scores.outputs["champion_version"],
            tracking_uri=tracking_uri, model_name=model_name,
        ).set_caching_options(enable_caching=False)
    Outcome = NamedTuple("Outcome", decision=str, challenger=float, champion=float)
    return Outcome(decision.output, scores.outputs["challenger"], scores.outputs["champion"])
# --8<-- [end:pipeline]


# --8<-- [start:submit]
def submit(package: str, host: str, experiment: str = "fraud-detector", schedule: str = "") -> str:
    """Send a compiled pipeline to a Kubeflow Pipelines cluster: one run now, or a recurring run."""
    import kfp

    client = kfp.Client(host=host)
    arguments = {"tracking_uri": os.environ.get("MLFLOW_TRACKING_URI", "http://mlflow.mlflow:5000")}
    if schedule:  # e.g. "0 0 3 * * MON": six fields, seconds first
        job = client.create_recurring_run(
            experiment_id=client.create_experiment(experiment).experiment_id,
            job_name="fraud-weekly-retrain",
            cron_expression=schedule,
            pipeline_package_path=package,
            params=arguments,
            max_concurrency=1,
            no_catchup=True,
        )
        return job.recurring_run_id
    run = client.create_run_from_pipeline_package(
        package, arguments=arguments, experiment_name=experiment, enable_caching=True
    )
    return run.run_id
# --8<-- [end:submit]


if __name__ == "__main__":
    # python -m cardfraud.pipelines compile fraud_pipeline.yaml
    # python -m cardfraud.pipelines submit fraud_pipeline.yaml   (KFP_ENDPOINT set)
    command, package = sys.argv[1], sys.argv[2]
    if command == "compile":
        from kfp import compiler

        compiler.Compiler().compile(continuous_training, package_path=package)
        print(f"compiled {continuous_training.name} to {package}")
    elif command == "submit":
        print(f"submitted: {submit(package, host=os.environ['KFP_ENDPOINT'], schedule=os.environ.get('KFP_SCHEDULE', ''))}")
    else:
        raise SystemExit(f"unknown command {command!r}: use compile or submit")
