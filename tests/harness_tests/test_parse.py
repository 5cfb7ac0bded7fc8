"""The parser: every fence form, chains, outputs, includes, markers, and each page it refuses."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from pytest_codeblocks import extract_from_buffer

from tests.harness.parse import PageError, chains, fence_lines, page_blocks, page_chains, pages

FIXTURES = Path(__file__).parent / "fixtures"


def blocks(name: str):
    return page_blocks(FIXTURES / "docs" / name, FIXTURES)


def test_every_executed_fence_form_is_found_with_its_page_line():
    found = [(b.line, b.language, b.code.strip()) for b in blocks("fences.md")]
    assert found == [
        (3, "python", 'print("python")'),
        (7, "python", 'print("py")'),
        (11, "bash", "echo bash"),
        (15, "bash", "echo sh"),
        (19, "python", 'print("a header after the language")'),
        (33, "python", 'print("in an admonition")'),  # !!! note
        (41, "bash", 'echo "in a collapsed block"'),  # ??? question
        (49, "python", 'print("in a tab in a collapsed block")'),  # === inside ???+
        (61, "python", 'print("in a list item")'),
    ]


def test_chains_join_continued_blocks_across_prose_and_shown_fences():
    found = [[b.line for b in chain.blocks] for chain in chains(blocks("chains.md"))]
    assert found == [[3, 16], [20, 27], [31]]


def test_outputs_belong_to_the_block_before_them_inline_in_chains_and_indented():
    outputs = {b.line: (b.output.first_line, b.output.end_line, b.output.indent, b.output.text) for b in blocks("outputs.md")}
    assert outputs == {
        3: (11, 13, "", "one\ntwo\n"),
        15: (22, 23, "", "first block of a chain\n"),
        27: (34, 35, "", "second block of a chain\n"),
        39: (46, 47, "    ", "indented\n"),
    }


def test_includes_are_expanded_by_pymdownx_snippets_with_each_line_origin():
    whole, section = blocks("includes.md")
    assert "def greet(name):" in whole.code and 'print(greet("reader"))' in whole.code
    assert "--8<--" not in whole.code, "section markers are not part of the code"
    assert section.code == 'def greet(name):\n    return f"hello, {name}"\nprint(greet("section"))\n'
    assert section.origins == ["snippets/greet.py:2", "snippets/greet.py:3", "docs/includes.md:15"]


def test_markers_set_skip_timeout_and_publishes():
    skipped, timed, publishing = page_chains(FIXTURES / "docs" / "markers.md", FIXTURES)
    assert skipped.skip_reason == "needs a GPU"
    assert timed.timeout_s == 5 and publishing.timeout_s == 90
    assert publishing.publishes == [("report.html", FIXTURES / "docs" / "assets" / "report.html")]


def test_the_sites_pages_all_parse():
    for page in pages():
        page_chains(page)


@pytest.mark.parametrize("page", pages() + pages(FIXTURES), ids=lambda p: p.name)
def test_parser_finds_every_fence_pytest_codeblocks_finds(page):
    """pytest-codeblocks' extractor scans lines for backtick fences: the parser sees the same ones."""
    theirs = [block.lineno for block in extract_from_buffer(io.StringIO(page.read_text(encoding="utf-8")), max_num_lines=100_000)]
    assert fence_lines(page) == theirs


# Pages the harness refuses, each with the line it names.
REFUSED = {
    "unknown language": ("```pyhton\nprint(1)\n```\n", "docs/page.md:1: unknown fence language 'pyhton'"),
    "attribute-style language": ("```{.python}\nprint(1)\n```\n", "docs/page.md:1: unknown fence language '{.python}'"),
    "no language": ("Text.\n\n```\nprint(1)\n```\n", "docs/page.md:3: a fence needs a language"),
    "tilde fence": ("~~~python\nprint(1)\n~~~\n", "docs/page.md:1: write code fences with backticks"),
    "unclosed fence": ("```python\nprint(1)\n", "docs/page.md:1: this fence is never closed"),
    "indented code block": ("Text.\n\n    print(1)\n", "docs/page.md:3: an indented code block is shown but never run"),
    "unknown language in a collapsed block": ("??? question \"Q\"\n\n    ```pyhton\n    x\n    ```\n", "docs/page.md:3: unknown fence language"),
    "unknown marker": ("<!--block: contiune-->\n\n```python\nx = 1\n```\n", "docs/page.md:1: unknown marker <!--block: contiune-->"),
    "marker without colon": ("<!--block continue-->\n```python\nx = 1\n```\n", "docs/page.md:1: unknown marker"),
    "old marker": ("<!--pytest-codeblocks:cont-->\n```python\nx = 1\n```\n", "docs/page.md:1: old marker"),
    "skip without quotes": ('<!--block: skip needs a GPU-->\n```python\nx = 1\n```\n', "docs/page.md:1: <!--block: skip--> takes a quoted reason"),
    "unknown skip reason": ('<!--block: skip "too slow"-->\n```python\nx = 1\n```\n', "docs/page.md:1: skip reason 'too slow' is not allowed"),
    "timeout not a number": ("<!--block: timeout soon-->\n```python\nx = 1\n```\n", "docs/page.md:1: <!--block: timeout--> takes whole seconds"),
    "unbalanced quote": ('<!--block: skip "needs a GPU-->\n```python\nx = 1\n```\n', "docs/page.md:1: unknown marker"),
    "publishes outside docs": ('<!--block: publishes "r.html" "site/r.html"-->\n```python\nx = 1\n```\n', "docs/page.md:1: <!--block: publishes--> takes"),
    "publishes without a link": ('<!--block: publishes "r.html" "docs/r.html"-->\n```python\nx = 1\n```\n', "docs/page.md:1: the page publishes docs/r.html but never links to it as ](r.html)"),
    "marker before prose": ("<!--block: continue-->\n\nText.\n\n```python\nx = 1\n```\n", "docs/page.md:1: marker not followed by a fence"),
    "marker at the end": ("```python\nx = 1\n```\n\n<!--block: output-->\n", "docs/page.md:5: marker not followed by a fence"),
    "marker inside a paragraph": ("Text <!--block: continue--> more.\n", "docs/page.md:1: a marker must be on its own line"),
    "marker on a shown fence": ("<!--block: timeout 5-->\n```yaml\na: 1\n```\n", "docs/page.md:1: markers apply to python/bash blocks"),
    "output on a code fence": ("```python\nx = 1\n```\n<!--block: output-->\n```python\nx = 2\n```\n", "docs/page.md:4: <!--block: output--> goes after a code block"),
    "output after a shown fence": ("```yaml\na: 1\n```\n<!--block: output-->\n```text\na\n```\n", "docs/page.md:4: <!--block: output--> must follow a python or bash block"),
    "two outputs": ("```python\nx = 1\n```\n<!--block: output-->\n```text\n```\n<!--block: output-->\n```text\n```\n", "docs/page.md:7: <!--block: output--> must follow a python or bash block"),
    "output of a skipped block": ('<!--block: skip "needs a GPU"-->\n```python\nx = 1\n```\n<!--block: output-->\n```text\n1\n```\n', "docs/page.md:5: the block at docs/page.md:2 is skipped"),
    "included output": ('```python\nx = 1\n```\n<!--block: output-->\n```text\n--8<-- "out.txt"\n```\n', "docs/page.md:5: a shown output is written on the page, not included"),
    "missing include": ('```python\n--8<-- "missing.py"\n```\n', "docs/page.md:2: cannot include 'missing.py'"),
    "continue first": ("<!--block: continue-->\n```python\nx = 1\n```\n", "docs/page.md:2: marked continue, but no executed block comes before it"),
    "continue across languages": ("```python\nx = 1\n```\n<!--block: continue-->\n```bash\necho\n```\n", "docs/page.md:5: a bash block cannot continue a python chain"),
    "continue a skipped chain": ('<!--block: skip "needs a GPU"-->\n```python\nx = 1\n```\n<!--block: continue-->\n```python\nx = 2\n```\n', "docs/page.md:6: a continued block must be skipped exactly when its chain is"),
}


@pytest.mark.parametrize("text, expected", REFUSED.values(), ids=REFUSED.keys())
def test_a_page_that_breaks_a_rule_fails_at_its_line(tmp_path, text, expected):
    shutil.copytree(FIXTURES, tmp_path, dirs_exist_ok=True)
    page = tmp_path / "docs" / "page.md"
    page.write_text(text, encoding="utf-8")
    with pytest.raises(PageError) as error:
        page_chains(page, tmp_path)
    assert str(error.value).startswith(expected), str(error.value)


def test_an_ordinary_comment_is_not_a_marker():
    assert [b.line for b in blocks("markers.md")] == [5, 11, 20]

