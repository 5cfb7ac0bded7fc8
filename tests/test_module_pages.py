"""Each module page has the shape MODULE-STANDARD.md (at the repository root) describes."""

from __future__ import annotations

import re

import pytest

from tests.harness import DOCS, ROOT
from tests.harness.parse import page_blocks

MODULES = sorted(DOCS.glob("modules/module-*.md"))
# Headings in the standard's order; a page may word them more precisely ("Hands-on lab: ...").
SECTIONS = [
    "What you'll be able to do",
    "Why this module matters",
    "Hands-on lab",
    "From laptop to cluster",
    "Common mistakes",
    "Quiz",
    "Key takeaways",
    "Further reading",
    "Next",
]
MIN_EXECUTED_BLOCKS = 12
MIN_DIAGRAMS = 3
MIN_QUIZ_QUESTIONS = 8
BOX_DRAWING = re.compile(r"[┌┐└┘├┤┬┴┼│─▼▶◀▲]")


@pytest.fixture(params=MODULES, ids=lambda p: p.stem)
def module(request):
    return request.param


def test_sections_in_order(module):
    headings = [line[3:].strip() for line in module.read_text(encoding="utf-8").splitlines() if line.startswith("## ")]
    positions = []
    for section in SECTIONS:
        found = [i for i, h in enumerate(headings) if h.startswith(section)]
        assert found, f"{module.relative_to(ROOT)}: no '## {section}' section"
        positions.append(found[0])
    assert positions == sorted(positions), f"{module.relative_to(ROOT)}: sections out of the standard's order"


def test_enough_running_code_and_diagrams(module):
    text = module.read_text(encoding="utf-8")
    executed = [b for b in page_blocks(module) if not b.skip_reason]
    assert len(executed) >= MIN_EXECUTED_BLOCKS, f"{module.relative_to(ROOT)}: {len(executed)} executed blocks"
    assert text.count("```mermaid") >= MIN_DIAGRAMS, f"{module.relative_to(ROOT)}: fewer than {MIN_DIAGRAMS} diagrams"


def test_no_ascii_art_and_no_h1(module):
    in_code = False
    for number, line in enumerate(module.read_text(encoding="utf-8").splitlines(), 1):
        if line.lstrip().startswith("```"):
            in_code = not in_code
        assert not BOX_DRAWING.search(line), f"{module.relative_to(ROOT)}:{number}: box-drawing characters; use a mermaid diagram"
        assert in_code or not line.startswith("# "), f"{module.relative_to(ROOT)}:{number}: the title comes from front matter; no H1"


def test_quiz_has_collapsed_answers(module):
    text = module.read_text(encoding="utf-8")
    quiz = text[text.index("## Quiz") : text.index("## Key takeaways")]
    collapsed = len(re.findall(r"^\s*\?\?\?\+? ", quiz, flags=re.MULTILINE))
    assert collapsed >= MIN_QUIZ_QUESTIONS, f"{module.relative_to(ROOT)}: {collapsed} collapsed quiz answers"


def test_lab_notebook_is_linked(module):
    number = module.stem.split("-")[1]
    assert f"labs/lab-{number}.ipynb" in module.read_text(encoding="utf-8"), (
        f"{module.relative_to(ROOT)}: link the lab's notebook (../labs/lab-{number}.ipynb)"
    )
