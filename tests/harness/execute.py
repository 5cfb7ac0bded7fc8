"""Run a chain of blocks in a fresh directory, in its own process, with a timeout.

Python chains run in a process forked from a warm fork server that has already
imported the heavy libraries (see ``preload.py``), so each block pays for a
fork, not for importing pandas, scikit-learn or MLflow again. The child starts
its own session, gets its own environment and working directory, and runs the
chain as ``__main__`` with ``runpy``; anything it leaves running is killed and
reported. Shell chains run with ``bash -euo pipefail``.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.harness.blocks import Chain

# Printed between the blocks of a chain, so each block's output can be checked on its own.
SEPARATOR = "\x1e--- harness: next block ---\x1e"
_PY_SEPARATOR = f'__import__("sys").stdout.write("\\n{SEPARATOR}\\n"); __import__("sys").stdout.flush()'
_SH_SEPARATOR = f"printf '\\n%s\\n' '{SEPARATOR}'"


@dataclass
class Result:
    returncode: int | None  # None: timed out
    stdout: str
    stderr: str
    seconds: float
    script: str  # the chain as run
    origins: list[str]  # for each line of ``script``: where it came from
    leftovers: str  # processes the chain left running (killed by the harness)
    published: dict[str, bytes]  # the files named by ``publishes`` markers that the chain wrote

    def outputs(self, n_blocks: int) -> list[str]:
        parts = self.stdout.split(f"\n{SEPARATOR}\n")
        return parts + [""] * (n_blocks - len(parts))


_context = None


def _fork_server():
    global _context
    if _context is None:
        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload(["tests.harness.preload"])
    return _context


def assemble(chain: Chain) -> tuple[str, list[str]]:
    """The chain's script, with separators between blocks, and each line's origin."""
    separator = _PY_SEPARATOR if chain.language == "python" else _SH_SEPARATOR
    lines: list[str] = []
    origins: list[str] = []
    for index, block in enumerate(chain.blocks):
        if index:
            lines.append(separator)
            origins.append("(harness: block separator)")
        lines.extend(block.code.splitlines())
        origins.extend(block.origins)
    return "\n".join(lines) + "\n", origins


def run(chain: Chain, env: dict[str, str]) -> Result:
    script, origins = assemble(chain)
    with tempfile.TemporaryDirectory(prefix="block-") as workdir, tempfile.TemporaryDirectory(
        prefix="harness-"
    ) as scratch:
        suffix = ".py" if chain.language == "python" else ".sh"
        script_path = Path(scratch) / f"block{suffix}"
        script_path.write_text(script, encoding="utf-8")
        out_path, err_path = Path(scratch) / "stdout", Path(scratch) / "stderr"
        started = time.perf_counter()
        if chain.language == "python":
            returncode, leftovers = _run_python(script_path, workdir, env, out_path, err_path, chain.timeout_s)
        else:
            returncode, leftovers = _run_bash(script_path, workdir, env, out_path, err_path, chain.timeout_s)
        seconds = time.perf_counter() - started
        published = {name: (Path(workdir) / name).read_bytes() for name, _ in chain.publishes if (Path(workdir) / name).is_file()}
        return Result(
            returncode,
            out_path.read_text(encoding="utf-8", errors="replace"),
            err_path.read_text(encoding="utf-8", errors="replace"),
            seconds,
            script,
            origins,
            leftovers,
            published,
        )


def _run_python(script_path, workdir, env, out_path, err_path, timeout_s):
    process = _fork_server().Process(
        target=_child, args=(str(script_path), workdir, env, str(out_path), str(err_path)), daemon=False
    )
    process.start()
    process.join(timeout_s)
    timed_out = process.is_alive()
    leftovers = _reap(process.pid)
    process.join(5)
    return (None if timed_out else process.exitcode), leftovers


def _run_bash(script_path, workdir, env, out_path, err_path, timeout_s):
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        process = subprocess.Popen(
            ["bash", "-euo", "pipefail", str(script_path)],
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
        try:
            returncode = process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            returncode = None
        leftovers = _reap(process.pid)
        process.wait(5)
    return returncode, leftovers


def _reap(group: int) -> str:
    """Kill whatever is left in the chain's process group; describe it if anything was."""
    try:
        listing = subprocess.run(
            ["ps", "-o", "pid=,args=", "-g", str(group)], capture_output=True, text=True, check=False
        ).stdout.strip()
        os.killpg(group, signal.SIGKILL)
    except ProcessLookupError:
        return ""
    own = f"{group} "
    others = [line for line in listing.splitlines() if not line.strip().startswith(own)]
    return "\n".join(others)


def _child(script_path: str, workdir: str, env: dict[str, str], out_path: str, err_path: str) -> None:
    """Runs in the forked process: become a fresh script run, then exit like an interpreter would."""
    import atexit
    import runpy
    import traceback

    os.setsid()
    os.chdir(workdir)
    os.environ.clear()
    os.environ.update(env)
    for fd, path in ((1, out_path), (2, err_path)):
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(target, fd)
        os.close(target)
    sys.stdout = open(1, "w", encoding="utf-8", buffering=1, closefd=False)
    sys.stderr = open(2, "w", encoding="utf-8", buffering=1, closefd=False)
    sys.argv = [script_path]
    code = 0
    try:
        runpy.run_path(script_path, run_name="__main__")
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    except BaseException:  # report everything, as the interpreter would, then fail
        traceback.print_exc()
        code = 1
    finally:
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)
