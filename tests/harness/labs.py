"""Lab notebooks are generated from one source per lab: ``snippets/labs/lab-*.py``.

The lab file is in Jupytext's percent format; its code cells are wrapped in
pymdownx.snippets sections so the module page can include them. The notebook
is the same cells with the section markers removed, so the page and the
notebook cannot disagree, except for the cells tagged ``solution``
(``# %% tags=["solution"]``): the page shows them, collapsed; the notebook the
reader downloads has the exercise's stub instead.
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
    return sorted(LABS.glob("*.py"))


def notebook_path(lab: Path) -> Path:
    return NOTEBOOKS / f"{lab.stem}.ipynb"


def notebook_from_lab(lab: Path) -> nbformat.NotebookNode:
    """The notebook for a lab file: its cells, without snippet markers, with stable ids."""
    notebook = jupytext.reads(lab.read_text(encoding="utf-8"), fmt="py:percent")
    cells = []
    for cell in notebook.cells:
        if "solution" in cell.metadata.get("tags", []):
            continue
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


def without_outputs(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The notebook as generated from its lab: the same cells, no outputs, no execution counts."""
    bare = nbformat.from_dict(notebook)
    for cell in bare.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        cell.metadata = {key: value for key, value in cell.metadata.items() if key != "execution"}
    bare.metadata = {key: value for key, value in bare.metadata.items() if key in {"kernelspec", "language_info"}}
    bare.metadata["language_info"] = {"name": "python"}
    return bare


def shown_outputs(notebook: nbformat.NotebookNode) -> list[tuple[int, str]]:
    """What a reader sees under each code cell, as compared between runs: standard output and
    plain-text results, trailing spaces ignored. Standard error (warnings, progress bars) is not."""
    shown = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        parts = []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stdout":
                parts.append(output.get("text", ""))
            elif output.get("output_type") in {"execute_result", "display_data"}:
                parts.append(output.get("data", {}).get("text/plain", "") + "\n")
            elif output.get("output_type") == "error":
                parts.append(f"{output.get('ename')}: {output.get('evalue')}\n")
        text = "\n".join(line.rstrip() for line in "".join(parts).splitlines()).strip("\n")
        shown.append((index, text))
    return shown


def stale_cells(committed: nbformat.NotebookNode, executed: nbformat.NotebookNode) -> list[str]:
    """One line per code cell whose shown output differs between the two, with both texts."""
    problems = []
    for (index, old), (_, new) in zip(shown_outputs(committed), shown_outputs(executed)):
        if old != new:
            problems.append(f"cell {index}: shown\n{old or '(nothing)'}\n--- printed now\n{new or '(nothing)'}")
    return problems
