"""The lab notebooks: generated from their single source, and executed."""

from __future__ import annotations

import tempfile

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from tests.harness import ROOT
from tests.harness.environment import block_environment
from tests.harness.labs import lab_sources, notebook_from_lab, notebook_path, render

NOTEBOOK_TIMEOUT_S = 300


@pytest.mark.writes_outputs
@pytest.mark.parametrize("lab", lab_sources(), ids=lambda p: p.name)
def test_notebook_matches_its_lab(lab, update_outputs):
    notebook = notebook_path(lab)
    expected = render(notebook_from_lab(lab))
    if update_outputs:
        notebook.write_text(expected, encoding="utf-8")
        return
    assert notebook.is_file(), f"{notebook.relative_to(ROOT)} is missing: run `make outputs` to generate it from {lab.relative_to(ROOT)}"
    assert notebook.read_text(encoding="utf-8") == expected, (
        f"{notebook.relative_to(ROOT)} differs from what {lab.relative_to(ROOT)} generates: run `make outputs`"
    )


def test_every_notebook_has_a_lab():
    orphans = [p for p in (ROOT / "docs").rglob("*.ipynb") if not (ROOT / "snippets" / "labs" / f"{p.stem}.py").is_file()]
    assert not orphans, f"notebooks without a source in snippets/labs/: {orphans}"


@pytest.mark.parametrize("lab", lab_sources(), ids=lambda p: p.name)
def test_notebook_runs(lab, private_home, monkeypatch):
    """Executed in a temporary directory, so nothing lands in docs/."""
    notebook = nbformat.read(notebook_path(lab), as_version=4)
    for key, value in block_environment(private_home).items():
        monkeypatch.setenv(key, value)
    with tempfile.TemporaryDirectory(prefix="notebook-") as workdir:
        client = NotebookClient(
            notebook,
            timeout=NOTEBOOK_TIMEOUT_S,
            kernel_name="python3",
            allow_errors=False,
            resources={"metadata": {"path": workdir}},
        )
        try:
            client.execute()
        except CellExecutionError as error:
            cell = next((i for i, c in enumerate(notebook.cells) if c.get("outputs") and any(o.get("output_type") == "error" for o in c.outputs)), None)
            pytest.fail(f"{notebook_path(lab).relative_to(ROOT)}: cell {cell} raised (source: {lab.relative_to(ROOT)})\n{str(error)[-3000:]}", pytrace=False)
    printed = "".join(o.get("text", "") for c in notebook.cells for o in c.get("outputs", []) if o.get("output_type") == "stream")
    assert "PASS" in printed, f"{notebook_path(lab).relative_to(ROOT)}: the lab's check never printed PASS"
