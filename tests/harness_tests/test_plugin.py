"""The plugin, in a pytest session of its own: the tree check, the block table, rewrites at the end."""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

import pytest

from tests.harness import ROOT

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def session(pytester):
    """Run a test module in a new session with the harness plugin loaded."""

    def run(test_module: str, *args: str):
        pytester.makepyfile(test_module)
        return pytester.runpytest("-p", "tests.harness.plugin", "-p", "no:cacheprovider", *args)

    return run


def test_a_run_that_leaves_a_file_in_the_repository_fails(session):
    probe = ROOT / "tree-check-probe.txt"
    try:
        result = session(f"def test_writes():\n    open({str(probe)!r}, 'w').write('x')\n")
    finally:
        probe.unlink(missing_ok=True)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*the run changed the repository tree*", "  added:   tree-check-probe.txt"])


def test_a_tool_cache_written_meanwhile_does_not_fail_the_run(session):
    """`make serve` during `make test` writes .cache/mkdocs-jupyter/: git ignores it, so does the check."""
    cache = ROOT / ".cache" / "mkdocs-jupyter"
    created = [d for d in (cache.parent, cache) if not d.exists()]
    probe = cache / "tree-check-probe.json"
    try:
        result = session(f"import os\ndef test_writes():\n    os.makedirs({str(cache)!r}, exist_ok=True)\n    open({str(probe)!r}, 'w').write('{{}}')\n")
    finally:
        probe.unlink(missing_ok=True)
        for directory in reversed(created):
            with contextlib.suppress(OSError):  # a build wrote there meanwhile: leave it
                directory.rmdir()
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()


def test_the_summary_prints_the_block_table(session):
    result = session(
        "def test_record(block_table):\n"
        "    block_table.record('docs/a.md', 'executed', 3, 2.4)\n"
        "    block_table.record('docs/a.md', 'skipped: needs a GPU', 1)\n"
    )
    result.stdout.fnmatch_lines(["*code blocks per page*", "page*executed*skipped: needs a GPU*seconds (wall)", "docs/a.md*3*1*2", "total*3*1*2"])


def test_outputs_are_written_at_the_end_and_an_edited_page_is_refused(session, tmp_path):
    shutil.copytree(FIXTURES, tmp_path / "site")
    page = tmp_path / "site" / "docs" / "outputs.md"
    result = session(
        "from pathlib import Path\n"
        "from tests.harness.parse import page_blocks\n"
        f"PAGE = Path({str(page)!r})\n"
        "def test_rewrite(rewriter):\n"
        "    first, second, *_ = page_blocks(PAGE, PAGE.parents[1])\n"
        "    rewriter.set(first, 'new output')\n"
        "def test_edit_meanwhile():\n"
        "    PAGE.write_text('Edited.\\n\\n' + PAGE.read_text())\n",
        "--update-outputs",
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*pages edited while their outputs were regenerated*", "docs/outputs.md:11"])
