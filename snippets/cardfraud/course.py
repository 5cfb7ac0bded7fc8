"""The thread through the course: one bank, one fraud model, from features to retraining.

Each module's lab starts from what the previous module's lab produced, rebuilt in the current
folder by one call to this module:

    5.2  feature_store()   the Feast repository of the bank's payments
    5.3  champion()        the tuned model, trained on 5.2's training set, registered @champion
    5.4  serving_stack()   the champion behind a Feast transformer, every prediction logged
    5.5  replay()          days of payments through the stack: the log 5.5 monitors
    5.6  (cardfraud.pipelines) retraining when 5.5's signal fires, through 5.4's canary

The calendar is the bank's: payments from Monday 5 January 2026, the model launched on
16 February, fraudsters change their ways on 2 March (``ConceptDrift``).
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd

from cardfraud.generate import ConceptDrift, generate
from cardfraud.labels import as_timestamp, decision_windows, matured

HISTORY_START = "2026-01-05"
PAYMENTS_PER_DAY = 2_000  # 40% of the running example's default: Feast's file store joins it in seconds
LAUNCH_DAY = "2026-02-16"  # 5.3 trains and registers the champion; 5.4 starts serving it
DRIFT_START = "2026-03-02"  # from this day most fraud imitates ordinary customers
MODEL_NAME = "fraud-detector"
# The replay sends each two hours of payments as requests (one per customer at most): seven
# weeks in about a minute. In production each payment is its own request.
REQUEST_WINDOW = "2h"
# Module 5.3's Optuna study found these; its lab prints whether its study still finds them.
TUNED_PARAMS = {
    "learning_rate": 0.09780569969124726,
    "max_leaf_nodes": 8,
    "min_samples_leaf": 21,
    "l2_regularization": 7.212279703013993,
    "max_iter": 150,
}
_LAB_MARK = ".cardfraud-lab"


def lab_folder(name: str) -> Path:
    """Start a lab in ``./name``, emptied first, so a second run starts exactly as the first did.

    Only a folder this function made (it leaves a marker file) is ever emptied.
    """
    folder = Path(name).resolve()
    if folder.exists():
        if not (folder / _LAB_MARK).is_file():
            raise FileExistsError(f"{folder} exists and was not made by lab_folder: pick another name")
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (folder / _LAB_MARK).write_text("made by cardfraud.course.lab_folder; emptied when the lab runs again\n")
    os.chdir(folder)
    return folder


def payments(until: str = LAUNCH_DAY, drift_start: str | None = DRIFT_START, seed: int = 42) -> pd.DataFrame:
    """The bank's payments from ``HISTORY_START`` up to midnight of ``until`` (UTC)."""
    days = (as_timestamp(until) - as_timestamp(HISTORY_START)).days
    drifts = [ConceptDrift(start=drift_start)] if drift_start else []
    return generate(start=HISTORY_START, days=days, transactions_per_day=PAYMENTS_PER_DAY, seed=seed, drifts=drifts)


def feature_store(transactions: pd.DataFrame, path: str = "feature_repo"):
    """Module 5.2's result: the Feast repository for ``transactions``, applied, in ``./path``."""
    from cardfraud.featurestore import build_repo

    return build_repo(transactions, path)


def launch_rows(store, transactions: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Module 5.3's data: Feast's training set of the payments matured on ``LAUNCH_DAY``, labels as
    known that day, split into (training, evaluation) by ``cardfraud.labels.decision_windows``."""
    from cardfraud.featurestore import training_set

    rows = training_set(store, transactions[matured(transactions, LAUNCH_DAY)])
    return decision_windows(rows, LAUNCH_DAY)


@dataclass
class Launch:
    """What module 5.3 leaves behind: the payments, the feature store, the registered champion."""

    transactions: pd.DataFrame
    store: object  # feast.FeatureStore
    model_uri: str
    version: str
    evaluation: pd.DataFrame  # the matured week it was judged on, with its ``score``: the monitor's reference


def champion(tracking_uri: str = "sqlite:///mlflow.db", repo: str = "feature_repo") -> Launch:
    """Module 5.3's result: its tuned model, trained on 5.2's training set, registered as
    ``fraud-detector@champion`` in ``tracking_uri``."""
    from threadpoolctl import threadpool_limits

    from cardfraud.model import evaluate, score, train
    from cardfraud.tracking import log_and_register, use_local_tracking

    transactions = payments(LAUNCH_DAY)
    store = feature_store(transactions, repo)
    train_rows, evaluation = launch_rows(store, transactions)
    with threadpool_limits(limits=1):  # one OpenMP thread: two fight over a busy laptop's cores
        model = train(train_rows, **TUNED_PARAMS)
        metrics = evaluate(model, evaluation)
        evaluation = evaluation.assign(score=score(model, evaluation))
    use_local_tracking(tracking_uri)
    version = log_and_register(model, train_rows, metrics, {**TUNED_PARAMS, "trained_on": LAUNCH_DAY}, MODEL_NAME)
    return Launch(transactions, store, f"models:/{MODEL_NAME}@champion", version, evaluation)


# --- Module 5.4's result: the champion behind a Feast transformer, every prediction logged ---


@dataclass
class Stack:
    """A running serving stack: client -> transformer (Feast) -> router -> predictor(s)."""

    store: object  # feast.FeatureStore, whose online store the replay writes to
    url: str  # the transformer: POST {url}/v1/models/fraud-detector:predict
    router: object  # cardfraud.serving.TrafficRouter: set_weights() moves traffic between predictors
    predictors: dict  # {arm: url}
    prediction_log: Path


@contextmanager
def serving_stack(store, predictors: dict[str, str], weights: dict[str, float] | None = None,
                  shadow: str | None = None, prediction_log: str = "predictions.jsonl",
                  tracking_uri: str = "sqlite:///mlflow.db"):
    """Start a predictor per model URI ({arm: "models:/fraud-detector/1"}), a router across them
    and a transformer in front; stop everything when the ``with`` block ends."""
    from cardfraud.serving import (
        HOST, ModelServerProcess, TrafficRouter, free_port, predictor_arguments, running, transformer_arguments,
    )

    weights = weights or {arm: 1.0 if index == 0 else 0.0 for index, arm in enumerate(predictors)}
    servers = {arm: ModelServerProcess(free_port(), predictor_arguments(uri, tracking_uri), log_path=f"predictor-{arm}.log")
               for arm, uri in predictors.items()}
    # The transformer only calls the router when a request comes: all the servers start at once.
    router_port = free_port()
    front = ModelServerProcess(free_port(), transformer_arguments(store.repo_path, f"http://{HOST}:{router_port}", prediction_log),
                               log_path="transformer.log")
    with running({**servers, "transformer": front}) as urls:
        backends = {arm: urls[arm] for arm in predictors}
        with TrafficRouter(backends, weights, port=router_port, shadow=shadow) as router:
            yield Stack(store, urls["transformer"], router, backends, Path(prediction_log).resolve())


def request_batches(day: pd.DataFrame, window: str = REQUEST_WINDOW):
    """A day's payments as requests: one per ``window`` of time, split so that no customer appears
    twice in a request (the stream writes each payment's features just before it is scored)."""
    slot = day["event_timestamp"].dt.floor(window)
    repeat = day.groupby([slot, day["customer_id"]]).cumcount()
    for _, batch in day.groupby([slot, repeat], sort=True):
        yield batch


@dataclass
class Feeds:
    """The two upstream feeds of the feature store, computed once for a frame of payments: the
    stream's customer rows (one per payment) and the daily batch's merchant rows."""

    transactions: pd.DataFrame
    customer_rows: pd.DataFrame
    merchant_rows: pd.DataFrame

    @classmethod
    def of(cls, transactions: pd.DataFrame) -> "Feeds":
        from cardfraud.featurestore import feature_tables

        customer_rows, merchant_rows = feature_tables(transactions)
        return cls(transactions, customer_rows.drop(columns="transaction_id"), merchant_rows)


def replay(stack: Stack, feeds: Feeds, start, end, window: str = REQUEST_WINDOW) -> pd.DataFrame:
    """Send the payments from ``start`` to ``end`` (end excluded) through the stack, day by day.

    Before each day the daily batch writes that day's merchant risk to the online store; before
    each request the stream writes its payments' customer features. Returns one row per request.
    """
    from cardfraud.featurestore import write_online

    transactions = feeds.transactions
    answered = []
    for day in pd.date_range(as_timestamp(start), as_timestamp(end), freq="D", inclusive="left"):
        write_online(stack.store, "merchant_risk", feeds.merchant_rows[feeds.merchant_rows["event_timestamp"] == day])
        rows = transactions[(transactions["event_timestamp"] >= day) & (transactions["event_timestamp"] < day + pd.Timedelta(days=1))]
        for number, batch in enumerate(request_batches(rows, window)):
            write_online(stack.store, "customer_stats", feeds.customer_rows.loc[batch.index])
            request_id = f"{day.date()}-{number:04d}"
            status, body, seconds = _post_payments(stack.url, batch, request_id)
            answered.append({"request_id": request_id, "day": day, "payments": len(batch), "status": status,
                             "model_version": body.get("model_version"), "seconds": seconds})
    return pd.DataFrame(answered)


def payment_requests(batch: pd.DataFrame) -> list[dict]:
    """The JSON a payment gateway sends: the payment's keys and fields, its time as ISO text."""
    fields = ["transaction_id", "customer_id", "merchant_id", "amount", "channel", "merchant_category", "country", "home_country"]
    records = json.loads(batch[fields].to_json(orient="records"))
    for record, when in zip(records, batch["event_timestamp"]):
        record["event_timestamp"] = when.isoformat()
    return records


def _post_payments(url: str, batch: pd.DataFrame, request_id: str) -> tuple[int, dict, float]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    started = time.perf_counter()
    try:
        connection.request("POST", "/v1/models/fraud-detector:predict", body=json.dumps({"instances": payment_requests(batch)}),
                           headers={"content-type": "application/json", "x-request-id": request_id})
        response = connection.getresponse()
        body = json.loads(response.read() or b"{}")
        return response.status, body, time.perf_counter() - started
    finally:
        connection.close()


class PredictionLog:
    """The transformer's log as a frame (one row per scored payment, features as columns),
    reading only what was appended since the last call."""

    def __init__(self, path: str | Path = "predictions.jsonl"):
        self.path, self.offset, self.parts = Path(path), 0, []

    def frame(self) -> pd.DataFrame:
        if self.path.exists():
            with self.path.open("rb") as log:
                log.seek(self.offset)
                new = log.read()
            self.offset += len(new)
            records = [json.loads(line) for line in new.decode("utf-8").splitlines() if line]
            if records:
                part = pd.json_normalize(records).rename(columns=lambda c: c.removeprefix("features."))
                part["event_timestamp"] = pd.to_datetime(part["event_timestamp"], utc=True)
                self.parts.append(part)
        return pd.concat(self.parts, ignore_index=True) if self.parts else pd.DataFrame()


# --- The canary (module 5.4's rule): live guardrails before a challenger takes all traffic ---

CANARY_SHARE = 0.1  # the challenger's share of requests on the canary day
# A split needs many units: on the canary day the gateway sends a request every ten minutes.
CANARY_WINDOW = "10min"
SRM_ALPHA = 0.001  # below this p-value the split is broken: read no metric
GUARDRAIL_ALPHA = 0.05  # roll back when the challenger raises significantly more alerts
# Roll back when the challenger's slowest requests miss the gateway's timeout. An absolute budget,
# not a ratio to the champion's: on a busy laptop a ratio of two small samples flips with the load.
MAX_P99_SECONDS = 2.0


@dataclass
class CanaryReadout:
    """The canary day per arm, and the decision the guardrails lead to."""

    per_arm: pd.DataFrame  # requests, errors, p99 seconds, payments, alert rate
    srm_p: float
    alerts_p: float
    decision: str  # "promote", "rollback" or "hold"
    reason: str


def canary_readout(served: pd.DataFrame, routed: list[tuple[str, str, int]], log: pd.DataFrame,
                   versions: dict[str, str], challenger_share: float = CANARY_SHARE) -> CanaryReadout:
    """Read the canary day: ``served`` from ``replay``, ``routed`` from ``TrafficRouter.served``,
    ``log`` the day's prediction log, ``versions`` {arm: model version}."""
    from scipy.stats import chisquare
    from statsmodels.stats.proportion import proportions_ztest

    arms = list(versions)
    arm_of = {unit: arm for unit, arm, _ in routed}
    requests = served.assign(arm=served["request_id"].map(arm_of))
    by_version = log.assign(arm=log["model_version"].map({v: a for a, v in versions.items()}))
    per_arm = pd.DataFrame({
        "requests": requests.groupby("arm").size(),
        "errors": requests[requests["status"] != 200].groupby("arm").size(),
        "p99_seconds": requests.groupby("arm")["seconds"].quantile(0.99),
        "payments": by_version.groupby("arm").size(),
        "alert_rate": by_version.groupby("arm")["flagged"].mean(),
    }).reindex(arms).fillna({"requests": 0, "errors": 0, "payments": 0})
    expected = [(1 - challenger_share) * per_arm["requests"].sum(), challenger_share * per_arm["requests"].sum()]
    srm_p = float(chisquare(per_arm["requests"].to_numpy(), f_exp=expected).pvalue)
    alerts = (per_arm["alert_rate"] * per_arm["payments"]).round().astype(int)
    _, alerts_p = proportions_ztest(alerts[::-1].to_numpy(), per_arm["payments"][::-1].to_numpy(), alternative="larger")
    champion, challenger = arms
    error_rate = per_arm["errors"] / per_arm["requests"]  # rates, not counts: the challenger answers a tenth
    if srm_p < SRM_ALPHA:
        decision, reason = "hold", f"sample ratio mismatch (p={srm_p:.4f}): find the cause before reading any metric"
    elif error_rate[challenger] > error_rate[champion]:
        decision, reason = "rollback", "the challenger fails a larger share of its requests than the champion"
    elif per_arm.loc[challenger, "p99_seconds"] > MAX_P99_SECONDS:
        decision, reason = "rollback", f"the challenger's p99 latency is over the {MAX_P99_SECONDS:.0f} s budget"
    elif alerts_p < GUARDRAIL_ALPHA:
        decision, reason = "rollback", f"significantly more alerts than the champion (p={alerts_p:.3f})"
    else:
        decision, reason = "promote", "every guardrail holds"
    return CanaryReadout(per_arm, srm_p, float(alerts_p), decision, reason)


def payments_between(transactions: pd.DataFrame, start: str, end: str) -> int:
    """How many payments happened from ``start`` to ``end`` (end excluded)."""
    times = transactions["event_timestamp"]
    return int(((times >= as_timestamp(start)) & (times < as_timestamp(end))).sum())


# --- Module 5.6 in the loop: retrain on the labels known that day, canary, promote or roll back ---

WAREHOUSE = "warehouse.parquet"


def retrain(transactions: pd.DataFrame, as_of: pd.Timestamp, tracking_uri: str) -> dict:
    """Run module 5.6's pipeline with kfp.local on the bank's warehouse as of ``as_of``."""
    from kfp import local

    from cardfraud.decisions import PROMOTION_MARGIN
    from cardfraud.pipelines import continuous_training, kfp_logs_to

    warehouse = Path(WAREHOUSE).resolve()
    if not warehouse.exists():  # the warehouse holds every payment; ingest keeps those before as_of
        transactions.to_parquet(warehouse, index=False)
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(Path("kfp_outputs").resolve()))
    with kfp_logs_to("kfp_local.log"):
        run = continuous_training(warehouse=str(warehouse), as_of=str(as_of.date()), margin=PROMOTION_MARGIN,
                                  tracking_uri=tracking_uri, model_name=MODEL_NAME)
    outcome = {**run.outputs, "as_of": as_of, "margin": PROMOTION_MARGIN}
    outcome["gain"] = f"{outcome['challenger'] - outcome['champion']:+.3f} [{outcome['low']:+.3f}, {outcome['high']:+.3f}]"
    if outcome["decision"] == "promote":
        outcome["version"] = _client(tracking_uri).get_model_version_by_alias(MODEL_NAME, "challenger").version
    return outcome


def start_canary(stack: Stack, servers, version: str, tracking_uri: str, champion: str | None = None) -> str:
    """Start a predictor for ``version`` and give it ``CANARY_SHARE`` of the requests; returns its arm."""
    from cardfraud.serving import ModelServerProcess, free_port, predictor_arguments, running

    arm = f"v{version}"
    champion = champion or max(stack.router.weights, key=stack.router.weights.get)
    server = ModelServerProcess(free_port(), predictor_arguments(f"models:/{MODEL_NAME}/{version}", tracking_uri),
                                log_path=f"predictor-{arm}.log")
    url = servers.enter_context(running({arm: server}))[arm]
    stack.predictors[arm] = url
    stack.router.add_backend(arm, url, {champion: 1 - CANARY_SHARE, arm: CANARY_SHARE})
    return arm


def promote(stack: Stack, champion: str, challenger: str, tracking_uri: str) -> None:
    """All traffic to the challenger, then @champion moves to it in the registry."""
    stack.router.set_weights({challenger: 1.0, champion: 0.0})
    client = _client(tracking_uri)
    client.set_registered_model_alias(MODEL_NAME, "champion", challenger.removeprefix("v"))
    client.delete_registered_model_alias(MODEL_NAME, "challenger")


def roll_back(stack: Stack, champion: str, challenger: str, tracking_uri: str) -> None:
    """All traffic back to the champion; the challenger loses its alias and says why."""
    stack.router.set_weights({champion: 1.0, challenger: 0.0})
    client = _client(tracking_uri)
    client.set_model_version_tag(MODEL_NAME, challenger.removeprefix("v"), "canary", "rolled back")
    client.delete_registered_model_alias(MODEL_NAME, "challenger")


def reference_window(version: str, transactions: pd.DataFrame, as_of: pd.Timestamp, tracking_uri: str) -> pd.DataFrame:
    """The monitor's new reference after a promotion: the matured week the new champion was judged
    on, scored by it."""
    import mlflow.sklearn

    from cardfraud.features import build_features
    from cardfraud.model import score

    recorded = transactions[transactions["event_timestamp"] < as_timestamp(as_of)]
    _, window = decision_windows(build_features(recorded), as_of)
    mlflow.set_tracking_uri(tracking_uri)
    return window.assign(score=score(mlflow.sklearn.load_model(f"models:/{MODEL_NAME}/{version}"), window))


def _client(tracking_uri: str):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri)


def format_timeline(timeline: pd.DataFrame) -> str:
    """The run's days as a table: one line a day, events where something happened."""
    shown = timeline.assign(
        recall=timeline["recall"].map(lambda r: f"{r:.2f}"),
        alert=timeline["alert"].map({True: "ALERT", False: ""}),
    )
    return shown.to_string(index=False, columns=["day", "model", "requests", "recall", "confirmed", "alert", "events"],
                           justify="left")


def batch_prediction_log(model_uri: str, transactions: pd.DataFrame, start, end, tracking_uri: str = "sqlite:///mlflow.db") -> pd.DataFrame:
    """What ``PredictionLog`` would hold after ``replay`` from ``start`` to ``end``, computed in one
    batch instead of through the servers: the same features (Feast's online values equal
    ``build_features``, checked by module 5.2), the same model, the same threshold. For labs whose
    budget has no room for weeks of HTTP requests; the page says when it uses this."""
    import mlflow.sklearn

    from cardfraud.costs import DECISION_THRESHOLD
    from cardfraud.features import FEATURE_COLUMNS, build_features
    from cardfraud.model import score
    from cardfraud.serving import in_holdout, model_version

    mlflow.set_tracking_uri(tracking_uri)
    features = build_features(transactions[transactions["event_timestamp"] < as_timestamp(end)])
    rows = features[features["event_timestamp"] >= as_timestamp(start)].reset_index(drop=True)
    scores = score(mlflow.sklearn.load_model(model_uri), rows)
    holdout = rows["transaction_id"].map(in_holdout).to_numpy(dtype=bool)
    return rows[["transaction_id", "event_timestamp", *FEATURE_COLUMNS]].assign(
        model_version=model_version(model_uri), score=scores, flagged=(scores >= DECISION_THRESHOLD) & ~holdout,
        holdout=holdout,
    )
