"""The pytest plugin that wires the harness into the suite (loaded by tests/conftest.py).

- ``--update-outputs`` rewrites shown outputs (and whatever else a test marked ``writes_outputs``
  regenerates) from a real run; ``--cold`` runs each Python chain in a fresh interpreter.
- The repository must be as it was after the run: nothing git would see added, changed or removed.
- The summary prints the table of executed and skipped blocks per page.
Run state lives in ``config.stash`` under the keys below.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.harness import ROOT
from tests.harness.build import strict_build
from tests.harness.environment import DETERMINISM, TELEMETRY_OFF, THREADING, block_environment
from tests.harness.outputs import Rewriter
from tests.harness.report import BlockTable

BLOCK_TABLE = pytest.StashKey[BlockTable]()
REWRITER = pytest.StashKey[Rewriter]()
TREE_BEFORE = pytest.StashKey[dict]()
PROBLEMS = pytest.StashKey[list]()  # (section title, lines) printed at the end; the run fails


def pytest_addoption(parser):
    parser.addoption("--update-outputs", action="store_true", help="rewrite shown outputs and lab notebooks from what the code prints now")
    parser.addoption("--cold", action="store_true", help="run each Python chain as `python block.py` in a fresh interpreter (parity run)")


def pytest_configure(config):
    # Set before the fork server starts, so the libraries it preloads see them too.
    os.environ.update(DETERMINISM)
    os.environ.update(THREADING)
    os.environ.update(TELEMETRY_OFF)
    config.addinivalue_line("markers", "writes_outputs: rewrites committed files under --update-outputs (run by `make outputs`)")
    config.stash[BLOCK_TABLE] = BlockTable()
    config.stash[REWRITER] = Rewriter()
    config.stash[PROBLEMS] = []


@pytest.fixture(scope="session")
def update_outputs(request) -> bool:
    return request.config.getoption("--update-outputs")


@pytest.fixture(scope="session")
def cold(request) -> bool:
    return request.config.getoption("--cold")


@pytest.fixture(scope="session")
def block_table(request) -> BlockTable:
    return request.config.stash[BLOCK_TABLE]


@pytest.fixture(scope="session")
def rewriter(request) -> Rewriter:
    return request.config.stash[REWRITER]


@pytest.fixture(scope="session")
def private_home():
    """HOME for blocks, builds and notebooks: tools that write ~/.cache or ~/.feast stay out of yours."""
    with tempfile.TemporaryDirectory(prefix="home-") as home:
        yield Path(home)


@pytest.fixture(scope="session")
def built_site(private_home):
    """The site, built once per session with --strict into a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="site-") as out:
        problems = strict_build(ROOT, Path(out), block_environment(private_home))
        if problems:
            pytest.fail("mkdocs build --strict failed:\n" + "\n".join(problems), pytrace=False)
        yield Path(out)


def _tree() -> dict[str, int]:
    """Every file git would see (tracked, or untracked and not ignored), with its mtime."""
    # safe.directory: CI runs the suite as root (sudo .ci/run) in a checkout another user owns.
    git = ["git", "-c", f"safe.directory={ROOT}", "ls-files", "-z", "--cached", "--others", "--exclude-standard"]
    listed = subprocess.run(git, cwd=ROOT, capture_output=True, check=False)
    if listed.returncode:
        raise pytest.UsageError(f"the tree check lists the repository's files with git: {listed.stderr.decode().strip()}")
    return {path: (ROOT / path).stat().st_mtime_ns for path in listed.stdout.decode().split("\0") if path and (ROOT / path).is_file()}


def pytest_sessionstart(session):
    session.config.stash[TREE_BEFORE] = _tree()


def pytest_sessionfinish(session, exitstatus):
    config = session.config
    problems = config.stash[PROBLEMS]
    if config.getoption("--update-outputs"):
        moved = config.stash[REWRITER].write()
        if moved:
            problems.append(("pages edited while their outputs were regenerated, left unchanged (run again)", moved))
    else:  # rewriting files is the point of that run
        before, after = config.stash[TREE_BEFORE], _tree()
        lines = [f"  added:   {p}" for p in sorted(set(after) - set(before))]
        lines += [f"  changed: {p}" for p in sorted(p for p in set(after) & set(before) if after[p] != before[p])]
        lines += [f"  removed: {p}" for p in sorted(set(before) - set(after))]
        if lines:
            problems.append(("the run changed the repository tree", lines + ["Tests and blocks must work in temporary directories only."]))
    if problems:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    table = config.stash[BLOCK_TABLE].lines()
    if table:
        terminalreporter.section("code blocks per page")
        for line in table:
            terminalreporter.write_line(line)
    for title, lines in config.stash[PROBLEMS]:
        terminalreporter.section(title, red=True)
        for line in lines:
            terminalreporter.write_line(line)
