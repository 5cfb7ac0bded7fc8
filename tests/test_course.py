"""The thread's shared rules, tested on their own: labels as known, paired comparisons, the
promtool cross-check, the lab folder. Each module's page shows them at work; these tests pin
the edges a page does not show."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score

from cardfraud.course import lab_folder
from cardfraud.decisions import average_precision, compare, verdict
from cardfraud.labels import decision_windows, label_as_known, matured
from cardfraud.monitoring import promtool_test


def payments(times: list[str], fraud: list[int], reported: list[str]) -> pd.DataFrame:
    return pd.DataFrame({
        "event_timestamp": pd.to_datetime(times, utc=True),
        "is_fraud": np.array(fraud, dtype="int8"),
        "label_available_at": pd.to_datetime(reported, utc=True),
    })


def test_a_chargeback_counts_from_the_moment_it_arrives():
    rows = payments(["2026-02-01 00:00"] * 3, [1, 1, 0], ["2026-02-10 08:00", "2026-02-10 08:01", "2026-03-03 00:00"])
    assert label_as_known(rows, "2026-02-10 08:00").tolist() == [1, 0, 0]


def test_matured_payments_are_older_than_the_maturity():
    rows = payments(["2026-02-01 23:59", "2026-02-02 00:00"], [0, 0], ["2026-03-03 00:00"] * 2)
    assert matured(rows, "2026-02-16").tolist() == [True, False]


def test_decision_windows_are_the_newest_matured_week_and_everything_before():
    times = pd.date_range("2026-01-05", "2026-02-16", freq="6h", tz="UTC", inclusive="left")
    rows = payments(list(times.astype(str)), [0] * len(times), ["2026-04-01"] * len(times))
    train, evaluation = decision_windows(rows, "2026-02-16")
    assert train["event_timestamp"].max() < pd.Timestamp("2026-01-26", tz="UTC") <= evaluation["event_timestamp"].min()
    assert evaluation["event_timestamp"].max() < pd.Timestamp("2026-02-02", tz="UTC")


def test_average_precision_is_scikit_learns_with_ties_and_weights():
    rng = np.random.default_rng(3)
    y = (rng.random(2_000) < 0.03).astype(int)
    scores = np.round(rng.random(2_000) * 0.6 + 0.3 * y, 2)  # rounded: many ties
    assert average_precision(y, scores)[0] == pytest.approx(average_precision_score(y, scores))
    weights = rng.integers(0, 3, size=2_000)
    assert average_precision(y, scores, weights)[0] == pytest.approx(average_precision_score(y, scores, sample_weight=weights))


@pytest.mark.parametrize("low, high, positives, expected", [
    (0.03, 0.09, 100, "promote"),
    (0.01, 0.09, 100, "not enough evidence"),  # reaches above the margin, does not clear it
    (-0.05, 0.015, 100, "keep"),
    (0.03, 0.09, 29, "not enough evidence"),  # too few known frauds to judge
])
def test_the_promotion_rule(low, high, positives, expected):
    assert verdict(low, high, positives, margin=0.02, min_positives=30) == expected


def test_a_clearly_better_model_is_promoted_and_the_interval_is_seeded():
    rng = np.random.default_rng(0)
    y = (rng.random(5_000) < 0.02).astype(int)
    champion = rng.random(5_000) + 0.3 * y
    challenger = rng.random(5_000) + 1.5 * y
    first, again = compare(y, champion, challenger), compare(y, champion, challenger)
    assert first.verdict == "promote" and (first.low, first.high) == (again.low, again.high)
    assert compare(y, challenger, champion).verdict == "keep"


SERIES = {"recall": 'cardfraud_confirmed_fraud_recall{model="fraud-detector"}', "count": 'cardfraud_confirmed_fraud{model="fraud-detector"}'}
FIRING = {"model": "fraud-detector", "severity": "ticket"}


def test_promtool_fires_the_recall_alert_on_the_days_the_rule_says(tmp_path):
    days = [(float("nan"), 0), (0.6, 10), (0.6, 30), (float("nan"), 0), (0.6, 30), (0.9, 40)]
    scrapes = [{SERIES["recall"]: recall, SERIES["count"]: count} for recall, count in days]
    right = [None, None, FIRING, None, FIRING, None]
    assert promtool_test(scrapes, {"CardfraudConfirmedRecallLow": right}, tmp_path / "t.yml")[0]
    wrong = [None, FIRING, FIRING, None, FIRING, None]  # day 2 has too few confirmed frauds
    passed, output = promtool_test(scrapes, {"CardfraudConfirmedRecallLow": wrong}, tmp_path / "t.yml")
    assert not passed and "CardfraudConfirmedRecallLow" in output


def test_a_lab_folder_is_emptied_only_if_a_lab_made_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = lab_folder("lab-x")
    (folder / "mlflow.db").write_text("old run")
    monkeypatch.chdir(tmp_path)
    assert not (lab_folder("lab-x") / "mlflow.db").exists()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine").mkdir()
    with pytest.raises(FileExistsError):
        lab_folder("mine")
