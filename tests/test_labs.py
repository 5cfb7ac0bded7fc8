"""The lab notebooks: generated from their single source, published with the outputs of a real run.

`make outputs` executes each generated notebook in a fresh folder and writes it, outputs included,
to docs/labs/. The reader test (tests/test_reader.py) runs the published notebooks with real
Jupyter and checks their outputs against the ones committed here.
"""

from __future__ import annotations

import math
import tempfile
import time

import nbformat
import pytest
from nbclient import NotebookClient

from tests.harness import ROOT
from tests.harness.environment import block_environment
from tests.harness.labs import lab_sources, notebook_from_lab, notebook_path, render, shown_outputs, without_outputs

NOTEBOOK_TIMEOUT_S = 900


@pytest.mark.writes_outputs
@pytest.mark.parametrize("lab", lab_sources(), ids=lambda p: p.name)
def test_notebook_matches_its_lab(lab, update_outputs, private_home, monkeypatch):
    notebook = notebook_path(lab)
    expected = notebook_from_lab(lab)
    if update_outputs:
        for key, value in block_environment(private_home).items():
            monkeypatch.setenv(key, value)
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="notebook-") as workdir:
            NotebookClient(expected, timeout=NOTEBOOK_TIMEOUT_S, kernel_name="python3", allow_errors=False,
                           resources={"metadata": {"path": workdir}}).execute()
        # The module header's time uses it (overrides/hooks/durations.py): whole minutes, rounded up.
        expected.metadata["cardfraud"] = {"run_minutes": math.ceil((time.perf_counter() - started) / 60)}
        notebook.write_text(render(expected), encoding="utf-8")
        return
    where = notebook.relative_to(ROOT)
    assert notebook.is_file(), f"{where} is missing: run `make outputs` to generate it from {lab.relative_to(ROOT)}"
    committed = nbformat.read(notebook, as_version=4)
    assert render(without_outputs(committed)) == render(expected), (
        f"{where} differs from what {lab.relative_to(ROOT)} generates: run `make outputs PAGE={lab.stem}`"
    )
    shown = dict(shown_outputs(committed))
    assert shown and "PASS" in list(shown.values())[-1], f"{where}: the published notebook's last cell shows no PASS from a real run"


def test_every_notebook_has_a_lab():
    orphans = [p for p in (ROOT / "docs").rglob("*.ipynb") if not (ROOT / "snippets" / "labs" / f"{p.stem}.py").is_file()]
    assert not orphans, f"notebooks without a source in snippets/labs/: {orphans}"


def test_capstone_notebook_shows_what_its_page_shows():
    """The capstone runs once in the suite, as the capstone page's blocks; its published notebook,
    made by `make outputs` from the same source, must show the same outputs under the same code."""
    from tests.harness import DOCS
    from tests.harness.outputs import normalise
    from tests.harness.parse import page_blocks

    notebook = nbformat.read(ROOT / "docs" / "labs" / "capstone.ipynb", as_version=4)
    by_source = {cell.source.strip(): text for (index, text), cell in
                 zip(shown_outputs(notebook), [c for c in notebook.cells if c.cell_type == "code"])}
    compared = 0
    for block in page_blocks(DOCS / "capstone.md"):
        if block.output is None or "labs/capstone.py:" not in block.source:
            continue
        shown = by_source.get(block.code.strip())
        assert shown is not None, f"{block.where}: no cell of docs/labs/capstone.ipynb has this block's code"
        assert normalise(shown) == normalise(block.output.text), (
            f"{block.where}: docs/labs/capstone.ipynb shows another output for this code: run `make outputs PAGE=capstone`"
        )
        compared += 1
    assert compared >= 3, "the capstone page shows fewer outputs of the capstone notebook than its steps"
