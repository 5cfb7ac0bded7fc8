import json
from pathlib import Path

from kfp import dsl, local
from kfp.dsl import Dataset, Input, Metrics, Output

from cardfraud.pipelines import IMAGE, kfp_logs_to

local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root="kfp_outputs")


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def sample_transactions(days: int, transactions: Output[Dataset]) -> int:
    from cardfraud import generate  # imports go inside: only this function's source is shipped

    frame = generate(days=days, transactions_per_day=1_000)
    frame.to_parquet(transactions.path, index=False)
    transactions.metadata["rows"] = len(frame)
    return len(frame)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def fraud_rate(transactions: Input[Dataset], report: Output[Metrics]) -> float:
    import pandas as pd

    rate = round(float(pd.read_parquet(transactions.path)["is_fraud"].mean()), 4)
    report.log_metric("fraud_rate", rate)
    return rate


@dsl.pipeline(name="fraud-rate-report")
def fraud_rate_report(days: int = 7) -> float:
    sample = sample_transactions(days=days)
    # sample has two outputs (the int it returns and the Dataset), so name the one you mean
    rate = fraud_rate(transactions=sample.outputs["transactions"])
    return rate.outputs["Output"]  # also two outputs: the float and the Metrics artifact


with kfp_logs_to("kfp_local.log"):  # kfp.local's verbose task logs go to a file
    run = fraud_rate_report(days=7)
    single = sample_transactions(days=1)  # a component also runs on its own
print("fraud rate:", run.output)
try:
    single.output
except AttributeError as error:
    print("single.output ->", error)
print('single.outputs["Output"] ->', single.outputs["Output"])

# What each step recorded: its parameters and artifacts, with where they live.
root = Path("kfp_outputs").resolve()
for record in sorted(root.glob("fraud-rate-report-*/*/executor_output.json")):  # the pipeline run
    outputs = json.loads(record.read_text())
    print(f"{record.parent.name}: parameters {outputs['parameterValues']}")
    for name, entry in outputs.get("artifacts", {}).items():
        artifact = entry["artifacts"][0]
        where = Path(artifact["uri"]).relative_to(root).as_posix().split("/", 1)[1]
        print(f"  artifact {name} -> <run>/{where} metadata={artifact['metadata']}")
