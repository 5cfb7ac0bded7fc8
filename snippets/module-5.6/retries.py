from kfp import dsl, local

from cardfraud.pipelines import kfp_logs_to

local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root="kfp_outputs")


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def fetch_labels(failures_before_success: int) -> int:
    """Stands in for a call to a flaky service: fails a few times, then answers."""
    from pathlib import Path

    attempts = Path("attempts.log")
    attempts.write_text(attempts.read_text() + "x" if attempts.exists() else "x")
    if len(attempts.read_text()) <= failures_before_success:
        raise ConnectionError("chargeback service timed out")
    return 1_234  # labels fetched


@dsl.pipeline(name="labels")
def labels(failures_before_success: int = 2) -> int:
    task = fetch_labels(failures_before_success=failures_before_success)
    task.set_retry(num_retries=3, backoff_duration="0s", backoff_factor=2.0)
    return task.output


with kfp_logs_to("kfp_local.log"):
    run = labels(failures_before_success=2)
print("labels fetched:", run.output, "after", len(open("attempts.log").read()), "attempts")
