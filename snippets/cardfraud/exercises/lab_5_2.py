"""Graders for lab 5.2: the point-in-time join, and the skew check that names the rows.

Each grader runs the reader's function on small hand-made tables, where every row is there to
catch one usual mistake, then on the bank's first four days of payments (the same days as the
course's ``course.payments``), and compares with what the course's code computes.

    >>> from cardfraud.exercises import lab_5_2
    >>> lab_5_2.grade_point_in_time_join(point_in_time_join)
    >>> lab_5_2.grade_skew_rows(skew_rows)
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd

from cardfraud.exercises import Exercise, Mistake

EXAMPLE_DAYS = 4  # the bank's first four days: enough payments to hide a handful of bad rows
MERCHANT_TTL = pd.Timedelta(days=2)  # the merchant_risk view's TTL in cardfraud.featurestore
WINDOW_FEATURES = ["tx_count_1h", "tx_count_24h", "avg_amount_7d"]


@cache
def _bank_payments() -> pd.DataFrame:
    from cardfraud import course
    from cardfraud.generate import generate

    # Days are drawn one by one from (seed, day): these are the first days of course.payments().
    return generate(start=course.HISTORY_START, days=EXAMPLE_DAYS, transactions_per_day=course.PAYMENTS_PER_DAY, seed=42)


def _utc(*times: str) -> pd.Series:
    return pd.Series(pd.to_datetime(list(times), utc=True))


def _call(candidate, *args):
    """The candidate's answer on copies, so a function that edits its inputs cannot spoil the next case."""
    try:
        result = candidate(*(a.copy() if isinstance(a, pd.DataFrame) else a for a in args))
    except ValueError as error:
        if "sorted" not in str(error):
            raise
        raise Mistake(f"merge_asof said {error!r}: it needs both frames sorted by the time column; sort copies first") from None
    if not isinstance(result, pd.DataFrame):
        raise Mistake(f"return a pandas DataFrame (yours returned {type(result).__name__})")
    return result


# --- Exercise 1: the point-in-time join ---------------------------------------------------------

POINT_IN_TIME_JOIN = Exercise(
    "point_in_time_join",
    passed="correct on every case, and equal to build_features' merchant risk on the bank's first four days",
)
TOY_TTL = pd.Timedelta(days=1)


def _toy() -> tuple[pd.DataFrame, pd.DataFrame, dict[int, float]]:
    """Feature rows of three customers and one event per rule; ``expected`` maps event id -> value."""
    features = pd.DataFrame({
        "customer_id": [7, 7, 7, 8],
        "event_timestamp": _utc("2026-01-05 10:00", "2026-01-05 10:30", "2026-01-05 12:30", "2026-01-05 09:00"),
        "tx_count_24h": [1.0, 2.0, 3.0, 10.0],
    })
    events = pd.DataFrame({
        "transaction_id": [101, 102, 103, 104, 105, 106, 107],
        "customer_id": [7, 7, 7, 8, 9, 8, 8],
        "event_timestamp": _utc(
            "2026-01-05 10:15",  # 101: the 10:00 row; 10:30 is later
            "2026-01-05 12:00",  # 102: the 10:30 row; the 12:30 row is in its future
            "2026-01-05 10:30",  # 103: a row stamped at the very same instant is visible
            "2026-01-05 12:00",  # 104: customer 8's 09:00 row (3 h old), not customer 7's
            "2026-01-05 12:00",  # 105: customer 9 has no row at all
            "2026-01-07 12:00",  # 106: customer 8's row is 51 h old, over the 24 h TTL
            "2026-01-06 09:00",  # 107: exactly 24 h old: still within the TTL, as in Feast
        ),
    })
    expected = {101: 1.0, 102: 2.0, 103: 2.0, 104: 10.0, 105: np.nan, 106: np.nan, 107: 10.0}
    # Events in no particular order, with an index of their own that the answer must keep.
    shuffled = events.iloc[[4, 1, 6, 0, 5, 3, 2]]
    return shuffled.set_axis([40, 10, 60, 0, 50, 30, 20]), features, expected


def _same_rows(result: pd.DataFrame, events: pd.DataFrame, where: str) -> None:
    if len(result) < len(events):
        raise Mistake(
            f"{where}: {len(events)} events went in and {len(result)} came out. Keep every event: an exact "
            "merge on (key, timestamp) or an inner join drops the events that have no feature row at that very "
            "instant or within the TTL; give them NaN instead (pd.merge_asof keeps every left row)"
        )
    if len(result) > len(events):
        raise Mistake(
            f"{where}: {len(events)} events went in and {len(result)} came out. A plain merge on the key pairs "
            "each event with every feature row of its customer; a point-in-time join keeps one row per event: "
            "pd.merge_asof"
        )
    if not result.index.equals(events.index):
        if sorted(result.index) == sorted(events.index):
            raise Mistake(
                f"{where}: the rows come back in another order than the events. merge_asof needs both sides "
                "sorted by time: sort a copy, join, then put the rows back in the events' order and index"
            )
        raise Mistake(
            f"{where}: the result's index is not the events' index (merge_asof returns a new 0, 1, 2, ... index): "
            "give the joined rows back the index of the sorted events, then reorder them like `events`"
        )


@POINT_IN_TIME_JOIN.check
def _rules_of_the_join(candidate) -> None:
    events, features, expected = _toy()
    result = _call(candidate, events, features, "customer_id", TOY_TTL)
    _same_rows(result, events, "on the hand-made table")
    if "tx_count_24h" not in result.columns:
        raise Mistake("the feature column (here tx_count_24h) is missing from the result: return the events with the feature columns added")
    if not result["event_timestamp"].equals(events["event_timestamp"]):
        raise Mistake("the result's event_timestamp is not the events' own time: keep each event's timestamp")
    got = dict(zip(result["transaction_id"], pd.to_numeric(result["tx_count_24h"], errors="coerce")))

    def wrong(event: int) -> bool:
        value, want = got.get(event), expected[event]
        return not (pd.isna(value) and pd.isna(want)) and value != want

    if wrong(102) and got.get(102) == 3.0:
        raise Mistake(
            "the event at 12:00 got the value written at 12:30: the join reads the future. Take the latest row "
            "at or before the event (direction='backward'), never a later or the nearest one"
        )
    missed = [event for event in (101, 102, 104) if pd.isna(got.get(event))]
    if len(missed) >= 2:
        raise Mistake(
            f"events {missed} got no value although a row of their customer came before them: an exact merge on "
            "(key, timestamp) only finds a row written at the event's very instant. Take the latest row at or "
            "before the event: pd.merge_asof(..., on='event_timestamp', by=key, direction='backward')"
        )
    if wrong(104) or wrong(105):
        raise Mistake(
            "an event got another customer's value (or a value for a customer with no feature rows): match rows "
            "of the same key only (merge_asof's by=key); an unknown key gets NaN"
        )
    if wrong(103):
        raise Mistake(
            "the event at 10:30 did not see the row stamped 10:30: a row written at the event's very instant is "
            "visible to it, as in Feast (merge_asof's allow_exact_matches=True, the default)"
        )
    if wrong(106):
        raise Mistake(
            f"an event got a value {got.get(106)} that was 51 hours old, with a TTL of 24 hours: the join ignores "
            "the TTL. A value older than ttl is too stale to use: leave it NaN (merge_asof's tolerance=ttl)"
        )
    if wrong(107):
        raise Mistake(
            "a value exactly one TTL old was dropped: Feast still uses it, and merge_asof's tolerance includes "
            "its bound, so pass tolerance=ttl as it is"
        )
    bad = [event for event in expected if wrong(event)]
    if bad:
        raise Mistake(f"wrong values for events {bad}: expected {[expected[e] for e in bad]}, got {[got.get(e) for e in bad]}")


@cache
def _merchant_case() -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    from cardfraud.features import build_features, merchant_risk

    payments = _bank_payments()
    reference = build_features(payments).set_index("transaction_id")["merchant_risk_rate"]
    events = payments[["transaction_id", "merchant_id", "event_timestamp"]].sample(frac=1.0, random_state=0)
    return events, merchant_risk(payments), reference


@POINT_IN_TIME_JOIN.check
def _the_bank_payments(candidate) -> None:
    events, features, reference = _merchant_case()
    result = _call(candidate, events, features, "merchant_id", MERCHANT_TTL)
    where = f"on the bank's first {EXAMPLE_DAYS} days (merchant risk joined to {len(events):,} payments)"
    _same_rows(result, events, where)
    if "merchant_risk_rate" not in result.columns:
        raise Mistake(f"{where}: the feature column merchant_risk_rate is missing from the result")
    ours = pd.to_numeric(result["merchant_risk_rate"], errors="coerce").to_numpy()
    theirs = reference.loc[result["transaction_id"]].to_numpy()
    differs = ~((ours == theirs) | (np.isnan(ours) & np.isnan(theirs)))
    if differs.any():
        first = int(np.argmax(differs))
        raise Mistake(
            f"{where}: {int(differs.sum()):,} payments got another merchant risk than build_features gives "
            f"(transaction {int(result['transaction_id'].iloc[first])}: yours {ours[first]}, expected {theirs[first]})"
        )


def grade_point_in_time_join(candidate):
    """Grade ``point_in_time_join(events, features, key, ttl)``; prints and returns the result."""
    return POINT_IN_TIME_JOIN.grade(candidate)


# --- Exercise 2: the skew check that names the rows ------------------------------------------

SKEW_ROWS = Exercise(
    "skew_rows",
    passed="finds every disagreeing row, and only those, matched by key",
)


@cache
def _customer_snapshot() -> pd.DataFrame:
    """Each customer's latest window features at the end of the bank's first four days."""
    from cardfraud.features import customer_features

    rows = customer_features(_bank_payments()).sort_values(["customer_id", "event_timestamp", "transaction_id"])
    latest = rows.groupby("customer_id").tail(1)
    return latest[["customer_id", *WINDOW_FEATURES]].reset_index(drop=True)


def _both_missing(snapshot: pd.DataFrame) -> pd.DataFrame:
    """Three customers whose average is missing on both sides (an amount the feed lost)."""
    out = snapshot.copy()
    out.loc[[5, 50, 500], "avg_amount_7d"] = np.nan
    return out


def _flagged(result: pd.DataFrame, key: str, where: str) -> list:
    if key not in result.columns:
        suffixed = [c for c in result.columns if str(c).startswith(f"{key}_")]
        if suffixed:
            raise Mistake(
                f"{where}: the result has {suffixed} but no `{key}`: the tables were joined on another column. "
                f"Join on the key you are given (here `{key}`), not on a column that happens to be in both"
            )
        raise Mistake(f"{where}: the result has no `{key}` column: return one row per disagreeing key, with the key")
    keys = result[key].tolist()
    if len(keys) != len(set(keys)):
        raise Mistake(
            f"{where}: the same {key} appears in several rows. Return one row per disagreeing key; if a key "
            f"matched many rows, the tables were joined on another column than `{key}`"
        )
    return keys


@SKEW_ROWS.check
def _tables_that_agree(candidate) -> None:
    left = _both_missing(_customer_snapshot())
    right = left.sample(frac=1.0, random_state=1).reset_index(drop=True)  # the same rows, another order
    where = f"two tables that agree ({len(left):,} customers, rows in another order)"
    flagged = _flagged(_call(candidate, left, right, "customer_id", WINDOW_FEATURES), "customer_id", where)
    if not flagged:
        return
    missing_both = set(left.loc[left["avg_amount_7d"].isna(), "customer_id"])
    if set(flagged) <= missing_both:
        raise Mistake(
            f"{where}: you flagged customers {sorted(flagged)}, whose avg_amount_7d is missing on both sides. "
            "In pandas NaN != NaN is True: count a value missing on both sides as agreement "
            "(a == b) | (a.isna() & b.isna())"
        )
    raise Mistake(
        f"{where}: you flagged {len(flagged):,} customers whose rows are identical on both sides. Match rows by "
        "the key column (merge on `key`), not by position or index: the two sides need not be in the same order"
    )


@cache
def _payment_case() -> tuple[pd.DataFrame, pd.DataFrame, dict[str, set]]:
    """Payment-level features (keyed by transaction_id, carrying customer_id too), with planted skew."""
    from cardfraud.features import build_features

    features = build_features(_bank_payments())
    left = features[["transaction_id", "customer_id", "event_timestamp", *WINDOW_FEATURES]].copy()
    both_missing = [11, 111, 1111]
    left.loc[both_missing, "avg_amount_7d"] = np.nan  # missing on both sides: agreement
    right = left.copy()
    others = np.setdiff1d(np.arange(len(left)), both_missing)
    picked = np.random.default_rng(5).choice(others, size=5, replace=False)  # five different payments
    edge, one_side, dropped, extra_source = picked[:2], picked[2:3], picked[3:4], picked[4:]
    right.loc[edge, "tx_count_1h"] += 1  # the window-edge bug: two payments off by one
    right.loc[one_side, "avg_amount_7d"] = np.nan  # missing on one side only
    right = right.drop(index=dropped)  # a row one side lost (Feast drops rows outside the TTL)
    extra = right.loc[extra_source].assign(transaction_id=left["transaction_id"].max() + 1)  # one side only
    right = pd.concat([right, extra]).sample(frac=1.0, random_state=2).reset_index(drop=True)
    ids = left["transaction_id"]
    planted = {
        "value": set(ids.iloc[edge]),
        "one side missing": set(ids.iloc[one_side]),
        "left only": set(ids.iloc[dropped]),
        "right only": set(extra["transaction_id"]),
    }
    return left, right, planted


@SKEW_ROWS.check
def _planted_skew(candidate) -> None:
    left, right, planted = _payment_case()
    where = f"{len(left):,} payments with 5 planted disagreements"
    flagged = set(_flagged(_call(candidate, left, right, "transaction_id", WINDOW_FEATURES), "transaction_id", where))
    expected = set().union(*planted.values())
    if planted["value"] - flagged:
        found = len(planted["value"] & flagged)
        raise Mistake(
            f"{where}: you found {found} of the 2 payments whose tx_count_1h is off by one. Compare every row: "
            "a boundary bug hits a handful of rows, and a random sample misses them"
        )
    if planted["left only"] - flagged or planted["right only"] - flagged:
        raise Mistake(
            f"{where}: a payment present on one side only was not reported. A row one side lost (Feast drops rows "
            "whose features are older than the TTL) is a disagreement: merge with how='outer' (indicator=True says "
            "which side a row came from)"
        )
    if planted["one side missing"] - flagged:
        raise Mistake(f"{where}: a value missing on one side only (NaN vs a number) is a disagreement; you did not report it")
    if flagged - expected:
        raise Mistake(
            f"{where}: you flagged {len(flagged - expected):,} payments that agree. Compare only the given "
            "columns, match rows on `key`, and count NaN on both sides as agreement"
        )


def grade_skew_rows(candidate):
    """Grade ``skew_rows(left, right, key, columns)``; prints and returns the result."""
    return SKEW_ROWS.grade(candidate)
