"""The running example does what its documentation says, statistically."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from cardfraud import ConceptDrift, CovariateDrift, DataQualityFaults, LabelShift, generate, labels_known
from cardfraud.features import build_features, customer_features, merchant_risk
from cardfraud.model import evaluate, split_by_time, train

DRIFT_START = "2026-01-19"  # week 3 of the default four weeks


@pytest.fixture(scope="module")
def clean():
    return generate()


def _after(df):
    return df[df["event_timestamp"] >= pd.Timestamp(DRIFT_START, tz="UTC")]


def _before(df):
    return df[df["event_timestamp"] < pd.Timestamp(DRIFT_START, tz="UTC")]


def test_same_seed_same_data_other_seed_other_data(clean):
    pd.testing.assert_frame_equal(clean, generate())
    assert not clean["amount"].equals(generate(seed=7)["amount"])


def test_schema_and_order(clean):
    assert list(clean.columns) == [
        "transaction_id", "event_timestamp", "customer_id", "merchant_id", "amount", "merchant_category",
        "channel", "country", "home_country", "is_fraud", "label_available_at",
    ]
    assert clean["event_timestamp"].is_monotonic_increasing
    assert (clean["transaction_id"].diff().dropna() == 1).all()
    assert str(clean["event_timestamp"].dt.tz) == "UTC"
    assert clean["event_timestamp"].min() >= pd.Timestamp("2026-01-05", tz="UTC")
    assert clean["event_timestamp"].max() < pd.Timestamp("2026-02-02", tz="UTC")


def test_fraud_rate_is_close_to_the_setting(clean):
    assert clean["is_fraud"].mean() == pytest.approx(0.01, rel=0.15)
    assert generate(fraud_rate=0.03)["is_fraud"].mean() == pytest.approx(0.03, rel=0.15)


def test_labels_arrive_late(clean):
    delay_days = (clean["label_available_at"] - clean["event_timestamp"]).dt.total_seconds() / 86_400
    fraud = clean["is_fraud"] == 1
    assert delay_days[~fraud].eq(30).all(), "undisputed purchases are labelled when the 30-day window closes"
    assert 4 < delay_days[fraud].median() < 8 and delay_days[fraud].max() <= 45
    known = labels_known(clean, "2026-01-20")
    assert known.any() and not known.all()
    assert clean.loc[known, "is_fraud"].eq(1).all(), "after two weeks only chargebacks are known"


def test_fraud_comes_in_bursts(clean):
    features = build_features(clean)
    fraud = features["is_fraud"] == 1
    assert features.loc[fraud, "tx_count_1h"].mean() > 1.5 * features.loc[~fraud, "tx_count_1h"].mean()


def test_days_before_a_drift_are_untouched(clean):
    drifted = generate(drifts=[CovariateDrift(DRIFT_START), ConceptDrift(DRIFT_START), LabelShift(DRIFT_START), DataQualityFaults(DRIFT_START)])
    pd.testing.assert_frame_equal(_before(clean).reset_index(drop=True), _before(drifted).reset_index(drop=True))


def test_covariate_drift_moves_inputs_not_the_fraud_rate(clean):
    drifted = generate(drifts=[CovariateDrift(DRIFT_START, amount_factor=1.6)])
    before, after = _after(clean), _after(drifted)
    assert after["amount"].median() / before["amount"].median() == pytest.approx(1.6, rel=0.1)
    assert stats.ks_2samp(before["amount"], after["amount"]).pvalue < 1e-6
    assert (after["channel"] == "online").mean() > (before["channel"] == "online").mean() + 0.1
    assert after["is_fraud"].mean() == pytest.approx(before["is_fraud"].mean(), rel=0.2)


def test_concept_drift_keeps_inputs_but_defeats_an_old_model(clean):
    drifted = generate(drifts=[ConceptDrift(DRIFT_START)])
    before, after = _after(clean), _after(drifted)
    # Inputs barely move: fraud is 1% of rows, and it now looks like ordinary purchases.
    assert after["amount"].median() == pytest.approx(before["amount"].median(), rel=0.05)
    assert after["is_fraud"].mean() == pytest.approx(before["is_fraud"].mean(), rel=0.2)
    # What fraud looks like changes: far less of it is foreign.
    foreign = lambda d: (d.loc[d["is_fraud"] == 1, "country"] != d.loc[d["is_fraud"] == 1, "home_country"]).mean()
    assert foreign(after) < foreign(before) / 2
    model = train(_before(build_features(clean)))
    assert evaluate(model, _after(build_features(drifted)))["pr_auc"] < evaluate(model, _after(build_features(clean)))["pr_auc"] / 2


def test_label_shift_multiplies_fraud(clean):
    drifted = generate(drifts=[LabelShift(DRIFT_START, fraud_rate_factor=3.0)])
    assert _after(drifted)["is_fraud"].mean() / _after(clean)["is_fraud"].mean() == pytest.approx(3.0, rel=0.2)


def test_data_quality_faults(clean):
    faults = DataQualityFaults(DRIFT_START, null_amount_share=0.05, cents_amount_share=0.02, new_category="crypto_exchange")
    drifted = generate(drifts=[faults])
    before, after = _before(drifted), _after(drifted)
    assert before["amount"].notna().all() and "crypto_exchange" not in set(before["merchant_category"])
    assert after["amount"].isna().mean() == pytest.approx(0.05, rel=0.15)
    assert (after["merchant_category"] == "crypto_exchange").mean() == pytest.approx(0.05, rel=0.15)
    # Amounts sent in cents: far above anything the clean feed has.
    assert (after["amount"] > clean["amount"].max()).mean() > 0.002


def test_customer_windows_match_a_brute_force_count(clean):
    sample = clean.sample(200, random_state=0)
    windows = customer_features(clean).loc[sample.index]
    for index, row in sample.iterrows():
        mine = clean[clean["customer_id"] == row["customer_id"]]
        upto = mine[mine["event_timestamp"] <= row["event_timestamp"]]
        assert windows.at[index, "tx_count_1h"] == (upto["event_timestamp"] > row["event_timestamp"] - pd.Timedelta("1h")).sum()
        assert windows.at[index, "tx_count_24h"] == (upto["event_timestamp"] > row["event_timestamp"] - pd.Timedelta("24h")).sum()


def test_merchant_risk_uses_only_chargebacks_that_have_arrived(clean):
    risk = merchant_risk(clean)
    day = pd.Timestamp("2026-01-26", tz="UTC")
    merchant = clean.loc[clean["is_fraud"] == 1, "merchant_id"].value_counts().index[0]
    rows = clean[(clean["merchant_id"] == merchant) & (clean["event_timestamp"] < day)]
    known_fraud = ((rows["is_fraud"] == 1) & (rows["label_available_at"] < day)).sum()
    expected = (known_fraud + 0.01 * 50) / (len(rows) + 50)
    got = risk[(risk["merchant_id"] == merchant) & (risk["event_timestamp"] == day)]["merchant_risk_rate"].item()
    assert got == pytest.approx(expected, abs=1e-5)


def test_split_by_time_never_mixes_periods(clean):
    train_rows, test_rows = split_by_time(build_features(clean), DRIFT_START)
    assert train_rows["event_timestamp"].max() < test_rows["event_timestamp"].min()


def test_a_million_transactions_in_under_two_seconds():
    generate(days=2)  # warm up
    best = min(_timed(lambda: generate(days=200, transactions_per_day=5_000)) for _ in range(2))
    assert best < 2.0, f"generating ~1M transactions took {best:.2f} CPU seconds"


def _timed(fn) -> float:
    """CPU seconds of this process (the generator uses one thread): the suite's other workers
    share the cores, and wall time would measure them."""
    started = time.process_time()
    frame = fn()
    elapsed = time.process_time() - started
    assert len(frame) >= 1_000_000
    return elapsed
