"""Shown outputs and published files, checked against what a run printed and wrote, or rewritten.

Only standard output is compared, line by line, ignoring trailing spaces and surrounding blank
lines. ``make outputs`` collects the new outputs during the run and writes each page once at the
end, bottom-up (edits go by line number); a page edited meanwhile is left as it is, with an error.
"""

from __future__ import annotations

import difflib
import re
from collections import defaultdict
from pathlib import Path

from tests.harness.parse import Block, Chain
from tests.harness.run import Result

# What differs between two runs of the same code in a published file: generated ids (UUIDs,
# 32-hex element ids in Evidently's HTML) and timestamps. Everything else must match.
_RUN_SPECIFIC = re.compile(
    rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32}|\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?"
)


def normalise(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip("\n").splitlines()).strip("\n")


def stale_outputs(chain: Chain, result: Result) -> list[tuple[Block, str]]:
    """(block, what it printed now) for each block whose shown output differs."""
    printed = result.outputs(len(chain.blocks))
    return [
        (block, now)
        for block, now in zip(chain.blocks, printed)
        if block.output is not None and normalise(now) != normalise(block.output.text)
    ]


def stale_message(block: Block, printed: str) -> str:
    page = block.page.relative_to(block.root)
    diff = difflib.unified_diff(
        normalise(block.output.text).splitlines(),
        normalise(printed).splitlines(),
        fromfile=f"shown ({page}:{block.output.first_line})",
        tofile="printed now",
        lineterm="",
    )
    return f"{block.where}: the shown output is stale (run `make outputs PAGE={page.stem}`)\n" + "\n".join(diff)


def stale_published(chain: Chain, result: Result, update: bool) -> list[str]:
    """Files a page links to that its code wrote (``publishes`` marker) must be what it writes now."""
    problems = []
    for name, target in chain.publishes:
        produced = result.published.get(name)
        if produced is None:
            problems.append(f"{chain.id}: the block is marked as publishing {name} but did not write it")
        elif target.is_file() and _RUN_SPECIFIC.sub(b"", produced) == _RUN_SPECIFIC.sub(b"", target.read_bytes()):
            continue
        elif update:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(produced)
        else:
            problems.append(f"{chain.id}: {target.relative_to(chain.first.root)} is not the {name} the block writes now (run `make outputs PAGE={chain.first.page.stem}`)")
    return problems


class Rewriter:
    """Collects new outputs during the run; ``write()`` puts them on their pages, bottom-up."""

    def __init__(self):
        self.edits: dict[Path, list[tuple[Block, str]]] = defaultdict(list)

    def set(self, block: Block, printed: str) -> None:
        self.edits[block.page].append((block, normalise(printed)))

    def write(self) -> list[str]:
        """Write every page whose outputs are still where they were read; return the others."""
        moved = []
        for page, edits in self.edits.items():
            lines = page.read_text(encoding="utf-8").splitlines()
            if changed := [b for b, _ in edits if _stripped(lines[b.output.first_line - 1 : b.output.end_line - 1]) != _stripped(b.output.text.splitlines())]:
                moved.append(f"{page.relative_to(changed[0].root)}:{changed[0].output.first_line}")
                continue
            for block, printed in sorted(edits, key=lambda edit: edit[0].output.first_line, reverse=True):
                indent = block.output.indent
                lines[block.output.first_line - 1 : block.output.end_line - 1] = [indent + line if line else "" for line in printed.splitlines()]
            page.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return moved


def _stripped(lines: list[str]) -> list[str]:
    return [line.strip() for line in lines if line.strip()]
