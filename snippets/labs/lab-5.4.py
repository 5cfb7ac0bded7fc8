# %% [markdown]
# # Lab 5.4: ship the champion, canary the challenger
#
# Serve the registered `@champion` and a challenger with KServe on this machine,
# replay the next day's payments through a 90/10 router, check the split for a
# sample-ratio mismatch, compare the arms on the labels that have arrived, and
# apply a promote-or-rollback rule written down before looking at the results.

# %% [markdown]
# ## Step 1: the champion from the registry, a challenger trained on fresher data

# %%
# --8<-- [start:step1]
import mlflow.sklearn
from mlflow import MlflowClient

from cardfraud import generate
from cardfraud.features import build_features
from cardfraud.model import evaluate, split_by_time, train
from cardfraud.serving import save_pipeline
from cardfraud.tracking import register_champion

champion_uri = register_champion(tracking_uri="sqlite:///mlflow.db")  # train, log, register, alias
version = MlflowClient().get_model_version_by_alias("fraud-detector", "champion").version
# Like KServe's storage initializer: fetch the artifact the alias points to, hand the server a local file.
champion_path = save_pipeline(mlflow.sklearn.load_model(champion_uri), "champion.joblib")

# Day 29 is the canary day; days 1-28 are the same rows the champion saw.
features = build_features(generate(days=29, seed=42))
history, canary_day = split_by_time(features, "2026-02-02")
recent = history[history["event_timestamp"] >= "2026-01-12"]
train_rows, holdout = split_by_time(recent, "2026-01-26")
challenger = train(train_rows, seed=0, max_iter=100, max_leaf_nodes=15)
challenger_path = save_pipeline(challenger, "challenger.joblib")

print(f"champion: {champion_uri} -> version {version}")
print("challenger holdout:", evaluate(challenger, holdout))
print("canary day rows:", len(canary_day))
# --8<-- [end:step1]

# %% [markdown]
# ## Step 2: write the decision rule down before the experiment runs

# %%
# --8<-- [start:step2]
CHAMPION_SHARE = 0.9
REPLAY = 1_000            # transactions replayed through the router (a random sample of the day)
THRESHOLD = 0.5           # score at or above which a payment is sent to an analyst
SRM_ALPHA = 0.001         # below this p-value the split is broken: no metric is read
GUARDRAIL_ALPHA = 0.05    # guardrail: roll back if the challenger raises significantly more alerts
MIN_CONFIRMED_FRAUD = 30  # evidence needed in the challenger arm to judge recall
RECALL_MARGIN = 0.05      # promote if recall is not worse than the champion's by more
LABELS_AS_OF = "2026-02-16"


def decide(srm_p, errors, alerts_p, confirmed, recall_gap):
    """The rule, in order: trust the split, then guardrails, then evidence, then quality."""
    if srm_p < SRM_ALPHA:
        return "HOLD", "sample ratio mismatch: find the cause before reading any metric"
    if errors["challenger"] > errors["champion"]:
        return "ROLLBACK", "the challenger fails requests the champion answers"
    if alerts_p < GUARDRAIL_ALPHA:
        return "ROLLBACK", f"significantly more alerts than the champion (p={alerts_p:.3f})"
    if confirmed < MIN_CONFIRMED_FRAUD:
        return "CONTINUE", f"{confirmed} confirmed fraud(s) in the challenger arm, {MIN_CONFIRMED_FRAUD} needed"
    if recall_gap < -RECALL_MARGIN:
        return "ROLLBACK", f"recall {-recall_gap:.2f} below the champion's"
    return "PROMOTE", "guardrails hold and recall is not worse"
# --8<-- [end:step2]

# %% [markdown]
# ## Step 3: serve both models and replay the day through a 90/10 router

# %%
# --8<-- [start:step3]
import http.client
import json
import time
from concurrent.futures import ThreadPoolExecutor

import pandas as pd

from cardfraud.serving import TrafficRouter, serve_many, v2_payload

CHAMPION_PORT, CHALLENGER_PORT, ROUTER_PORT = 8545, 8546, 8547
INFER_PATH = "/v2/models/fraud-detector/infer"
CLIENTS = 4  # requests in flight at once

replay = canary_day.sample(n=REPLAY, random_state=7).sort_values("event_timestamp")
bodies = [json.dumps(v2_payload(replay.iloc[[i]])).encode() for i in range(len(replay))]
units = replay["transaction_id"].astype(str).tolist()


def send(i):
    connection = http.client.HTTPConnection("127.0.0.1", ROUTER_PORT, timeout=10)
    try:
        started = time.perf_counter()
        connection.request("POST", INFER_PATH, body=bodies[i],
                           headers={"content-type": "application/json", "x-unit-id": units[i]})
        response = connection.getresponse()
        answer = json.loads(response.read())
        elapsed = time.perf_counter() - started
        score = answer["outputs"][0]["data"][0] if response.status == 200 else None
        return response.getheader("x-served-by"), response.status, score, elapsed
    finally:
        connection.close()


specs = {"champion": (champion_path, CHAMPION_PORT), "challenger": (challenger_path, CHALLENGER_PORT)}
with serve_many(specs) as urls:
    weights = {"champion": CHAMPION_SHARE, "challenger": 1 - CHAMPION_SHARE}
    with TrafficRouter(urls, weights, port=ROUTER_PORT) as router:
        with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
            results = list(pool.map(send, range(len(bodies))))

served = pd.DataFrame(results, columns=["arm", "status", "score", "seconds"], index=replay.index)
served = served.join(replay[["is_fraud", "label_available_at"]])
print(served.groupby("arm")["status"].value_counts().to_string())
# --8<-- [end:step3]

# %% [markdown]
# ## Step 4: is the split what you asked for? (sample-ratio mismatch)

# %%
# --8<-- [start:step4]
from scipy.stats import chisquare

counts = served["arm"].value_counts().reindex(["champion", "challenger"])
expected = [CHAMPION_SHARE * len(served), (1 - CHAMPION_SHARE) * len(served)]
srm = chisquare(counts.to_numpy(), f_exp=expected)
print("requests per arm:", counts.to_dict())
print(f"challenger share: {counts['challenger'] / len(served):.3f} (asked for {1 - CHAMPION_SHARE:.3f})")
print(f"SRM chi-square p-value: {srm.pvalue:.3f} -> split is {'broken' if srm.pvalue < SRM_ALPHA else 'fine'}")
# --8<-- [end:step4]

# %% [markdown]
# ## Step 5: compare the arms on what is known, then decide

# %%
# --8<-- [start:step5]
from statsmodels.stats.proportion import proportions_ztest

from cardfraud import labels_known

known = labels_known(served, LABELS_AS_OF)
served["alert"] = served["score"] >= THRESHOLD
summary = pd.DataFrame({
    "requests": served.groupby("arm").size(),
    "errors": served[served["status"] != 200].groupby("arm").size(),
    "alert_rate": served.groupby("arm")["alert"].mean(),
    "confirmed_fraud": served[known & (served["is_fraud"] == 1)].groupby("arm").size(),
    "recall_on_confirmed": served[known & (served["is_fraud"] == 1)].groupby("arm")["alert"].mean(),
}).reindex(["champion", "challenger"]).fillna(0)
print(summary.round(3).to_string())

alerts = served.groupby("arm")["alert"].sum().reindex(["challenger", "champion"])
_, alerts_p = proportions_ztest(alerts.to_numpy(), counts.reindex(["challenger", "champion"]).to_numpy(), alternative="larger")
print(f"more alerts from the challenger? one-sided p = {alerts_p:.3f}")
decision, reason = decide(
    srm_p=srm.pvalue,
    errors=summary["errors"].to_dict(),
    alerts_p=alerts_p,
    confirmed=int(summary.loc["challenger", "confirmed_fraud"]),
    recall_gap=summary.loc["challenger", "recall_on_confirmed"] - summary.loc["champion", "recall_on_confirmed"],
)
print(f"decision: {decision} ({reason})")
# --8<-- [end:step5]

# %% [markdown]
# ## Check: split, SRM test and decision agree

# %%
# --8<-- [start:check]
share = counts["challenger"] / len(served)
checks = {
    "every replayed payment was answered": len(served) == REPLAY and served["status"].eq(200).all(),
    "split within 3 points of 90/10": abs(share - (1 - CHAMPION_SHARE)) < 0.03,
    "SRM verdict matches the decision": (srm.pvalue < SRM_ALPHA) == (decision == "HOLD"),
    "decision follows the rule": decision in {"HOLD", "ROLLBACK", "CONTINUE", "PROMOTE"}
    and (decision != "PROMOTE" or summary.loc["challenger", "confirmed_fraud"] >= MIN_CONFIRMED_FRAUD),
}
for name, ok in checks.items():
    print(f"{'ok ' if ok else 'BAD'} {name}")
print("PASS" if all(checks.values()) else "FAIL")
# --8<-- [end:check]
