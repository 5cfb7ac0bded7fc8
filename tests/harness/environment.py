"""The environment every block, notebook and build runs in."""

from __future__ import annotations

import os
from pathlib import Path

from tests.harness import ROOT

# Each tool's own switch for usage reporting, plus the cross-tool DO_NOT_TRACK convention.
TELEMETRY_OFF = {
    "DO_NOT_TRACK": "1",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "FEAST_USAGE": "False",
    "EVIDENTLY_DISABLE_TELEMETRY": "1",
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "NML_DISABLE_USAGE_LOGGING": "1",
    "GIT_PYTHON_REFRESH": "quiet",
    # Material 9.8 prints a notice about MkDocs 2 on every build; it is not a build problem.
    "NO_MKDOCS_2_WARNING": "1",
}
# Same hashes and no stray bytecode files in snippets/.
DETERMINISM = {"PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1"}
# One OpenMP thread per process (scikit-learn's trees), sleeping rather than spinning when
# idle: on a 2-core machine shared with servers and other processes, spinning threads starve
# each other and a 2 s fit takes a minute. Set before the fork server loads scikit-learn.
# pyarrow's bundled jemalloc (options read from JE_ARROW_MALLOC_CONF, jemalloc's MALLOC_CONF with
# Arrow's prefix) starts a background purging thread when pandas imports pyarrow; without it the
# fork server holds one thread when it forks (tests/harness_tests/test_run.py checks).
THREADING = {"OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE", "JE_ARROW_MALLOC_CONF": "background_thread:false"}
# At import, nbconvert (used by mkdocs-jupyter) instantiates every installed exporter to list the
# enabled ones in its help texts; this lists them unchecked and saves 0.6 s of each build. The Makefile sets it too.
FAST_BUILD = {"NBCONVERT_DISABLE_CONFIG_EXPORTERS": "1"}
VENV_BIN = Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv")) / "bin"


def block_environment(home: Path) -> dict[str, str]:
    """A clean environment: PATH with the venv first (where `pip install -e .` made cardfraud importable), a private HOME."""
    keep = {k: v for k, v in os.environ.items() if k in {"LANG", "LC_ALL", "TZ", "TERM", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"}}
    return {
        **keep,
        "PATH": f"{VENV_BIN}{os.pathsep}/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "TMPDIR": os.environ.get("TMPDIR", "/tmp"),
        "MPLBACKEND": "Agg",
        "MKDOCS_JUPYTER_CACHE_DIR": str(home / ".cache" / "mkdocs-jupyter"),
        **DETERMINISM,
        **THREADING,
        **TELEMETRY_OFF,
        **FAST_BUILD,
    }
