"""Labels as the bank knows them on a given day, and the windows a decision may use.

A fraud becomes known when its chargeback arrives (median six days after the payment, see
``cardfraud.generate``). A payment without a chargeback yet is treated as legitimate: that is
all the bank can do, and it is wrong for every fraud whose chargeback is still on its way. So
code that trains or evaluates on day T uses only payments old enough for nearly all of their
chargebacks to have arrived: older than ``LABEL_MATURITY_DAYS``.

    >>> from cardfraud.labels import label_as_known, matured
    >>> y = label_as_known(features, "2026-02-16")           # what the bank knew that day
    >>> usable = features[matured(features, "2026-02-16")]    # payments before 2 February
"""

from __future__ import annotations

import pandas as pd

from cardfraud.generate import labels_known

# About 92% of chargebacks arrive within 14 days and 98% within 21 (the running example's delay is
# log-normal with a median of six days; module 5.1 measures it). Older payments are "matured".
LABEL_MATURITY_DAYS = 14
# The newest matured week is the evaluation window of every model comparison.
EVALUATION_DAYS = 7


def as_timestamp(when: str | pd.Timestamp) -> pd.Timestamp:
    """A UTC timestamp from a date string or a timestamp (naive ones are taken as UTC)."""
    when = pd.Timestamp(when)
    return when.tz_localize("UTC") if when.tzinfo is None else when


def label_as_known(rows: pd.DataFrame, as_of: str | pd.Timestamp) -> pd.Series:
    """1 for the payments whose chargeback has arrived by ``as_of``, 0 for every other payment."""
    return ((rows["is_fraud"] == 1) & labels_known(rows, as_of)).astype("int8")


def matured(rows: pd.DataFrame, as_of: str | pd.Timestamp, maturity_days: int = LABEL_MATURITY_DAYS) -> pd.Series:
    """True for payments at least ``maturity_days`` old on ``as_of``: their labels can be used."""
    return rows["event_timestamp"] < as_timestamp(as_of) - pd.Timedelta(days=maturity_days)


def with_labels_as_known(rows: pd.DataFrame, as_of: str | pd.Timestamp) -> pd.DataFrame:
    """``rows`` with ``is_fraud`` replaced by the label known on ``as_of``."""
    return rows.assign(is_fraud=label_as_known(rows, as_of))


def decision_windows(
    rows: pd.DataFrame,
    as_of: str | pd.Timestamp,
    evaluation_days: int = EVALUATION_DAYS,
    maturity_days: int = LABEL_MATURITY_DAYS,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The (training, evaluation) rows a decision on ``as_of`` may use, labelled as known then.

    Evaluation is the newest ``evaluation_days`` of matured payments; training is every matured
    payment before it. Payments younger than ``maturity_days`` are in neither.
    """
    end = as_timestamp(as_of) - pd.Timedelta(days=maturity_days)
    start = end - pd.Timedelta(days=evaluation_days)
    known = with_labels_as_known(rows, as_of)
    times = known["event_timestamp"]
    return known[times < start], known[(times >= start) & (times < end)]
