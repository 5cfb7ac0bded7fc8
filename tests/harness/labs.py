"""Lab notebooks are generated from one source per lab: ``snippets/labs/lab-*.py``.

The lab file is in Jupytext's percent format; its code cells are wrapped in
pymdownx.snippets sections so the module page can include them. The notebook
is the same cells with the section markers removed, so the page and the
notebook cannot disagree.
"""

from __future__ import annotations

import re
from pathlib import Path

import jupytext
import nbformat

from tests.harness import DOCS, SNIPPETS

LABS = SNIPPETS / "labs"
NOTEBOOKS = DOCS / "labs"
_SECTION_MARKER = re.compile(r"^\s*#\s*-{1,}8<-{1,}\s*\[(start|end):[\w\-]+\]\s*$")
KERNEL = {"display_name": "Python 3", "language": "python", "name": "python3"}


def lab_sources() -> list[Path]:
    return sorted(LABS.glob("lab-*.py"))


def notebook_path(lab: Path) -> Path:
    return NOTEBOOKS / f"{lab.stem}.ipynb"


def notebook_from_lab(lab: Path) -> nbformat.NotebookNode:
    """The notebook for a lab file: its cells, without snippet markers, with stable ids."""
    notebook = jupytext.reads(lab.read_text(encoding="utf-8"), fmt="py:percent")
    cells = []
    for cell in notebook.cells:
        source = "\n".join(line for line in cell.source.splitlines() if not _SECTION_MARKER.match(line)).strip("\n")
        if not source:
            continue
        if cell.cell_type == "code":
            new = nbformat.v4.new_code_cell(source)
        else:
            new = nbformat.v4.new_markdown_cell(source)
        new.id = f"{lab.stem.replace('.', '-')}-{len(cells) + 1}"  # ids allow no dots
        cells.append(new)
    out = nbformat.v4.new_notebook(cells=cells)
    out.metadata = {"kernelspec": KERNEL, "language_info": {"name": "python"}}
    return out


def render(notebook: nbformat.NotebookNode) -> str:
    return nbformat.writes(notebook) + "\n"
