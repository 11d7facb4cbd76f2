"""fpt's exceptions.

Tree (each raised on purpose; anything else escaping fpt is a bug)::

    FptError                 root of everything fpt raises on purpose
    ├── ConfigError          a bad configuration value: names the key, the value, what is allowed
    │                        and where it came from (becomes pytest.UsageError, or a clean test failure
    │                        for a bad fpt_load argument)
    ├── FptFailure           a run finished and one or more checks failed (also an AssertionError, so
    │                        pytest reports it as a test failure); its message is already redacted
    ├── EngineError          the load engine was misused (bad schedule, no users)
    ├── ScaleError           a scale event could not be triggered or observed (fpt.run.scaling)
    ├── GateError            a checklist file cannot be trusted: unreadable, malformed, edited
    │                        (fpt.judge.gate)
    ├── MergeError           shard files that cannot be merged into one run (fpt merge)
    ├── TargetUnreachable    a URL target refused the first connection: the run stops before any load
    │                        (fpt.run.reach; its ``kind`` is an ``Unreachable``)
    └── OffPerimeter         a request to a host outside live_hosts, refused before any connection
                             (fpt.run.perimeter; also an httpx.TransportError, so flows see a transport
                             error: the one that lives beside the transport, since config knows no httpx)

Every message that leaves the process passes through :func:`fpt.config.redact.scrub` first.
"""

from __future__ import annotations

from enum import StrEnum

from fpt.config.redact import scrub


class FptError(Exception):
    """Root of every error fpt raises on purpose."""


class ConfigError(FptError, ValueError):
    """A configuration value is wrong: names the key, the bad value and what is allowed."""

    def __init__(self, key: str, value: object, allowed: str, source: str = "") -> None:
        self.key = key
        self.value = value
        self.allowed = allowed
        self.source = source
        where = f" (from {source})" if source else ""
        # A bad base URL may carry a password: the message is printed as it is.
        super().__init__(scrub(f"fpt: {key} must {allowed}; got {value!r}{where}"))



class FptFailure(FptError, AssertionError):
    """A load run ended with failed checks; the message is a readable summary, secrets scrubbed."""

    def __init__(self, message: str = "", *args: object) -> None:
        super().__init__(scrub(str(message)), *args)


class EngineError(FptError):
    """The load engine was given something it cannot run."""


class ScaleError(FptError):
    """A scaler could not do what it was asked (bad size, failing command, unknown backend)."""


class GateError(FptError):
    """A checklist file cannot be trusted: the message says which file and why."""


class MergeError(FptError):
    """Shard files that cannot be merged into one run: the message says which files and why."""
class Unreachable(StrEnum):
    """Why a target could not be reached at the start of a run."""

    REFUSED = "refused"
    TIMED_OUT = "timed_out"
    OTHER = "other"


class TargetUnreachable(FptError):
    """A URL target refused the first connection: nothing listens there, the run did not start."""

    def __init__(self, url: str, kind: Unreachable, why: str) -> None:
        self.url = url
        self.kind = kind
        super().__init__(scrub(f"fpt: target not reachable at {url} ({why}); the run stopped before any "
                               "load. Start the service, or point base_url / target= at it"))
