"""Plain, frozen, serialisable records of what a run observed.

Findings are bounded: every finding is counted, but only the first few of each
kind keep their full evidence, and at most :data:`MAX_MESSAGE_KEYS` distinct messages
are counted apart (the rest by kind and step together), so a soak with a broken
service stays flat in memory.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeAlias

ERROR_KINDS = ("status", "timeout", "connect", "read", "check", "exception", "perimeter", "cancelled",
               "protocol")
"""Why a request or transaction counts as an error (``protocol``: the server's bytes stopped matching
the requests sent, a response desync)."""

FINDING_KINDS = ("functional", "data_swap", "foreign_canary", "cross_user", "session", "data_loss",
                 "perimeter")
SWAP_KINDS = ("data_swap", "foreign_canary")
"""Findings of a user seeing another user's data in its own answers."""
EXAMPLES_PER_KIND = 20
MAX_MESSAGE_KEYS = 200
"""Distinct (kind, step, message) keys counted apart; past them, one key per kind and step."""
OTHER_MESSAGES = "(other messages)"


Json: TypeAlias = str | int | float | bool | Sequence["Json"] | Mapping[str, "Json"] | None
"""A JSON value: what a finding's (or a checklist item's) evidence holds, to show and to write.

Nothing is decided from it but through a typed reading (:attr:`Finding.detector`)."""


def texts(value: Json) -> list[str]:
    """The strings of a list in evidence (``[]`` when the value is not a list)."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [str(v) for v in value]
    return []


class Detector(StrEnum):
    """The hunting detector that made a finding, where its verdict word depends on it."""

    OTHER = ""
    PERSONAL_DATA = "personal_data"
    REPLAY = "replay"
    CACHE_PROBE = "cache_probe"
    SHARED_CONNECTION = "shared_connection"
    SHARED_CONNECTION_UNCONFIRMED = "shared_connection_unconfirmed"


@dataclass(frozen=True, kw_only=True)
class Finding:
    """One thing a check saw: what, where, who, and the evidence (already redacted)."""

    kind: str
    message: str
    flow: str = ""
    step: str = ""
    user: str = ""
    other_user: str = ""
    method: str = ""
    path: str = ""
    at: float = 0.0
    request_id: str = ""
    phase: str = ""
    #: whether another request was in flight while this answer came (None: not a response check)
    concurrent: bool | None = None
    evidence: Mapping[str, Json] = field(default_factory=dict)
    #: the verdict word proven by asking the same request again alone after the load
    #: (fpt.run.detectors.attribution); "" when it was not asked again
    attribution: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        """Inverse of :meth:`to_dict`."""
        return cls(**data)

    @property
    def detector(self) -> Detector:
        """The detector that made this finding (:attr:`Detector.OTHER` when none named itself)."""
        named = self.evidence.get("detector")
        try:
            return Detector(named) if isinstance(named, str) else Detector.OTHER
        except ValueError:  # a file written by a later fpt with a detector this one does not know
            return Detector.OTHER

    @property
    def verdict_kind(self) -> str:
        """What this finding says of the service: see :data:`VERDICT_WORDS`."""
        if self.attribution:
            return self.attribution
        if self.kind == "cross_user":
            return "authorization"
        if self.kind in ("data_swap", "foreign_canary"):
            if self.detector == Detector.SHARED_CONNECTION:
                return "shared_connection"
            return "concurrency" if self.concurrent else "cache_shared_state"
        return self.kind


class FindingLog:
    """Counts every finding by kind and message; keeps evidence for the first few."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.messages: Counter[tuple[str, str, str]] = Counter()
        self.examples: list[Finding] = []
        self._kept: Counter[str] = Counter()

    def add(self, finding: Finding) -> None:
        """Count ``finding`` and keep it when its kind has room."""
        self.counts[finding.kind] += 1
        self._count_message((finding.kind, finding.step, finding.message), 1)
        if self._kept[finding.kind] < EXAMPLES_PER_KIND:
            self._kept[finding.kind] += 1
            self.examples.append(finding)

    def _count_message(self, key: tuple[str, str, str], n: int) -> None:
        messages = self.messages
        if key not in messages and len(messages) >= MAX_MESSAGE_KEYS:
            # A message naming ids or users would make a key per finding: counted, not kept apart.
            key = (key[0], key[1], OTHER_MESSAGES)
        messages[key] += n

    def merge(self, other: FindingLog) -> None:
        """Fold another log into this one."""
        self.counts.update(other.counts)
        for key, n in other.messages.items():
            self._count_message(key, n)
        for f in other.examples:
            if self._kept[f.kind] < EXAMPLES_PER_KIND:
                self._kept[f.kind] += 1
                self.examples.append(f)

    @property
    def total(self) -> int:
        """Number of findings of every kind."""
        return sum(self.counts.values())

    def of(self, kind: str) -> list[Finding]:
        """Kept examples of one kind."""
        return [f for f in self.examples if f.kind == kind]

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form."""
        return {
            "counts": dict(self.counts),
            "messages": [[k, s, m, n] for (k, s, m), n in self.messages.items()],
            "examples": [f.to_dict() for f in self.examples],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FindingLog:
        """Inverse of :meth:`to_dict`."""
        log = cls()
        log.counts.update(data["counts"])
        for k, s, m, n in data["messages"]:
            log.messages[(k, s, m)] = n
        for f in data["examples"]:
            finding = Finding.from_dict(f)
            log._kept[finding.kind] += 1
            log.examples.append(finding)
        return log
