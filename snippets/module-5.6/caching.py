from pathlib import Path

from kfp import dsl, local

from cardfraud.pipelines import kfp_logs_to

local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root="kfp_outputs", enable_caching=True)


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def alert_threshold(fraud_rate: float) -> float:
    """Flags the riskiest transactions; reads a setting from a file the pipeline does not know about."""
    from pathlib import Path

    with open("executions.log", "a") as log:  # a side effect, to count real executions
        log.write("ran\n")
    multiplier = float(Path("risk_appetite.txt").read_text())
    return round(fraud_rate * multiplier, 4)


@dsl.pipeline(name="threshold")
def threshold(fraud_rate: float = 0.01) -> float:
    return alert_threshold(fraud_rate=fraud_rate).output


def run(**arguments) -> str:
    with kfp_logs_to("kfp_local.log"):
        result = threshold(**arguments).output
    executions = len(Path("executions.log").read_text().splitlines())
    return f"threshold {result} | executions so far: {executions}"


Path("risk_appetite.txt").write_text("50")
print("first run:       ", run(fraud_rate=0.01))
print("same inputs:     ", run(fraud_rate=0.01))
print("new input:       ", run(fraud_rate=0.02))
Path("risk_appetite.txt").write_text("20")  # state outside the inputs changes...
print("file changed:    ", run(fraud_rate=0.01), "<- stale: the cache cannot see the file")
