"""Graders for the labs' exercises: each calls the reader's function on the running example and on
edge cases chosen to catch the usual mistakes, and says PASS, "not done yet", or what went wrong.

A grader is a function ``grade_<name>(candidate)`` in ``cardfraud.exercises.lab_5_N`` built on
``Exercise``: it runs the candidate on its cases and returns (and prints) a ``Result``. The lab's
last cell prints ``report()``: how many of the lab's exercises passed.

    >>> from cardfraud.exercises import lab_5_5
    >>> lab_5_5.grade_psi(psi)
    PASS  exercise psi: ...
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

PASS, FAIL, NOT_DONE = "PASS", "FAIL", "not done yet"
_results: dict[str, "Result"] = {}  # the latest result of each exercise graded in this process


@dataclass(frozen=True)
class Result:
    exercise: str
    status: str  # PASS, FAIL or "not done yet"
    message: str

    def __str__(self) -> str:
        return f"{self.status:<5} exercise {self.exercise}: {self.message}"

    def _ipython_display_(self) -> None:
        """Shown once: ``grade`` has printed it, so a grader call ending a notebook cell adds nothing."""


class Mistake(Exception):
    """Raised by a grader's check with the hint a learner can act on."""


@dataclass
class Exercise:
    """One exercise: its name and the checks its grader runs, in order; the first that fails wins."""

    name: str
    checks: list[Callable] = field(default_factory=list)
    passed: str = "correct on every case"

    def check(self, function: Callable) -> Callable:
        """Decorator: register ``function(candidate)``, which raises ``Mistake(hint)`` when it finds one."""
        self.checks.append(function)
        return function

    def grade(self, candidate: Callable, quiet: bool = False) -> Result:
        result = self._run(candidate)
        _results[self.name] = result
        if not quiet:
            print(result)
        return result

    def _run(self, candidate: Callable) -> Result:
        for check in self.checks:
            try:
                check(candidate)
            except NotImplementedError:
                return Result(self.name, NOT_DONE, "replace the `raise NotImplementedError` with your code")
            except Mistake as mistake:
                return Result(self.name, FAIL, str(mistake))
            except Exception as error:  # the learner's code crashed: say where, in words
                return Result(self.name, FAIL, f"your function raised {type(error).__name__}: {error}")
        return Result(self.name, PASS, self.passed)


def report(names: list[str]) -> str:
    """One line for the lab's final check: how many of ``names`` passed, and which are not done."""
    results = [_results.get(name) for name in names]
    passed = sum(r is not None and r.status == PASS for r in results)
    not_done = [name for name, r in zip(names, results) if r is None or r.status == NOT_DONE]
    failed = [name for name, r in zip(names, results) if r is not None and r.status == FAIL]
    line = f"exercises: {passed} of {len(names)} passed"
    if failed:
        line += f"; failing: {', '.join(failed)}"
    if not_done:
        line += f"; not done yet: {', '.join(not_done)}"
    return line
