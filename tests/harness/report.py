"""The table printed at the end of a run: executed and skipped blocks per page, and wall seconds."""

from __future__ import annotations

from collections import defaultdict


class BlockTable:
    def __init__(self):
        self.counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.seconds: dict[str, float] = defaultdict(float)

    def record(self, page: str, status: str, blocks: int, seconds: float = 0.0) -> None:
        """Count a chain's ``blocks`` under ``status`` ("executed", "failed", "skipped: reason")."""
        self.counts[page][status] += blocks
        self.seconds[page] += seconds

    def lines(self) -> list[str]:
        if not self.counts:
            return []
        statuses = sorted({s for counts in self.counts.values() for s in counts}, key=lambda s: (s != "executed", s))
        width = max(len(p) for p in self.counts) + 2

        def row(label: str, counts: dict, wall: float) -> str:
            return label.ljust(width) + "  ".join(str(counts.get(s, 0)).rjust(max(9, len(s))) for s in statuses) + f"{wall:16.0f}"

        totals = {s: sum(counts.get(s, 0) for counts in self.counts.values()) for s in statuses}
        return [
            "page".ljust(width) + "  ".join(s.rjust(9) for s in statuses) + "  seconds (wall)",
            *(row(page, self.counts[page], self.seconds[page]) for page in sorted(self.counts)),
            row("total", totals, sum(self.seconds.values())),
        ]
