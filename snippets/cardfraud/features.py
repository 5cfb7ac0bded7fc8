"""The fraud features, computed point-in-time correct with pandas.

This is the batch reference implementation: module 5.2 defines the same
features in Feast and checks that both agree, module 5.3 trains on them.

Per-customer windows count the current transaction: the value is what a feature
pipeline knows right after the transaction was recorded. The merchant risk rate
is a daily batch feature computed at midnight UTC from the chargebacks that have
arrived by then, so it never uses a label from the future.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

CUSTOMER_WINDOWS = {"tx_count_1h": "1h", "tx_count_24h": "24h"}
AMOUNT_WINDOW = "7D"
# Smoothing for merchants with few labelled transactions: the rate starts at the
# prior and moves towards the observed rate as labelled transactions accumulate.
MERCHANT_PRIOR_RATE = 0.01
MERCHANT_PRIOR_WEIGHT = 50
FEATURE_COLUMNS = [
    "amount",
    "hour",
    "is_foreign",
    "channel",
    "merchant_category",
    "tx_count_1h",
    "tx_count_24h",
    "avg_amount_7d",
    "amount_to_avg_ratio",
    "merchant_risk_rate",
]
CATEGORICAL_COLUMNS = ["channel", "merchant_category"]


def customer_features(transactions: pd.DataFrame) -> pd.DataFrame:
    """One row per transaction: the customer's activity up to and including it.

    Returns ``customer_id``, ``event_timestamp``, ``transaction_id`` and the
    window columns, in the order of ``transactions``.
    """
    tx = transactions[["transaction_id", "customer_id", "event_timestamp", "amount"]]
    ordered = tx.sort_values(["customer_id", "event_timestamp", "transaction_id"], kind="stable")
    grouped = ordered.set_index("event_timestamp").groupby("customer_id", sort=False)["amount"]
    out = ordered[["transaction_id", "customer_id", "event_timestamp"]].copy()
    for name, window in CUSTOMER_WINDOWS.items():
        out[name] = grouped.rolling(window).count().to_numpy().astype(np.int64)
    out["avg_amount_7d"] = grouped.rolling(AMOUNT_WINDOW).mean().to_numpy().round(2)
    return out.loc[transactions.index]


def merchant_risk(transactions: pd.DataFrame) -> pd.DataFrame:
    """Daily merchant risk: smoothed share of the merchant's transactions charged back so far.

    One row per merchant and day (``event_timestamp`` is that day's midnight UTC),
    using only transactions before that midnight and chargebacks that arrived
    before it.
    """
    days = pd.date_range(
        transactions["event_timestamp"].min().normalize(),
        transactions["event_timestamp"].max().normalize() + pd.Timedelta(days=1),
        freq="D",
    )
    merchants = np.sort(transactions["merchant_id"].unique())
    seen = _cumulative_counts(transactions["merchant_id"], transactions["event_timestamp"], merchants, days)
    fraud = transactions[transactions["is_fraud"] == 1]
    charged_back = _cumulative_counts(fraud["merchant_id"], fraud["label_available_at"], merchants, days)
    rate = (charged_back + MERCHANT_PRIOR_RATE * MERCHANT_PRIOR_WEIGHT) / (seen + MERCHANT_PRIOR_WEIGHT)
    return pd.DataFrame(
        {
            "merchant_id": np.tile(merchants, len(days)),
            "event_timestamp": np.repeat(days, len(merchants)),
            "merchant_risk_rate": rate.ravel().round(5),
        }
    )


def _cumulative_counts(merchant_ids: pd.Series, times: pd.Series, merchants: np.ndarray, days: pd.DatetimeIndex):
    """counts[d, m]: events of merchant m strictly before days[d]."""
    day_index = np.searchsorted(days.asi8, times.astype("datetime64[ns, UTC]").array.asi8, side="right")
    merchant_index = np.searchsorted(merchants, merchant_ids.to_numpy())
    counts = np.zeros((len(days) + 1, len(merchants)), dtype=np.int64)
    np.add.at(counts, (day_index, merchant_index), 1)
    return np.cumsum(counts, axis=0)[: len(days)]


def build_features(transactions: pd.DataFrame) -> pd.DataFrame:
    """The model's input for every transaction, plus its id, time and label columns.

    Point-in-time correct: every value is computable at the transaction's
    ``event_timestamp`` from data that existed then.
    """
    customer = customer_features(transactions)
    risk = merchant_risk(transactions)
    base = transactions.assign(
        hour=transactions["event_timestamp"].dt.hour,
        is_foreign=(transactions["country"] != transactions["home_country"]).astype(np.int8),
    ).join(customer[list(CUSTOMER_WINDOWS) + ["avg_amount_7d"]])
    base["amount_to_avg_ratio"] = (base["amount"] / base["avg_amount_7d"]).round(4)
    # The latest daily risk row at or before the transaction: merge_asof is a point-in-time join.
    joined = pd.merge_asof(
        base.sort_values("event_timestamp", kind="stable"),
        risk.sort_values("event_timestamp", kind="stable"),
        on="event_timestamp",
        by="merchant_id",
        direction="backward",
    )
    joined["merchant_risk_rate"] = joined["merchant_risk_rate"].fillna(MERCHANT_PRIOR_RATE)
    joined = joined.sort_values("transaction_id", kind="stable", ignore_index=True)
    keep = ["transaction_id", "event_timestamp", "customer_id", "merchant_id", *FEATURE_COLUMNS, "is_fraud", "label_available_at"]
    return joined[keep]
