"""What CI runs on every change, as pytest tests: data, features, model behaviour.

    $ python -m pytest -qq -p no:cacheprovider --pyargs cardfraud.model_tests

Small and fast on purpose (a two-week sample, a shallow model): these tests
guard the code, not the model's final quality, which the pipeline's gate judges
on real data. The behaviour tests follow CheckList (Ribeiro et al., 2020):
minimum functionality, invariance and directional expectations.
"""

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from cardfraud import DataQualityFaults, generate
from cardfraud.checks import data_problems
from cardfraud.costs import DECISION_THRESHOLD
from cardfraud.features import build_features
from cardfraud.model import score, split_by_time, train

SAMPLE = {"days": 14, "transactions_per_day": 1_000, "seed": 42}
CUTOFF = "2026-01-15"


@pytest.fixture(scope="module")
def transactions() -> pd.DataFrame:
    return generate(**SAMPLE)


@pytest.fixture(scope="module")
def features(transactions) -> pd.DataFrame:
    return build_features(transactions)


@pytest.fixture(scope="module")
def model(features):
    train_rows, _ = split_by_time(features, CUTOFF)
    with threadpool_limits(limits=1):  # a CI runner's few cores, shared: no OpenMP oversubscription
        return train(train_rows, max_iter=100)


@pytest.fixture(scope="module")
def legit_rows(features) -> pd.DataFrame:
    _, test_rows = split_by_time(features, CUTOFF)
    return test_rows[test_rows["is_fraud"] == 0]


def test_clean_batch_meets_the_contract(transactions):
    assert data_problems(transactions) == []


def test_broken_feed_is_rejected():
    broken = generate(**SAMPLE, drifts=[DataQualityFaults(start="2026-01-12")])
    problems = " ".join(data_problems(broken))
    for symptom in ("null", "cents", "crypto_exchange"):
        assert symptom in problems


def test_features_do_not_see_the_future(transactions, features):
    """Point-in-time: a transaction's features do not change when later data arrives."""
    early = transactions[transactions["event_timestamp"] < pd.Timestamp(CUTOFF, tz="UTC")]
    pd.testing.assert_frame_equal(build_features(early), features.iloc[: len(early)].reset_index(drop=True))


def test_minimum_functionality(model):
    """Textbook cases the model must get right at the course's one decision threshold (module 5.3):
    the burst goes to an analyst, the groceries do not."""
    cases = pd.DataFrame(
        [
            # card-testing burst: online electronics abroad at 3 a.m., 30x the usual basket
            dict(amount=1800.0, hour=3, is_foreign=1, channel="online", merchant_category="electronics",
                 tx_count_1h=4, tx_count_24h=5, avg_amount_7d=60.0, amount_to_avg_ratio=30.0, merchant_risk_rate=0.05),
            # weekly groceries, contactless, at home, at noon
            dict(amount=25.0, hour=12, is_foreign=0, channel="contactless", merchant_category="grocery",
                 tx_count_1h=1, tx_count_24h=2, avg_amount_7d=30.0, amount_to_avg_ratio=0.83, merchant_risk_rate=0.005),
        ]
    )
    fraud_score, legit_score = score(model, cases)
    assert fraud_score >= DECISION_THRESHOLD
    assert legit_score < DECISION_THRESHOLD


def test_invariance_to_a_cent(model, legit_rows):
    """Rounding an amount by one cent must not move any score noticeably."""
    nudged = legit_rows.assign(amount=legit_rows["amount"] + 0.01)
    assert np.abs(score(model, nudged) - score(model, legit_rows)).max() < 0.01


@pytest.mark.parametrize("column, change", [("is_foreign", lambda s: 1), ("tx_count_1h", lambda s: s + 3)])
def test_directional_risk_signals(model, legit_rows, column, change):
    """A purchase made abroad, or in a burst, must not look safer than the same purchase without."""
    before = score(model, legit_rows)
    after = score(model, legit_rows.assign(**{column: change(legit_rows[column])}))
    assert after.mean() > before.mean()
    assert (after >= before - 1e-6).mean() >= 0.9
