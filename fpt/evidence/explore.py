"""What an exploration (fpt_load.explore) ran and found: plain records."""


from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fpt.config.redact import scrub
from fpt.evidence.findings import Finding


@dataclass(frozen=True, kw_only=True)
class ExampleFailure:
    """A failing example: its input and what failed (its findings, else the user's last error, else the
    error kind its iteration ended in), with Hypothesis's notes on it (how to reproduce it)."""

    #: the input's ``repr``, cut at 200 characters
    input: str
    findings: tuple[Finding, ...] = ()
    last_error: str = ""
    error: str | None = None
    notes: tuple[str, ...] = ()


@dataclass
class ExploreResult:
    """What the exploration tried and what it found."""

    examples: int = 0
    failing: list[Finding] = field(default_factory=list)
    #: the minimal failing example, once Hypothesis has shrunk it (None: no example failed)
    shrunk: ExampleFailure | None = None
    #: examples (shrinking included) that failed
    failed: int = 0
    #: finding kinds of the failing examples (an error kind such as ``status`` when none)
    kinds: list[str] = field(default_factory=list)
    #: why the exploration stopped other than on a failing example (Hypothesis could not generate, ...)
    error: str = ""


@dataclass(frozen=True, kw_only=True)
class ExploreRecord:
    """One ``fpt_load.explore`` call as the session keeps it, whatever the test did with its outcome."""

    test: str
    flow: str
    examples: int
    failed: int = 0
    kinds: tuple[str, ...] = ()
    minimal: str = ""
    error: str = ""
    worker: str = "main"

    @classmethod
    def of(cls, result: ExploreResult, *, test: str, flow: str, worker: str = "main",
           minimal: str = "") -> ExploreRecord:
        """The record of a finished (or stopped) exploration (``minimal``: its shrunk example in words,
        :func:`fpt.report.explore.minimal_line`)."""
        return cls(test=test, flow=flow, examples=result.examples, failed=result.failed,
                   kinds=tuple(sorted(set(result.kinds))), minimal=scrub(minimal)[:500],
                   error=result.error, worker=worker)

    @property
    def passed(self) -> bool:
        """Tried at least one example, and none failed or stopped it."""
        return bool(self.examples) and not self.failed and not self.error

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (an entry of the checklist's ``explorations``)."""
        return {"test": self.test, "flow": self.flow, "examples": self.examples, "failed": self.failed,
                "kinds": list(self.kinds), "minimal": self.minimal, "error": self.error,
                "worker": self.worker}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ExploreRecord:
        """Inverse of :meth:`to_dict`."""
        return cls(test=d["test"], flow=d["flow"], examples=d["examples"], failed=d["failed"],
                   kinds=tuple(d["kinds"]), minimal=d["minimal"], error=d["error"], worker=d["worker"])
