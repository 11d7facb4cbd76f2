"""fpt's own version, as installed (for ``fpt --version`` and the reports' run details)."""

from __future__ import annotations

from importlib import metadata

#: the distribution names fpt has been installed under, newest first
DISTRIBUTIONS = ("pytest-fpt", "fpt")


def version() -> str:
    """The installed version of fpt, or ``"unknown"`` when run from a tree that was never installed."""
    for name in DISTRIBUTIONS:
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        # "fpt" on PyPI is an unrelated project: only a distribution that ships this plugin counts.
        if "fpt.plugin" in str(dist.entry_points) or name == "pytest-fpt":
            return dist.version
    return "unknown"
