"""pytest wiring of a shard: the session's id, the common start, and the shard file at the end."""

from __future__ import annotations

import hashlib
import os
import socket
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from fpt.config.shard import Shard, session_of, split_of
from fpt.config.version import version
from fpt.session import FptSession

#: a common start further ahead than this is a mistake (a time zone, a unit), not a plan
MAX_WAIT = 3600.0


def register(config: pytest.Config, state: FptSession) -> None:
    """Mark the session as shard K/N and register what it needs; a usage error when it cannot be one."""
    cfg = state.config
    kn = split_of(cfg.shard)
    assert kn is not None
    session = session_of(cfg.shard_session, cfg.start_at, os.environ)
    where = cfg.sources.get("shard", "")
    if not session:
        raise pytest.UsageError(
            f"fpt: shard {cfg.shard} (from {where}) needs a session id every shard shares, so `fpt merge` "
            "can tell the shards of one run from another's: set start_at (--fpt-start-at, FPT_START_AT) "
            "or shard_session (--fpt-shard-session, FPT_SHARD_SESSION); GitHub Actions and GitLab give "
            "one of their own")
    if cfg.start_at is not None and cfg.start_at - time.time() > MAX_WAIT:
        raise pytest.UsageError(
            f"fpt: start_at must be at most {MAX_WAIT / 60:g} minutes ahead; got {cfg.start_at:.0f} "
            f"({cfg.start_at - time.time():.0f}s from now; from {cfg.sources.get('start_at', '')})")
    state.shard = Shard(index=kn[0], total=kn[1], session=session)
    config.pluginmanager.register(ShardPlugin(state), "fpt-shard")


def suite_digest(ids: Sequence[str], root: Path) -> str:
    """sha256 over the tests collected and the files they come from (and their conftest.py files):
    shards that ran other tests or other code are not one run."""
    h = hashlib.sha256()
    files: dict[str, None] = {}
    for nodeid in sorted(ids):
        h.update(nodeid.encode() + b"\0")
        rel = Path(nodeid.split("::", 1)[0])
        files[rel.as_posix()] = None
        for parent in rel.parents:
            files[(parent / "conftest.py").as_posix()] = None
    for rel_name in sorted(files):
        path = root / rel_name
        if path.is_file():
            h.update(rel_name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return "sha256:" + h.hexdigest()


def wait_until(start_at: float, say: Callable[[str], None] | None = None,
               clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep) -> float:
    """Sleep until ``start_at`` (wall clock); returns how late it is then (> 0: the start had passed)."""
    ahead = start_at - clock()
    if ahead > 0 and say is not None:
        say(f"fpt: shard waits {ahead:.1f}s for the common start (start_at {start_at:.3f})")
    while True:
        ahead = start_at - clock()
        if ahead <= 0:
            return -ahead
        sleep(min(ahead, 1.0))


class ShardPlugin:
    """Registered on a shard's process (controller and xdist workers alike)."""

    def __init__(self, state: FptSession) -> None:
        self.state = state
        self.ids: list[str] = []
        self.root: Path | None = None

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """In a process that runs tests: note what it collected, then wait for the common start."""
        self.ids = [item.nodeid for item in session.items]
        self.root = session.config.rootpath
        start_at = self.state.config.start_at
        if start_at is not None and session.items:
            tr = session.config.pluginmanager.get_plugin("terminalreporter")
            late = wait_until(start_at, None if tr is None else tr.write_line)
            if late > 1.0:
                self.state.note(f"shard {self.state.shard.label if self.state.shard else ''} reached the "
                                f"common start {late:.1f}s late (the merge reports the skew of each run)")

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: Sequence[str]) -> None:
        """On the xdist controller (it collects nothing itself): what the workers collected."""
        self.ids = sorted(set(self.ids) | set(ids))
        self.root = node.config.rootpath

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """After the (partial) checklist: write the shard's results for ``fpt merge``."""
        from fpt.shardfile import ShardFile, relabel, settings_of, write

        state = self.state
        if state.worker != "main" or state.shard is None or not state.had_fpt:
            return
        outcomes = getattr(session.config.pluginmanager.get_plugin("fpt-outcomes"), "seen", {})
        shard_file = ShardFile(
            shard=state.shard,
            code={"fpt": version(),
                  "suite": suite_digest(self.ids, self.root or session.config.rootpath)},
            settings=settings_of(state.config), levels=dict(state.levels),
            results=tuple(relabel(r, state.shard) for r in state.results),
            explorations=tuple(e.to_dict() for e in state.explorations), outcomes=dict(outcomes),
            incomplete=tuple(state.incomplete),
            notes=tuple(state.notes), host=socket.gethostname())
        try:
            state.written.append(write(shard_file, state.config.report_dir))
        except OSError as e:
            state.notes.append(f"shard file not written to {state.config.report_dir}: {e}")
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
