"""What the HTML report says about the session itself: fpt's version, the commit, the command
line, the host, and every setting that differs from its default (with where it came from).

Gathered once at session end by the top layer (it runs ``git``); the report only renders it.
"""

from __future__ import annotations

import os
import platform
import shlex
import socket
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fpt.config.redact import scrub
from fpt.config.settings import KEYS, FptConfig
from fpt.config.version import version

#: CI variables that name the commit under test, first found wins
COMMIT_VARS = ("GITHUB_SHA", "CI_COMMIT_SHA", "BUILD_SOURCEVERSION", "GIT_COMMIT", "BUILDKITE_COMMIT")


def commit(root: Path) -> str:
    """The commit under test: from the CI's variables, else ``git rev-parse`` in ``root``."""
    for name in COMMIT_VARS:
        if os.environ.get(name):
            return os.environ[name][:12]
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                             text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    sha = out.stdout.strip()
    if out.returncode or not sha:
        return "unknown (not a git checkout)"
    dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True, timeout=5, check=False).stdout.strip()
    return sha + (" (with uncommitted changes)" if dirty else "")


def changed_settings(cfg: FptConfig) -> list[tuple[str, str, str]]:
    """(key, value, where from) of every setting whose value is not its default."""
    default = FptConfig()
    out = []
    for key in KEYS:
        value = getattr(cfg, key.name, None)
        if value != getattr(default, key.name, None):
            shown = ", ".join(map(str, value)) if isinstance(value, tuple | list) else str(value)
            out.append((key.name, scrub(shown), cfg.sources.get(key.name, "")))
    return out


def gather(cfg: FptConfig, *, args: Sequence[str], root: Path) -> dict[str, Any]:
    """The run-details block of the report (every value already scrubbed of secrets)."""
    return {
        "fpt": version(),
        "commit": commit(root),
        "command": scrub(shlex.join(["pytest", *args])),
        "host": f"{socket.gethostname()} ({platform.system()} {platform.machine()}, "
                f"{os.cpu_count()} CPUs, Python {platform.python_version()})",
        "settings": changed_settings(cfg),
    }
