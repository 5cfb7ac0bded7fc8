"""Model comparisons with error bars: promote only on evidence.

Two models are compared on the same rows (paired): each bootstrap resample draws rows with
replacement and scores both models on the same draw, so the interval is that of the
*difference*, which is much narrower than the two models' own intervals side by side.

    >>> from cardfraud.decisions import compare
    >>> result = compare(y, champion_scores, challenger_scores)
    >>> result.verdict            # "promote", "keep" or "not enough evidence"
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# The smallest PR-AUC gain worth a rollout (module 5.3, "Promote on evidence", says why).
PROMOTION_MARGIN = 0.02
# Below this many known frauds a PR-AUC says more about luck than about the model.
MIN_POSITIVES = 30
BOOTSTRAP_RESAMPLES = 1_000
CONFIDENCE = 0.95
_CHUNK = 100  # resamples scored at once (memory: chunk x rows floats)


@dataclass(frozen=True)
class Comparison:
    """Challenger against champion on the same rows."""

    champion: float  # PR-AUC on all rows
    challenger: float
    low: float  # the interval of challenger - champion
    high: float
    positives: int  # known frauds among the rows
    rows: int
    margin: float
    verdict: str  # "promote", "keep" or "not enough evidence"

    @property
    def gain(self) -> float:
        return self.challenger - self.champion

    def __str__(self) -> str:
        interval = "(no interval)" if np.isnan(self.low) else f"[{self.low:+.3f}, {self.high:+.3f}]"
        return (
            f"PR-AUC champion {self.champion:.3f}, challenger {self.challenger:.3f}, gain {self.gain:+.3f} "
            f"{interval} on {self.rows} rows with {self.positives} known frauds "
            f"(margin {self.margin:.2f}): {self.verdict}"
        )


def average_precision(y: np.ndarray, scores: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Average precision (PR-AUC), as scikit-learn computes it, for each row of ``weights``.

    ``weights`` holds how many times each row was drawn (one resample per row of the matrix);
    ties in ``scores`` are one threshold, as in ``sklearn.metrics.average_precision_score``.
    """
    y = np.asarray(y, dtype=float)
    weights = np.ones((1, len(y))) if weights is None else np.atleast_2d(weights).astype(float)
    order = np.argsort(-np.asarray(scores), kind="stable")
    sorted_scores = np.asarray(scores)[order]
    # The last row of each group of tied scores: where a threshold's counts are read.
    ends = np.r_[np.flatnonzero(np.diff(sorted_scores) != 0), len(y) - 1]
    w = weights[:, order]
    true_positives = np.cumsum(w * y[order], axis=1)[:, ends]
    flagged = np.cumsum(w, axis=1)[:, ends]
    positives = true_positives[:, -1:]
    precision = np.divide(true_positives, flagged, out=np.zeros_like(flagged), where=flagged > 0)
    recall = np.divide(true_positives, positives, out=np.zeros_like(true_positives), where=positives > 0)
    steps = np.diff(np.c_[np.zeros(len(w)), recall], axis=1)
    return (steps * precision).sum(axis=1)


def paired_interval(
    y: np.ndarray,
    champion_scores: np.ndarray,
    challenger_scores: np.ndarray,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
    confidence: float = CONFIDENCE,
) -> tuple[float, float]:
    """The bootstrap interval of PR-AUC(challenger) - PR-AUC(champion), same rows for both."""
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    gains = []
    for start in range(0, resamples, _CHUNK):
        draws = rng.integers(0, len(y), size=(min(_CHUNK, resamples - start), len(y)))
        counts = np.stack([np.bincount(row, minlength=len(y)) for row in draws])
        gains.append(average_precision(y, challenger_scores, counts) - average_precision(y, champion_scores, counts))
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(np.concatenate(gains), [tail, 100 - tail])
    return float(low), float(high)


def verdict(low: float, high: float, positives: int, margin: float = PROMOTION_MARGIN,
            min_positives: int = MIN_POSITIVES) -> str:
    """The rule: "promote" when the whole interval of the gain lies above ``margin``, "keep" when it
    lies below, "not enough evidence" when it straddles it or the known frauds are too few."""
    if positives < min_positives:
        return "not enough evidence"
    return "promote" if low > margin else "keep" if high < margin else "not enough evidence"


def compare(
    y: np.ndarray,
    champion_scores: np.ndarray,
    challenger_scores: np.ndarray,
    margin: float = PROMOTION_MARGIN,
    min_positives: int = MIN_POSITIVES,
    seed: int = 0,
) -> Comparison:
    """Promote when the whole interval of the gain lies above ``margin``; keep when it lies
    below; otherwise, or with fewer than ``min_positives`` known frauds, say so."""
    y = np.asarray(y)
    positives = int(y.sum())
    champion = float(average_precision(y, champion_scores)[0]) if positives else float("nan")
    challenger = float(average_precision(y, challenger_scores)[0]) if positives else float("nan")
    low = high = float("nan")
    if positives >= min_positives:
        low, high = paired_interval(y, champion_scores, challenger_scores, seed=seed)
    return Comparison(champion, challenger, low, high, positives, len(y), margin,
                      verdict(low, high, positives, margin, min_positives))
