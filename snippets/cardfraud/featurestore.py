"""The fraud features in a local Feast repository: module 5.2's result, rebuilt by one call.

Module 5.2's lab builds this repository and checks it; every later module rebuilds it with

    >>> from cardfraud.featurestore import build_repo, training_set
    >>> store = build_repo(transactions, "feature_repo")      # data, feature_store.yaml, apply
    >>> rows = training_set(store, transactions)               # point-in-time correct, from Feast

The customer window features are written per payment (``customer_stats``), the merchant risk
once a day at midnight (``merchant_risk``); ``transaction_context`` is computed at request time
from the payment itself. Serving reads all three through ``online_features``.
"""

from __future__ import annotations

import contextlib
import io
import os

os.environ.setdefault("FEAST_USAGE", "False")  # Feast's usage telemetry off, before the import

# --8<-- [start:imports]
from datetime import timedelta
from pathlib import Path

import pandas as pd
from feast import Entity, FeatureService, FeatureStore, FeatureView, Field, FileSource, RequestSource, ValueType
from feast.on_demand_feature_view import on_demand_feature_view
from feast.types import Float64, Int64, String

from cardfraud.features import FEATURE_COLUMNS, customer_features, merchant_risk
# --8<-- [end:imports]

# --8<-- [start:config]
FEATURE_STORE_YAML = """\
project: cardfraud
provider: local
registry: data/registry.db
online_store:
  type: sqlite
  path: data/online_store.db
offline_store:
  type: file
entity_key_serialization_version: 3
"""
# --8<-- [end:config]
WINDOW_FEATURES = ["tx_count_1h", "tx_count_24h", "avg_amount_7d"]
# What a payment request carries besides its keys; the rest comes from the store.
REQUEST_FIELDS = ["amount", "country", "home_country", "channel", "merchant_category"]


# --8<-- [start:definitions]
def definitions(data: Path) -> list:
    """The repository's objects: two entities, two feature views, request-time features, one service."""
    customer = Entity(name="customer", join_keys=["customer_id"], value_type=ValueType.INT64)
    merchant = Entity(name="merchant", join_keys=["merchant_id"], value_type=ValueType.INT64)
    customer_stats = FeatureView(
        name="customer_stats",
        entities=[customer],
        ttl=timedelta(days=7),  # a 7-day average is meaningless once it is more than 7 days old
        schema=[
            Field(name="tx_count_1h", dtype=Int64),
            Field(name="tx_count_24h", dtype=Int64),
            Field(name="avg_amount_7d", dtype=Float64),
        ],
        source=FileSource(
            name="customer_stats_source", path=str(data / "customer_stats.parquet"), timestamp_field="event_timestamp"
        ),
    )
    merchant_risk_view = FeatureView(
        name="merchant_risk",
        entities=[merchant],
        ttl=timedelta(days=2),  # a daily batch: yesterday's value is fine, older means the job is down
        schema=[Field(name="merchant_risk_rate", dtype=Float64)],
        source=FileSource(
            name="merchant_risk_source", path=str(data / "merchant_risk.parquet"), timestamp_field="event_timestamp"
        ),
    )
    # What the scoring service knows about the payment itself, sent with each request.
    transaction = RequestSource(
        name="transaction",
        schema=[
            Field(name="amount", dtype=Float64),
            Field(name="country", dtype=String),
            Field(name="home_country", dtype=String),
        ],
    )

    @on_demand_feature_view(
        sources=[customer_stats, transaction],
        schema=[Field(name="amount_to_avg_ratio", dtype=Float64), Field(name="is_foreign", dtype=Int64)],
        mode="pandas",
    )
    def transaction_context(inputs: pd.DataFrame) -> pd.DataFrame:
        out = pd.DataFrame(index=inputs.index)
        # A customer the store has no row for arrives as None; a column of only None is not numeric.
        average = inputs["avg_amount_7d"].astype("float64")
        out["amount_to_avg_ratio"] = (inputs["amount"].astype("float64") / average).round(4)
        out["is_foreign"] = (inputs["country"] != inputs["home_country"]).astype("int64")
        return out

    fraud_model_v1 = FeatureService(
        name="fraud_model_v1", features=[customer_stats, merchant_risk_view, transaction_context]
    )
    return [customer, merchant, transaction, customer_stats, merchant_risk_view, transaction_context, fraud_model_v1]
# --8<-- [end:definitions]


# --8<-- [start:tables]
def feature_tables(transactions: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The two offline tables: one customer_stats row per payment, one merchant_risk row per merchant and day.

    Feast identifies a row by (entity key, event time), so two payments by one customer in the
    same second would collapse into one: the later ones move by a microsecond each.
    """
    same_second = transactions.groupby(["customer_id", "event_timestamp"]).cumcount()
    feature_time = transactions["event_timestamp"] + pd.to_timedelta(same_second, unit="us")
    customer_rows = customer_features(transactions).assign(event_timestamp=feature_time)
    return customer_rows, merchant_risk(transactions)
# --8<-- [end:tables]


# --8<-- [start:build]
def build_repo(transactions: pd.DataFrame, path: str | Path = "feature_repo") -> FeatureStore:
    """Write the data and ``feature_store.yaml`` under ``path``, apply the definitions, return the store.

    Running it again in the same folder rebuilds the same repository.
    """
    repo = Path(path).resolve()
    data = repo / "data"
    data.mkdir(parents=True, exist_ok=True)
    customer_rows, merchant_rows = feature_tables(transactions)
    customer_rows.drop(columns="transaction_id").to_parquet(data / "customer_stats.parquet", index=False)
    merchant_rows.to_parquet(data / "merchant_risk.parquet", index=False)
    (repo / "feature_store.yaml").write_text(FEATURE_STORE_YAML, encoding="utf-8")
    store = FeatureStore(repo_path=str(repo))
    store.apply(definitions(data))
    return store
# --8<-- [end:build]


def request_rows(transactions: pd.DataFrame) -> pd.DataFrame:
    """The entity rows Feast joins features onto: keys, the request fields, and the feature time."""
    same_second = transactions.groupby(["customer_id", "event_timestamp"]).cumcount()
    return transactions[["transaction_id", "customer_id", "merchant_id", *REQUEST_FIELDS]].assign(
        event_timestamp=transactions["event_timestamp"] + pd.to_timedelta(same_second, unit="us")
    )


# --8<-- [start:training-set]
def training_set(store: FeatureStore, transactions: pd.DataFrame) -> pd.DataFrame:
    """Feast's point-in-time join for ``transactions``: the model's inputs with ids, time and labels.

    The same columns, in the same order, as ``cardfraud.features.build_features``.
    """
    entity_df = request_rows(transactions).drop(columns=["channel", "merchant_category"])
    retrieved = store.get_historical_features(entity_df=entity_df, features=store.get_feature_service("fraud_model_v1")).to_df()
    joined = retrieved.drop(columns="event_timestamp").merge(
        transactions[["transaction_id", "event_timestamp", "channel", "merchant_category", "is_fraud", "label_available_at"]],
        on="transaction_id",
    )
    joined["hour"] = joined["event_timestamp"].dt.hour  # UTC, as in the reference
    joined["is_foreign"] = joined["is_foreign"].astype("int8")
    columns = ["transaction_id", "event_timestamp", "customer_id", "merchant_id", *FEATURE_COLUMNS, "is_fraud", "label_available_at"]
    return joined[columns].sort_values("transaction_id", ignore_index=True)
# --8<-- [end:training-set]


def materialize(store: FeatureStore, start: pd.Timestamp, end: pd.Timestamp) -> None:
    """Load the offline rows between ``start`` and ``end`` into the online store (quietly)."""
    with contextlib.redirect_stdout(io.StringIO()):  # Feast prints a progress bar per view
        store.materialize(start_date=start.to_pydatetime(), end_date=end.to_pydatetime())


def write_online(store: FeatureStore, view: str, rows: pd.DataFrame) -> None:
    """The streaming path: write fresh feature rows straight to the online store."""
    store.write_to_online_store(feature_view_name=view, df=rows)


ONLINE_FEATURES = [
    *(f"customer_stats:{name}" for name in WINDOW_FEATURES),
    "merchant_risk:merchant_risk_rate",
    "transaction_context:amount_to_avg_ratio",
    "transaction_context:is_foreign",
]


# --8<-- [start:online]
def online_features(store: FeatureStore, requests: list[dict]) -> pd.DataFrame:
    """The model's inputs for payment requests: store features joined with the request's own fields.

    Each request holds ``customer_id``, ``merchant_id`` and the ``REQUEST_FIELDS``.
    """
    entity_rows = [
        {"customer_id": r["customer_id"], "merchant_id": r["merchant_id"],
         "amount": r["amount"], "country": r["country"], "home_country": r["home_country"]}
        for r in requests
    ]
    found = store.get_online_features(features=ONLINE_FEATURES, entity_rows=entity_rows).to_df()
    for name in ("amount", "channel", "merchant_category"):
        found[name] = [r[name] for r in requests]
    found["hour"] = [pd.Timestamp(r["event_timestamp"]).hour for r in requests]
    return found[FEATURE_COLUMNS]
# --8<-- [end:online]
