"""Typed evidence: what a run actually did and inspected, recorded while it runs, judged after.

Nothing here decides anything. While the load runs, :class:`Recorder` (mutable,
cheap) counts per step the responses that came back and which checks inspected
them, measures overlap only between requests that got an answer, and keeps each
cross-user probe's outcome together with the prober's own control request. At
the end it is frozen into :class:`Evidence` (plain, frozen, serialisable,
mergeable across xdist workers), and the judging layer (``fpt.judge.verdict``) turns it
into verdicts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from fpt.config.records import changed
from fpt.evidence.findings import Finding

#: Answered requests older than this (seconds) are forgotten by the overlap count. A request
#: that lasted longer undercounts its pairs: weaker evidence, never stronger than the truth.
OVERLAP_HORIZON = 30.0

CHECK_NAMES = ("canary_scan", "ownership", "cross_user_probes")
#: steps the harness runs itself (probes, read-back): not the flow's, and not under load by design
HARNESS_STEP_PREFIX = "fpt."


def plain(obj: Any) -> dict[str, Any]:
    """A record's fields as a dict (shallow): the start of every evidence record's ``to_dict``."""
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}


@dataclass(frozen=True, kw_only=True)
class StepEvidence:
    """One step: responses that came back, what inspected them, and how often they overlapped.

    ``overlap_pairs`` counts pairs of *different users'* requests to this step that were in
    flight together and both got an answer that was not an error (during the load only).
    """

    step: str
    responses: int = 0
    ok: int = 0
    scanned: int = 0
    owner_checked: int = 0
    overlap_pairs: int = 0
    #: successful answers during the load itself (not the single-user phase, setup or read-back)
    load_ok: int = 0

    @property
    def inspected(self) -> int:
        """Successful responses a data-swap check looked at (scan or ownership)."""
        return max(self.scanned, self.owner_checked)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form."""
        return plain(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> StepEvidence:
        """Inverse of :meth:`to_dict`."""
        return cls(**d)

    def __add__(self, other: StepEvidence) -> StepEvidence:
        return StepEvidence(step=self.step, responses=self.responses + other.responses,
                            ok=self.ok + other.ok, scanned=self.scanned + other.scanned,
                            owner_checked=self.owner_checked + other.owner_checked,
                            overlap_pairs=self.overlap_pairs + other.overlap_pairs,
                            load_ok=self.load_ok + other.load_ok)


@dataclass(frozen=True, kw_only=True)
class ScanEvidence:
    """The foreign-canary and personal-data scan: bodies and bytes looked at, and what the limit left
    out (``truncated`` answers, bodies or streams larger than ``scan_limit``: not seen whole)."""

    enabled: bool = False
    bodies: int = 0
    bytes: int = 0
    truncated: int = 0
    skipped_bytes: int = 0
    streamed: int = 0
    #: foreign canaries seen on a route or step declared shared (legitimate, not findings)
    shared: int = 0
    #: bodies decoded before the scan (UTF-16/32, another declared charset, JSON escapes)
    decoded: int = 0
    #: answers whose only foreign personal data was a name (real names collide: no proof, counted)
    unproven: int = 0
    #: whether other users' personal data (email, phone, address, member id, name) was looked for too
    personal: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form."""
        return plain(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ScanEvidence:
        """Inverse of :meth:`to_dict`."""
        return cls(**d)

    def __add__(self, o: ScanEvidence) -> ScanEvidence:
        return ScanEvidence(enabled=self.enabled or o.enabled, bodies=self.bodies + o.bodies,
                            bytes=self.bytes + o.bytes, truncated=self.truncated + o.truncated,
                            skipped_bytes=self.skipped_bytes + o.skipped_bytes,
                            streamed=self.streamed + o.streamed, shared=self.shared + o.shared,
                            decoded=self.decoded + o.decoded, unproven=self.unproven + o.unproven,
                            personal=self.personal or o.personal)


PROBE_OUTCOMES = ("denied", "unproven", "allowed", "public", "shared", "leaked", "errors", "inconclusive")


@dataclass(frozen=True, kw_only=True)
class ProbeEvidence:
    """Cross-user probes: one count per outcome.

    - ``denied``: 401/403/404 while the prober's own control request (same credentials)
      succeeded and the owner still read the object right after: a real refusal;
    - ``unproven``: the control failed or could not be made (no successful request to
      copy credentials from), or the owner no longer reads the object either (deleted,
      expired): the probe proves nothing;
    - ``allowed``: 2xx without the owner's data: unproven (a soft refusal, an empty answer, the
      prober's own view), shown and never a leak nor a refusal;
    - ``public`` / ``shared``: 2xx, or the owner's data, on a route declared in ``public_paths``
      / ``shared_paths``;
    - ``leaked``: the answer carried the owner's data (not what the prober itself sent: an echo
      of the URL or body proves nothing);
    - ``errors``: 5xx or a transport error (not evidence either way);
    - ``inconclusive``: any other status (3xx, other 4xx).
    """

    enabled: bool = False
    tried: int = 0
    no_target: int = 0
    denied: int = 0
    unproven: int = 0
    allowed: int = 0
    public: int = 0
    shared: int = 0
    leaked: int = 0
    errors: int = 0
    inconclusive: int = 0
    #: status code -> probes that got it
    statuses: Mapping[str, int] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form."""
        d = plain(self)
        d["statuses"] = dict(self.statuses)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ProbeEvidence:
        """Inverse of :meth:`to_dict`."""
        return cls(**{**d, "statuses": dict(d.get("statuses", {}))})

    def __add__(self, o: ProbeEvidence) -> ProbeEvidence:
        statuses = dict(self.statuses)
        for k, v in o.statuses.items():
            statuses[k] = statuses.get(k, 0) + v
        counts = {k: getattr(self, k) + getattr(o, k)
                  for k in ("tried", "no_target", *PROBE_OUTCOMES)}
        return ProbeEvidence(enabled=self.enabled or o.enabled, statuses=statuses, **counts)


class AloneTrouble(StrEnum):
    """What one reason the single-user phase failed (:class:`AloneFailure`) is about."""

    NOT_FINISHED = "not_finished"
    """the iterations did not all finish within the deadline (``iterations``, ``deadline_s``)"""
    ABANDONED = "abandoned"
    """an iteration did not stop when cancelled and was abandoned"""
    FINDING = "finding"
    """a check found something (``finding``)"""
    ERRORS = "errors"
    """iterations ended in errors (``failed`` of ``iterations``; ``errors``: how many of each kind)"""
    WRITTEN = "written"
    """a sentence read from a file an earlier fpt wrote (``text``): shown as written, never decided on"""


@dataclass(frozen=True, kw_only=True)
class AloneFailure:
    """One reason the single-user phase failed, with the figures its words need (``fpt.report.alone``)."""

    trouble: AloneTrouble
    iterations: int = 0
    deadline_s: float = 0.0
    failed: int = 0
    errors: Mapping[str, int] = dataclasses.field(default_factory=dict)
    finding: Finding | None = None
    text: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form: the trouble and the fields it uses (the others are left at their default)."""
        d = {**changed(self), "trouble": str(self.trouble)}
        if self.errors:
            d["errors"] = dict(self.errors)
        if self.finding is not None:
            d["finding"] = self.finding.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | str) -> AloneFailure:
        """Inverse of :meth:`to_dict`; a sentence (from a file written before the typed form) is kept
        as written."""
        if isinstance(d, str):
            return cls(trouble=AloneTrouble.WRITTEN, text=d)
        finding = d.get("finding")
        return cls(**{**d, "trouble": AloneTrouble(d["trouble"]), "errors": dict(d.get("errors", {})),
                      "finding": Finding.from_dict(finding) if finding else None})


@dataclass(frozen=True, kw_only=True)
class AloneEvidence:
    """The single-user phase: iterations planned, how each ended, what was found, and why it failed."""

    iterations: int
    clean: int = 0
    failed: int = 0
    unfinished: int = 0
    deadline_s: float = 0.0
    user: str = ""
    findings: Mapping[str, int] = dataclasses.field(default_factory=dict)
    errors: Mapping[str, int] = dataclasses.field(default_factory=dict)
    #: why it failed, in the order shown: one entry per reason (the first five findings one each)
    failures: tuple[AloneFailure, ...] = ()

    @property
    def passed(self) -> bool:
        """Every planned iteration finished clean, with no finding."""
        return self.iterations > 0 and self.clean == self.iterations and not any(self.findings.values())

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form."""
        d = plain(self)
        d.update(findings=dict(self.findings), errors=dict(self.errors),
                 failures=[a.to_dict() for a in self.failures], passed=self.passed)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AloneEvidence:
        """Inverse of :meth:`to_dict` (a file's ``failures`` written as sentences are kept as written)."""
        d = {k: v for k, v in d.items() if k != "passed"}
        return cls(**{**d, "findings": dict(d.get("findings", {})), "errors": dict(d.get("errors", {})),
                      "failures": tuple(AloneFailure.from_dict(a) for a in d.get("failures", ()))})

    def __add__(self, o: AloneEvidence) -> AloneEvidence:
        def add(a: Mapping[str, int], b: Mapping[str, int]) -> dict[str, int]:
            out = dict(a)
            for k, v in b.items():
                out[k] = out.get(k, 0) + v
            return out
        return AloneEvidence(iterations=self.iterations + o.iterations, clean=self.clean + o.clean,
                             failed=self.failed + o.failed, unfinished=self.unfinished + o.unfinished,
                             deadline_s=max(self.deadline_s, o.deadline_s),
                             user=", ".join(x for x in (self.user, o.user) if x),
                             findings=add(self.findings, o.findings), errors=add(self.errors, o.errors),
                             failures=(self.failures + o.failures)[:5])


class _Counts:
    """Counting evidence: int fields add, ``enabled`` ors, mappings add per key, text keeps the first."""

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form."""
        return {k: dict(v) if isinstance(v, Mapping) else v for k, v in plain(self).items()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Any:
        """Inverse of :meth:`to_dict` (unknown keys ignored, missing ones default)."""
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: v for k, v in d.items() if k in names})

    def __add__(self, o: Any) -> Any:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            a, b = getattr(self, f.name), getattr(o, f.name)
            if isinstance(a, bool):
                out[f.name] = a or b
            elif isinstance(a, int):
                out[f.name] = a + b
            elif isinstance(a, Mapping):
                m = dict(a)
                for k, v in b.items():
                    m[k] = m.get(k, 0) + v
                out[f.name] = m
            else:
                out[f.name] = a or b
        return type(self)(**out)


REPLAY_OUTCOMES = ("denied", "own", "unproven", "leaked", "shared", "public", "errors", "inconclusive")
ANON_OUTCOMES = ("anon_denied", "anon_open", "anon_leaked", "anon_shared", "anon_errors")


@dataclass(frozen=True, kw_only=True)
class ReplayEvidence(_Counts):
    """Real requests repeated as another user and with no credentials (Autorize-style), by outcome.

    As another user: ``denied`` (401/403/404 while that user's own control request worked
    and the owner still reads the URL with its data; refused to the owner too: ``unproven``),
    ``own`` (2xx without the owner's data: its own view of a user-relative URL), ``unproven``
    (no other user with working credentials, or its control failed), ``leaked`` (the owner's
    canary or identity values came back: an authorization finding), ``shared`` / ``public``
    (owner's data or 2xx on a route declared shared / public), ``errors`` (5xx, transport),
    ``inconclusive`` (any other status). With no credentials: the ``anon_*`` counts.
    """

    enabled: bool = False
    tried: int = 0
    denied: int = 0
    own: int = 0
    unproven: int = 0
    leaked: int = 0
    shared: int = 0
    public: int = 0
    errors: int = 0
    inconclusive: int = 0
    anon_tried: int = 0
    anon_denied: int = 0
    anon_open: int = 0
    anon_leaked: int = 0
    anon_shared: int = 0
    anon_errors: int = 0
    #: replays and cache probes not made because MAX_TASKS of them were already running
    skipped: int = 0
    #: replays not made because the step had its ``hunt_max_rate`` of them in the last second
    capped: int = 0
    #: method -> requests replayed
    methods: Mapping[str, int] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class CacheEvidence(_Counts):
    """Same URL, another user, right after: ``leaked`` answers carried the first user's data.

    ``storable`` counts the probed authenticated answers a shared cache may store (no
    ``Cache-Control: private/no-store``, and no ``Vary`` on Cookie/Authorization; ASVS 14.2.2):
    a warning, not a failure.
    """

    enabled: bool = False
    tried: int = 0
    clean: int = 0
    leaked: int = 0
    shared: int = 0
    unproven: int = 0
    errors: int = 0
    storable: int = 0
    #: probes not made because the step had its ``hunt_max_rate`` of them in the last second
    capped: int = 0


@dataclass(frozen=True, kw_only=True)
class ConnectionEvidence(_Counts):
    """Another user's request sent on the keep-alive connection a user had just used (a pooling gateway).

    ``clean``: the answer carried the sender's own data; ``leaked``: the previous user's (a
    swap of kind *shared connection*); ``unproven``: neither (a refusal, an error body), or no
    other user with working credentials and a read of its own to send; ``no_connection``: the
    connection was not kept alive; ``unsupported``: no connection to share (the in-process
    ASGI target, or httpx's transport); ``errors``: a transport error or a 5xx.
    """

    enabled: bool = False
    tried: int = 0
    clean: int = 0
    leaked: int = 0
    unproven: int = 0
    errors: int = 0
    #: the answer carried the previous user's data on a path or step declared shared
    shared: int = 0
    no_connection: int = 0
    unsupported: int = 0
    #: sends not made because MAX_TASKS detectors were already running
    skipped: int = 0
    #: sends not made because the step had its ``hunt_max_rate`` of them in the last second
    capped: int = 0


@dataclass(frozen=True, kw_only=True)
class CancelEvidence(_Counts):
    """Requests the client gave up on mid-flight on purpose, then sent again (never the service's errors).

    ``cancelled``: cut before the answer came; ``answered_first``: the answer beat the cut
    (nothing cancelled); ``retried_ok`` / ``retry_failed``: the transparent second attempt.
    """

    enabled: bool = False
    tried: int = 0
    cancelled: int = 0
    answered_first: int = 0
    retried_ok: int = 0
    retry_failed: int = 0
    #: cuts not made because the step had its ``hunt_max_rate`` of them in the last second
    capped: int = 0


@dataclass(frozen=True, kw_only=True)
class PairingEvidence(_Counts):
    """Request ids sent in ``header`` and echoed back: ``mismatched`` replies carried another request's id."""

    enabled: bool = False
    header: str = ""
    checked: int = 0
    missing: int = 0
    mismatched: int = 0


@dataclass(frozen=True, kw_only=True)
class SetupEvidence(_Counts):
    """Per-user setup before the measured window: users set up, failed, or unfinished at the deadline."""

    enabled: bool = False
    users: int = 0
    ok: int = 0
    failed: int = 0
    unfinished: int = 0
    deadline_s: float = 0.0


@dataclass(frozen=True, kw_only=True)
class Evidence:
    """Everything a run's checks inspected, for the judging layer."""

    checks: tuple[str, ...] = ()
    steps: tuple[StepEvidence, ...] = ()
    scan: ScanEvidence = ScanEvidence()
    probes: ProbeEvidence = ProbeEvidence()
    alone: AloneEvidence | None = None
    replay: ReplayEvidence = ReplayEvidence()
    cache: CacheEvidence = CacheEvidence()
    cancel: CancelEvidence = CancelEvidence()
    pairing: PairingEvidence = PairingEvidence()
    setup: SetupEvidence = SetupEvidence()
    connection: ConnectionEvidence = ConnectionEvidence()
    #: how arrivals were shaped (e.g. "rendezvous, groups of 4"), for the run summary
    arrivals: str = ""
    #: the nonce mixed into identities (unique_identities), 0 when none
    identity_nonce: int = 0

    @property
    def overlap_pairs(self) -> int:
        """Pairs of different users' answered, successful requests to the same step in flight together."""
        return sum(s.overlap_pairs for s in self.steps)

    def step(self, name: str) -> StepEvidence:
        """Evidence of step ``name`` (empty when it never answered)."""
        return next((s for s in self.steps if s.step == name), StepEvidence(step=name))

    @property
    def inspected(self) -> int:
        """Successful responses any data-swap check inspected."""
        return sum(s.inspected for s in self.steps)

    @property
    def inspected_overlap_pairs(self) -> int:
        """Overlapping pairs on the steps whose responses a data-swap check inspected."""
        return sum(s.overlap_pairs for s in self.steps if s.inspected)

    @property
    def steps_without_overlap(self) -> tuple[str, ...]:
        """Checked steps (a data-swap check inspected their answers) that never ran concurrently."""
        return tuple(s.step for s in self.steps if s.inspected and s.load_ok and not s.overlap_pairs
                     and not s.step.startswith(HARNESS_STEP_PREFIX))

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form."""
        return {"checks": list(self.checks), "steps": [s.to_dict() for s in self.steps],
                "scan": self.scan.to_dict(),
                "probes": self.probes.to_dict(),
                "alone": self.alone.to_dict() if self.alone is not None else None,
                "replay": self.replay.to_dict(), "cache": self.cache.to_dict(),
                "cancel": self.cancel.to_dict(), "pairing": self.pairing.to_dict(),
                "setup": self.setup.to_dict(), "connection": self.connection.to_dict(),
                "arrivals": self.arrivals,
                "identity_nonce": self.identity_nonce}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Evidence:
        """Inverse of :meth:`to_dict`."""
        return cls(checks=tuple(d["checks"]), steps=tuple(StepEvidence.from_dict(s) for s in d["steps"]),
                   scan=ScanEvidence.from_dict(d["scan"]),
                   probes=ProbeEvidence.from_dict(d["probes"]),
                   alone=AloneEvidence.from_dict(d["alone"]) if d.get("alone") is not None else None,
                   replay=ReplayEvidence.from_dict(d.get("replay", {})),
                   cache=CacheEvidence.from_dict(d.get("cache", {})),
                   cancel=CancelEvidence.from_dict(d.get("cancel", {})),
                   pairing=PairingEvidence.from_dict(d.get("pairing", {})),
                   setup=SetupEvidence.from_dict(d.get("setup", {})),
                   connection=ConnectionEvidence.from_dict(d.get("connection", {})),
                   arrivals=d.get("arrivals", ""),
                   identity_nonce=d.get("identity_nonce", 0))


def merge_evidence(parts: Iterable[Evidence]) -> Evidence:
    """Evidence of workers that ran side by side: counts add (pairs across workers are not
    counted: a lower bound, never more than was seen)."""
    parts = list(parts)
    steps: dict[str, StepEvidence] = {}
    scan, probes = ScanEvidence(), ProbeEvidence()
    alone: AloneEvidence | None = None
    replay, cache, cancel = ReplayEvidence(), CacheEvidence(), CancelEvidence()
    pairing, setup, connection = PairingEvidence(), SetupEvidence(), ConnectionEvidence()
    for p in parts:
        connection = connection + p.connection
        for s in p.steps:
            steps[s.step] = steps[s.step] + s if s.step in steps else s
        scan, probes = scan + p.scan, probes + p.probes
        replay, cache, cancel = replay + p.replay, cache + p.cache, cancel + p.cancel
        pairing, setup = pairing + p.pairing, setup + p.setup
        if p.alone is not None:
            alone = p.alone if alone is None else alone + p.alone
    return Evidence(checks=tuple(dict.fromkeys(c for p in parts for c in p.checks)),
                    steps=tuple(steps.values()), scan=scan, probes=probes, alone=alone, replay=replay,
                    cache=cache, cancel=cancel, pairing=pairing, setup=setup, connection=connection,
                    arrivals=next((p.arrivals for p in parts if p.arrivals), ""),
                    identity_nonce=next((p.identity_nonce for p in parts if p.identity_nonce), 0))






