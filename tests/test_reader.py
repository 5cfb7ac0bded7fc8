"""The test that plays the reader: docs/get-started.md's commands, from the page's own text.

A reader has the published site, a laptop and a fresh folder. This test gives itself the same:
an empty HOME, the built site served on 127.0.0.1 in place of the published address, and a clone
of this checkout in place of the repository's address. It then runs the page's "Install" block
(a fresh virtual environment from the learner requirements only), and for every lab notebook the
page's "Run a lab" block — downloading the notebook from the served site into an empty folder — with
its `jupyter lab` line replaced by the page's own "Run a lab without a browser" command. Every run
must end in PASS and show exactly the outputs the published notebook carries. The page's example
lab then runs a second time in the same folder, as a reader who tries again does; every lab can,
because each starts by emptying a folder of its own (checked below for all of them).

The reader's `python3` is the Python this suite runs on: the test workflow runs the suite on each
Python the page promises, so each of them gets a reader (this machine's is pyenv's 3.11.7; Debian
12's own python3, 3.11.2, is too old for the pins, as the page says).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest

from tests.harness import DOCS, ROOT
from tests.harness.parse import page_blocks
from tests.harness.hooks import load_hook
from tests.harness.labs import lab_sources, notebook_from_lab, notebook_path, shown_outputs, stale_cells

GET_STARTED = DOCS / "get-started.md"
# The page's commands, in the order the page gives them.
BLOCK_TITLES = ["Install", "Run a lab", "Run a lab without a browser"]
EXAMPLE_LAB = "lab-5.3"  # the lab the page's commands name; the test runs each lab in its place
READER_PYTHON = Path(sys.base_prefix) / "bin" / "python3"  # the interpreter behind this suite's venv
INSTALL_TIMEOUT_S = 1200
LAB_TIMEOUT_S = 900
PARALLEL_LABS = 2  # the machine's cores


def page_commands() -> dict[str, str]:
    """The page's three shell blocks by title, with mkdocs.yml's addresses still as placeholders."""
    blocks = [b for b in page_blocks(GET_STARTED) if b.language == "bash"]
    titles = [b.title for b in blocks]
    assert titles == BLOCK_TITLES, f"{GET_STARTED.relative_to(ROOT)}: expected shell blocks titled {BLOCK_TITLES}, found {titles}"
    return {b.title: b.source for b in blocks}


def checkout_snapshot(destination: Path) -> Path:
    """A git repository holding this checkout's files as they are now (committed or not): what the
    reader would clone."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, files.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    git = ["git", "-c", "user.name=reader-test", "-c", "user.email=reader-test@localhost"]
    subprocess.run(["git", "init", "-q", str(destination)], check=True)
    subprocess.run([*git, "-C", str(destination), "add", "-A"], check=True)
    subprocess.run([*git, "-C", str(destination), "commit", "-qm", "snapshot"], check=True)
    return destination


def reader_environment(home: Path, python: Path) -> dict[str, str]:
    """A shell as a reader has one: their HOME, the system's PATH with ``python`` as `python3`
    (the one the page told them to install), pip's download cache."""
    cache = subprocess.run(["python3", "-m", "pip", "cache", "dir"], capture_output=True, text=True, check=False).stdout.strip()
    bin_dir = home / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "python3").symlink_to(python)
    env = {
        "HOME": str(home), "PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin", "LANG": os.environ.get("LANG", "C.UTF-8"),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    if cache:
        env["PIP_CACHE_DIR"] = cache  # the pins are already downloaded once: reuse them, as a reader's pip would
    for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "TMPDIR"):  # this machine's settings, not the course's
        if name in os.environ:
            env[name] = os.environ[name]
    return env


def run_shell(script: str, cwd: Path, env: dict, timeout_s: float, what: str) -> float:
    started = time.perf_counter()
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=cwd, env=env, capture_output=True,
                            text=True, timeout=timeout_s, check=False)
    if result.returncode != 0:
        pytest.fail(f"{GET_STARTED.relative_to(ROOT)}: {what} failed (exit {result.returncode}):\n$ {script}\n"
                    f"{result.stdout[-2000:]}\n{result.stderr[-4000:]}", pytrace=False)
    return time.perf_counter() - started


@pytest.fixture(scope="module")
def reader(tmp_path_factory, served_site):
    """A reader's HOME with the course installed by the page's Install block."""
    fill = load_hook("site_addresses").fill
    home = tmp_path_factory.mktemp("reader-home")
    repository = checkout_snapshot(tmp_path_factory.mktemp("repository") / "mlops-discipline")
    addresses = {"repo_url": str(repository), "site_url": served_site}
    commands = {title: fill(text, addresses) for title, text in page_commands().items()}
    env = reader_environment(home, READER_PYTHON)
    seconds = run_shell(commands["Install"], home, env, INSTALL_TIMEOUT_S, "the Install block")
    return {"home": home, "env": env, "commands": commands, "install_seconds": seconds}


def lab_script(commands: dict[str, str], lab: str) -> str:
    """The page's "Run a lab" block for ``lab``, with `jupyter lab` replaced by the page's headless command."""
    lines = [line for line in commands["Run a lab"].splitlines() if line.strip()]
    assert "jupyter lab" in lines[-1], f"{GET_STARTED.relative_to(ROOT)}: the Run a lab block no longer ends with `jupyter lab`"
    return "\n".join(lines[:-1] + [commands["Run a lab without a browser"].strip()]).replace(EXAMPLE_LAB, lab)


def test_every_lab_starts_in_a_folder_it_empties():
    """What makes a second run start as the first did: the lab's first code cell moves into
    ./<lab>, emptied (``course.lab_folder``, tested in tests/test_course.py)."""
    for lab in lab_sources():
        first = next(cell.source for cell in notebook_from_lab(lab).cells if cell.cell_type == "code")
        assert f'course.lab_folder("{lab.stem}")' in first, f"{lab.relative_to(ROOT)}: the first code cell must call course.lab_folder({lab.stem!r})"


def test_a_reader_runs_every_lab(reader, record_property):
    """Every lab once, two at a time, then the page's example lab again in the same folder."""
    folder = reader["home"] / "mlops-labs"

    def run(lab: str, attempt: str) -> tuple[str, list[str], float]:
        committed = nbformat.read(notebook_path(ROOT / "snippets" / "labs" / f"{lab}.py"), as_version=4)
        seconds = run_shell(lab_script(reader["commands"], lab), reader["home"], reader["env"], LAB_TIMEOUT_S, f"{lab}, {attempt}")
        executed = nbformat.read(folder / f"{lab}.ipynb", as_version=4)
        shown = [text for _, text in shown_outputs(executed)]
        problems = []
        if not shown or "PASS" not in shown[-1]:
            problems.append(f"{lab} ({attempt}): the last cell did not print PASS:\n{shown[-1] if shown else ''}")
        problems += [f"docs/labs/{lab}.ipynb {attempt}, {line}" for line in stale_cells(committed, executed)]
        return f"{lab} ({attempt})", problems, seconds

    labs = [lab.stem for lab in lab_sources() if lab.stem.startswith("lab-")]
    with ThreadPoolExecutor(max_workers=PARALLEL_LABS) as pool:
        results = list(pool.map(run, labs, ["first run"] * len(labs)))
    results.append(run(EXAMPLE_LAB, "second run, same folder"))
    for name, _, seconds in results:
        record_property(name, round(seconds))
        print(f"{name}: {seconds:.0f} s")
    problems = [problem for _, found, _ in results for problem in found]
    assert not problems, "the published notebooks do not run as a reader runs them (run `make outputs`):\n\n" + "\n\n".join(problems)
