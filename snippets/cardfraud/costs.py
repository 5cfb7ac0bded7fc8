"""The one decision threshold: derived from what a review and a missed fraud cost.

Module 5.3 derives it (``cost_threshold`` on the launch-day validation window, labels as known
then) and every later module's code decides with ``DECISION_THRESHOLD``: the server's ``flagged``
answer, the canary's alert-rate guardrail, the monitor's recall, the pipeline's checks.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

REVIEW_COST_EUR = 10.0  # one analyst review (illustrative: put your own in)
# The thresholds searched: from "review almost everything" to "review almost nothing".
THRESHOLD_GRID = np.round(np.geomspace(0.0005, 0.9, 80), 4)
# What module 5.3's derivation printed; its block fails (stale output) if the two part ways.
DECISION_THRESHOLD = 0.0202


def expected_cost(rows: pd.DataFrame, scores: np.ndarray, threshold: float) -> float:
    """Euros: a review for every flagged payment, plus the amount of every fraud let through."""
    flagged = np.asarray(scores) >= threshold
    missed = (rows["is_fraud"] == 1).to_numpy() & ~flagged
    return REVIEW_COST_EUR * float(flagged.sum()) + float(rows["amount"].to_numpy()[missed].sum())


def cost_threshold(rows: pd.DataFrame, scores: np.ndarray) -> float:
    """The threshold of ``THRESHOLD_GRID`` with the lowest expected cost on ``rows``."""
    costs = [expected_cost(rows, scores, t) for t in THRESHOLD_GRID]
    return float(THRESHOLD_GRID[int(np.argmin(costs))])


def incumbent_rule(rows: pd.DataFrame) -> np.ndarray:
    """The bank's rule before the model, as a score to rank payments by: foreign and online first.

    3 for a foreign online payment, 2 foreign, 1 online, 0 otherwise. A model must beat it (module
    5.3 compares the two with ``cardfraud.decisions.compare``) before it replaces it.
    """
    return (2 * rows["is_foreign"].to_numpy() + (rows["channel"] == "online").to_numpy()).astype(float)
