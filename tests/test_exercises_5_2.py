"""Lab 5.2's graders, three ways: the lab's solutions pass, its stubs are "not done yet", and
plausible wrong answers fail with the hint that names their mistake."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from cardfraud.exercises import FAIL, NOT_DONE, PASS, lab_5_2
from tests.harness.labs import LABS

LAB = LABS / "lab-5.2.py"


def section(name: str) -> str:
    """The code between ``# --8<-- [start:name]`` and ``# --8<-- [end:name]`` in the lab."""
    found = re.search(rf"^# --8<-- \[start:{name}\]\n(.*?)^# --8<-- \[end:{name}\]", LAB.read_text(encoding="utf-8"), re.S | re.M)
    assert found, f"{LAB.name} has no section {name}"
    return found[1]


def lab_function(section_name: str, function: str):
    """The function a section of the lab defines, run as the notebook runs it (pandas imported as pd)."""
    namespace = {"pd": pd}
    exec(compile(section(section_name), f"{LAB.name}:{section_name}", "exec"), namespace)
    return namespace[function]


# --- point_in_time_join --------------------------------------------------------------------------

def _asof(**changes):
    """merge_asof with the solution's arguments, some changed: one plausible mistake each."""

    def join(events, features, key, ttl):
        arguments = {"on": "event_timestamp", "by": key, "direction": "backward", "tolerance": ttl, **changes}
        ordered = events.sort_values("event_timestamp", kind="stable")
        joined = pd.merge_asof(ordered, features.sort_values("event_timestamp", kind="stable"),
                               **{k: v for k, v in arguments.items() if v is not None})
        joined.index = ordered.index
        return joined.loc[events.index]

    return join


def reads_the_future(events, features, key, ttl):
    return _asof(direction="forward")(events, features, key, ttl)


def takes_the_nearest_row(events, features, key, ttl):
    return _asof(direction="nearest")(events, features, key, ttl)


def ignores_the_ttl(events, features, key, ttl):
    return _asof(tolerance=None)(events, features, key, ttl)


def drops_a_value_exactly_one_ttl_old(events, features, key, ttl):
    return _asof(tolerance=ttl - pd.Timedelta(microseconds=1))(events, features, key, ttl)


def misses_a_row_at_the_same_instant(events, features, key, ttl):
    return _asof(allow_exact_matches=False)(events, features, key, ttl)


def joins_other_customers_rows(events, features, key, ttl):
    return _asof(by=None)(events, features, key, ttl)


def exact_timestamp_merge(events, features, key, ttl):
    return events.merge(features, on=[key, "event_timestamp"], how="left").set_axis(events.index)


def exact_timestamp_inner_join(events, features, key, ttl):
    return events.merge(features, on=[key, "event_timestamp"])


def plain_merge_on_the_key(events, features, key, ttl):
    return events.merge(features.drop(columns="event_timestamp"), on=key, how="left")


def returns_rows_sorted_by_time(events, features, key, ttl):
    return pd.merge_asof(events.sort_values("event_timestamp"), features.sort_values("event_timestamp"),
                         on="event_timestamp", by=key, tolerance=ttl)


def forgets_to_sort(events, features, key, ttl):
    return pd.merge_asof(events, features, on="event_timestamp", by=key, tolerance=ttl)


PIT_MISTAKES = {
    reads_the_future: "reads the future",
    takes_the_nearest_row: "reads the future",
    ignores_the_ttl: "ignores the TTL",
    drops_a_value_exactly_one_ttl_old: "exactly one TTL old",
    misses_a_row_at_the_same_instant: "allow_exact_matches=True",
    joins_other_customers_rows: "another customer's value",
    exact_timestamp_merge: "an exact merge on (key, timestamp)",
    exact_timestamp_inner_join: "Keep every event",
    plain_merge_on_the_key: "keeps one row per event",
    returns_rows_sorted_by_time: "index is not the events' index",
    forgets_to_sort: "sorted by the time column",
}


def test_point_in_time_join_solution_passes():
    result = lab_5_2.POINT_IN_TIME_JOIN.grade(lab_function("solution-point-in-time-join", "point_in_time_join"), quiet=True)
    assert result.status == PASS, result.message


def test_point_in_time_join_stub_is_not_done():
    result = lab_5_2.POINT_IN_TIME_JOIN.grade(lab_function("exercise-point-in-time-join", "point_in_time_join"), quiet=True)
    assert result.status == NOT_DONE, result.message


@pytest.mark.parametrize("mistake", PIT_MISTAKES, ids=lambda f: f.__name__)
def test_point_in_time_join_mistake_fails_with_its_hint(mistake):
    result = lab_5_2.POINT_IN_TIME_JOIN.grade(mistake, quiet=True)
    assert result.status == FAIL, f"{mistake.__name__} passed the grader"
    assert PIT_MISTAKES[mistake] in result.message, result.message


def test_the_running_example_case_is_what_build_features_joins():
    """The grader's bank case needs no TTL and no fill: every payment has a merchant row that day."""
    events, features, reference = lab_5_2._merchant_case()
    assert reference.notna().all()
    assert len(events) == len(reference) > 5_000


# --- skew_rows -----------------------------------------------------------------------------------

def _compare(both, columns, equal):
    differs = both["_merge"] != "both"
    for column in columns:
        differs |= ~equal(both[column], both[f"{column}_right"])
    return differs


def _nan_safe(a, b):
    return (a == b) | (a.isna() & b.isna())


def compares_a_random_sample(left, right, key, columns):
    both = left.merge(right, on=key, how="outer", suffixes=("", "_right"), indicator=True).sample(200, random_state=0)
    return both.loc[_compare(both, columns, _nan_safe), [key]]


def treats_nan_as_different_from_nan(left, right, key, columns):
    both = left.merge(right, on=key, how="outer", suffixes=("", "_right"), indicator=True)
    return both.loc[_compare(both, columns, lambda a, b: a == b), [key]]


def joins_on_the_index_not_the_key(left, right, key, columns):
    both = left.join(right, rsuffix="_right").assign(_merge="both")
    return both.loc[_compare(both, columns, _nan_safe), [key]]


def inner_join_loses_one_sided_rows(left, right, key, columns):
    both = left.merge(right, on=key, suffixes=("", "_right")).assign(_merge="both")
    return both.loc[_compare(both, columns, _nan_safe), [key]]


def joins_on_the_wrong_key(left, right, key, columns):
    both = left.merge(right, on="customer_id", how="outer", suffixes=("", "_right"), indicator=True)
    return both.loc[_compare(both, columns, _nan_safe)]


def ignores_a_value_missing_on_one_side(left, right, key, columns):
    both = left.merge(right, on=key, how="outer", suffixes=("", "_right"), indicator=True)
    return both.loc[_compare(both, columns, lambda a, b: (a == b) | a.isna() | b.isna()), [key]]


SKEW_MISTAKES = {
    compares_a_random_sample: "a random sample misses them",
    treats_nan_as_different_from_nan: "NaN != NaN",
    joins_on_the_index_not_the_key: "not by position or index",
    inner_join_loses_one_sided_rows: "how='outer'",
    joins_on_the_wrong_key: "joined on another column",
    ignores_a_value_missing_on_one_side: "missing on one side only",
}


def test_skew_rows_solution_passes():
    result = lab_5_2.SKEW_ROWS.grade(lab_function("solution-skew-rows", "skew_rows"), quiet=True)
    assert result.status == PASS, result.message


def test_skew_rows_stub_is_not_done():
    result = lab_5_2.SKEW_ROWS.grade(lab_function("exercise-skew-rows", "skew_rows"), quiet=True)
    assert result.status == NOT_DONE, result.message


@pytest.mark.parametrize("mistake", SKEW_MISTAKES, ids=lambda f: f.__name__)
def test_skew_rows_mistake_fails_with_its_hint(mistake):
    result = lab_5_2.SKEW_ROWS.grade(mistake, quiet=True)
    assert result.status == FAIL, f"{mistake.__name__} passed the grader"
    assert SKEW_MISTAKES[mistake] in result.message, result.message


def test_graders_print_one_line(capsys):
    lab_5_2.grade_skew_rows(lab_function("solution-skew-rows", "skew_rows"))
    assert capsys.readouterr().out.startswith("PASS  exercise skew_rows:")
