"""Log and register the course's fraud model in MLflow.

Module 5.3 builds these steps on its page; its lab and every later module register models
through ``log_and_register`` (and rebuild 5.3's champion with ``cardfraud.course.champion``).

Everything stays on the machine: the tracking and registry store is the SQLite file named by
``tracking_uri``, artifacts go to ``./mlartifacts`` in the working directory, and MLflow's
telemetry is switched off before MLflow is imported.
"""

from __future__ import annotations

import hashlib
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

# Read by MLflow when it decides whether to send usage events; set before the import.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
# A run against a tracking server prints "View run ... at: http://..." with its port and run id.
os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")

import mlflow  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import sklearn  # noqa: E402
import skops  # noqa: E402
from mlflow.models import infer_signature  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

from cardfraud.costs import DECISION_THRESHOLD  # noqa: E402
from cardfraud.features import FEATURE_COLUMNS  # noqa: E402
from cardfraud.model import score  # noqa: E402

EXPERIMENT = "fraud-detector"
ARTIFACT_DIR = "mlartifacts"
CHAMPION_ALIAS = "champion"
# The pinned MLflow saves scikit-learn models with skops, which refuses to load types it
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


def log_and_register(
    model,
    rows: pd.DataFrame,
    metrics: dict[str, float],
    params: dict,
    model_name: str = "fraud-detector",
    alias: str | None = CHAMPION_ALIAS,
    run_name: str = "champion",
) -> str:
    """Log ``model`` in a new run of the current experiment, register it, point ``alias`` at it.

    The signature and input example come from ``rows``; the decision threshold is recorded on
    the version, so whoever serves the model decides as the trainer did. Returns the version.
    """
    example = rows[FEATURE_COLUMNS].head(5)
    with mlflow.start_run(run_name=run_name) as run:
        mlflow.log_params(params)
        mlflow.set_tags({"data_sha256": data_fingerprint(rows)})
        mlflow.log_metrics(metrics)
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(example, score(model, example)),
            input_example=example,
            pip_requirements=model_requirements(),
            skops_trusted_types=SKOPS_TRUSTED_TYPES,
            registered_model_name=model_name,
        )
    client = MlflowClient()
    version = str(info.registered_model_version)
    client.set_model_version_tag(model_name, version, "run_id", run.info.run_id)
    client.set_model_version_tag(model_name, version, "decision_threshold", str(DECISION_THRESHOLD))
    for key, value in metrics.items():
        client.set_model_version_tag(model_name, version, key, str(value))
    if alias:
        client.set_registered_model_alias(model_name, alias, version)
    return version


@contextmanager
def tracking_server(backend_store_uri: str = "sqlite:///mlflow.db", artifacts: str = "mlartifacts",
                    startup_timeout_s: float = 150) -> Iterator[str]:
    """``mlflow server`` on 127.0.0.1 (a free port) for the ``with`` block; yields its URL.

    Runs and the registry go to ``backend_store_uri``; artifacts are uploaded through the server
    into ``artifacts`` (``mlflow-artifacts:/`` URIs). The server's process group is stopped at the end.
    """
    import signal
    import subprocess
    import time
    import urllib.request

    from cardfraud.serving import HOST, free_port

    url = f"http://{HOST}:{free_port()}"
    command = [sys.executable, "-m", "mlflow", "server", "--host", HOST, "--port", url.rsplit(":", 1)[1], "--workers", "1",
               "--backend-store-uri", backend_store_uri, "--artifacts-destination", artifacts]
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    with open("mlflow-server.log", "w") as log:
        # A process group of its own, to stop the server and its worker together below; the same
        # session as this process, so whatever ends the session (a closed terminal, the test
        # harness after a timeout) ends the server too.
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, process_group=0)
    try:
        deadline = time.monotonic() + startup_timeout_s
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"mlflow server exited with {server.returncode}:\n" + Path("mlflow-server.log").read_text()[-2000:])
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"mlflow server not healthy after {startup_timeout_s} s")
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the server and its worker
        server.wait(timeout=30)
