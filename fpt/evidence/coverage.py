"""Coverage of an API hunted from its OpenAPI document: what each operation got, as plain records.

Recorded while ``fpt_load.openapi`` runs (``fpt.run.openapi_flow``), carried on the run result,
merged across xdist workers, written to ``fpt-dod.json`` and shown by
``fpt.report.coverage``. Nothing here decides anything or holds a sentence: an operation
that was never exercised stays in the record with a typed reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class OpKind(StrEnum):
    """What an operation does to the user's resources, as the derived flow uses it."""

    CREATE = "create"
    READ = "read"
    LIST = "list"
    UPDATE = "update"
    DELETE = "delete"
    ACTION = "action"


class SkipReason(StrEnum):
    """Why the derived flow never calls an operation."""

    EXCLUDED = "excluded"               # by the squad (keyword or x-fpt)
    AUTH = "auth"                       # signs in, up or out: the auth function's business
    NO_PARAMETER = "no_parameter"       # a required parameter fpt has no way to build
    FILE_UPLOAD = "file_upload"         # the body is a file (multipart binary, octet-stream)
    UNSUPPORTED_BODY = "unsupported_body"  # a body media type fpt does not generate
    NO_SCHEMA = "no_schema"             # a body without a usable schema


class OpOutcome(StrEnum):
    """How an operation ended the run (derived from its counts)."""

    CHECKED = "checked"          # answered 2xx and an ownership check looked at an answer
    EXERCISED = "exercised"      # answered 2xx, nothing of the user's found to check
    REFUSED = "refused"          # answered 401/403 to its own user only: a role the auth function lacks
    FAILED = "failed"            # called, never answered 2xx
    NOT_REACHED = "not_reached"  # planned, never called (what it needs never succeeded)
    SKIPPED = "skipped"          # never planned: see the reason


@dataclass(frozen=True, kw_only=True)
class OperationCoverage:
    """One operation: how often it was called, answered 2xx, checked and probed; or why it was skipped."""

    op_id: str
    method: str
    path: str
    kind: OpKind = OpKind.ACTION
    calls: int = 0
    ok: int = 0
    #: answers an inferred ownership check compared (fields equal to the user's values or canary)
    checked: int = 0
    #: requests other users sent to this operation's URLs of the user's resources (cross-user probes)
    probed: int = 0
    #: answers 401/403 to the user's own request
    refused: int = 0
    statuses: Mapping[str, int] = field(default_factory=dict)
    skipped: SkipReason | None = None
    #: what the reason is about (the parameter, the media type), never a sentence
    detail: str = ""
    #: how the path parameters were bound to a created resource: "link", "location", "name", ""
    bound_by: str = ""

    @property
    def outcome(self) -> OpOutcome:
        """The operation's outcome, from its counts."""
        if self.skipped is not None:
            return OpOutcome.SKIPPED
        if not self.calls:
            return OpOutcome.NOT_REACHED
        if self.ok:
            return OpOutcome.CHECKED if self.checked else OpOutcome.EXERCISED
        if self.refused:
            return OpOutcome.REFUSED
        return OpOutcome.FAILED

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form."""
        return {"op_id": self.op_id, "method": self.method, "path": self.path, "kind": str(self.kind),
                "calls": self.calls, "ok": self.ok, "checked": self.checked, "probed": self.probed,
                "refused": self.refused, "statuses": dict(sorted(self.statuses.items())),
                "skipped": None if self.skipped is None else str(self.skipped), "detail": self.detail,
                "bound_by": self.bound_by, "outcome": str(self.outcome)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> OperationCoverage:
        """Inverse of :meth:`to_dict` (``outcome`` is derived, not read)."""
        return cls(op_id=d["op_id"], method=d["method"], path=d["path"], kind=OpKind(d["kind"]),
                   calls=d["calls"], ok=d["ok"], checked=d["checked"], probed=d["probed"],
                   refused=d["refused"], statuses=dict(d["statuses"]),
                   skipped=None if d["skipped"] is None else SkipReason(d["skipped"]),
                   detail=d["detail"], bound_by=d["bound_by"])

    def __add__(self, other: OperationCoverage) -> OperationCoverage:
        statuses = dict(self.statuses)
        for k, n in other.statuses.items():
            statuses[k] = statuses.get(k, 0) + n
        return OperationCoverage(op_id=self.op_id, method=self.method, path=self.path, kind=self.kind,
                                 calls=self.calls + other.calls, ok=self.ok + other.ok,
                                 checked=self.checked + other.checked, probed=self.probed + other.probed,
                                 refused=self.refused + other.refused, statuses=statuses,
                                 skipped=self.skipped, detail=self.detail, bound_by=self.bound_by)


@dataclass(frozen=True, kw_only=True)
class ApiCoverage:
    """Every operation of one OpenAPI document, in document order."""

    title: str = ""
    operations: tuple[OperationCoverage, ...] = ()

    def counts(self) -> dict[OpOutcome, int]:
        """Operations per outcome."""
        out: dict[OpOutcome, int] = {}
        for op in self.operations:
            out[op.outcome] = out.get(op.outcome, 0) + 1
        return out

    def op(self, op_id: str) -> OperationCoverage:
        """The operation of that id (KeyError when the document has none)."""
        for op in self.operations:
            if op.op_id == op_id:
                return op
        raise KeyError(op_id)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (a run's ``coverage`` in ``fpt-dod.json``)."""
        return {"title": self.title, "operations": [o.to_dict() for o in self.operations],
                "outcomes": {str(k): n for k, n in sorted(self.counts().items())}}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ApiCoverage:
        """Inverse of :meth:`to_dict`."""
        return cls(title=d["title"],
                   operations=tuple(OperationCoverage.from_dict(o) for o in d["operations"]))


def merge_coverage(parts: Iterable[ApiCoverage | None]) -> ApiCoverage | None:
    """The coverage of one run whose parts ran on several xdist workers (counts summed per operation)."""
    kept = [p for p in parts if p is not None]
    if not kept:
        return None
    ops: dict[str, OperationCoverage] = {}
    for part in kept:
        for op in part.operations:
            ops[op.op_id] = ops[op.op_id] + op if op.op_id in ops else op
    return ApiCoverage(title=kept[0].title, operations=tuple(ops.values()))
