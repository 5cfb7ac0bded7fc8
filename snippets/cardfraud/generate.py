"""Synthetic card payments with delayed fraud labels and switchable drift.

Everything is drawn from NumPy generators seeded by ``(seed, purpose)`` or
``(seed, day)``, so the same arguments always give the same frame, and the days
before a drift starts are identical with and without that drift.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

# The world the transactions happen in. Changing any of these changes every dataset.
COUNTRIES = np.array(["NL", "DE", "FR", "ES", "IT", "GB", "US", "BR"])
HOME_COUNTRY_WEIGHTS = np.array([0.35, 0.20, 0.15, 0.10, 0.08, 0.07, 0.03, 0.02])
CATEGORIES = np.array(
    ["grocery", "restaurants", "fuel", "fashion", "electronics", "travel", "online_gaming", "pharmacy"]
)
CATEGORY_WEIGHTS = np.array([0.30, 0.18, 0.12, 0.12, 0.08, 0.08, 0.06, 0.06])
# Typical basket size per category, in euros (median of a log-normal).
CATEGORY_MEDIAN_AMOUNT = np.array([32.0, 38.0, 55.0, 70.0, 240.0, 310.0, 25.0, 18.0])
# Categories fraudsters favour: they resell goods or cash out quickly.
FRAUD_CATEGORY_WEIGHTS = np.array([0.04, 0.04, 0.04, 0.10, 0.34, 0.20, 0.20, 0.04])
CHANNELS = np.array(["chip", "contactless", "online"])
# Per category: P(chip), P(contactless), P(online) for a legitimate purchase.
CHANNEL_BY_CATEGORY = np.array(
    [
        [0.35, 0.60, 0.05],
        [0.30, 0.65, 0.05],
        [0.50, 0.45, 0.05],
        [0.30, 0.30, 0.40],
        [0.25, 0.15, 0.60],
        [0.10, 0.05, 0.85],
        [0.00, 0.00, 1.00],
        [0.35, 0.60, 0.05],
    ]
)
FRAUD_CHANNEL_WEIGHTS = np.array([0.05, 0.10, 0.85])
# Legitimate purchases follow waking hours; fraud bursts lean towards the night.
LEGIT_HOUR_WEIGHTS = np.array(
    [1, 1, 1, 1, 1, 2, 4, 7, 9, 9, 9, 10, 12, 11, 10, 10, 10, 11, 12, 12, 10, 7, 4, 2], dtype=float
)
FRAUD_HOUR_WEIGHTS = np.array(
    [8, 9, 9, 9, 8, 6, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 6, 7, 7, 8], dtype=float
)
FOREIGN_SHARE_LEGIT = 0.04
FOREIGN_SHARE_FRAUD = 0.55
MEAN_EXTRA_TRANSACTIONS_PER_BURST = 2.0
MAX_BURST_MINUTES = 90
# Fraud is known when the chargeback arrives; a purchase nobody disputes is taken
# as legitimate once the dispute window has closed.
CHARGEBACK_MEDIAN_DAYS = 6.0
CHARGEBACK_SIGMA = 0.6
CHARGEBACK_MAX_DAYS = 45
DISPUTE_WINDOW_DAYS = 30

COLUMNS = [
    "transaction_id",
    "event_timestamp",
    "customer_id",
    "merchant_id",
    "amount",
    "merchant_category",
    "channel",
    "country",
    "home_country",
    "is_fraud",
    "label_available_at",
]


@dataclass(frozen=True)
class CovariateDrift:
    """From ``start``, purchases get larger and move online; how fraud looks is unchanged."""

    start: str
    amount_factor: float = 1.6
    extra_online_share: float = 0.25


@dataclass(frozen=True)
class ConceptDrift:
    """From ``start``, fraudsters imitate customers: domestic, daytime, ordinary baskets.

    The inputs barely move, but what fraud looks like does, so a model trained
    before ``start`` misses it.
    """

    start: str
    share_of_fraud_imitating: float = 0.8


@dataclass(frozen=True)
class LabelShift:
    """From ``start``, fraud is ``fraud_rate_factor`` times as frequent; each fraud looks the same."""

    start: str
    fraud_rate_factor: float = 3.0


@dataclass(frozen=True)
class DataQualityFaults:
    """From ``start``, an upstream change breaks the feed.

    A share of amounts is missing, a share is sent in cents instead of euros
    (100x too large), and a category the model has never seen appears.
    """

    start: str
    null_amount_share: float = 0.05
    cents_amount_share: float = 0.02
    new_category: str = "crypto_exchange"
    new_category_share: float = 0.05


Drift = CovariateDrift | ConceptDrift | LabelShift | DataQualityFaults


def generate(
    start: str = "2026-01-05",
    days: int = 28,
    transactions_per_day: int = 5_000,
    fraud_rate: float = 0.01,
    n_customers: int = 5_000,
    n_merchants: int = 800,
    seed: int = 42,
    drifts: tuple[Drift, ...] | list[Drift] = (),
) -> pd.DataFrame:
    """Return ``days`` days of card transactions starting at midnight UTC of ``start``.

    ``transactions_per_day`` counts legitimate purchases; fraud comes on top.
    ``fraud_rate`` is the expected share of fraudulent transactions before any
    drift (1% by default: far above real card fraud, so that a few thousand rows
    hold enough positives to learn from). The frame is sorted by event time and
    ``transaction_id`` follows that order.
    """
    if days < 1 or transactions_per_day < 1:
        raise ValueError("days and transactions_per_day must be at least 1")
    if not 0 < fraud_rate < 0.5:
        raise ValueError(f"fraud_rate must be between 0 and 0.5, got {fraud_rate}")
    first_day = pd.Timestamp(start, tz="UTC").normalize()
    population = _population(seed, n_customers, n_merchants)
    parts = [
        _one_day(first_day + pd.Timedelta(days=d), d, seed, transactions_per_day, fraud_rate, population, drifts)
        for d in range(days)
    ]
    cols = {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
    order = np.argsort(cols["time_s"] * n_customers + cols["customer"], kind="stable")
    cols = {name: values[order] for name, values in cols.items()}
    # Object arrays index faster than NumPy strings and give pandas its usual str columns.
    category_names = np.array([*CATEGORIES, *(d.new_category for d in drifts if isinstance(d, DataQualityFaults))], dtype=object)
    channel_names, country_names = CHANNELS.astype(object), COUNTRIES.astype(object)
    return pd.DataFrame(
        {
            "transaction_id": np.arange(1, len(order) + 1, dtype=np.int64),
            "event_timestamp": pd.to_datetime(cols["time_s"], unit="s", utc=True).as_unit("ns"),
            "customer_id": cols["customer"] + 1,
            "merchant_id": cols["merchant"] + 1,
            "amount": cols["amount"],
            "merchant_category": category_names[cols["category"]],
            "channel": channel_names[cols["channel"]],
            "country": country_names[cols["country"]],
            "home_country": country_names[cols["home"]],
            "is_fraud": cols["is_fraud"],
            "label_available_at": pd.to_datetime(cols["label_s"], unit="s", utc=True).as_unit("ns"),
        }
    )


def labels_known(df: pd.DataFrame, as_of: str | pd.Timestamp) -> pd.Series:
    """True for rows whose label has arrived by ``as_of`` (chargeback or closed dispute window)."""
    as_of = pd.Timestamp(as_of)
    if as_of.tzinfo is None:
        as_of = as_of.tz_localize("UTC")
    return df["label_available_at"] <= as_of


@dataclass(frozen=True)
class _Population:
    home_country: np.ndarray  # index into COUNTRIES, per customer
    spend_scale: np.ndarray  # multiplies basket sizes, per customer
    activity: np.ndarray  # relative purchase frequency, sums to 1
    merchant_category: np.ndarray  # index into CATEGORIES, per merchant
    merchant_country: np.ndarray  # index into COUNTRIES, per merchant
    merchant_fraud_weight: np.ndarray  # relative chance a fraud lands here, per merchant


def _population(seed: int, n_customers: int, n_merchants: int) -> _Population:
    rng = np.random.default_rng([seed, 0xC0FFEE])
    activity = rng.gamma(shape=2.0, scale=1.0, size=n_customers)
    merchant_category = rng.choice(len(CATEGORIES), size=n_merchants, p=CATEGORY_WEIGHTS)
    # A few merchants leak card data or are run by fraud rings: they attract most fraud.
    merchant_fraud_weight = rng.pareto(1.5, size=n_merchants) + 0.05
    return _Population(
        home_country=rng.choice(len(COUNTRIES), size=n_customers, p=HOME_COUNTRY_WEIGHTS),
        spend_scale=rng.lognormal(0.0, 0.35, size=n_customers),
        activity=activity / activity.sum(),
        merchant_category=merchant_category,
        merchant_country=rng.choice(len(COUNTRIES), size=n_merchants, p=HOME_COUNTRY_WEIGHTS),
        merchant_fraud_weight=merchant_fraud_weight,
    )


def _active(drifts, kind, day: pd.Timestamp):
    """The drift of this kind in force on ``day``, or None."""
    for drift in drifts:
        if isinstance(drift, kind) and day >= pd.Timestamp(drift.start, tz="UTC").normalize():
            return drift
    return None


def _one_day(day, day_index, seed, n_legit, fraud_rate, pop, drifts) -> dict[str, np.ndarray]:
    rng = np.random.default_rng([seed, day_index])
    covariate = _active(drifts, CovariateDrift, day)
    concept = _active(drifts, ConceptDrift, day)
    label_shift = _active(drifts, LabelShift, day)
    faults = _active(drifts, DataQualityFaults, day)

    day_s = int(day.timestamp())
    legit = _legit_transactions(rng, day_s, n_legit, pop, covariate)
    rate = fraud_rate * (label_shift.fraud_rate_factor if label_shift else 1.0)
    n_bursts = rng.poisson(n_legit * rate / (1 + MEAN_EXTRA_TRANSACTIONS_PER_BURST))
    fraud = _fraud_bursts(rng, day_s, n_bursts, pop, concept)
    cols = {name: np.concatenate([legit[name], fraud[name]]) for name in legit}
    cols["label_s"] = cols["time_s"] + _label_delay_seconds(rng, cols["is_fraud"])
    if faults:
        _break_feed(rng, cols, faults)
    return cols


def _legit_transactions(rng, day_s, n, pop, covariate) -> dict[str, np.ndarray]:
    customer = rng.choice(len(pop.activity), size=n, p=pop.activity)
    home = pop.home_country[customer]
    foreign = rng.random(n) < FOREIGN_SHARE_LEGIT
    category = rng.choice(len(CATEGORIES), size=n, p=CATEGORY_WEIGHTS)
    channel_p = CHANNEL_BY_CATEGORY[category]
    if covariate:
        channel_p = channel_p.copy()
        channel_p[:, 2] += covariate.extra_online_share
        channel_p /= channel_p.sum(axis=1, keepdims=True)
    amount = CATEGORY_MEDIAN_AMOUNT[category] * pop.spend_scale[customer] * rng.lognormal(0.0, 0.6, size=n)
    if covariate:
        amount = amount * covariate.amount_factor
    return {
        "time_s": day_s + _seconds_of_day(rng, n, LEGIT_HOUR_WEIGHTS),
        "customer": customer,
        "merchant": _merchant_for(rng, pop, category, None),
        "amount": np.round(amount, 2),
        "category": category,
        "channel": _choose_rows(rng, channel_p),
        "country": np.where(foreign, rng.integers(0, len(COUNTRIES), size=n), home),
        "home": home,
        "is_fraud": np.zeros(n, dtype=np.int8),
    }


def _fraud_bursts(rng, day_s, n_bursts, pop, concept) -> dict[str, np.ndarray]:
    """A stolen card is used several times within a few hours."""
    sizes = 1 + rng.poisson(MEAN_EXTRA_TRANSACTIONS_PER_BURST, size=n_bursts)
    burst = np.repeat(np.arange(n_bursts), sizes)
    n = len(burst)
    customer = rng.choice(len(pop.activity), size=n_bursts, p=pop.activity)[burst]
    home = pop.home_country[customer]
    offset = rng.integers(0, MAX_BURST_MINUTES * 60, size=n)
    offset[np.r_[True, burst[1:] != burst[:-1]][:n]] = 0  # the first use starts the burst
    time_s = day_s + _seconds_of_day(rng, n_bursts, FRAUD_HOUR_WEIGHTS)[burst] + offset
    category = rng.choice(len(CATEGORIES), size=n, p=FRAUD_CATEGORY_WEIGHTS)
    channel = rng.choice(len(CHANNELS), size=n, p=FRAUD_CHANNEL_WEIGHTS)
    foreign = rng.random(n) < FOREIGN_SHARE_FRAUD
    amount = CATEGORY_MEDIAN_AMOUNT[category] * rng.lognormal(0.9, 0.5, size=n)
    if concept:
        # Imitators: domestic, daytime, customer-sized baskets at ordinary shops.
        imitate = (rng.random(n_bursts) < concept.share_of_fraud_imitating)[burst]
        k = int(imitate.sum())
        category[imitate] = rng.choice(len(CATEGORIES), size=k, p=CATEGORY_WEIGHTS)
        channel[imitate] = _choose_rows(rng, CHANNEL_BY_CATEGORY[category[imitate]])
        foreign[imitate] = False
        amount[imitate] = (
            CATEGORY_MEDIAN_AMOUNT[category[imitate]]
            * pop.spend_scale[customer[imitate]]
            * rng.lognormal(0.0, 0.6, size=k)
        )
        daytime_s = day_s + _seconds_of_day(rng, n_bursts, LEGIT_HOUR_WEIGHTS)[burst] + offset
        time_s = np.where(imitate, daytime_s, time_s)
    return {
        "time_s": time_s,
        "customer": customer,
        "merchant": _merchant_for(rng, pop, category, pop.merchant_fraud_weight),
        "amount": np.round(amount, 2),
        "category": category,
        "channel": channel,
        "country": np.where(foreign, rng.integers(0, len(COUNTRIES), size=n), home),
        "home": home,
        "is_fraud": np.ones(n, dtype=np.int8),
    }


def _seconds_of_day(rng, n, hour_weights) -> np.ndarray:
    hours = rng.choice(24, size=n, p=hour_weights / hour_weights.sum())
    return hours * 3600 + rng.integers(0, 3600, size=n)


def _choose_rows(rng, p: np.ndarray) -> np.ndarray:
    """One categorical draw per row of the probability matrix ``p``."""
    return (rng.random((len(p), 1)) > np.cumsum(p, axis=1)).sum(axis=1).clip(max=p.shape[1] - 1)


def _merchant_for(rng, pop, category, weight) -> np.ndarray:
    """A merchant of the given category for each row, optionally weighted."""
    out = np.empty(len(category), dtype=np.int64)
    for c in np.unique(category):
        rows = np.flatnonzero(category == c)
        candidates = np.flatnonzero(pop.merchant_category == c)
        p = None if weight is None else weight[candidates] / weight[candidates].sum()
        out[rows] = rng.choice(candidates, size=len(rows), p=p)
    return out


def _label_delay_seconds(rng, is_fraud: np.ndarray) -> np.ndarray:
    chargeback_days = np.minimum(
        rng.lognormal(np.log(CHARGEBACK_MEDIAN_DAYS), CHARGEBACK_SIGMA, size=len(is_fraud)), CHARGEBACK_MAX_DAYS
    )
    delay_days = np.where(is_fraud == 1, chargeback_days, DISPUTE_WINDOW_DAYS)
    return np.round(delay_days * 86_400).astype(np.int64)


def _break_feed(rng, cols: dict[str, np.ndarray], faults: DataQualityFaults) -> None:
    n = len(cols["amount"])
    amount = cols["amount"]
    cents = rng.random(n) < faults.cents_amount_share
    amount[cents] = np.round(amount[cents] * 100, 2)
    amount[rng.random(n) < faults.null_amount_share] = np.nan
    # The new category's code is one past the known ones (see generate()).
    cols["category"][rng.random(n) < faults.new_category_share] = len(CATEGORIES)
