import json
from pathlib import Path
from typing import List

from kfp import dsl, local

from cardfraud.pipelines import kfp_logs_to

local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root="kfp_outputs")
BASE = "python:3.11"


@dsl.component(base_image=BASE, install_kfp_package=False)
def count_new_labels(day: int) -> int:
    """Stand-in for counting one day's newly labelled transactions."""
    return 1_500 + 250 * day


@dsl.component(base_image=BASE, install_kfp_package=False)
def describe(counts: List[int]) -> str:
    return f"{counts} arrive as {sorted({type(c).__name__ for c in counts})}"


@dsl.component(base_image=BASE, install_kfp_package=False)
def total(counts: List[int]) -> int:
    return int(sum(counts))  # cast back: the list holds floats, whatever the annotation says


@dsl.component(base_image=BASE, install_kfp_package=False)
def start_retraining(rows: int) -> str:
    return f"retrain on {rows} new labels"


@dsl.component(base_image=BASE, install_kfp_package=False)
def wait(rows: int) -> str:
    return f"wait: only {rows} new labels"


@dsl.pipeline(name="enough-new-labels")
def enough_new_labels(days: List[int] = [1, 2, 3], minimum: int = 5_000) -> str:
    with dsl.ParallelFor(days, parallelism=2) as day:  # fan out: one task per day
        counted = count_new_labels(day=day)
    # Fan in: the list of every iteration's output. One Collected per consumer:
    # passing the same Collected object to two tasks fails here, in @dsl.pipeline (KeyError: 'for-loop-1').
    describe(counts=dsl.Collected(counted.output))
    rows = total(counts=dsl.Collected(counted.output))
    with dsl.If(rows.output >= minimum, name="enough"):
        go = start_retraining(rows=rows.output)
    with dsl.Else(name="not-enough"):
        stop = wait(rows=rows.output)
    return dsl.OneOf(go.output, stop.output)


with kfp_logs_to("kfp_local.log"):
    many = enough_new_labels(days=[1, 2, 3])
    few = enough_new_labels(days=[1, 2])
    direct = describe(counts=[1_750, 2_000])  # a single component also runs on its own
print(many.output)
print(few.output)
# The first run's record (run folders are named by start time, so sorted() puts it first).
collected = sorted(Path("kfp_outputs").glob("enough-new-labels-*/describe/executor_output.json"))[0]
print("collected:", json.loads(collected.read_text())["parameterValues"]["Output"])
print("direct:   ", direct.output)
