"""Serve the course's fraud model over HTTP with KServe, on this machine only.

Module 5.4 (its page and its lab) builds on these pieces:

    >>> from cardfraud.serving import serve
    >>> with serve("models:/fraud-detector@champion", port=8540) as url:   # a KServe predictor
    ...     ...                                           # POST url + "/v2/models/fraud-detector/infer"

- ``FraudModel``: a ``kserve.Model`` that loads the pipeline from MLflow (skops, trusted types)
  and answers both the v1 protocol (``{"instances": [...]}``) and the Open Inference
  Protocol v2 (one named tensor per feature column); it refuses, with a 400 naming the
  field, any input it cannot score (``instance_problem``, ``v2_inputs_to_frame``).
- ``FeatureTransformer``: a KServe transformer (``--predictor_host``) that reads the
  features from Feast's online store, logs every prediction, and keeps a 1% holdout
  the model does not act on (``in_holdout``).
- ``serve``: starts ``python -m cardfraud.serving`` (a KServe ``ModelServer``)
  in a child process bound to 127.0.0.1, waits for ``/v2/health/ready``, and
  stops it when the ``with`` block ends, even on an error.
- ``TrafficRouter``: a small HTTP proxy that splits requests between model
  servers by weight and can mirror them to a shadow server.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import math
import os
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit

import kserve
import numpy as np
import pandas as pd
from kserve import InferInput, InferOutput, InferRequest, InferResponse

from cardfraud.costs import DECISION_THRESHOLD
from cardfraud.features import FEATURE_COLUMNS

HOST = "127.0.0.1"
MODEL_NAME = "fraud-detector"
OUTPUT_NAME = "fraud_probability"
READY_TIMEOUT_S = 120


# --8<-- [start:model]
# The contract: what each input must hold, in the Open Inference Protocol's datatypes. The v2
# metadata advertises exactly these, and both protocols accept exactly these.
INPUT_DATATYPES = {
    "amount": "FP64", "hour": "INT64", "is_foreign": "INT64", "channel": "BYTES", "merchant_category": "BYTES",
    "tx_count_1h": "INT64", "tx_count_24h": "INT64", "avg_amount_7d": "FP64", "amount_to_avg_ratio": "FP64",
    "merchant_risk_rate": "FP64",
}
EXPECTED = {"FP64": "a number", "INT64": "a whole number", "BYTES": "a string"}


def load_pipeline(model_uri: str):
    """The pipeline as module 5.3 logged it: an MLflow URI such as ``models:/fraud-detector@champion``.

    MLflow loads the skops file with the trusted types recorded at logging time; no pickle.
    """
    import mlflow.sklearn  # the server process pays for the import, not its importers

    return mlflow.sklearn.load_model(model_uri)


def model_version(model_uri: str) -> str:
    """The registry version behind ``models:/name/3`` or ``models:/name@alias``; else the URI itself."""
    if not model_uri.startswith("models:/"):
        return model_uri
    reference = model_uri.removeprefix("models:/")
    if "@" not in reference:
        return reference.rsplit("/", 1)[1]
    from mlflow import MlflowClient

    name, alias = reference.split("@", 1)
    return str(MlflowClient().get_model_version_by_alias(name, alias).version)


def fits(datatype: str, value) -> bool:
    """Whether ``value`` (as JSON decodes it) is a valid ``datatype`` value. A bool is not a number."""
    if datatype == "BYTES":
        return isinstance(value, (str, bytes))
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return False
    return datatype == "FP64" or isinstance(value, int) or value.is_integer()


def instance_problem(instance) -> str | None:
    """What stops the pipeline from scoring one v1 instance, naming the field; None if nothing does.

    A missing or unknown key would become a silent NaN (the trees score it as "missing"), a string
    where a number goes a wrong score or a crash.
    """
    if not isinstance(instance, dict):
        return "expected an object of feature values"
    unknown = sorted(set(instance) - set(INPUT_DATATYPES))
    missing = [name for name in INPUT_DATATYPES if name not in instance]
    if unknown or missing:
        return "; ".join([f"unknown fields {unknown}"] * bool(unknown) + [f"missing fields {missing}"] * bool(missing))
    for name, datatype in INPUT_DATATYPES.items():
        if not fits(datatype, instance[name]):
            return f"{name}: expected {EXPECTED[datatype]}, got {instance[name]!r}"
    return None


def v1_instances_to_frame(payload) -> pd.DataFrame:
    """v1 ``{"instances": [{column: value}, ...]}`` -> the frame the pipeline was trained on, or a
    400 that names the first field it cannot score."""
    if not isinstance(payload, dict) or not isinstance(payload.get("instances"), list) or not payload["instances"]:
        raise kserve.errors.InvalidInput('expected a JSON object with a non-empty list "instances"')
    for i, instance in enumerate(payload["instances"]):
        problem = instance_problem(instance)
        if problem:
            raise kserve.errors.InvalidInput(f"instances[{i}]: {problem}")
    return pd.DataFrame.from_records(payload["instances"], columns=FEATURE_COLUMNS)


def v2_inputs_to_frame(request: InferRequest) -> pd.DataFrame:
    """One 1-D v2 tensor per feature column -> the frame; refuses missing, unknown, mistyped and
    ragged tensors with a 400 that names the input."""
    names = [tensor.name for tensor in request.inputs]
    missing = [c for c in INPUT_DATATYPES if c not in names]
    unknown = sorted(set(names) - set(INPUT_DATATYPES))
    if missing or unknown or len(set(names)) < len(names):
        raise kserve.errors.InvalidInput(f"missing input tensors {missing}, unknown input tensors {unknown}")
    rows = len(request.inputs[0].data)
    for tensor in request.inputs:
        expected = INPUT_DATATYPES[tensor.name]
        if tensor.datatype != expected:
            raise kserve.errors.InvalidInput(f"input {tensor.name}: datatype {tensor.datatype}, expected {expected}")
        if list(tensor.shape) != [rows] or len(tensor.data) != rows:
            raise kserve.errors.InvalidInput(f"input {tensor.name}: shape {tensor.shape} with {len(tensor.data)} values, expected [{rows}]")
        wrong = [value for value in tensor.data if not fits(expected, value)]
        if wrong:
            raise kserve.errors.InvalidInput(f"input {tensor.name}: expected {EXPECTED[expected]}, got {wrong[0]!r}")
    return request.as_dataframe()[FEATURE_COLUMNS]


class FraudModel(kserve.Model):
    """The fraud pipeline behind KServe's v1 and v2 (Open Inference Protocol) endpoints."""

    def __init__(self, name: str, model_uri: str):
        super().__init__(name)
        self.model_uri = model_uri
        self.pipeline = None
        self.version = ""

    def load(self) -> bool:
        self.pipeline = load_pipeline(self.model_uri)
        self.version = model_version(self.model_uri)
        self.ready = True
        return self.ready

    def get_input_types(self) -> list[dict]:
        """What GET /v2/models/{name} lists: one 1-D tensor per feature column, typed as accepted."""
        return [{"name": name, "datatype": datatype, "shape": [-1]} for name, datatype in INPUT_DATATYPES.items()]

    def get_output_types(self) -> list[dict]:
        return [{"name": OUTPUT_NAME, "datatype": "FP64", "shape": [-1]}]

    def predict(self, payload, headers=None, response_headers=None):
        if isinstance(payload, InferRequest):  # POST /v2/models/{name}/infer
            scores = self.pipeline.predict_proba(v2_inputs_to_frame(payload))[:, 1]
            output = InferOutput(name=OUTPUT_NAME, shape=[len(scores)], datatype="FP64", data=scores.tolist())
            return InferResponse(response_id=payload.id, model_name=self.name, model_version=self.version, infer_outputs=[output])
        # POST /v1/models/{name}:predict with {"instances": [{column: value, ...}, ...]}
        scores = self.pipeline.predict_proba(v1_instances_to_frame(payload))[:, 1]
        return {"predictions": scores.tolist(), "model_version": self.version}
# --8<-- [end:model]
assert list(INPUT_DATATYPES) == FEATURE_COLUMNS, "the serving contract must list the model's columns in order"


# --8<-- [start:payloads]
def v1_payload(frame: pd.DataFrame) -> dict:
    """Rows as v1 "instances": a list of {column: value} records."""
    return {"instances": json.loads(frame[FEATURE_COLUMNS].to_json(orient="records"))}


_AS_JSON = {"FP64": float, "INT64": int, "BYTES": str}


def v2_request(frame: pd.DataFrame, model_name: str = MODEL_NAME) -> InferRequest:
    """Rows as an Open Inference Protocol request: one named 1-D tensor per feature column, each
    with the datatype the server advertises (``INPUT_DATATYPES``)."""
    inputs = []
    for name, datatype in INPUT_DATATYPES.items():
        values = [_AS_JSON[datatype](value) for value in frame[name]]
        inputs.append(InferInput(name=name, shape=[len(frame)], datatype=datatype, data=values))
    return InferRequest(model_name=model_name, infer_inputs=inputs)


def v2_payload(frame: pd.DataFrame, model_name: str = MODEL_NAME) -> dict:
    """The same request as the JSON body of POST /v2/models/{name}/infer."""
    body, _ = v2_request(frame, model_name).to_rest()
    return body
# --8<-- [end:payloads]


# --8<-- [start:transformer]
# What a payment request carries: its keys, its own fields, and when it happened.
PAYMENT_FIELDS = {
    "transaction_id": int, "customer_id": int, "merchant_id": int, "amount": (int, float),
    "channel": str, "merchant_category": str, "country": str, "home_country": str, "event_timestamp": str,
}


def checked_payments(payload) -> list[dict]:
    """v1 ``{"instances": [payment, ...]}``; refuses (400, naming the field) a payment it cannot score."""
    if not isinstance(payload, dict) or not isinstance(payload.get("instances"), list) or not payload["instances"]:
        raise kserve.errors.InvalidInput('expected a JSON object with a non-empty list "instances"')
    for i, payment in enumerate(payload["instances"]):
        if not isinstance(payment, dict):
            raise kserve.errors.InvalidInput(f"instances[{i}]: expected an object")
        missing = [f for f in PAYMENT_FIELDS if f not in payment]
        unknown = sorted(set(payment) - set(PAYMENT_FIELDS))
        if missing or unknown:
            problem = "; ".join([f"unknown fields {unknown}"] * bool(unknown) + [f"missing fields {missing}"] * bool(missing))
            raise kserve.errors.InvalidInput(f"instances[{i}]: {problem}")
        for name, kind in PAYMENT_FIELDS.items():
            if isinstance(payment[name], bool) or not isinstance(payment[name], kind):
                expected = "a string" if kind is str else "a whole number" if kind is int else "a number"
                raise kserve.errors.InvalidInput(f"instances[{i}].{name}: expected {expected}, got {payment[name]!r}")
    return payload["instances"]


# Rules of ML #34: a small random share of payments the model does not act on. Their outcomes
# do not depend on the model, so they measure it (and train the next one) without its own bias.
HOLDOUT_SHARE = 0.01
HOLDOUT_SALT = "fraud-holdout-1"  # a salt of its own: independent of any experiment's split


def in_holdout(transaction_id) -> bool:
    """Whether a payment is in the holdout: a stable hash of its id, so every replica, retry and
    replay of the payment agrees."""
    return bucket(str(transaction_id), HOLDOUT_SALT) < HOLDOUT_SHARE


class FeatureTransformer(kserve.Model):
    """In front of the predictor: payments in, features from the Feast online store, every prediction logged.

    KServe calls ``preprocess``, sends what it returns to the predictor (``--predictor_host``),
    and hands the answer to ``postprocess``; both see the request's headers, so the request id
    ties the two halves together. A payment in the holdout is scored and logged, but answered
    ``flagged: false`` whatever its score.
    """

    def __init__(self, name: str, feature_repo: str, prediction_log: str, threshold: float = DECISION_THRESHOLD):
        super().__init__(name)
        self.feature_repo, self.prediction_log, self.threshold = feature_repo, Path(prediction_log), threshold
        self.store = None
        self.pending: dict[str, tuple[list[dict], pd.DataFrame]] = {}

    def load(self) -> bool:
        from feast import FeatureStore

        self.store = FeatureStore(repo_path=self.feature_repo)
        self.ready = True
        return self.ready

    def preprocess(self, payload, headers=None):
        request_id = (headers or {}).get("x-request-id")
        if not request_id:
            raise kserve.errors.InvalidInput("send an x-request-id header: it ties the prediction log to the request")
        from cardfraud.featurestore import online_features

        payments = checked_payments(payload)
        features = online_features(self.store, payments)
        self.pending[request_id] = (payments, features)
        return {"instances": json.loads(features.to_json(orient="records"))}

    def postprocess(self, response, headers=None, response_headers=None):
        request_id = headers["x-request-id"]
        payments, features = self.pending.pop(request_id)
        scores, version = response["predictions"], response["model_version"]
        logged_at = pd.Timestamp.now(tz="UTC").isoformat()
        answers, lines = [], []
        for payment, row, value in zip(payments, features.to_dict("records"), scores):
            holdout = in_holdout(payment["transaction_id"])
            flagged = value >= self.threshold and not holdout
            answers.append({"transaction_id": payment["transaction_id"], "score": value, "flagged": flagged})
            lines.append(json.dumps({
                "request_id": request_id, "transaction_id": payment["transaction_id"],
                "event_timestamp": payment["event_timestamp"], "logged_at": logged_at,
                "model_version": version, "score": value, "flagged": flagged, "holdout": holdout, "features": row,
            }))
        with self.prediction_log.open("a", encoding="utf-8") as log:
            log.write("\n".join(lines) + "\n")
        return {"predictions": answers, "model_version": version}
# --8<-- [end:transformer]


class ModelServerProcess:
    """A KServe ModelServer in a child process on 127.0.0.1: a predictor, or a transformer in front of one.

    ``arguments`` are the child's command-line options (see ``main``). Use ``serve`` and
    ``serve_transformer`` for the with-form.
    """

    def __init__(self, port: int, arguments: list[str], name: str = MODEL_NAME, log_path: str | Path | None = None):
        self.port, self.arguments, self.name = port, arguments, name
        self.log_path = Path(log_path or f"model-server-{port}.log")
        self.url = f"http://{HOST}:{port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> "ModelServerProcess":
        command = [
            sys.executable, "-m", "cardfraud.serving", *self.arguments,
            "--model_name", self.name,
            "--http_port", str(self.port),
            "--enable_grpc", "false",  # the gRPC server would listen on [::]:8081
            "--enable_latency_logging", "false",
        ]
        # One OpenMP thread: a request scores a few rows, and waking a thread pool for each of
        # the model's trees costs more than the trees (measured: 100 ms -> 24 ms a request).
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        return self

    def wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"model server on port {self.port} exited:\n{self.log_tail()}")
            if _http_status(self.url + "/v2/health/ready") == 200:
                return
            time.sleep(0.1)
        raise TimeoutError(f"model server on port {self.port} not ready after {timeout_s} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()  # uvicorn shuts down gracefully on SIGTERM
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)

    def log_tail(self, lines: int = 20) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def predictor_arguments(model_uri: str, tracking_uri: str = "sqlite:///mlflow.db") -> list[str]:
    """A predictor loads ``model_uri`` (e.g. ``models:/fraud-detector@champion``) from ``tracking_uri``."""
    return ["--model_uri", str(model_uri), "--tracking_uri", tracking_uri]


def transformer_arguments(feature_repo: str | Path, predictor_url: str, prediction_log: str | Path) -> list[str]:
    """A transformer reads features from ``feature_repo`` and forwards to the predictor at ``predictor_url``."""
    return [
        "--feature_repo", str(Path(feature_repo).resolve()),
        "--predictor_host", urlsplit(predictor_url).netloc,
        "--prediction_log", str(Path(prediction_log).resolve()),
    ]


@contextmanager
def running(servers: dict[str, ModelServerProcess]) -> Iterator[dict[str, str]]:
    """Start the servers together, wait until each is ready, stop them all at the end; yields {label: url}."""
    try:
        for server in servers.values():
            server.start()
        for server in servers.values():
            server.wait_ready()
        yield {label: server.url for label, server in servers.items()}
    finally:
        for server in servers.values():
            server.stop()


@contextmanager
def serve(model_uri: str, port: int, tracking_uri: str = "sqlite:///mlflow.db", name: str = MODEL_NAME) -> Iterator[str]:
    """Run a KServe predictor for the ``with`` block; yields its base URL."""
    with running({"predictor": ModelServerProcess(port, predictor_arguments(model_uri, tracking_uri), name)}) as urls:
        yield urls["predictor"]


@contextmanager
def serve_many(specs: dict[str, tuple[str, int]], tracking_uri: str = "sqlite:///mlflow.db", name: str = MODEL_NAME) -> Iterator[dict[str, str]]:
    """Start several predictors at once ({label: (model_uri, port)}); yields {label: url}."""
    servers = {label: ModelServerProcess(port, predictor_arguments(uri, tracking_uri), name) for label, (uri, port) in specs.items()}
    with running(servers) as urls:
        yield urls


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def _http_status(url: str, timeout_s: float = 1.0) -> int | None:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout_s)
    try:
        connection.request("GET", parts.path)
        return connection.getresponse().status
    except OSError:
        return None
    finally:
        connection.close()


# --8<-- [start:router]
def bucket(unit_id: str, salt: str) -> float:
    """A stable number in [0, 1) for a unit: the same unit always lands in the same bucket."""
    digest = hashlib.sha256(f"{salt}:{unit_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class TrafficRouter:
    """An HTTP proxy on 127.0.0.1 that splits POSTs between backends by weight.

    The unit of assignment is the ``x-request-id`` header, which KServe's transformer forwards
    to its predictor (hashed with a salt, so a unit keeps its arm). With ``shadow`` set, every request is also
    sent to that backend in the background; its answer is recorded, never returned.
    """

    def __init__(self, backends: dict[str, str], weights: dict[str, float], port: int,
                 shadow: str | None = None, salt: str = "fraud-canary-1"):
        self.backends, self.port, self.shadow, self.salt = dict(backends), port, shadow, salt
        self.set_weights(weights)
        self.served: list[tuple[str, str, int]] = []       # (unit id, backend, status)
        self.shadow_log: list[tuple[str, bytes, bytes | None]] = []  # (unit id, primary body, shadow body)
        self._lock = threading.Lock()
        self._mirror = ThreadPoolExecutor(max_workers=2)
        self._mirrored: list = []  # futures of the mirrored requests
        self._server = ThreadingHTTPServer((HOST, port), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def add_backend(self, name: str, url: str, weights: dict[str, float]) -> None:
        """Put one more model server behind the router, with the new split."""
        self.backends[name] = url
        self.set_weights(weights)

    def set_weights(self, weights: dict[str, float]) -> None:
        """Change the split at run time: a rollback is set_weights({"champion": 1, "challenger": 0})."""
        total = float(sum(weights.values()))
        self.weights = {name: weights.get(name, 0) / total for name in self.backends}

    def set_shadow(self, name: str | None) -> None:
        """Mirror every request to backend ``name`` from now on (None: stop mirroring, once the
        mirrored requests already queued have been answered)."""
        if name is not None and name not in self.backends:
            raise KeyError(f"no backend {name!r}: add it first")
        self.shadow = name
        if name is None:
            wait(self._mirrored)

    def choose(self, unit_id: str) -> str:
        point, edge = bucket(unit_id, self.salt), 0.0
        for name, weight in self.weights.items():
            edge += weight
            if point < edge:
                return name
        return name  # point is within rounding of 1.0

    def _handler(self):
        router = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                unit_id = self.headers.get("x-request-id", "")
                arm = router.choose(unit_id)
                status, answer = _post(router.backends[arm] + self.path, body)
                with router._lock:
                    router.served.append((unit_id, arm, status))
                shadow = router.shadow
                if shadow:  # queued before replying (so shutdown waits for it), sent by the pool
                    router._mirrored.append(router._mirror.submit(router._send_shadow, shadow, self.path, body, unit_id, answer))
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("x-served-by", arm)
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):  # keep the proxy quiet
                pass

        return Handler

    def _send_shadow(self, shadow: str, path: str, body: bytes, unit_id: str, primary: bytes) -> None:
        try:
            _, answer = _post(self.backends[shadow] + path, body)
        except OSError:
            answer = None  # a failing shadow is recorded, never raised to the client
        with self._lock:
            self.shadow_log.append((unit_id, primary, answer))

    def __enter__(self) -> "TrafficRouter":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._mirror.shutdown(wait=True)   # finish mirrored requests before comparing
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"
# --8<-- [end:router]


def shadow_scores(shadow_log: list[tuple[str, bytes, bytes | None]]) -> pd.DataFrame:
    """``TrafficRouter.shadow_log`` as one row per scored instance: the request id, the instance's
    position in its request, the primary's score and the shadow's (NaN where the shadow failed)."""

    def scores(body: bytes | None) -> list[float]:
        answer = json.loads(body) if body else {}
        if "outputs" in answer:  # a v2 answer
            return answer["outputs"][0]["data"]
        return answer.get("predictions", [])

    rows = []
    for request_id, primary, shadow in shadow_log:
        first, second = scores(primary), scores(shadow)
        for position, value in enumerate(first):
            rows.append((request_id, position, value, second[position] if position < len(second) else np.nan))
    return pd.DataFrame(rows, columns=["request_id", "position", "primary", "shadow"])


# --8<-- [start:manifest]
def manifest_problems(document, model: str = "V1beta1InferenceService", path: str = "") -> list[str]:
    """Check a manifest's field names and types against the SDK's OpenAPI models.

    Catches the mistakes a cluster would reject (or silently drop): a misspelt or
    misplaced key, a string where an integer belongs. Returns one line per problem.
    """
    import kubernetes.client.models as k8s_models

    if model == "object":
        return []
    if model.startswith("list["):
        if not isinstance(document, list):
            return [f"{path}: expected a list"]
        return [p for i, item in enumerate(document) for p in manifest_problems(item, model[5:-1], f"{path}[{i}]")]
    if model.startswith("dict("):
        if not isinstance(document, dict):
            return [f"{path}: expected a mapping"]
        value_type = model[5:-1].split(", ", 1)[1]
        return [p for key, item in document.items() for p in manifest_problems(item, value_type, f"{path}.{key}")]
    primitives = {"str": str, "int": int, "bool": bool, "float": (int, float)}
    if model in primitives:
        ok = isinstance(document, primitives[model]) and not (model == "int" and isinstance(document, bool))
        return [] if ok else [f"{path}: expected {model}, got {type(document).__name__}"]
    cls = getattr(kserve.models, model, None) or getattr(k8s_models, model)
    if not isinstance(document, dict):
        return [f"{path}: expected a {model} mapping"]
    by_key = {key: attribute for attribute, key in cls.attribute_map.items()}
    problems = []
    for key, value in document.items():
        if key not in by_key:
            problems.append(f"{path}.{key}: unknown field for {model}")
        elif value is not None:
            problems += manifest_problems(value, cls.openapi_types[by_key[key]], f"{path}.{key}")
    return problems
# --8<-- [end:manifest]


def _post(url: str, body: bytes, timeout_s: float = 10.0) -> tuple[int, bytes]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout_s)
    try:
        connection.request("POST", parts.path, body=body, headers={"content-type": "application/json"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _bind_loopback(host: str) -> None:
    """KServe 0.21's REST server listens on 0.0.0.0 (right in a pod, wrong on a laptop): bind ``host``."""
    import kserve.model_server as model_server

    class LoopbackRESTServer(model_server.RESTServer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.config.host = host

    model_server.RESTServer = LoopbackRESTServer


def main() -> None:
    parser = argparse.ArgumentParser(parents=[kserve.model_server.parser])
    parser.add_argument("--model_uri", help="a predictor: the MLflow model to serve")
    parser.add_argument("--tracking_uri", default="sqlite:///mlflow.db")
    parser.add_argument("--feature_repo", help="a transformer: the Feast repository to read features from")
    parser.add_argument("--prediction_log", default="predictions.jsonl")
    parser.add_argument("--bind", default=HOST, help="the address to listen on: 0.0.0.0 in a pod")
    args, _ = parser.parse_known_args()
    _bind_loopback(args.bind)
    if args.feature_repo:
        model = FeatureTransformer(args.model_name, args.feature_repo, args.prediction_log)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = args.tracking_uri
        model = FraudModel(args.model_name, args.model_uri)
    model.load()
    kserve.ModelServer(http_port=args.http_port, enable_grpc=False, workers=1).start([model])


if __name__ == "__main__":
    main()
