"""The GitHub workflows, checked like code: they cannot run here.

Structure (triggers, jobs, steps), every action at a release (module 5.6's rule) and at the major
recorded below, every input given to an action one that its action.yml declares, the test matrix
on the Python versions the README promises, and the upgrade workflow's one pull request.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml

from tests.harness import ROOT

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
# Each action's inputs, read from its action.yml at the release named (the newest release of the
# action's newest major, 2026-12-01). Moving an action to a new major: read its action.yml at that
# release, update the entry, then the workflows.
ACTIONS = {
    "actions/checkout": {
        "major": "v7", "read_at": "v7.0.1",
        "inputs": {"allow-unsafe-pr-checkout", "clean", "fetch-depth", "fetch-tags", "filter", "github-server-url", "lfs",
                   "path", "persist-credentials", "ref", "repository", "set-safe-directory", "show-progress",
                   "sparse-checkout", "sparse-checkout-cone-mode", "ssh-key", "ssh-known-hosts", "ssh-strict", "ssh-user",
                   "submodules", "token"},
        "required": set(),
    },
    "actions/setup-python": {
        "major": "v7", "read_at": "v7.0.0",
        "inputs": {"allow-prereleases", "architecture", "cache", "cache-dependency-path", "check-latest", "freethreaded",
                   "pip-version", "python-version", "python-version-file", "token", "update-environment"},
        "required": set(),
    },
    "actions/upload-artifact": {
        "major": "v7", "read_at": "v7.0.0",
        "inputs": {"archive", "compression-level", "if-no-files-found", "include-hidden-files", "name", "overwrite", "path",
                   "retention-days"},
        "required": {"path"},
    },
    "actions/upload-pages-artifact": {
        "major": "v5", "read_at": "v5.0.0",
        "inputs": {"include-hidden-files", "name", "path", "retention-days"},
        "required": set(),
    },
    "actions/deploy-pages": {
        "major": "v5", "read_at": "v5.0.0",
        "inputs": {"artifact_name", "error_count", "preview", "reporting_interval", "timeout", "token"},
        "required": set(),
    },
    "peter-evans/create-pull-request": {
        "major": "v8", "read_at": "v8.1.1",
        "inputs": {"add-paths", "assignees", "author", "base", "body", "body-path", "branch", "branch-suffix",
                   "branch-token", "commit-message", "committer", "delete-branch", "draft", "labels",
                   "maintainer-can-modify", "milestone", "path", "push-to-fork", "reviewers", "sign-commits", "signoff",
                   "team-reviewers", "title", "token"},
        "required": set(),
    },
}
# GitHub's workflow syntax: the keys each level may carry (the ones a typo would miss).
WORKFLOW_KEYS = {"name", "run-name", "on", "permissions", "env", "defaults", "concurrency", "jobs"}
JOB_KEYS = {"name", "needs", "if", "runs-on", "permissions", "environment", "concurrency", "outputs", "env", "defaults",
            "steps", "timeout-minutes", "strategy", "continue-on-error", "container", "services"}
STEP_KEYS = {"id", "if", "name", "uses", "run", "shell", "with", "env", "continue-on-error", "timeout-minutes",
             "working-directory"}
TRIGGERS = {"push", "pull_request", "schedule", "workflow_dispatch", "workflow_call", "repository_dispatch", "release"}
# Module 5.6's rule (snippets/module-5.6/check_workflow.py): a release tag such as @v7 or a commit SHA.
RELEASE = re.compile(r".+@(v\d+(\.\d+)*|[0-9a-f]{40})")


def _load(path: Path) -> dict:
    workflow = yaml.safe_load(path.read_text(encoding="utf-8"))
    if True in workflow:  # YAML 1.1 reads a bare `on` as the boolean True
        workflow["on"] = workflow.pop(True)
    return workflow


def _steps(workflow: dict):
    for job_name, job in workflow["jobs"].items():
        for index, step in enumerate(job["steps"]):
            yield f"{job_name}.steps[{index}]", step


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_structure(path):
    workflow = _load(path)
    assert set(workflow) <= WORKFLOW_KEYS, f"unknown top-level keys: {set(workflow) - WORKFLOW_KEYS}"
    assert workflow["on"] and set(workflow["on"]) <= TRIGGERS, workflow["on"]
    assert workflow["jobs"], "no jobs"
    for name, job in workflow["jobs"].items():
        assert set(job) <= JOB_KEYS, f"{name}: unknown keys {set(job) - JOB_KEYS}"
        assert "runs-on" in job and job["steps"], f"{name}: needs runs-on and steps"
        for need in [job["needs"]] if isinstance(job.get("needs"), str) else job.get("needs", []):
            assert need in workflow["jobs"], f"{name}: needs unknown job {need}"
    ids = [step["id"] for _, step in _steps(workflow) if "id" in step]
    assert len(ids) == len(set(ids)), f"step ids repeat: {ids}"
    for where, step in _steps(workflow):
        assert set(step) <= STEP_KEYS, f"{where}: unknown keys {set(step) - STEP_KEYS}"
        assert ("uses" in step) != ("run" in step), f"{where}: a step has uses or run, not both"
        assert "with" not in step or "uses" in step, f"{where}: with: without uses:"
    text = path.read_text(encoding="utf-8")
    for reference in re.findall(r"steps\.([\w-]+)\.outputs", text):
        assert reference in ids, f"{path.name}: refers to the outputs of step {reference!r}, which no step has as id"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_actions_are_at_a_recorded_release_and_get_only_their_inputs(path):
    for where, step in _steps(_load(path)):
        if "uses" not in step:
            continue
        uses = step["uses"]
        assert RELEASE.fullmatch(uses), f"{where}: {uses} names a branch, not a release"
        action, version = uses.split("@")
        assert action in ACTIONS, f"{where}: {action} is not recorded in ACTIONS (read its action.yml, add it)"
        known = ACTIONS[action]
        assert version == known["major"], f"{where}: {uses}, but the inputs recorded are {action}@{known['read_at']}'s"
        given = set(step.get("with", {}))
        assert given <= known["inputs"], f"{where}: {action}@{known['read_at']} has no input {sorted(given - known['inputs'])}"
        assert known["required"] <= given, f"{where}: {action} requires {sorted(known['required'] - given)}"


def _promised_pythons() -> list[str]:
    """The versions on the README's line 'Tested on Python 3.11, 3.12 and 3.13 ...'."""
    line = next(l for l in (ROOT / "README.md").read_text(encoding="utf-8").splitlines() if l.startswith("Tested on Python"))
    return re.findall(r"\b3\.\d+\b", line)


def test_the_test_job_runs_ci_run_on_every_promised_python():
    workflow = _load(ROOT / ".github" / "workflows" / "site.yml")
    job = workflow["jobs"]["test"]
    promised = _promised_pythons()
    assert promised and job["strategy"]["matrix"]["python-version"] == promised
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["requires-python"]
    # The oldest promised minor version, from the patch release the pins need (README's next line).
    assert re.fullmatch(rf">={re.escape(promised[0])}(\.\d+)?", requires), f"pyproject.toml says {requires}, the README promises {promised}"
    minimum = requires.removeprefix(">=")
    assert f"Python {minimum} or newer" in (ROOT / "README.md").read_text(encoding="utf-8"), f"README does not name the minimum {minimum}"
    setup = next(step for step in job["steps"] if step.get("uses", "").startswith("actions/setup-python@"))
    assert setup["with"]["python-version"] == "${{ matrix.python-version }}"
    runs = [step["run"] for step in job["steps"] if "run" in step]
    assert runs == ['sudo env "PATH=$PATH" .ci/run'], runs


def test_system_packages_are_installed_in_one_place():
    for path in WORKFLOWS:
        assert "apt-get" not in path.read_text(encoding="utf-8"), f"{path.name}: install system packages in .ci/run"


def test_the_upgrade_workflow_opens_one_pull_request_with_the_report():
    workflow = _load(ROOT / ".github" / "workflows" / "upgrade.yml")
    assert set(workflow["on"]) == {"schedule", "workflow_dispatch"}
    assert [entry["cron"] for entry in workflow["on"]["schedule"]] == ["17 4 * * 1"]  # weekly: Mondays 04:17 UTC
    assert workflow["permissions"] == {"contents": "write", "pull-requests": "write"}
    assert workflow["concurrency"]["cancel-in-progress"] is False
    steps = [step for _, step in _steps(workflow)]
    upgrade = next(step for step in steps if step.get("id") == "upgrade")
    assert '.ci/run upgrade UPGRADE_REPORT="$RUNNER_TEMP/upgrade-report.md"' in upgrade["run"]
    pull = next(step for step in steps if step.get("uses", "").startswith("peter-evans/create-pull-request@"))
    assert pull["with"]["body-path"] == "${{ runner.temp }}/upgrade-report.md"
    assert pull["with"]["branch"] == "deps/upgrade" and "branch-suffix" not in pull["with"]  # one branch, one pull request
    assert steps.index(upgrade) < steps.index(pull)
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^upgrade:", makefile, re.M) and "UPGRADE_REPORT ?=" in makefile
