"""The data contract: what a batch of transactions must satisfy before anything trains on it.

A plain function with no kfp import, so CI tests call it directly and the
pipeline's validate component imports it inside its task.
"""

import pandas as pd

# Data contract the validate step enforces (see data_problems).
REQUIRED_COLUMNS = (
    "transaction_id", "event_timestamp", "customer_id", "merchant_id", "amount",
    "merchant_category", "channel", "country", "home_country", "is_fraud", "label_available_at",
)
MAX_NULL_AMOUNT_SHARE = 0.001
MAX_AMOUNT_EUR = 20_000.0
MIN_ROWS = 1_000


def data_problems(transactions: pd.DataFrame) -> list[str]:
    """Every way ``transactions`` breaks the data contract; an empty list means it is fit to train on."""
    from cardfraud.generate import CATEGORIES, CHANNELS

    missing = [c for c in REQUIRED_COLUMNS if c not in transactions.columns]
    if missing:
        return [f"missing columns: {missing}"]
    problems = []
    if len(transactions) < MIN_ROWS:
        problems.append(f"only {len(transactions)} rows (need {MIN_ROWS})")
    null_share = transactions["amount"].isna().mean()
    if null_share > MAX_NULL_AMOUNT_SHARE:
        problems.append(f"amount is null in {null_share:.1%} of rows (max {MAX_NULL_AMOUNT_SHARE:.1%})")
    too_large = int((transactions["amount"] > MAX_AMOUNT_EUR).sum())
    if too_large:
        problems.append(f"{too_large} amounts above {MAX_AMOUNT_EUR:,.0f} EUR (cents sent as euros?)")
    unknown = sorted(set(transactions["merchant_category"].dropna()) - set(CATEGORIES))
    if unknown:
        problems.append(f"unknown merchant categories: {unknown}")
    unknown_channels = sorted(set(transactions["channel"].dropna()) - set(CHANNELS))
    if unknown_channels:
        problems.append(f"unknown channels: {unknown_channels}")
    if transactions["transaction_id"].duplicated().any():
        problems.append("duplicate transaction ids")
    return problems
