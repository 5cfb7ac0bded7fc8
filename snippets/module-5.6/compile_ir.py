import yaml
from kfp import compiler

compiler.Compiler().compile(enough_new_labels, package_path="enough_new_labels.yaml")
spec = yaml.safe_load(open("enough_new_labels.yaml"))
print("schema", spec["schemaVersion"], "| pipeline", spec["pipelineInfo"]["name"])
print("components:", sorted(spec["components"]))
print("images:", sorted({e["container"]["image"] for e in spec["deploymentSpec"]["executors"].values()}))


def tasks(dag: dict):
    """Every task of the pipeline, nested groups included."""
    for name, task in dag["tasks"].items():
        yield name, task
        inner = spec["components"][task["componentRef"]["name"]].get("dag")
        if inner:
            yield from tasks(inner)


for name, task in tasks(spec["root"]["dag"]):
    if "parameterIterator" in task:
        print(f"{name}: iterates over {task['parameterIterator']['items']}, parallelism {task['iteratorPolicy']['parallelismLimit']}")
    if "triggerPolicy" in task:
        print(f"{name}: runs if {task['triggerPolicy']['condition']}")
