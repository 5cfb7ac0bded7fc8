"""The course's model server refuses what it cannot score, through the real server on 127.0.0.1.

One predictor (a small model logged to a temporary MLflow store, loaded as 5.3 saves it: skops
with trusted types) is started once; both protocols get the four bad requests of issue 15 (a
misspelt key, a missing key, a string where a number goes, an extra key) and must answer 400
naming the field, and the v2 metadata must advertise exactly the datatypes the server accepts.
"""

from __future__ import annotations

import copy
import json

import httpx
import mlflow
import pytest

from cardfraud import generate
from cardfraud.features import FEATURE_COLUMNS, build_features
from cardfraud.model import evaluate, train
from cardfraud.serving import INPUT_DATATYPES, MODEL_NAME, free_port, serve, v1_payload, v2_payload
from cardfraud.tracking import log_and_register, use_local_tracking

V1 = f"/v1/models/{MODEL_NAME}:predict"
V2 = f"/v2/models/{MODEL_NAME}/infer"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("serving")
    rows = build_features(generate(days=3, transactions_per_day=400, seed=1))
    model = train(rows, max_iter=10)
    previous = mlflow.get_tracking_uri()
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)  # the store's artifacts land in ./mlartifacts
        tracking_uri = f"sqlite:///{folder / 'mlflow.db'}"
        use_local_tracking(tracking_uri)
        try:
            version = log_and_register(model, rows, evaluate(model, rows), {"max_iter": 10})
            with serve(f"models:/{MODEL_NAME}/{version}", free_port(), tracking_uri=tracking_uri) as url:
                yield url, rows.head(2)
        finally:
            mlflow.set_tracking_uri(previous)


def _v1(rows, change):
    body = v1_payload(rows)
    change(body["instances"][0])
    return body


def _v2(rows, change):
    body = v2_payload(rows)
    change(body["inputs"])
    return body


def _rename(instance, old, new):
    instance[new] = instance.pop(old)


def _tensor(inputs, name):
    return next(tensor for tensor in inputs if tensor["name"] == name)


BAD_V1 = {
    "a misspelt key": (lambda i: _rename(i, "tx_count_1h", "tx_count_1hr"), ["tx_count_1hr", "tx_count_1h"]),
    "a missing key": (lambda i: i.pop("avg_amount_7d"), ["avg_amount_7d"]),
    "a string where a number goes": (lambda i: i.update(amount=str(i["amount"])), ["amount"]),
    "an extra key": (lambda i: i.update(customer_name="J. Smith"), ["customer_name"]),
    "a bool where a number goes": (lambda i: i.update(is_foreign=True), ["is_foreign"]),
    "a fraction where a count goes": (lambda i: i.update(tx_count_24h=2.5), ["tx_count_24h"]),
}
BAD_V2 = {
    "a misspelt tensor name": (lambda t: _tensor(t, "tx_count_1h").update(name="tx_count_1hr"), ["tx_count_1hr", "tx_count_1h"]),
    "a missing tensor": (lambda t: t.remove(_tensor(t, "avg_amount_7d")), ["avg_amount_7d"]),
    "strings in a number tensor": (lambda t: _tensor(t, "amount").update(data=[str(v) for v in _tensor(t, "amount")["data"]]), ["amount"]),
    "an extra tensor": (lambda t: t.append({"name": "customer_name", "shape": [2], "datatype": "BYTES", "data": ["a", "b"]}), ["customer_name"]),
    "FP64 for an integer feature": (lambda t: _tensor(t, "hour").update(datatype="FP64"), ["hour"]),
    "a ragged tensor": (lambda t: _tensor(t, "merchant_risk_rate").update(shape=[1], data=[0.01]), ["merchant_risk_rate"]),
}


def test_good_requests_are_scored(server):
    url, rows = server
    v1 = httpx.post(url + V1, json=v1_payload(rows), timeout=10)
    v2 = httpx.post(url + V2, json=v2_payload(rows), timeout=10)
    assert v1.status_code == 200 and v2.status_code == 200, (v1.text, v2.text)
    assert v1.json()["predictions"] == pytest.approx(v2.json()["outputs"][0]["data"])


@pytest.mark.parametrize("case", BAD_V1)
def test_v1_refuses_with_the_field_named(server, case):
    url, rows = server
    change, fields = BAD_V1[case]
    answer = httpx.post(url + V1, json=_v1(rows, change), timeout=10)
    assert answer.status_code == 400, f"{case}: {answer.status_code} {answer.text}"
    assert any(field in answer.json()["error"] for field in fields), answer.json()


@pytest.mark.parametrize("case", BAD_V2)
def test_v2_refuses_with_the_field_named(server, case):
    url, rows = server
    change, fields = BAD_V2[case]
    answer = httpx.post(url + V2, json=_v2(rows, change), timeout=10)
    assert answer.status_code == 400, f"{case}: {answer.status_code} {answer.text}"
    assert any(field in answer.json()["error"] for field in fields), answer.json()


def test_v2_metadata_lists_what_the_server_accepts(server):
    url, rows = server
    metadata = httpx.get(f"{url}/v2/models/{MODEL_NAME}", timeout=10).json()
    advertised = {tensor["name"]: tensor["datatype"] for tensor in metadata["inputs"]}
    assert list(advertised) == FEATURE_COLUMNS
    assert advertised == INPUT_DATATYPES
    integers = [c for c in FEATURE_COLUMNS if rows[c].dtype.kind in "iu"]
    assert integers and all(advertised[c] == "INT64" for c in integers), advertised
    # What the course's client helper sends is what the metadata advertises, and is accepted.
    sent = {tensor["name"]: tensor["datatype"] for tensor in v2_payload(rows)["inputs"]}
    assert sent == advertised
    # A request built from the metadata alone (each tensor with its advertised datatype) is scored.
    body = copy.deepcopy(v2_payload(rows))
    for tensor in body["inputs"]:
        tensor["datatype"] = advertised[tensor["name"]]
    assert httpx.post(url + V2, content=json.dumps(body), headers={"content-type": "application/json"}, timeout=10).status_code == 200
