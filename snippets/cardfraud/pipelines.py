"""Module 5.6's continuous-training pipeline: the bank's data in, a challenger out (or not).

Seven Kubeflow Pipelines components chained into one pipeline: ingest -> validate ->
featurize -> train -> evaluate -> gate -> register. Every step that judges a model uses the
labels as the bank knew them on ``as_of`` (``cardfraud.labels``): ingest keeps the payments
recorded before ``as_of`` with the chargebacks that had arrived by then, train fits on the
payments matured by then, evaluate scores champion and challenger on the newest matured week
(the same rows) with a paired bootstrap interval of the gain (``cardfraud.decisions``), and
the gate promotes only when the whole interval clears the margin. A winner is registered as
``@challenger``; module 5.4's canary decides whether it becomes ``@champion``.

    >>> from kfp import local
    >>> from cardfraud.pipelines import continuous_training
    >>> local.init(runner=local.SubprocessRunner(use_venv=False))
    >>> run = continuous_training(warehouse="warehouse.parquet", as_of="2026-03-25")
    >>> run.outputs["decision"]      # "promote", "keep" or "wait" (for more labels)

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

from cardfraud.decisions import PROMOTION_MARGIN

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
    """The bank's warehouse as it stood on ``as_of``: the payments recorded before that day, and
    only the chargebacks that had reached the bank by then (a Parquet file here)."""
    import pandas as pd

    from cardfraud.labels import as_timestamp
    from cardfraud.generate import labels_known

    frame = pd.read_parquet(warehouse)
    frame = frame[frame["event_timestamp"] < as_timestamp(as_of)]
    # A label that arrived after as_of was not in the warehouse that day: no later step can read it.
    known = labels_known(frame, as_of)
    frame = frame.assign(is_fraud=(frame["is_fraud"] == 1) & known, label_available_at=frame["label_available_at"].where(known))
    frame = frame.astype({"is_fraud": "int8"})
    frame.to_parquet(transactions.path, index=False)
    transactions.metadata.update({"rows": len(frame), "as_of": as_of, "known_frauds": int(frame["is_fraud"].sum())})
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
    import hashlib

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
    # What this model is a function of: its rows (hashed as cardfraud.tracking.data_fingerprint
    # does), its parameters and its seed. register looks it up, so a rerun adds no version.
    rows_hash = pd.util.hash_pandas_object(train_rows, index=False).to_numpy().tobytes()
    training_key = hashlib.sha256(rows_hash + repr((sorted(TUNED_PARAMS.items()), seed)).encode()).hexdigest()[:16]
    model.metadata.update({"framework": "scikit-learn", "train_rows": len(train_rows), "as_of": as_of,
                           "seed": seed, "training_key": training_key})


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
    features: Input[Dataset],
    model: Input[Model],
    challenger: float,
    champion_version: str,
    tracking_uri: str,
    model_name: str,
) -> str:
    """Register the challenger the way module 5.3 registers a champion (signature, input example,
    decision threshold) and alias it @challenger; returns its version. ``@champion`` stays where
    it is: the canary (module 5.4) moves it, or does not. With no champion yet, the first model
    becomes ``@champion``.

    Idempotent: a version already registered for the same training key (rows, parameters, seed)
    is reused, so a retry or a rerun of the same ``as_of`` adds no version."""
    import joblib
    import pandas as pd

    from cardfraud.course import TUNED_PARAMS
    from cardfraud.labels import decision_windows
    from cardfraud.tracking import log_and_register, use_local_tracking

    use_local_tracking(tracking_uri)
    import mlflow

    client = mlflow.MlflowClient()
    key = model.metadata["training_key"]
    found = client.search_model_versions(f"name = '{model_name}' and tags.training_key = '{key}'")
    if found:
        version = str(found[0].version)
    else:
        train_rows, _ = decision_windows(pd.read_parquet(features.path), model.metadata["as_of"])
        params = {**TUNED_PARAMS, "trained_on": model.metadata["as_of"], "seed": model.metadata["seed"]}
        version = log_and_register(joblib.load(model.path), train_rows, {"pr_auc": challenger}, params,
                                   model_name, alias=None, run_name="challenger")
        client.set_model_version_tag(model_name, version, "training_key", key)
    # Remember who held @champion: rolling back is moving it back there.
    client.set_model_version_tag(model_name, version, "previous_champion", champion_version or "none")
    client.set_registered_model_alias(model_name, "challenger" if champion_version else "champion", version)
    return version


# --8<-- [start:pipeline]
@dsl.pipeline(name="fraud-continuous-training", description="Retrain the fraud model; register a challenger only on evidence.")
def continuous_training(
    warehouse: str,
    as_of: str,
    margin: float = PROMOTION_MARGIN,  # 0.02 of PR-AUC: module 5.3 says why
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
    # A pure function of its inputs (the interval, the margin): safe to cache.
    decision = gate(
        low=scores.outputs["low"], high=scores.outputs["high"], positives=scores.outputs["positives"],
        champion_version=scores.outputs["champion_version"], margin=margin,
    )
    with dsl.If(decision.output == "promote", name="challenger-wins"):
        # Writes to the registry: a cached register would skip the write and report a version.
        register(
            features=feats.outputs["features"], model=challenger.outputs["model"],
            challenger=scores.outputs["challenger"], champion_version=scores.outputs["champion_version"],
            tracking_uri=tracking_uri, model_name=model_name,
        ).set_caching_options(enable_caching=False)
    Outcome = NamedTuple("Outcome", decision=str, champion=float, challenger=float, low=float, high=float, positives=int)
    return Outcome(decision.output, scores.outputs["champion"], scores.outputs["challenger"],
                   scores.outputs["low"], scores.outputs["high"], scores.outputs["positives"])
# --8<-- [end:pipeline]


# --8<-- [start:submit]
def submit(package: str, host: str, warehouse: str, as_of: str, experiment: str = "fraud-detector") -> str:
    """Send a compiled pipeline to a Kubeflow Pipelines cluster: one run on the labels known on ``as_of``."""
    import kfp

    client = kfp.Client(host=host)
    arguments = {
        "warehouse": warehouse,  # e.g. s3://bank-warehouse/payments.parquet
        "as_of": as_of,  # the decision day: every label the run uses had arrived by then
        "tracking_uri": os.environ.get("MLFLOW_TRACKING_URI", "http://mlflow.mlflow:5000"),
    }
    # No enable_caching here: set at submission, it overrides every top-level task's compiled
    # setting, and evaluate would reuse a score against last week's champion.
    run = client.create_run_from_pipeline_package(package, arguments=arguments, experiment_name=experiment)
    return run.run_id
# --8<-- [end:submit]


if __name__ == "__main__":
    # python -m cardfraud.pipelines compile fraud_pipeline.yaml
    # python -m cardfraud.pipelines submit fraud_pipeline.yaml   (KFP_ENDPOINT, WAREHOUSE_URI set; AS_OF: today)
    command, package = sys.argv[1], sys.argv[2]
    if command == "compile":
        from kfp import compiler

        compiler.Compiler().compile(continuous_training, package_path=package)
        print(f"compiled {continuous_training.name} to {package}")
    elif command == "submit":
        import datetime

        as_of = os.environ.get("AS_OF") or datetime.datetime.now(datetime.timezone.utc).date().isoformat()
        print(f"submitted: {submit(package, host=os.environ['KFP_ENDPOINT'], warehouse=os.environ['WAREHOUSE_URI'], as_of=as_of)}")
    else:
        raise SystemExit(f"unknown command {command!r}: use compile or submit")
