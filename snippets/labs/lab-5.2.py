# %% [markdown]
# # Lab 5.2: the fraud feature set in Feast
#
# Define the running example's fraud features in a local Feast repository, build a
# point-in-time correct training set, materialize, serve online, measure lookup
# latency, and check that Feast and the pandas reference agree.

# %% [markdown]
# ## Step 1: the transactions and the feature tables

# %%
# --8<-- [start:data]
import os

os.environ["FEAST_USAGE"] = "False"  # switch off Feast's usage telemetry before importing it

from pathlib import Path

import pandas as pd

from cardfraud import generate
from cardfraud.features import customer_features, merchant_risk

TRANSACTIONS_PER_DAY = 1_000  # the course default is 5,000: Feast's file offline store joins it ~20x slower
DATA = Path("data")
DATA.mkdir(exist_ok=True)

tx = generate(days=28, transactions_per_day=TRANSACTIONS_PER_DAY)
# Feast identifies a row by (entity key, event time). Two purchases by the same customer
# in the same second would collapse into one, so order them by a microsecond offset.
same_second = tx.groupby(["customer_id", "event_timestamp"]).cumcount()
tx["feature_time"] = tx["event_timestamp"] + pd.to_timedelta(same_second, unit="us")

customer_rows = customer_features(tx).assign(event_timestamp=tx["feature_time"])
customer_rows.drop(columns="transaction_id").to_parquet(DATA / "customer_stats.parquet", index=False)
merchant_rows = merchant_risk(tx)
merchant_rows.to_parquet(DATA / "merchant_risk.parquet", index=False)
print(f"{len(tx)} transactions, {int((same_second > 0).sum())} same-second repeat(s)")
print(f"customer_stats: {len(customer_rows)} rows, merchant_risk: {len(merchant_rows)} rows")
# --8<-- [end:data]

# %% [markdown]
# ## Step 2: the Feast repository

# %%
# --8<-- [start:repo]
from datetime import timedelta

from feast import Entity, FeatureService, FeatureStore, FeatureView, Field, FileSource, RequestSource, ValueType
from feast.on_demand_feature_view import on_demand_feature_view
from feast.types import Float64, Int64, String

Path("feature_store.yaml").write_text(
    """\
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
)

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
        name="customer_stats_source",
        path=str(DATA / "customer_stats.parquet"),
        timestamp_field="event_timestamp",
    ),
)
merchant_risk_view = FeatureView(
    name="merchant_risk",
    entities=[merchant],
    ttl=timedelta(days=2),  # a daily batch: yesterday's value is fine, older means the batch job is down
    schema=[Field(name="merchant_risk_rate", dtype=Float64)],
    source=FileSource(
        name="merchant_risk_source",
        path=str(DATA / "merchant_risk.parquet"),
        timestamp_field="event_timestamp",
    ),
)
# What the scoring service knows about the transaction itself, sent with each request.
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
    out["amount_to_avg_ratio"] = (inputs["amount"] / inputs["avg_amount_7d"]).round(4)
    out["is_foreign"] = (inputs["country"] != inputs["home_country"]).astype("int64")
    return out


fraud_model_v1 = FeatureService(
    name="fraud_model_v1",
    features=[customer_stats, merchant_risk_view, transaction_context],
)

store = FeatureStore(repo_path=".")
store.apply([customer, merchant, transaction, customer_stats, merchant_risk_view, transaction_context, fraud_model_v1])
print(sorted(view.name for view in store.list_all_feature_views()))
print([service.name for service in store.list_feature_services()])
# --8<-- [end:repo]

# %% [markdown]
# ## Step 3: a point-in-time correct training set

# %%
# --8<-- [start:training]
from cardfraud.features import FEATURE_COLUMNS, build_features

REQUEST_COLUMNS = ["transaction_id", "customer_id", "merchant_id", "amount", "country", "home_country"]
entity_df = tx[REQUEST_COLUMNS].assign(event_timestamp=tx["feature_time"])

retrieved = store.get_historical_features(entity_df=entity_df, features=fraud_model_v1).to_df()
training_set = (
    retrieved.merge(tx[["transaction_id", "event_timestamp", "channel", "merchant_category", "is_fraud"]],
                    on="transaction_id", suffixes=("_feature", ""))
    .assign(hour=lambda frame: frame["event_timestamp"].dt.hour)  # UTC, as in the reference
    .sort_values("transaction_id", ignore_index=True)
)
training_set = training_set[["transaction_id", "event_timestamp", *FEATURE_COLUMNS, "is_fraud"]]
training_set.to_parquet("training_set.parquet", index=False)
print(training_set.shape)
print(training_set[FEATURE_COLUMNS[:6]].head(3).to_string(index=False))
# --8<-- [end:training]

# %% [markdown]
# ## Step 4: the training set equals the pandas reference

# %%
# --8<-- [start:offline-check]
def disagreements(left: pd.DataFrame, right: pd.DataFrame, key: str, columns: list[str]) -> pd.DataFrame:
    """Rows of ``left`` whose ``columns`` differ from ``right``'s (missing rows count as different)."""
    both = left.merge(right, on=key, how="outer", suffixes=("", "_reference"), indicator=True)
    differs = both["_merge"] != "both"
    for column in columns:
        ours, theirs = both[column], both[f"{column}_reference"]
        differs |= ~((ours == theirs) | (ours.isna() & theirs.isna()))
    return both.loc[differs, [key, *columns, *(f"{c}_reference" for c in columns)]]


reference = build_features(tx)
bad = disagreements(training_set, reference, "transaction_id", FEATURE_COLUMNS + ["is_fraud"])
print(f"{len(training_set)} Feast rows vs {len(reference)} reference rows")
print("training set check:", "PASS" if bad.empty else f"FAIL\n{bad.head(10).to_string(index=False)}")
# --8<-- [end:offline-check]

# %% [markdown]
# ## Step 5: materialize and serve online

# %%
# --8<-- [start:online]
import contextlib
import io

AS_OF = pd.Timestamp("2026-01-30 12:00", tz="UTC")  # "now" for the online store
SAMPLE_SIZE = 200
WINDOW_FEATURES = ["tx_count_1h", "tx_count_24h", "avg_amount_7d"]

with contextlib.redirect_stdout(io.StringIO()):  # Feast prints a progress bar per view
    store.materialize(start_date=(AS_OF - timedelta(days=8)).to_pydatetime(), end_date=AS_OF.to_pydatetime())

active = tx.loc[tx["event_timestamp"].between(AS_OF - timedelta(days=7), AS_OF), "customer_id"].unique()
sample = pd.Series(active).sample(SAMPLE_SIZE, random_state=7).sort_values().to_list()
online = store.get_online_features(
    features=[f"customer_stats:{name}" for name in WINDOW_FEATURES],
    entity_rows=[{"customer_id": customer_id} for customer_id in sample],
).to_df()[["customer_id", *WINDOW_FEATURES]]  # fix the column order: Feast's is not guaranteed
print(online.head(3).to_string(index=False))
# --8<-- [end:online]

# %% [markdown]
# ## Step 6: the skew check, online vs offline vs reference at the same moment

# %%
# --8<-- [start:skew-check]
at_moment = pd.DataFrame({"customer_id": sample, "event_timestamp": AS_OF}).astype({"event_timestamp": "datetime64[ns, UTC]"})
offline = store.get_historical_features(
    entity_df=at_moment, features=[f"customer_stats:{name}" for name in WINDOW_FEATURES]
).to_df()
# The pandas reference: each customer's last row at or before the moment.
reference_now = pd.merge_asof(
    at_moment.sort_values("event_timestamp"),
    customer_rows.drop(columns="transaction_id").sort_values("event_timestamp"),
    on="event_timestamp", by="customer_id", direction="backward",
)
bad_online = disagreements(online, reference_now, "customer_id", WINDOW_FEATURES)
bad_offline = disagreements(offline.drop(columns="event_timestamp"), reference_now, "customer_id", WINDOW_FEATURES)
print(f"{SAMPLE_SIZE} customers at {AS_OF}")
print("online vs reference:", "PASS" if bad_online.empty else f"FAIL\n{bad_online.to_string(index=False)}")
print("offline vs reference:", "PASS" if bad_offline.empty else f"FAIL\n{bad_offline.to_string(index=False)}")
# --8<-- [end:skew-check]

# %% [markdown]
# ## Step 7: online lookup latency, one key at a time and batched

# %%
# --8<-- [start:latency]
import time

import numpy as np

LOOKUPS = 500
BATCH = 100
ONLINE_FEATURES = ["customer_stats:tx_count_1h", "customer_stats:tx_count_24h",
                   "customer_stats:avg_amount_7d", "merchant_risk:merchant_risk_rate"]
rng = np.random.default_rng(0)
keys = [{"customer_id": int(c), "merchant_id": int(m)}
        for c, m in zip(rng.choice(active, LOOKUPS), rng.choice(merchant_rows["merchant_id"].unique(), LOOKUPS))]


def timed_ms(call) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


store.get_online_features(features=ONLINE_FEATURES, entity_rows=keys[:1])  # warm the registry cache
single = [timed_ms(lambda key=key: store.get_online_features(features=ONLINE_FEATURES, entity_rows=[key]))
          for key in keys]
batched = [timed_ms(lambda chunk=keys[i:i + BATCH]: store.get_online_features(features=ONLINE_FEATURES, entity_rows=chunk))
           for i in range(0, LOOKUPS, BATCH)]
p50, p99 = np.percentile(single, [50, 99])
per_key_batched = sum(batched) / LOOKUPS
print(f"single-key p50 under 10 ms: {p50 < 10}; p99 under 50 ms: {p99 < 50}")
print(f"a batch of {BATCH} costs less per key than single lookups: {per_key_batched < p50}")
# --8<-- [end:latency]
