"""Running chains: isolation, outputs per block, failures at their page line, leftovers, cold mode."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness import ROOT, script_exit
from tests.harness.environment import block_environment
from tests.harness.parse import Block, Chain, page_chains
from tests.harness.run import run

FIXTURES = Path(__file__).parent / "fixtures"


def chains(name: str) -> list[Chain]:
    return page_chains(FIXTURES / "docs" / name, FIXTURES)


def script(language: str, code: str, timeout_s: int | None = None) -> Chain:
    page = FIXTURES / "docs" / "index.md"
    origins = [f"docs/index.md:{n}" for n in range(1, code.count("\n") + 1)]
    return Chain([Block(FIXTURES, page, 1, language, code, origins, timeout_s=timeout_s)])


@pytest.fixture(params=["warm", "cold"])
def cold(request) -> bool:
    return request.param == "cold"


def test_a_chain_shares_one_process_and_directory_and_each_block_has_its_output(private_home, cold):
    python, bash, listing = chains("chains.md")
    assert run(python, block_environment(private_home), cold).outputs(2) == ["first\n", "kept\n"]
    assert run(bash, block_environment(private_home), cold).outputs(2) == ["bash chain\n", "made-by-bash\n"]
    assert run(listing, block_environment(private_home), cold).stdout == "[]\n", "a chain starts in an empty directory"


def test_each_chain_runs_in_a_fresh_temporary_directory_as_main(private_home, cold):
    code = "import os, sys\nprint(__name__, os.getcwd() != sys.argv[0], os.listdir('.'))\nopen('left.txt', 'w').write('x')\n"
    first = run(script("python", code), block_environment(private_home), cold)
    second = run(script("python", code), block_environment(private_home), cold)
    assert first.stdout == second.stdout == "__main__ True []\n"


@pytest.mark.parametrize(
    "page_chain, location",
    [
        (0, "docs/failures.md:5 `print(values[5])`"),
        (1, "snippets/divide.py:2 `return a / b`"),
        (2, "docs/failures.md:14 `false`"),
    ],
    ids=["python", "python in an include", "bash"],
)
def test_a_failure_names_the_line_it_happened_on(private_home, cold, page_chain, location):
    result = run(chains("failures.md")[page_chain], block_environment(private_home), cold)
    assert result.returncode != 0
    assert result.failure_location() == location


def test_an_exit_code_is_the_chain_result(private_home, cold):
    result = run(chains("failures.md")[3], block_environment(private_home), cold)
    assert (result.returncode, result.outputs(2)) == (3, ["one\n", ""])


def test_a_chain_that_runs_too_long_is_stopped(private_home, cold):
    result = run(script("python", "import time\ntime.sleep(30)\n", timeout_s=1), block_environment(private_home), cold)
    assert result.returncode is None and result.seconds < 10


def assert_gone(pid: str) -> None:
    assert not Path(f"/proc/{pid}").exists() or Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z", "still running"


def test_processes_a_chain_leaves_running_are_reported_and_killed(private_home, cold):
    code = "import subprocess\nsubprocess.Popen(['sleep', '300'])\n"
    result = run(script("python", code), block_environment(private_home), cold)
    pid, command = result.leftovers.split(None, 1)
    assert command == "sleep 300"
    assert_gone(pid)


def test_a_chain_that_times_out_leaves_no_server_running(private_home, cold):
    """A server in a process group of its own (as `cardfraud.tracking.tracking_server` starts
    mlflow) is killed with the chain when the chain runs out of time."""
    code = "import subprocess, time\nsubprocess.Popen(['sleep', '300'], process_group=0)\ntime.sleep(30)\n"
    result = run(script("python", code, timeout_s=2), block_environment(private_home), cold)
    assert result.returncode is None
    pid, command = result.leftovers.split(None, 1)
    assert command == "sleep 300"
    assert_gone(pid)


def test_a_chain_exits_like_a_script_atexit_handlers_run(private_home, cold):
    code = "import atexit\natexit.register(print, 'at exit')\nprint('body')\n"
    assert run(script("python", code), block_environment(private_home), cold).stdout == "body\nat exit\n"


def test_blocks_see_the_block_environment(private_home, cold):
    code = "import os, sys\nprint(os.environ['HOME'], os.environ['OMP_NUM_THREADS'], sys.executable.startswith(os.environ['PATH'].split(':')[0]))\n"
    assert run(script("python", code), block_environment(private_home), cold).stdout == f"{private_home} 1 True\n"


def test_the_fork_server_preload_leaves_one_thread(private_home):
    """The warm process refuses to serve if the preload started a thread (a fork would lose it)."""
    assert run(script("python", "print('served')\n"), block_environment(private_home)).stdout == "served\n"
    check = "from tests.harness.forkserver import other_threads; print(len(other_threads()))"
    thread = "import threading, time; threading.Thread(target=time.sleep, args=(5,), daemon=True).start(); "
    for code, expected in ((check, "0\n"), (thread + check, "1\n")):  # a thread is named after its process
        found = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
        assert found == expected, code


def test_a_chain_waits_for_its_threads_like_a_script(private_home, cold):
    code = "import threading, time\nthreading.Thread(target=lambda: (time.sleep(0.5), print('thread done'))).start()\nprint('main done')\n"
    assert run(script("python", code), block_environment(private_home), cold).stdout == "main done\nthread done\n"


def test_the_forked_exit_was_written_for_this_python():
    """script_exit.py calls threading._shutdown and atexit._run_exitfuncs, private to CPython."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert version in script_exit.WRITTEN_FOR, (
        f"Python {version}: check that threading._shutdown and atexit._run_exitfuncs still do what "
        "tests/harness/script_exit.py says (this module's tests), then add the version to WRITTEN_FOR"
    )
