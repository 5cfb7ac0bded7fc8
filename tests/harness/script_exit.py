"""How a forked chain ends: as ``python block.py`` ends, as far as the chain can tell, without
the seconds the interpreter spends freeing the preloaded modules.

After ``preload.py``, a normal interpreter exit takes 2.5-3.4 s on a 2-core machine (measured:
a bare ``import mlflow`` alone costs 1 s at exit), and a run forks some 60 Python chains. A
script's exit waits for its non-daemon threads, runs its atexit handlers, flushes stdout and
stderr, then frees every object: the chain can observe the first three, which are done here
with CPython's own functions, then ``os._exit`` skips the frees. Two of those functions are
private; ``tests/harness_tests/test_run.py`` checks that they behave as below on the Python
versions in WRITTEN_FOR and fails on any other, to be re-checked there.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading

WRITTEN_FOR = ("3.11", "3.12", "3.13")  # the Python versions the course promises


def exit_like_a_script(code: int) -> None:
    threading._shutdown()  # waits for non-daemon threads, as Py_FinalizeEx does first
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
