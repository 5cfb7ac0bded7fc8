"""Every python/bash block on every page runs, and every shown output is what it prints.

One test per chain (a block and the blocks marked ``continue`` after it), named by the page
and line of its first block: ``pytest tests/test_codeblocks.py -k module-5.2`` runs one page.
"""

from __future__ import annotations

import pytest

from tests.harness import ROOT, run
from tests.harness.environment import block_environment
from tests.harness.outputs import stale_message, stale_outputs, stale_published
from tests.harness.parse import PageError, page_chains, pages

pytestmark = pytest.mark.writes_outputs


def _chains():
    params = []
    for page in pages():
        try:
            params += [pytest.param(chain, id=chain.id) for chain in page_chains(page)]
        except PageError as error:
            params.append(pytest.param(error, id=f"{page.relative_to(ROOT)}:unreadable"))
    return params


@pytest.mark.parametrize("chain", _chains())
def test_block(chain, private_home, update_outputs, cold, block_table, rewriter):
    if isinstance(chain, PageError):
        pytest.fail(str(chain), pytrace=False)
    page = str(chain.first.page.relative_to(ROOT))
    if chain.skip_reason:
        block_table.record(page, f"skipped: {chain.skip_reason}", len(chain.blocks))
        pytest.skip(f"{chain.id}: {chain.skip_reason}")

    result = run.run(chain, block_environment(private_home), cold=cold)
    ok = result.returncode == 0 and not result.leftovers
    block_table.record(page, "executed" if ok else "failed", len(chain.blocks), result.seconds)
    if result.returncode is None:
        pytest.fail(f"{chain.id}: timed out after {chain.timeout_s} s\n{_tail(result)}", pytrace=False)
    if result.returncode != 0:
        pytest.fail(f"{result.failure_location()}: the block raised or exited {result.returncode}\n{_tail(result)}", pytrace=False)
    if result.leftovers:
        pytest.fail(f"{chain.id}: the block left processes running (stop what you start):\n{result.leftovers}", pytrace=False)

    stale = stale_outputs(chain, result)
    for block, printed in stale if update_outputs else []:
        rewriter.set(block, printed)
    problems = [] if update_outputs else [stale_message(block, printed) for block, printed in stale]
    problems += stale_published(chain, result, update_outputs)
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


def _tail(result: run.Result, lines: int = 40) -> str:
    stderr = "\n".join(result.stderr.strip().splitlines()[-lines:])
    stdout = "\n".join(result.stdout.strip().splitlines()[-10:])
    return f"--- stderr (last {lines} lines) ---\n{stderr}\n--- stdout (last 10 lines) ---\n{stdout}"
