"""Shared fixtures and options for the whole suite.

- ``--update-outputs`` rewrites every shown output (and the lab notebooks) from a real run.
- The tree must be exactly as it was after the run: no mlruns/, mlflow.db, feature repos.
- The summary prints a table of executed and skipped blocks per page.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
import tempfile
import threading
from collections import defaultdict
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.harness.blocks import ROOT
from tests.harness.environment import DETERMINISM, TELEMETRY_OFF, THREADING, VENV_BIN, block_environment

# Set before the fork server starts, so the libraries it preloads see them too.
os.environ.update(DETERMINISM)
os.environ.update(THREADING)
os.environ.update(TELEMETRY_OFF)

IGNORED_PARTS = {".git", ".venv", "site", "node_modules", "__pycache__", ".pytest_cache", "test-artifacts"}


def pytest_addoption(parser):
    parser.addoption(
        "--update-outputs",
        action="store_true",
        help="rewrite shown outputs and lab notebooks from what the code prints now",
    )


@pytest.fixture(scope="session")
def update_outputs(request) -> bool:
    return request.config.getoption("--update-outputs")


@pytest.fixture(scope="session")
def private_home():
    """HOME for blocks, builds and notebooks: tools that write ~/.cache or ~/.feast stay out of yours."""
    with tempfile.TemporaryDirectory(prefix="home-") as home:
        yield Path(home)


@pytest.fixture(scope="session")
def built_site(private_home):
    """The site, built once per session with --strict into a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="site-") as out:
        result = subprocess.run(
            [str(VENV_BIN / "mkdocs"), "build", "--strict", "--site-dir", out],
            cwd=ROOT,
            env=block_environment(private_home),
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            problems = [line for line in result.stderr.splitlines() if "WARNING" in line or "ERROR" in line or "Error" in line]
            located = [_locate_warning(line) for line in problems]
            pytest.fail("mkdocs build --strict failed:\n" + "\n".join(located or result.stderr.splitlines()[-30:]), pytrace=False)
        yield Path(out)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def served_site(built_site):
    """The built site over HTTP on 127.0.0.1: its base URL, ending in a slash."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(built_site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


_DOC_LINK_WARNING = re.compile(r"Doc file '(?P<doc>[^']+)' contains (?:a link|an absolute link|a link to an unrecognized) ?'?(?P<target>[^',]*)")


def _locate_warning(line: str) -> str:
    """MkDocs names the page of a bad link but not the line: find the line, prefix it."""
    match = _DOC_LINK_WARNING.search(line)
    if match and match["target"]:
        source = ROOT / "docs" / match["doc"]
        if source.is_file():
            for number, text in enumerate(source.read_text(encoding="utf-8").splitlines(), 1):
                if match["target"] in text:
                    return f"docs/{match['doc']}:{number}: {line.strip()}"
    return line.strip()


def _tree() -> dict[str, float]:
    out = {}
    for path in ROOT.rglob("*"):
        rel = path.relative_to(ROOT)
        if IGNORED_PARTS.intersection(rel.parts) or not path.is_file():
            continue
        out[str(rel)] = path.stat().st_mtime_ns
    return out


def pytest_sessionstart(session):
    session.config._tree_before = _tree()
    session.config._block_table = defaultdict(lambda: defaultdict(int))
    session.config._block_seconds = defaultdict(float)


def pytest_sessionfinish(session, exitstatus):
    if session.config.getoption("--update-outputs"):
        return  # rewriting outputs is the point of that run
    before, after = session.config._tree_before, _tree()
    added = sorted(set(after) - set(before))
    changed = sorted(p for p in set(after) & set(before) if after[p] != before[p])
    removed = sorted(set(before) - set(after))
    if added or changed or removed:
        lines = [f"  added:   {p}" for p in added] + [f"  changed: {p}" for p in changed] + [f"  removed: {p}" for p in removed]
        session.config._tree_dirty = "\n".join(lines)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def record_blocks(config, page: str, status: str, count: int, seconds: float = 0.0) -> None:
    """Count ``count`` blocks of ``page`` (one chain) under ``status``, with the chain's wall seconds."""
    config._block_table[page][status] += count
    config._block_seconds[page] += seconds


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    table = getattr(config, "_block_table", {})
    if table:
        statuses = sorted({s for counts in table.values() for s in counts}, key=lambda s: (s != "executed", s))
        width = max(len(p) for p in table) + 2
        terminalreporter.section("code blocks per page")
        seconds = config._block_seconds

        def row(label: str, counts: dict, wall: float) -> str:
            return label.ljust(width) + "  ".join(str(counts[s]).rjust(max(9, len(s))) for s in statuses) + f"{wall:16.0f}"

        terminalreporter.write_line("page".ljust(width) + "  ".join(s.rjust(9) for s in statuses) + "  seconds (wall)")
        for page in sorted(table):
            terminalreporter.write_line(row(page, table[page], seconds[page]))
        totals = {s: sum(table[p][s] for p in table) for s in statuses}
        terminalreporter.write_line(row("total", totals, sum(seconds.values())))
    dirty = getattr(config, "_tree_dirty", None)
    if dirty:
        terminalreporter.section("the run changed the repository tree", red=True)
        terminalreporter.write_line(dirty)
        terminalreporter.write_line("Tests and blocks must work in temporary directories only.")
