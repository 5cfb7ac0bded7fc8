"""Module 5.6's continuous-training pipeline: the bank's data in, a challenger out (or not).

Seven Kubeflow Pipelines components chained into one pipeline: ingest -> validate ->
featurize -> train -> evaluate -> gate -> register. Every step that judges a model uses the
labels as the bank knew them on ``as_of`` (``cardfraud.labels``): training on the payments
matured by then, evaluation on the newest matured week, champion and challenger on the same
rows with a paired bootstrap interval (``cardfraud.decisions``). A winner is registered as
``@challenger``; module 5.4's canary decides whether it becomes ``@champion``.

    >>> from kfp import local
    >>> from cardfraud.pipelines import continuous_training
    >>> local.init(runner=local.SubprocessRunner(use_venv=False))
    >>> continuous_training(warehouse="payments.parquet", as_of="2026-03-30").outputs["decision"]
    'promote'

    $ python -m cardfraud.pipelines compile fraud_pipeline.yaml    # IR YAML for a cluster

Each component is a lightweight Python component: kfp ships the function's source to the
task, so every import a component needs is inside its body. The data contract lives in
``cardfraud.checks`` and the promotion rule in ``cardfraud.decisions``: plain functions the
components import, unit-tested without kfp.
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
CHAMPION_ALIAS = "champion"
CHALLENGER_ALIAS = "challenger"
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
def ingest(warehouse: str, as_of: str, transactions: Output[Dataset]) -> int:
    """The payments the bank had recorded before ``as_of``, from its warehouse (a Parquet file here)."""
    import pandas as pd

    from cardfraud.labels import as_timestamp

    frame = pd.read_parquet(warehouse)
    frame = frame[frame["event_timestamp"] < as_timestamp(as_of)]
    frame.to_parquet(transactions.path, index=False)
    transactions.metadata.update({"rows": len(frame), "as_of": as_of})
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
def train(features: Input[Dataset], as_of: str, seed: int, model: Output[Model]):
    """Fit the challenger on the payments matured by ``as_of``, with the labels known then."""
    import joblib
    import pandas as pd
    from threadpoolctl import threadpool_limits

    from cardfraud.course import TUNED_PARAMS
    from cardfraud.labels import decision_windows
    from cardfraud.model import train as fit

    train_rows, _ = decision_windows(pd.read_parquet(features.path), as_of)
    # One OpenMP thread: the trees' thread pool fights other processes for the cores otherwise.
    with threadpool_limits(limits=1):
        fitted = fit(train_rows, seed=seed, **TUNED_PARAMS)
    joblib.dump(fitted, model.path)  # an artifact between two tasks of this run, never served
    model.metadata.update({"framework": "scikit-learn", "train_rows": len(train_rows), "as_of": as_of})


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def evaluate(
    features: Input[Dataset],
    model: Input[Model],
    as_of: str,
    tracking_uri: str,
    model_name: str,
    metrics: Output[Metrics],
) -> NamedTuple("Scores", champion=float, challenger=float, low=float, high=float, positives=int, champion_version=str):
    """Challenger and current champion on the same matured week: PR-AUC and the paired interval of the gain."""
    import math
    from collections import namedtuple

    import joblib
    import mlflow
    import pandas as pd
    from mlflow.exceptions import MlflowException
    from threadpoolctl import threadpool_limits

    from cardfraud.decisions import compare
    from cardfraud.labels import decision_windows
    from cardfraud.model import score

    _, window = decision_windows(pd.read_parquet(features.path), as_of)
    mlflow.set_tracking_uri(tracking_uri)
    with threadpool_limits(limits=1):
        challenger_scores = score(joblib.load(model.path), window)
        try:
            version = str(mlflow.MlflowClient().get_model_version_by_alias(model_name, "champion").version)
            champion_scores = score(mlflow.sklearn.load_model(f"models:/{model_name}/{version}"), window)
        except MlflowException:  # no registered model or no alias yet: the first run
            version, champion_scores = "", challenger_scores
    result = compare(window["is_fraud"].to_numpy(), champion_scores, challenger_scores)
    finite = lambda value: value if math.isfinite(value) else 0.0  # noqa: E731 (kfp outputs are JSON)
    for name in ("champion", "challenger", "low", "high"):
        metrics.log_metric(f"{name}_pr_auc" if name in ("champion", "challenger") else f"gain_{name}", finite(getattr(result, name)))
    metrics.log_metric("known_frauds", result.positives)
    Scores = namedtuple("Scores", ["champion", "challenger", "low", "high", "positives", "champion_version"])
    return Scores(finite(result.champion), finite(result.challenger), finite(result.low), finite(result.high),
                  result.positives, version)


# --8<-- [start:gate]
@dsl.component(base_image=IMAGE, install_kfp_package=False)
def gate(low: float, high: float, positives: int, champion_version: str, margin: float) -> str:
    """The promotion rule: 'promote' when there is no champion yet or the whole interval of the gain
    clears ``margin``; 'keep' when it lies below; 'wait' for labels otherwise."""
    from cardfraud.decisions import verdict

    if not champion_version:
        return "promote"
    return {"promote": "promote", "keep": "keep", "not enough evidence": "wait"}[verdict(low, high, positives, margin)]
# --8<-- [end:gate]


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def register(
    model: Input[Model],
    challenger: float,
    champion_version: str,
    tracking_uri: str,
    model_name: str,
) -> str:
    """Log the challenger to MLflow, register it and alias it @challenger; returns the new version.

    ``@champion`` stays where it is: the canary (module 5.4) moves it, or does not."""
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
    client.set_registered_model_alias(model_name, "challenger" if champion_version else "champion", version)
    return version


# --8<-- [start:pipeline]
@dsl.pipeline(name="fraud-continuous-training", description="Retrain the fraud model; register a challenger only on evidence.")
def continuous_training(
    warehouse: str,
    as_of: str,
    margin: float = 0.02,
    tracking_uri: str = "sqlite:///mlflow.db",
    model_name: str = "fraud-detector",
    seed: int = 0,
) -> NamedTuple("Outcome", decision=str, champion=float, challenger=float, low=float, high=float, positives=int):
    raw = ingest(warehouse=warehouse, as_of=as_of)
    checked = validate(transactions=raw.outputs["transactions"])
    feats = featurize(validated=checked.outputs["validated"])
    challenger = train(features=feats.outputs["features"], as_of=as_of, seed=seed)
    # What the cluster schedules the training pod with; kfp.local ignores these (with a warning).
    challenger.set_cpu_request("1").set_cpu_limit("2").set_memory_request("2G").set_memory_limit("4G")
    challenger.set_retry(num_retries=2, backoff_duration="30s")  # a preempted node is not a failed model
    # The champion lives outside the pipeline (in MLflow): never reuse a cached score.
    scores = evaluate(
        features=feats.outputs["features"], model=challenger.outputs["model"],
        as_of=as_of, tracking_uri=tracking_uri, model_name=model_name,
    ).set_caching_options(enable_caching=False)
    decision = gate(
        low=scores.outputs["low"], high=scores.outputs["high"], positives=scores.outputs["positives"],
        champion_version=scores.outputs["champion_version"], margin=margin,
    ).set_caching_options(enable_caching=False)
    with dsl.If(decision.output == "promote", name="challenger-wins"):
        register(
            model=challenger.outputs["model"], challenger=scores.outputs["challenger"],
            champion_version=scores.outputs["champion_version"],
            tracking_uri=tracking_uri, model_name=model_name,
        ).set_caching_options(enable_caching=False)
    Outcome = NamedTuple("Outcome", decision=str, champion=float, challenger=float, low=float, high=float, positives=int)
    return Outcome(decision.output, scores.outputs["champion"], scores.outputs["challenger"],
                   scores.outputs["low"], scores.outputs["high"], scores.outputs["positives"])
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
