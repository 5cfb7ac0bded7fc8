"""Train, log and register the course's fraud model in MLflow: "the champion".

Module 5.3 builds this step by step; later modules call ``register_champion``
when they need a registered model to serve (5.4) or to compare against (5.6):

    >>> from cardfraud.tracking import register_champion
    >>> uri = register_champion()          # "models:/fraud-detector@champion"
    >>> model = mlflow.sklearn.load_model(uri)

Everything stays on the machine: the tracking and registry store is the SQLite
file named by ``tracking_uri``, artifacts go to ``./mlartifacts`` in the working
directory, and MLflow's telemetry is switched off before MLflow is imported.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

# Read by MLflow when it decides whether to send usage events; set before the import.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

import mlflow  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import sklearn  # noqa: E402
import skops  # noqa: E402
from mlflow.models import infer_signature  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from cardfraud.features import FEATURE_COLUMNS, build_features  # noqa: E402
from cardfraud.generate import generate  # noqa: E402
from cardfraud.model import DEFAULT_PARAMS, evaluate, score, split_by_time, train  # noqa: E402

CUTOFF = "2026-01-19"
DAYS = 28
DATA_SEED = 42
EXPERIMENT = "fraud-detector"
ARTIFACT_DIR = "mlartifacts"
CHAMPION_ALIAS = "champion"
# MLflow 3 saves scikit-learn models with skops, which refuses to load types it
# has not been told to trust. These are the ones this pipeline needs (reviewed:
# tree arrays and sklearn's own validation helper); loading a file from someone
# else with them trusted is as risky as unpickling it.
SKOPS_TRUSTED_TYPES = [
    "functools.partial",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.utils.validation.check_array",
]


def model_requirements() -> list[str]:
    """The exact packages a scoring environment needs to load the pipeline.

    Passing these to ``log_model`` is faster and more honest than MLflow's
    inference, which loads the model in a subprocess to watch its imports.
    """
    return [
        f"scikit-learn=={sklearn.__version__}",
        f"numpy=={np.__version__}",
        f"pandas=={pd.__version__}",
        f"skops=={skops.__version__}",
    ]


def data_fingerprint(frame: pd.DataFrame) -> str:
    """A short content hash of a frame: the same rows and values give the same id."""
    row_hashes = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    return hashlib.sha256(row_hashes.tobytes()).hexdigest()[:16]


def use_local_tracking(tracking_uri: str = "sqlite:///mlflow.db", experiment: str = EXPERIMENT) -> str:
    """Point MLflow at ``tracking_uri`` and select ``experiment``; return its id.

    A new experiment created against a SQLite store keeps its artifacts in
    ``./mlartifacts`` of the working directory (not MLflow's default ``./mlruns``).
    """
    mlflow.set_tracking_uri(tracking_uri)
    found = mlflow.get_experiment_by_name(experiment)
    if found is not None:
        experiment_id = found.experiment_id
    else:
        location = None
        if tracking_uri.startswith("sqlite:"):
            location = (Path.cwd() / ARTIFACT_DIR).resolve().as_uri()
        experiment_id = mlflow.create_experiment(experiment, artifact_location=location)
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def register_champion(tracking_uri: str = "sqlite:///mlflow.db", model_name: str = "fraud-detector", seed: int = 0) -> str:
    """Train the fraud model, log it, register it as ``model_name`` and alias it ``@champion``.

    Trains ``cardfraud.model.train`` on the running example's rows before
    2026-01-19 and evaluates on the rest. Sets the process's tracking URI to
    ``tracking_uri``. Returns ``"models:/<model_name>@champion"``.
    """
    use_local_tracking(tracking_uri)
    features = build_features(generate(days=DAYS, seed=DATA_SEED))
    train_rows, test_rows = split_by_time(features, CUTOFF)
    # One OpenMP thread: on a small, busy machine the trees' thread pool spends
    # more time waiting for cores than computing (seen: 5 s alone vs 60 s shared).
    with threadpool_limits(limits=1):
        model = train(train_rows, seed=seed)
        metrics = evaluate(model, test_rows)

    example = train_rows[FEATURE_COLUMNS].head(5)
    signature = infer_signature(example, score(model, example))
    with mlflow.start_run(run_name="champion") as run:
        mlflow.log_params({**DEFAULT_PARAMS, "seed": seed, "cutoff": CUTOFF, "days": DAYS})
        mlflow.set_tags({"data_sha256": data_fingerprint(features), "data_seed": str(DATA_SEED)})
        mlflow.log_metrics(metrics)
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=signature,
            input_example=example,
            pip_requirements=model_requirements(),
            skops_trusted_types=SKOPS_TRUSTED_TYPES,
            registered_model_name=model_name,
        )
    client = MlflowClient()
    version = info.registered_model_version
    client.set_registered_model_alias(model_name, CHAMPION_ALIAS, version)
    client.set_model_version_tag(model_name, version, "pr_auc", str(metrics["pr_auc"]))
    client.set_model_version_tag(model_name, version, "run_id", run.info.run_id)
    return f"models:/{model_name}@{CHAMPION_ALIAS}"
