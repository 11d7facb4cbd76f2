"""The recorder: counters that gather evidence while the load runs."""


from __future__ import annotations

from bisect import bisect_right

from fpt.evidence.checks import (
    OVERLAP_HORIZON,
    PROBE_OUTCOMES,
    AloneEvidence,
    CacheEvidence,
    CancelEvidence,
    ConnectionEvidence,
    Evidence,
    PairingEvidence,
    ProbeEvidence,
    ReplayEvidence,
    ScanEvidence,
    SetupEvidence,
    StepEvidence,
)


class OverlapCounter:
    """Counts pairs of different users' answered requests that were in flight together.

    Each pair is counted once, when the later of the two answers arrives: the earlier
    answers still in the window are those that ended after this request started.
    Answers arrive in time order, so the ends are sorted and a bisection finds them.
    """

    __slots__ = ("_ends", "_head", "_users", "pairs")

    def __init__(self) -> None:
        self._ends: list[float] = []
        self._users: list[int] = []
        self._head = 0
        self.pairs = 0

    def add(self, start: float, end: float, user: int) -> None:
        """One answered request of ``user`` that ran from ``start`` to ``end``."""
        ends, users = self._ends, self._users
        head = self._head
        horizon = end - OVERLAP_HORIZON
        while head < len(ends) and ends[head] < horizon:
            head += 1
        if head > 4096 and head * 2 > len(ends):
            del ends[:head], users[:head]
            head = 0
        self._head = head
        i = bisect_right(ends, start, head)
        n = len(ends) - i
        if n:
            self.pairs += n - users[i:].count(user)  # own concurrent requests (gather) are not pairs
        ends.append(end)
        users.append(user)


class StepTally:
    """Mutable per-step counts while the run lasts."""

    __slots__ = ("load_ok", "ok", "overlap", "owner_checked", "responses", "scanned")

    def __init__(self) -> None:
        self.responses = 0
        self.ok = 0
        self.load_ok = 0
        self.scanned = 0
        self.owner_checked = 0
        self.overlap = OverlapCounter()

    def freeze(self, step: str) -> StepEvidence:
        """The frozen form."""
        return StepEvidence(step=step, responses=self.responses, ok=self.ok, scanned=self.scanned,
                            owner_checked=self.owner_checked, overlap_pairs=self.overlap.pairs,
                            load_ok=self.load_ok)


class Recorder:
    """What the checks of one run inspected, counted as it happens (mutable, one per run)."""

    def __init__(self) -> None:
        self.steps: dict[str, StepTally] = {}
        self.probe_counts: dict[str, int] = dict.fromkeys(("tried", "no_target", *PROBE_OUTCOMES), 0)
        self.probe_statuses: dict[str, int] = {}
        self.scan = ScanEvidence()
        #: counts of the hunting detectors (replay, cache, cancel, pairing), by field name
        self.replay: dict[str, int] = {}
        self.replay_methods: dict[str, int] = {}
        self.cache: dict[str, int] = {}
        self.cancel: dict[str, int] = {}
        self.pairing: dict[str, int] = {}
        self.connection: dict[str, int] = {}

    def tally(self, step: str) -> StepTally:
        """The mutable tally of ``step``."""
        t = self.steps.get(step)
        if t is None:
            t = self.steps[step] = StepTally()
        return t

    def probe(self, outcome: str, status: int | None = None) -> None:
        """Count one probe's outcome (and the status it got, if any)."""
        self.probe_counts[outcome] += 1
        if status is not None:
            key = str(status)
            self.probe_statuses[key] = self.probe_statuses.get(key, 0) + 1

    @staticmethod
    def bump(counts: dict[str, int], key: str, n: int = 1) -> None:
        """Add ``n`` to ``counts[key]``."""
        counts[key] = counts.get(key, 0) + n

    def freeze(self, *, checks: tuple[str, ...], probes_enabled: bool,
               alone: AloneEvidence | None, replay: bool = False, cache: bool = False,
               cancel: bool = False, pairing: str = "", setup: SetupEvidence | None = None,
               arrivals: str = "", identity_nonce: int = 0, connection: bool = False) -> Evidence:
        """The run's evidence, frozen (the flags say which hunting detectors were on)."""
        return Evidence(
            checks=checks, steps=tuple(t.freeze(name) for name, t in self.steps.items()), scan=self.scan,
            probes=ProbeEvidence(enabled=probes_enabled, statuses=dict(self.probe_statuses),
                                 **self.probe_counts),
            alone=alone,
            replay=ReplayEvidence(enabled=replay, methods=dict(self.replay_methods), **self.replay),
            cache=CacheEvidence(enabled=cache, **self.cache),
            cancel=CancelEvidence(enabled=cancel, **self.cancel),
            pairing=PairingEvidence(enabled=bool(pairing), header=pairing, **self.pairing),
            setup=setup or SetupEvidence(), arrivals=arrivals, identity_nonce=identity_nonce,
            connection=ConnectionEvidence(enabled=connection, **self.connection))
