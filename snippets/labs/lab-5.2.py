# %% [markdown]
# # Lab 5.2: the bank's payments in Feast
#
# The first link of the course's thread. You build the Feast repository of the bank's payments
# (six weeks, from Monday 5 January to the model's launch on 16 February), produce the
# point-in-time training set that module 5.3 trains on, check it against the pandas reference
# `build_features`, materialize, serve a day of features the way module 5.4's transformer will,
# check online against offline against the reference, and time the lookups.
#
# Module 5.3 starts from exactly this: `course.feature_store(course.payments(course.LAUNCH_DAY))`
# rebuilds this repository, and `course.launch_rows(store, transactions)` reads 5.3's training
# and evaluation rows from it with the same `training_set` call as step 3.
#
# The definitions live in one file, `cardfraud/featurestore.py`: this notebook imports them,
# and so does every later module. Two steps are yours to write (exercises 1 and 2); the lab's
# own checks use pandas' comparison, not your code, so they stay right while an exercise is open.

# %% [markdown]
# ## Step 1: the payments and the feature tables

# %%
# --8<-- [start:data]
import pandas as pd

from cardfraud import course
from cardfraud.featurestore import feature_tables

course.lab_folder("lab-5.2")  # a folder of its own, emptied first: a second run starts like the first
transactions = course.payments(course.LAUNCH_DAY)  # 2,000 a day from 5 January, up to 16 February
customer_rows, merchant_rows = feature_tables(transactions)
moved = int((customer_rows["event_timestamp"] != transactions["event_timestamp"]).sum())
first, last = transactions["event_timestamp"].agg(["min", "max"])
print(f"{len(transactions):,} payments from {first:%d %b} to {last:%d %b %H:%M}, "
      f"{transactions['customer_id'].nunique():,} customers, {transactions['merchant_id'].nunique()} merchants")
print(f"customer_stats: {len(customer_rows):,} rows ({moved} moved by a microsecond), merchant_risk: {len(merchant_rows):,} rows")
# --8<-- [end:data]

# %% [markdown]
# ## Step 2: the Feast repository

# %%
# --8<-- [start:repo]
store = course.feature_store(transactions)  # the tables as Parquet, feature_store.yaml, apply(definitions(...))
print(f"{store.project} in {store.repo_path.name}/:", sorted(view.name for view in store.list_all_feature_views()))
for service in store.list_feature_services():
    print(f"feature service {service.name}:", sum(len(view.features) for view in service.feature_view_projections), "features")
# --8<-- [end:repo]

# %% [markdown]
# ## Exercise 1: the point-in-time join
#
# Step 3 asks Feast to join 56,575 payments to the feature rows that were known at each payment's
# time. Write that join yourself, for one feature view: `pd.merge_asof` is the point-in-time join
# of pandas. The grader tries it on a hand-made table where each row tests one rule, then joins
# the merchant risk to the bank's first four days and compares with `build_features`.

# %%
# --8<-- [start:exercise-point-in-time-join]
from cardfraud.exercises import lab_5_2


def point_in_time_join(events: pd.DataFrame, features: pd.DataFrame, key: str, ttl: pd.Timedelta) -> pd.DataFrame:
    """Each event with the latest feature row of its ``key`` at or before its ``event_timestamp``.

    ``events`` has ``key``, ``event_timestamp`` (UTC) and other columns, in any order; ``features``
    has ``key``, ``event_timestamp`` and the feature columns. Return ``events`` with the feature
    columns added: the same rows, in the same order, with the same index. A feature row more than
    ``ttl`` older than the event is too stale to use; an event with no usable row keeps its row,
    with NaN (Feast's file store drops such rows: that is why step 3 counts rows in and out).
    """
    # Hint: pd.merge_asof(left, right, on=..., by=..., direction=..., tolerance=...) needs both
    # sides sorted by time and returns a new index: sort a copy, join, then restore the order.
    raise NotImplementedError
# --8<-- [end:exercise-point-in-time-join]

# %% tags=["solution"]
# --8<-- [start:solution-point-in-time-join]
def point_in_time_join(events: pd.DataFrame, features: pd.DataFrame, key: str, ttl: pd.Timedelta) -> pd.DataFrame:
    """Each event with the latest feature row of its ``key`` at or before its ``event_timestamp``."""
    ordered = events.sort_values("event_timestamp", kind="stable")
    joined = pd.merge_asof(
        ordered,
        features.sort_values("event_timestamp", kind="stable"),
        on="event_timestamp",
        by=key,  # only rows of the same customer (or merchant)
        direction="backward",  # the latest row at or before the event, never a later one
        tolerance=ttl,  # older than the TTL: NaN, as if there were no row
    )
    joined.index = ordered.index  # merge_asof keeps the left rows in order, with a new index
    return joined.loc[events.index]
# --8<-- [end:solution-point-in-time-join]

# %%
# --8<-- [start:grade-point-in-time-join]
graded = lab_5_2.grade_point_in_time_join(point_in_time_join)
# --8<-- [end:grade-point-in-time-join]

# %% [markdown]
# ## Step 3: the training set module 5.3 trains on, and check 1

# %%
# --8<-- [start:training]
import time

from cardfraud.featurestore import training_set
from cardfraud.labels import decision_windows, matured

JOIN_BUDGET_S = 60  # the thread's 2,000 payments a day keep Feast's file-store join well within this

matured_payments = transactions[matured(transactions, course.LAUNCH_DAY)]  # 14 days old on 16 February
started = time.perf_counter()
rows = training_set(store, matured_payments)  # Feast's point-in-time join, as course.launch_rows calls it
join_seconds = time.perf_counter() - started
print(f"{len(matured_payments):,} payments in, {len(rows):,} training rows out; "
      f"Feast's join within {JOIN_BUDGET_S} s: {join_seconds < JOIN_BUDGET_S}")

train_rows, evaluation = decision_windows(rows, course.LAUNCH_DAY)  # labels as known on 16 February
final = rows.set_index("transaction_id")["is_fraud"]
for name, part in [("trains on", train_rows), ("evaluates on", evaluation)]:
    print(f"module 5.3 {name} {len(part):,} payments, {part['event_timestamp'].min():%d %b} to "
          f"{part['event_timestamp'].max():%d %b}: {part['is_fraud'].sum()} of "
          f"{final.loc[part['transaction_id']].sum()} frauds known on 16 February")
# --8<-- [end:training]

# %%
# --8<-- [start:offline-check]
from cardfraud.features import build_features


def agree(ours: pd.DataFrame, reference: pd.DataFrame) -> bool:
    """pandas' own comparison: the same rows, columns and values (NaN equals NaN); prints what differs."""
    try:
        pd.testing.assert_frame_equal(ours.reset_index(drop=True), reference.reset_index(drop=True), check_dtype=False)
    except AssertionError as difference:
        print(difference)
        return False
    return True


reference = build_features(transactions)  # from the raw payments, without Feast
training_ok = agree(rows, reference[reference["transaction_id"].isin(matured_payments["transaction_id"])])
print(f"check 1, Feast's training set = build_features, {len(rows):,} rows x {rows.shape[1]} columns:",
      "PASS" if training_ok else "FAIL")
# --8<-- [end:offline-check]

# %% [markdown]
# ## Step 4: materialize, and check 2 at one moment

# %%
# --8<-- [start:online]
from cardfraud.featurestore import WINDOW_FEATURES, materialize

MORNING = pd.Timestamp(course.LAUNCH_DAY, tz="UTC") - pd.Timedelta(days=1)  # 15 February, 00:00 UTC: "now"
CUSTOMER_TTL = pd.Timedelta(days=7)  # the customer_stats view's TTL
CUSTOMER_FEATURES = [f"customer_stats:{name}" for name in WINDOW_FEATURES]

materialize(store, MORNING - CUSTOMER_TTL, MORNING)  # the batch path: the latest value per key, into SQLite
recent = transactions["event_timestamp"].between(MORNING - CUSTOMER_TTL, MORNING)
customers = sorted(transactions.loc[recent, "customer_id"].unique())
merchants = sorted(merchant_rows["merchant_id"].unique())

# Online: what the store serves now. Offline: Feast's point-in-time join at the same moment.
online = store.get_online_features(
    features=CUSTOMER_FEATURES, entity_rows=[{"customer_id": int(c)} for c in customers]
).to_df(include_event_timestamps=True)
offline = store.get_historical_features(
    entity_df=pd.DataFrame({"customer_id": customers, "event_timestamp": MORNING}), features=CUSTOMER_FEATURES
).to_df()
online_risk = store.get_online_features(
    features=["merchant_risk:merchant_risk_rate"], entity_rows=[{"merchant_id": int(m)} for m in merchants]
).to_df(include_event_timestamps=True)
offline_risk = store.get_historical_features(
    entity_df=pd.DataFrame({"merchant_id": merchants, "event_timestamp": MORNING}), features=["merchant_risk:merchant_risk_rate"]
).to_df()

# The reference, from the tables alone: each key's latest row at or before the moment.
latest = customer_rows[customer_rows["event_timestamp"] <= MORNING].sort_values("event_timestamp").groupby("customer_id").tail(1)
reference_now = latest.set_index("customer_id").loc[customers, WINDOW_FEATURES].reset_index()
reference_risk = merchant_rows[merchant_rows["event_timestamp"] == MORNING][["merchant_id", "merchant_risk_rate"]]


def by_key(frame: pd.DataFrame, key: str, columns: list[str]) -> pd.DataFrame:
    return frame[[key, *columns]].sort_values(key, ignore_index=True)


moment_ok = all([
    agree(by_key(online, "customer_id", WINDOW_FEATURES), by_key(reference_now, "customer_id", WINDOW_FEATURES)),
    agree(by_key(offline, "customer_id", WINDOW_FEATURES), by_key(reference_now, "customer_id", WINDOW_FEATURES)),
    agree(by_key(online_risk, "merchant_id", ["merchant_risk_rate"]), by_key(reference_risk, "merchant_id", ["merchant_risk_rate"])),
    agree(by_key(offline_risk, "merchant_id", ["merchant_risk_rate"]), by_key(reference_risk, "merchant_id", ["merchant_risk_rate"])),
])
print(f"check 2, at {MORNING:%d %b %H:%M}, online = offline = reference for {len(customers):,} customers "
      f"and {len(merchants)} merchants:", "PASS" if moment_ok else "FAIL")

# Freshness, from the event times the online store keeps (it does not enforce the TTL itself).
for view, frame, column in [("customer_stats", online, "tx_count_1h__ts"), ("merchant_risk", online_risk, "merchant_risk_rate__ts")]:
    age = MORNING - pd.to_datetime(frame[column], unit="s", utc=True)
    print(f"feature age in {view}: newest {age.min()}, oldest {age.max()}")
# --8<-- [end:online]

# %% [markdown]
# ## Exercise 2: the skew check that names the rows
#
# `agree` says whether two tables are equal and prints the first column that is not. In CI you
# want the list: every customer (or payment) on which two implementations disagree, matched by
# key, including rows only one side has. Write it.

# %%
# --8<-- [start:exercise-skew-rows]
def skew_rows(left: pd.DataFrame, right: pd.DataFrame, key: str, columns: list[str]) -> pd.DataFrame:
    """The rows on which two implementations of the same features disagree.

    ``left`` and ``right`` have one row per ``key`` value and the ``columns``, in any order.
    Return one row per key value that is on one side only, or whose value differs in any of
    ``columns``, with the ``key`` column (and both sides' values, for whoever reads the log).
    A value missing on both sides is agreement. Compare every row: no sampling.
    """
    # Hint: left.merge(right, on=key, how=..., suffixes=..., indicator=True); then, per column,
    # a == b is False when both are NaN: (a == b) | (a.isna() & b.isna()) is the equality you want.
    raise NotImplementedError
# --8<-- [end:exercise-skew-rows]

# %% tags=["solution"]
# --8<-- [start:solution-skew-rows]
def skew_rows(left: pd.DataFrame, right: pd.DataFrame, key: str, columns: list[str]) -> pd.DataFrame:
    """The rows on which two implementations of the same features disagree."""
    both = left.merge(right, on=key, how="outer", suffixes=("", "_right"), indicator=True)
    differs = both["_merge"] != "both"  # a row only one side has
    for column in columns:
        ours, theirs = both[column], both[f"{column}_right"]
        differs |= ~((ours == theirs) | (ours.isna() & theirs.isna()))
    return both.loc[differs, [key, *columns, *(f"{column}_right" for column in columns)]]
# --8<-- [end:solution-skew-rows]

# %%
# --8<-- [start:grade-skew-rows]
graded = lab_5_2.grade_skew_rows(skew_rows)
# --8<-- [end:grade-skew-rows]

# %% [markdown]
# ## Step 5: serve the last day as module 5.4 will, and check 3

# %%
# --8<-- [start:serve-day]
from cardfraud.features import FEATURE_COLUMNS
from cardfraud.featurestore import online_features, write_online

day = transactions[transactions["event_timestamp"] >= MORNING]
write_online(store, "merchant_risk", merchant_rows[merchant_rows["event_timestamp"] == MORNING])  # the daily batch
served, requests = [], 0
for batch in course.request_batches(day):  # a request per two hours of payments, as in 5.4's replay
    write_online(store, "customer_stats", customer_rows.loc[batch.index].drop(columns="transaction_id"))  # the stream
    features = online_features(store, course.payment_requests(batch))  # what 5.4's transformer calls
    served.append(features.assign(transaction_id=batch["transaction_id"].to_numpy()))
    requests += 1
columns = ["transaction_id", *FEATURE_COLUMNS]
served = pd.concat(served).sort_values("transaction_id")[columns]
offline_day = training_set(store, day)[columns]
reference_day = reference[reference["transaction_id"].isin(day["transaction_id"])][columns]
serving_ok = agree(served, reference_day) and agree(offline_day, reference_day)
print(f"check 3, {len(served):,} payments of {MORNING:%d %b} in {requests} requests, every model input "
      "online = offline = reference:", "PASS" if serving_ok else "FAIL")

newcomer = {**course.payment_requests(day.head(1))[0], "customer_id": 999_999}  # a customer the store never saw
print(online_features(store, [newcomer])[["amount", "tx_count_1h", "avg_amount_7d", "amount_to_avg_ratio"]].to_string(index=False))
# --8<-- [end:serve-day]

# %% [markdown]
# ## Step 6: online latency, one payment at a time and batched

# %%
# --8<-- [start:latency]
import numpy as np

from cardfraud.featurestore import ONLINE_FEATURES

PAYMENTS = 200
BATCH = 100
STORED = [name for name in ONLINE_FEATURES if not name.startswith("transaction_context:")]
payments = course.payment_requests(day.head(PAYMENTS))
keys = [{"customer_id": p["customer_id"], "merchant_id": p["merchant_id"]} for p in payments]


def timed_ms(call) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


online_features(store, payments[:1])  # warm the registry cache
lookup = [timed_ms(lambda key=key: store.get_online_features(features=STORED, entity_rows=[key]).to_df()) for key in keys]
single = [timed_ms(lambda p=p: online_features(store, [p])) for p in payments]
batched = [timed_ms(lambda chunk=payments[i:i + BATCH]: online_features(store, chunk)) / BATCH
           for i in range(0, PAYMENTS, BATCH)]
lookup_p50, lookup_p99 = np.percentile(lookup, [50, 99])
single_p50 = np.percentile(single, 50)
print(f"stored features, one payment a call: p50 under 10 ms: {lookup_p50 < 10}; p99 under 50 ms: {lookup_p99 < 50}")
print(f"with the request-time view, as the transformer calls it: p50 over 3x the lookup alone: {single_p50 > 3 * lookup_p50}")
print(f"a batch of {BATCH} payments costs less per payment than one alone: {max(batched) < single_p50}")
# --8<-- [end:latency]

# %% [markdown]
# ## Check: what module 5.3 and 5.4 may rely on

# %%
# --8<-- [start:check]
from cardfraud.exercises import report

checks = {
    f"Feast's training set equals build_features ({len(rows):,} matured payments)": training_ok,
    f"online = offline = reference at {MORNING:%d %b %H:%M}": moment_ok,
    f"the served day's model inputs equal the training set's ({len(served):,} payments)": serving_ok,
    "a batched call is cheaper per payment than single calls": max(batched) < single_p50,
}
for name, ok in checks.items():
    print(f"{'ok  ' if ok else 'FAIL'} {name}")
print("lab 5.2:", "PASS" if all(checks.values()) else "FAIL")
print(report(["point_in_time_join", "skew_rows"]))
# --8<-- [end:check]
