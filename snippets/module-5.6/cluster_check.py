import ast
import inspect

import kfp
import yaml
from kfp import compiler

from cardfraud import pipelines

compiler.Compiler().compile(pipelines.continuous_training, package_path="fraud_pipeline.yaml")
spec = yaml.safe_load(open("fraud_pipeline.yaml"))
executors = spec["deploymentSpec"]["executors"]

images = {e["container"]["image"] for e in executors.values()}
installs_at_runtime = any("pip install" in " ".join(e["container"]["command"]) for e in executors.values())
train_resources = executors["exec-train"]["container"]["resources"]
tasks = spec["root"]["dag"]["tasks"]
train_retry = tasks["train"]["retryPolicy"]
print("images:", images)
print("pip install at run time:", installs_at_runtime)
print("train resources:", train_resources)
print("train retries:", train_retry)
# The compiled caching choice per top-level task (register sits inside the condition's own DAG).
print("cached:", {name: task.get("cachingOptions", {}).get("enableCache", False) for name, task in sorted(tasks.items()) if name != "condition-1"})

# Every keyword argument submit() passes to kfp.Client exists in the pinned SDK.
calls = [n for n in ast.walk(ast.parse(inspect.getsource(pipelines.submit))) if isinstance(n, ast.Call)]
for call in calls:
    method = getattr(call.func, "attr", "")
    if method.startswith("create_"):
        accepted = inspect.signature(getattr(kfp.Client, method)).parameters
        unknown = [k.arg for k in call.keywords if k.arg not in accepted]
        print(f"kfp.Client.{method}: {len(call.keywords)} keyword arguments, unknown: {unknown or 'none'}")
        # Set at submission, enable_caching overrides the compiled setting of every top-level task.
        print("  overrides the compiled caching:", any(k.arg == "enable_caching" for k in call.keywords))
