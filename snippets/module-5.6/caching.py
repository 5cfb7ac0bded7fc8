from pathlib import Path

from kfp import dsl, local

from cardfraud.pipelines import kfp_logs_to

local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root="kfp_outputs", enable_caching=True)


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def review_quota(payments_per_day: int) -> int:
    """How many payments the analysts can review a day; reads a setting the pipeline does not know about."""
    from pathlib import Path

    with open("executions.log", "a") as log:  # a side effect, to count real executions
        log.write("ran\n")
    share = float(Path("review_share.txt").read_text())
    return round(payments_per_day * share)


@dsl.pipeline(name="quota")
def quota(payments_per_day: int = 2_000) -> int:
    return review_quota(payments_per_day=payments_per_day).output


def run(**arguments) -> str:
    with kfp_logs_to("kfp_local.log"):
        result = quota(**arguments).output
    executions = len(Path("executions.log").read_text().splitlines())
    return f"quota {result} | executions so far: {executions}"


Path("review_share.txt").write_text("0.05")
print("first run:       ", run(payments_per_day=2_000))
print("same inputs:     ", run(payments_per_day=2_000))
print("new input:       ", run(payments_per_day=4_000))
Path("review_share.txt").write_text("0.02")  # state outside the inputs changes...
print("file changed:    ", run(payments_per_day=2_000), "<- stale: the cache cannot see the file (should be 40)")
