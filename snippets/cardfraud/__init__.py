"""The course's running example: synthetic card payments with delayed fraud labels.

    >>> from cardfraud import generate, CovariateDrift
    >>> df = generate(days=28, drifts=[CovariateDrift(start="2026-01-19")])
"""

from cardfraud.generate import (
    COLUMNS,
    ConceptDrift,
    CovariateDrift,
    DataQualityFaults,
    LabelShift,
    generate,
    labels_known,
)

__all__ = [
    "COLUMNS",
    "ConceptDrift",
    "CovariateDrift",
    "DataQualityFaults",
    "LabelShift",
    "generate",
    "labels_known",
]
