"""Every python/bash block on every page runs, and every shown output is what it prints.

One test per chain (a block and the blocks marked ``cont`` after it), named by
the page and line of its first block: ``pytest -k module-5.2`` runs one page.
"""

from __future__ import annotations

import difflib
import re
from collections import defaultdict

import pytest

from tests.conftest import record_blocks
from tests.harness import execute
from tests.harness.blocks import ROOT, Block, PageError, chains, normalise, page_blocks, pages
from tests.harness.environment import block_environment


def _collect():
    params = []
    for page in pages():
        rel = str(page.relative_to(ROOT))
        try:
            found = chains(page_blocks(page))
        except PageError as error:
            params.append(pytest.param(error, id=f"{rel}:unreadable"))
            continue
        params.extend(pytest.param(chain, id=chain.id) for chain in found)
    return params


class OutputRewriter:
    """Collects new outputs during the run; writes them at the end, bottom-up per page."""

    def __init__(self):
        self.edits = defaultdict(list)

    def set(self, block: Block, new_text: str) -> None:
        output = block.output
        if output.file is not None:
            output.file.write_text(new_text.rstrip("\n") + "\n", encoding="utf-8")
            return
        indent = re.match(r"\s*", block.page.read_text(encoding="utf-8").splitlines()[output.page_line - 2])[0]
        lines = [indent + line if line else "" for line in new_text.rstrip("\n").splitlines()]
        self.edits[block.page].append((output.page_line - 1, output.end_line - 1, lines, output.text))

    def write(self) -> None:
        """Edits go by line number, so a page edited during the run is left alone, with an error."""
        stale = []
        for page, edits in self.edits.items():
            lines = page.read_text(encoding="utf-8").splitlines()
            moved = [start for start, end, _, old in edits if _stripped(lines[start:end]) != _stripped(old.splitlines())]
            if moved:
                stale.append(f"{page.relative_to(ROOT)}:{moved[0] + 1}")
                continue
            for start, end, new, _ in sorted(edits, reverse=True):
                lines[start:end] = new  # the content between the fences
            page.write_text("\n".join(lines) + "\n", encoding="utf-8")
        if stale:
            raise RuntimeError(
                "pages edited while their outputs were regenerated, left unchanged (run again): " + ", ".join(stale)
            )


def _stripped(lines: list[str]) -> list[str]:
    return [line.strip() for line in lines if line.strip()]


@pytest.fixture(scope="session")
def rewriter(update_outputs):
    rewriter = OutputRewriter()
    yield rewriter
    if update_outputs:
        rewriter.write()


@pytest.mark.parametrize("chain", _collect())
def test_block(chain, request, private_home, update_outputs, rewriter):
    if isinstance(chain, PageError):
        pytest.fail(str(chain), pytrace=False)
    page = str(chain.first.page.relative_to(ROOT))
    if chain.skip_reason:
        record_blocks(request.config, page, f"skipped: {chain.skip_reason}", len(chain.blocks))
        pytest.skip(f"{chain.id}: {chain.skip_reason}")

    result = execute.run(chain, block_environment(private_home))
    status = "executed" if result.returncode == 0 and not result.leftovers else "failed"
    record_blocks(request.config, page, status, len(chain.blocks), result.seconds)

    if result.returncode is None:
        pytest.fail(f"{chain.id}: timed out after {chain.timeout_s} s\n{_tail(result)}", pytrace=False)
    if result.returncode != 0:
        pytest.fail(f"{_failure_location(result)}: the block raised or exited {result.returncode}\n{_tail(result)}", pytrace=False)
    if result.leftovers:
        pytest.fail(f"{chain.id}: the block left processes running (stop what you start):\n{result.leftovers}", pytrace=False)

    stale = []
    for block, printed in zip(chain.blocks, result.outputs(len(chain.blocks))):
        if block.output is None:
            continue
        if normalise(printed) == normalise(block.output.text):
            continue
        if update_outputs:
            rewriter.set(block, normalise(printed) + "\n")
            continue
        shown_at = block.output.file.relative_to(ROOT) if block.output.file else f"{block.page.relative_to(ROOT)}:{block.output.page_line}"
        diff = "\n".join(
            difflib.unified_diff(
                normalise(block.output.text).splitlines(),
                normalise(printed).splitlines(),
                fromfile=f"shown ({shown_at})",
                tofile="printed now",
                lineterm="",
            )
        )
        stale.append(f"{block.where}: the shown output is stale (run `make outputs PAGE={block.page.stem}`)\n{diff}")
    stale += _stale_published(chain, result, update_outputs)
    if stale:
        pytest.fail("\n\n".join(stale), pytrace=False)


# What differs between two runs of the same code in a published file: generated ids (UUIDs,
# 32-hex element ids in Evidently's HTML) and timestamps. Everything else must match.
_RUN_SPECIFIC = re.compile(
    rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32}|\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?"
)


def _stale_published(chain, result: execute.Result, update_outputs: bool) -> list[str]:
    """Files a page links to that its code wrote (``publishes`` marker) must be what it writes now."""
    problems = []
    for name, target in chain.publishes:
        produced = result.published.get(name)
        if produced is None:
            problems.append(f"{chain.id}: the block is marked as publishing {name} but did not write it")
        elif target.is_file() and _RUN_SPECIFIC.sub(b"", produced) == _RUN_SPECIFIC.sub(b"", target.read_bytes()):
            continue
        elif update_outputs:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(produced)
        else:
            problems.append(
                f"{chain.id}: {target.relative_to(ROOT)} is not the {name} the block writes now "
                f"(run `make outputs PAGE={chain.first.page.stem}`)"
            )
    return problems


# Where a traceback (Python) or an error line (bash) points into the chain's script.
_TRACE_LINE = re.compile(r'File "[^"]*/harness-[^/"]+/block\.py", line (\d+)|block\.sh: line (\d+)')


def _failure_location(result: execute.Result) -> str:
    """The page (or snippet) line the innermost frame of the block's traceback points at."""
    matches = list(_TRACE_LINE.finditer(result.stderr))
    if matches:
        number = int(matches[-1][1] or matches[-1][2])
        if 1 <= number <= len(result.origins):
            return f"{result.origins[number - 1]} `{result.script.splitlines()[number - 1].strip()}`"
    return result.origins[0] if result.origins else "?"


def _tail(result: execute.Result, lines: int = 40) -> str:
    stderr = "\n".join(result.stderr.strip().splitlines()[-lines:])
    stdout = "\n".join(result.stdout.strip().splitlines()[-10:])
    return f"--- stderr (last {lines} lines) ---\n{stderr}\n--- stdout (last 10 lines) ---\n{stdout}"
