"""Run a chain of blocks in a fresh directory, in its own session, with a timeout.

Python chains are forked from a warm process that has already imported the heavy libraries
(``forkserver.py``, ``preload.py``), so each chain pays for a fork, not for importing pandas,
scikit-learn or MLflow again. In cold mode (``pytest --cold``, for a periodic parity run) each
Python chain runs as ``python block.py`` in a fresh interpreter instead, as bash chains always
run (``bash -euo pipefail block.sh``). Whatever a chain leaves running is killed and reported.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.harness import ROOT
from tests.harness.parse import Chain

# Printed between the blocks of a chain, so each block's output can be checked on its own.
SEPARATOR = "\x1e--- harness: next block ---\x1e"
_SEPARATOR_LINE = {
    "python": f'__import__("sys").stdout.write("\\n{SEPARATOR}\\n"); __import__("sys").stdout.flush()',
    "bash": f"printf '\\n%s\\n' '{SEPARATOR}'",
}
# Bash names the line of a failed command only in its own errors: this trap names it for any.
_BASH_ERR_TRAP = """trap 'echo "block.sh: line $LINENO: exited with status $?" >&2' ERR"""
# Where a traceback (Python) or an error line (bash) points into the chain's script.
_TRACE_LINE = re.compile(r'File "[^"]*/block\.py", line (\d+)|block\.sh: line (\d+)')


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
        """What each block of the chain printed."""
        parts = self.stdout.split(f"\n{SEPARATOR}\n")
        return parts + [""] * (n_blocks - len(parts))

    def failure_location(self) -> str:
        """The page (or snippet) line that the innermost frame of the traceback points at."""
        matches = list(_TRACE_LINE.finditer(self.stderr))
        if matches:
            number = int(matches[-1][1] or matches[-1][2])
            if 1 <= number <= len(self.origins):
                return f"{self.origins[number - 1]} `{self.script.splitlines()[number - 1].strip()}`"
        return self.origins[0] if self.origins else "?"


def assemble(chain: Chain) -> tuple[str, list[str]]:
    """The chain's script, with separators between blocks, and each line's origin."""
    lines = [_BASH_ERR_TRAP] if chain.language == "bash" else []
    origins = ["(harness: error trap)"] * len(lines)
    for index, block in enumerate(chain.blocks):
        if index:
            lines.append(_SEPARATOR_LINE[chain.language])
            origins.append("(harness: block separator)")
        lines.extend(block.code.splitlines())
        origins.extend(block.origins)
    return "\n".join(lines) + "\n", origins


def run(chain: Chain, env: dict[str, str], cold: bool = False) -> Result:
    script, origins = assemble(chain)
    with tempfile.TemporaryDirectory(prefix="block-") as workdir, tempfile.TemporaryDirectory(prefix="harness-") as scratch:
        script_path = Path(scratch) / ("block.py" if chain.language == "python" else "block.sh")
        script_path.write_text(script, encoding="utf-8")
        out, err = Path(scratch) / "stdout", Path(scratch) / "stderr"
        started = time.perf_counter()
        if chain.language == "python" and not cold:
            returncode, group = _fork_server(env).run(script_path, workdir, env, out, err, chain.timeout_s)
        else:
            command = [sys.executable] if chain.language == "python" else ["bash", "-euo", "pipefail"]
            returncode, group = _run_process([*command, str(script_path)], workdir, env, out, err, chain.timeout_s)
        seconds = time.perf_counter() - started
        leftovers = _reap(group)  # the chain's process group leads its session
        published = {name: (Path(workdir) / name).read_bytes() for name, _ in chain.publishes if (Path(workdir) / name).is_file()}
        return Result(
            returncode,
            out.read_text(encoding="utf-8", errors="replace"),
            err.read_text(encoding="utf-8", errors="replace"),
            seconds,
            script,
            origins,
            leftovers,
            published,
        )


def _run_process(command: list[str], workdir, env, out_path, err_path, timeout_s) -> tuple[int | None, int]:
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        process = subprocess.Popen(
            command, cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True
        )
        try:
            return process.wait(timeout_s), process.pid
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            return None, process.pid


def _reap(session: int) -> str:
    """Kill whatever is left in the chain's session, wait until it is gone, and describe it.

    Each process is killed by its pid: a server a block started in a process group of its own
    (``cardfraud.tracking.tracking_server``) is outside the chain's group but still in its session.
    """
    left = _living(session)
    for line in left:
        with contextlib.suppress(ProcessLookupError):  # it may have ended meanwhile
            os.kill(int(line.split(None, 1)[0]), signal.SIGKILL)
    deadline = time.monotonic() + 10
    while left and _living(session) and time.monotonic() < deadline:
        time.sleep(0.05)
    return "\n".join(left)


def _living(session: int) -> list[str]:
    """``pid command`` of each process of the session that has not ended (zombies have)."""
    # ps -g with a number selects by session id.
    listing = subprocess.run(["ps", "-o", "pid=,stat=,args=", "-g", str(session)], capture_output=True, text=True, check=False).stdout
    return [f"{pid} {args}" for pid, stat, args in (line.split(None, 2) for line in listing.splitlines() if line.strip()) if not stat.startswith("Z")]


class ForkServer:
    """Client of ``python -m tests.harness.forkserver``, started on first use."""

    def __init__(self, env: dict[str, str]):
        self.log = tempfile.NamedTemporaryFile(prefix="forkserver-", suffix=".log")
        self.process = subprocess.Popen(  # unbuffered: readline() then never reads past an answer
            [sys.executable, "-m", "tests.harness.forkserver"],
            cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, bufsize=0,
        )

    def run(self, script: Path, workdir: str, env: dict[str, str], out: Path, err: Path, timeout_s: float) -> tuple[int | None, int]:
        request = {"script": str(script), "workdir": workdir, "env": env, "stdout": str(out), "stderr": str(err)}
        self.process.stdin.write(json.dumps(request).encode() + b"\n")
        pid = self._answer(None)["pid"]  # the preload may still be importing: no timeout on this one
        answer = self._answer(timeout_s)
        if answer is None:
            os.killpg(pid, signal.SIGKILL)
            self._answer(None)
            return None, pid
        return answer["exit"], pid

    def _answer(self, timeout_s: float | None) -> dict | None:
        """The server's next answer, or None if none came within the timeout."""
        if not select.select([self.process.stdout], [], [], timeout_s)[0]:
            return None
        if not (line := self.process.stdout.readline()):
            self.log.seek(0)
            raise RuntimeError("the fork server died:\n" + self.log.read().decode(errors="replace")[-3000:])
        return json.loads(line)


_server: ForkServer | None = None


def _fork_server(env: dict[str, str]) -> ForkServer:
    global _server
    if _server is None or _server.process.poll() is not None:
        _server = ForkServer(env)
    return _server
