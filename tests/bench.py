"""`make bench`: how fast the site builds, rebuilds and tests, and how heavy its pages are.

The suite runs once, in this process, and is reported by part: code blocks, lab notebooks,
browser checks, the rest (`--no-suite` leaves it out). The lab notebooks run in the
reader test, its learner install included.

Targets on a 2-core machine: strict build <= 5 s, rebuild after a one-page edit <= 2 s,
a page without diagrams <= 120 KB gzip (HTML + CSS + JS). Each timing is the median of
five runs, so one noisy run does not decide the figure.
"""

from __future__ import annotations

import gzip
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from tests.harness import DOCS, ROOT
from tests.harness.environment import VENV_BIN, block_environment

RUNS = 5
SERVE_ADDRESS = "127.0.0.1:8765"
WEIGHED_PAGES = {
    "overview (diagrams)": "index.html",
    "module 5.1": "modules/module-5.1-mlops-fundamentals.html",
    "glossary (no diagram)": "glossary.html",
    "running example (no diagram)": "running-example.html",
    "lab 5.1 notebook (no diagram)": "labs/lab-5.1.html",
}
TOUCHED_PAGE = DOCS / "glossary.md"


def strict_build(site: Path, env) -> float:
    started = time.perf_counter()
    subprocess.run([str(VENV_BIN / "mkdocs"), "build", "--strict", "-q", "--site-dir", str(site)], cwd=ROOT, env=env, check=True)
    return time.perf_counter() - started


def rebuild_after_edit(env) -> float:
    """Seconds from touching one page to `mkdocs serve` reloading browsers."""
    server = subprocess.Popen(
        [str(VENV_BIN / "mkdocs"), "serve", "--livereload", "--dirty", "--dev-addr", SERVE_ADDRESS],  # as `make serve`
        cwd=ROOT, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )
    try:
        _wait_for(server, "Serving on")
        time.sleep(1)  # let the watcher settle before the edit
        started = time.perf_counter()
        TOUCHED_PAGE.touch()
        _wait_for(server, "Reloading browsers")
        return time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(10)


def _wait_for(server: subprocess.Popen, text: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    for line in server.stderr:
        if text in line:
            return
        if time.monotonic() > deadline:
            break
    raise RuntimeError(f"mkdocs serve never printed {text!r}")


def page_weight(site: Path, page: str) -> tuple[int, int]:
    """Raw and gzip bytes of a page's HTML and the CSS and JS files it loads."""
    html_path = site / page
    soup = BeautifulSoup(html_path.read_text(encoding="utf-8"), "html.parser")
    files = [html_path]
    files += [(html_path.parent / s["src"]).resolve() for s in soup.find_all("script", src=True)]
    files += [(html_path.parent / l["href"]).resolve() for l in soup.find_all("link", href=True) if "stylesheet" in l.get("rel", [])]
    data = [Path(str(f).split("?")[0]).read_bytes() for f in files]
    return sum(len(d) for d in data), sum(len(gzip.compress(d, 9)) for d in data)


# Which part of the suite a test belongs to, by its file. The lab notebooks run in the reader
# test (its learner install included); tests/test_labs.py only compares files.
SUITE_PARTS = {"tests/test_codeblocks.py": "blocks", "tests/test_reader.py": "labs", "tests/test_labs.py": "labs",
               "tests/test_browser.py": "browser"}


class SuiteTimes:
    """pytest plugin: seconds per part of the suite (setup, call and teardown of its tests)."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self.setups: list[tuple[float, str]] = []

    def pytest_runtest_logreport(self, report):
        part = SUITE_PARTS.get(report.nodeid.split("::")[0], "other")
        self.seconds[part] = self.seconds.get(part, 0.0) + report.duration
        if report.when == "setup":
            self.setups.append((report.duration, report.nodeid))


def suite() -> tuple[float, SuiteTimes]:
    """One run of the whole suite, as `make test` runs it, timed by part."""
    times = SuiteTimes()
    started = time.perf_counter()
    pytest.main(["-q", "-p", "no:cacheprovider"], plugins=[times])
    return time.perf_counter() - started, times


def main() -> None:
    with tempfile.TemporaryDirectory() as home, tempfile.TemporaryDirectory() as site_dir:
        # mkdocs-jupyter caches rendered notebooks (in the fresh home): the first build renders all
        # six, as in a fresh clone; later builds reuse them, as `make build` and `make serve` do.
        env = block_environment(Path(home))
        site = Path(site_dir)
        cold = strict_build(site, env)
        builds = [strict_build(site, env) for _ in range(RUNS)]
        rebuilds = [rebuild_after_edit(env) for _ in range(RUNS)]
        print(f"strict build, fresh clone (renders the notebooks): {cold:.2f} s")
        print(f"strict build (no notebook execution): median {statistics.median(builds):.2f} s of {[round(b, 2) for b in builds]}  (target <= 5 s)")
        print(f"rebuild after a one-page edit:       median {statistics.median(rebuilds):.2f} s of {[round(r, 2) for r in rebuilds]}  (target <= 2 s)")
        print("page weight (HTML + CSS + JS):")
        for label, page in WEIGHED_PAGES.items():
            raw, gz = page_weight(site, page)
            print(f"  {label:30} {raw / 1024:8.1f} KB raw {gz / 1024:8.1f} KB gzip")
        index = site / "search" / "search_index.js"
        if index.is_file():
            print(f"  search index (loaded on search)  {index.stat().st_size / 1024:8.1f} KB raw {len(gzip.compress(index.read_bytes(), 9)) / 1024:8.1f} KB gzip")
    if "--no-suite" not in sys.argv:
        wall, times = suite()
        print(f"test suite (make test): {wall:.0f} s wall")
        for part in ["blocks", "labs", "browser", "other"]:
            print(f"  {part:8} {times.seconds.get(part, 0.0):6.0f} s")
        print(f"  {'pytest itself (collection, plugins)':8} {wall - sum(times.seconds.values()):6.0f} s")
        print("  longest fixture setups (counted in their test's part):")
        for seconds, nodeid in sorted(times.setups, reverse=True)[:3]:
            print(f"    {seconds:6.0f} s  {nodeid}")


if __name__ == "__main__":
    main()
