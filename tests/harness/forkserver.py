"""The warm process Python chains are forked from: ``python -m tests.harness.forkserver``.

It imports what many blocks import (``preload.py``) once, refuses to serve if that started a
thread (a forked child would lack it), then reads one request per line on
stdin (JSON: script, workdir, env, stdout and stderr paths). For each it forks a child, answers
the child's pid, waits for it and answers its exit status. The child becomes a fresh script
run — own session, directory, environment, output files, ``sys.argv`` and ``sys.path[0]`` — runs
the script as ``__main__`` and exits as a script would (``script_exit.py``).
"""

from __future__ import annotations

import json
import os
import runpy
import sys
import threading
import traceback

from tests.harness.script_exit import exit_like_a_script


def serve() -> None:
    import tests.harness.preload  # noqa: F401  (the point of this process)

    if threads := other_threads():
        raise SystemExit(f"the preload started threads, which a fork would lose mid-work: {threads}")
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            run_script(**request)  # never returns
        _answer({"pid": pid})
        _answer({"exit": os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])})


def other_threads() -> list[str]:
    """The threads besides this one: Python's, and native ones where /proc lists them."""
    native = [] if not os.path.isdir("/proc/self/task") else os.listdir("/proc/self/task")
    others = [open(f"/proc/self/task/{t}/comm").read().strip() for t in native if int(t) != os.getpid()]
    return others or [t.name for t in threading.enumerate() if t is not threading.main_thread()]


def _answer(message: dict) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def run_script(script: str, workdir: str, env: dict[str, str], stdout: str, stderr: str):
    os.setsid()
    os.chdir(workdir)
    os.environ.clear()
    os.environ.update(env)
    for fd, path in ((0, os.devnull), (1, stdout), (2, stderr)):
        target = os.open(path, os.O_RDONLY if fd == 0 else os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(target, fd)
        os.close(target)
    sys.stdin = open(0, encoding="utf-8", closefd=False)
    sys.stdout = open(1, "w", encoding="utf-8", buffering=1, closefd=False)
    sys.stderr = open(2, "w", encoding="utf-8", buffering=1, closefd=False)
    sys.argv = [script]
    sys.path[0] = os.path.dirname(script)
    code = 0
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as exit_:  # what the interpreter does with sys.exit(x)
        if exit_.code is not None and not isinstance(exit_.code, int):
            print(exit_.code, file=sys.stderr)
        code = exit_.code if isinstance(exit_.code, int) else int(exit_.code is not None)
    except BaseException:
        traceback.print_exc()
        code = 1
    exit_like_a_script(code)


if __name__ == "__main__":
    serve()
