"""Where a checklist comes from: the session's id, the CI job's id, and an optional signature.

A checklist file is only worth something for the session that wrote it. The gate can tell
an earlier session's file from this one's by what the file carries:

- ``session.id``: a fresh id per pytest session (``FPT_SESSION_ID`` when the CI step sets
  one, so ``fpt gate`` in the same step can ask for exactly that session);
- ``session.ci``: the CI job that ran it, by each CI's own convention (GitHub Actions,
  GitLab, Buildkite, CircleCI, Jenkins, Azure Pipelines, Travis), or ``None`` outside CI;
- ``signature``: HMAC-SHA256 over the digest with ``FPT_SIGNING_KEY`` from the CI secret
  store, when it is set: an edited file with a recomputed digest no longer verifies.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SESSION_ENV = "FPT_SESSION_ID"
KEY_ENV = "FPT_SIGNING_KEY"
SIGNATURE_PREFIX = "hmac-sha256:"

#: provider, then the variables whose values together name one job (the first must be set)
CI_JOBS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("github", ("GITHUB_RUN_ID", "GITHUB_RUN_ATTEMPT", "GITHUB_JOB")),
    ("gitlab", ("CI_JOB_ID",)),
    ("buildkite", ("BUILDKITE_JOB_ID",)),
    ("circleci", ("CIRCLE_WORKFLOW_JOB_ID",)),
    ("azure", ("SYSTEM_JOBID", "BUILD_BUILDID")),
    ("travis", ("TRAVIS_JOB_ID",)),
    ("jenkins", ("BUILD_TAG",)),
    ("jenkins", ("BUILD_ID", "JOB_NAME")),
)


@dataclass(frozen=True, kw_only=True)
class CiJob:
    """One CI job: the provider's name and the job's id in it."""

    provider: str
    job: str

    def to_dict(self) -> dict[str, str]:
        """Plain-data form."""
        return {"provider": self.provider, "job": self.job}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> CiJob | None:
        """Inverse of :meth:`to_dict` (``None`` stays ``None``)."""
        return None if d is None else cls(provider=str(d["provider"]), job=str(d["job"]))


def ci_job(environ: Mapping[str, str]) -> CiJob | None:
    """The CI job this process runs in, or ``None`` outside CI."""
    for provider, names in CI_JOBS:
        if environ.get(names[0]):
            return CiJob(provider=provider, job="/".join(environ[n] for n in names if environ.get(n)))
    return None


@dataclass(frozen=True, kw_only=True)
class Provenance:
    """The session that writes a checklist."""

    id: str
    started: str
    ci: CiJob | None = None

    @classmethod
    def of(cls, environ: Mapping[str, str]) -> Provenance:
        """This session: its id (``FPT_SESSION_ID``, else a fresh one), start time and CI job."""
        return cls(id=environ.get(SESSION_ENV, "").strip() or uuid.uuid4().hex,
                   started=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), ci=ci_job(environ))

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form."""
        return {"id": self.id, "started": self.started, "ci": self.ci.to_dict() if self.ci else None}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Provenance:
        """Inverse of :meth:`to_dict`."""
        return cls(id=str(d["id"]), started=str(d["started"]), ci=CiJob.from_dict(d.get("ci")))


def signature(digest: str, key: str) -> str:
    """HMAC-SHA256 of a checklist's digest (the digest covers every other field)."""
    mac = hmac.new(key.encode(), digest.encode(), hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + mac


def verifies(digest: str, signed: str, key: str) -> bool:
    """Whether ``signed`` is the signature of ``digest`` with ``key`` (constant-time compare)."""
    return hmac.compare_digest(signature(digest, key), signed)


def age_seconds(created: str, now: float | None = None) -> float | None:
    """Seconds since ``created`` (``%Y-%m-%dT%H:%M:%SZ``); ``None`` when it cannot be read."""
    import calendar

    try:
        then = calendar.timegm(time.strptime(created, "%Y-%m-%dT%H:%M:%SZ"))
    except (TypeError, ValueError):
        return None
    return (time.time() if now is None else now) - then
