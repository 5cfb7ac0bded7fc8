import re
from pathlib import Path

import yaml

import cardfraud

SNIPPETS = Path(cardfraud.__file__).resolve().parents[1]  # this course keeps its files under snippets/
workflow = yaml.safe_load((SNIPPETS / "module-5.6" / "ml-pipeline.yml").read_text())
ci_commands = [
    line for line in (SNIPPETS / "module-5.6" / "ci.sh").read_text().splitlines()
    if line.strip() and not line.startswith("#")
]
INSTALL = "pip install -r requirements.txt"
SUBMIT = "python -m cardfraud.pipelines submit fraud_pipeline.yaml"  # the cluster section's command

# YAML 1.1 reads a bare `on` as the boolean True: PyYAML gives the triggers under True, not "on".
print("top-level keys:", list(workflow))
triggers = workflow.get("on", workflow.get(True))
print("triggers:", sorted(triggers))
print("schedule:", [entry["cron"] for entry in triggers["schedule"]])

jobs = workflow["jobs"]
for name, job in jobs.items():
    steps = job["steps"]
    assert all(("uses" in step) != ("run" in step) for step in steps), f"{name}: a step needs uses or run"
    runs = [step["run"] for step in steps if "run" in step]
    print(f"{name}: needs {job.get('needs', '-')}, {len(steps)} steps, runs {len(runs)} commands")

actions = sorted({step["uses"] for job in jobs.values() for step in job["steps"] if "uses" in step})
print("actions:", actions)

test_runs = [step["run"] for step in jobs["test"]["steps"] if "run" in step]
retrain_runs = [step["run"] for step in jobs["retrain"]["steps"] if "run" in step]
checks = {
    "test job = install + the commands ci.sh runs on this page": test_runs == [INSTALL, *ci_commands],
    "retrain job = install + the submit command": retrain_runs == [INSTALL, SUBMIT],
    "retrain waits for the tests": jobs["retrain"]["needs"] == "test",
    "pull requests never retrain": "pull_request" in jobs["retrain"]["if"],
    "one retraining at a time": jobs["retrain"]["concurrency"]["cancel-in-progress"] is False,
    # A release tag such as @v7 or a 40-character commit SHA; never a branch such as @main.
    "every action names a release, not a branch": all(re.fullmatch(r".+@(v\d+(\.\d+)*|[0-9a-f]{40})", a) for a in actions),
}
for name, ok in checks.items():
    print(f"{'ok  ' if ok else 'FAIL'} {name}")
assert all(checks.values())
