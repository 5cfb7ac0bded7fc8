"""Shown outputs and published files: stale ones named at their line, rewritten bottom-up."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.harness.outputs import Rewriter, stale_message, stale_outputs, stale_published
from tests.harness.parse import page_blocks, page_chains
from tests.harness.run import SEPARATOR, Result

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def site(tmp_path) -> Path:
    shutil.copytree(FIXTURES, tmp_path, dirs_exist_ok=True)
    return tmp_path


def printed(*outputs: str, published: dict | None = None) -> Result:
    return Result(0, f"\n{SEPARATOR}\n".join(outputs), "", 0.0, "", [], "", published or {})


def test_an_output_that_matches_ignoring_trailing_spaces_and_blank_lines_is_not_stale(site):
    chain = page_chains(site / "docs" / "outputs.md", site)[0]
    assert stale_outputs(chain, printed("\none   \ntwo\n\n")) == []


def test_a_stale_output_is_named_at_its_page_line_with_a_diff(site):
    chain = page_chains(site / "docs" / "outputs.md", site)[1]  # two blocks, an output each
    stale = stale_outputs(chain, printed("first block of a chain\n", "second block, changed\n"))
    assert [block.line for block, _ in stale] == [27]
    message = stale_message(*stale[0])
    assert message.startswith("docs/outputs.md:27: the shown output is stale (run `make outputs PAGE=outputs`)")
    assert "--- shown (docs/outputs.md:34)" in message and "+second block, changed" in message


def test_the_rewrite_goes_bottom_up_and_keeps_indentation(site):
    page = site / "docs" / "outputs.md"
    blocks = page_blocks(page, site)
    rewriter = Rewriter()
    for block, new in zip(blocks, ["1\n2\n3\n4", "a", "b\nc", "x\ny"]):  # longer and shorter than before
        rewriter.set(block, new)
    assert rewriter.write() == []
    again = page_blocks(page, site)
    assert [b.output.text for b in again] == ["1\n2\n3\n4\n", "a\n", "b\nc\n", "x\ny\n"]
    assert "    x\n    y\n    ```" in page.read_text(encoding="utf-8"), "the output inside the collapsed block stays indented"


def test_a_page_edited_while_outputs_were_regenerated_is_left_unchanged(site):
    page = site / "docs" / "outputs.md"
    rewriter = Rewriter()
    rewriter.set(page_blocks(page, site)[0], "new")
    edited = page.read_text(encoding="utf-8").replace("# Outputs\n", "# Outputs\n\nA paragraph written meanwhile.\n")
    page.write_text(edited, encoding="utf-8")
    assert rewriter.write() == ["docs/outputs.md:11"]
    assert page.read_text(encoding="utf-8") == edited


def test_a_published_file_is_checked_without_its_ids_and_timestamps_and_rewritten(site):
    chain = page_chains(site / "docs" / "markers.md", site)[2]
    target = site / "docs" / "assets" / "report.html"
    same = printed("", published={"report.html": b"<p>report 2026-07-08T09:10:11</p>\n"})
    assert stale_published(chain, same, update=False) == []
    other = printed("", published={"report.html": b"<p>another report</p>\n"})
    assert stale_published(chain, other, update=False) == [
        "docs/markers.md:20: docs/assets/report.html is not the report.html the block writes now (run `make outputs PAGE=markers`)"
    ]
    assert stale_published(chain, other, update=True) == [] and target.read_bytes() == b"<p>another report</p>\n"
    assert stale_published(chain, printed(""), update=True) == ["docs/markers.md:20: the block is marked as publishing report.html but did not write it"]
