"""pytest-xdist support: workers send their run results, the controller merges them.

With ``--dist each`` every worker runs every FPT test with 1/N of the rate and its
own slice of users; results of the same test are merged exactly. With the default
distribution different tests run on different workers and are simply collected. A
worker that goes down with an error leaves the run incomplete: it cannot pass.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fpt.session import FptSession

OUTPUT_KEY = "fpt_results"
EXPLORE_KEY = "fpt_explorations"
NOTES_KEY = "fpt_notes"
SELECTION_KEY = "fpt_selection"
LIVE_KEY = "fpt_live"
"""workerinput key: the directory where each worker leaves its latest live-view line."""


def worker_split(config: pytest.Config) -> tuple[int, int] | None:
    """(index, count) on an xdist worker under ``--dist each``; None otherwise."""
    wi = getattr(config, "workerinput", None)
    # Workers run with dist="no"; the controller tells them its mode (pytest_configure_node).
    if wi is None or wi.get("fpt_dist") != "each":
        return None
    return int(wi["workerid"].removeprefix("gw")), int(wi["workercount"])


class XdistBridge:
    """Registered on workers and on the controller; moves results through ``workeroutput``."""

    def __init__(self, state: FptSession, relay: LiveRelay | None = None) -> None:
        self.state = state
        #: on the controller, with the live view on: shows the workers' progress lines
        self.relay = relay

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Worker: hand every result to the controller. Controller: merge before reporting."""
        output = getattr(session.config, "workeroutput", None)
        if output is not None:
            output[OUTPUT_KEY] = json.dumps([r.to_dict() for r in self.state.results])
            output[EXPLORE_KEY] = json.dumps([e.to_dict() for e in self.state.explorations])
            output[NOTES_KEY] = json.dumps(self.state.notes)
            output[SELECTION_KEY] = json.dumps(self.state.selection.to_dict())
        else:
            if self.relay is not None:
                self.relay.stop()
            self.merge()

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """On the controller: tell each worker the distribution mode."""
        node.workerinput["fpt_dist"] = getattr(node.config.option, "dist", "no")
        if self.relay is not None:
            node.workerinput[LIVE_KEY] = str(self.relay.start())

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """On the controller: collect a worker's results; a crashed worker makes the run incomplete."""
        from fpt.evidence.explore import ExploreRecord
        from fpt.evidence.result import RunResult

        for text in json.loads(getattr(node, "workeroutput", {}).get(NOTES_KEY, "[]")):
            self.state.note(text)
        # Workers collect, so they see what -k / --deselect left out: the controller lists it once.
        from fpt.evidence.narrowing import Selection

        theirs = Selection.from_dict(json.loads(getattr(node, "workeroutput", {}).get(SELECTION_KEY, "{}")))
        mine = self.state.selection
        both = tuple(dict.fromkeys((*mine.deselected, *theirs.deselected)))
        self.state.selection = Selection(deselected=both, last_failed=mine.last_failed or theirs.last_failed)
        explored = getattr(node, "workeroutput", {}).get(EXPLORE_KEY)
        if explored is not None:
            self.state.explorations.extend(ExploreRecord.from_dict(d) for d in json.loads(explored))
        raw = getattr(node, "workeroutput", {}).get(OUTPUT_KEY)
        if error or raw is None:
            self.state.incomplete.append(f"worker {getattr(node, 'gateway', node).id} went down"
                                         + (f": {error}" if error else " without sending results"))
            if raw is None:
                return
        self.state.worker_results.extend(RunResult.from_dict(d) for d in json.loads(raw))

    def merge(self) -> None:
        """Fold the workers' results into the session's (called once, before reporting)."""
        from fpt.judge.merge import merge_by_test

        if self.state.worker_results:
            merged = merge_by_test(self.state.worker_results)
            if self.state.incomplete:
                merged = [_incomplete(r) for r in merged]
            self.state.results.extend(merged)
            self.state.worker_results.clear()


def _incomplete(r: Any) -> Any:
    import dataclasses

    return dataclasses.replace(r, incomplete=True)


class LiveRelay:
    """The live view under xdist: workers' output never reaches the terminal, so each worker
    leaves its latest progress line in a file (:func:`worker_line_writer`) and the controller
    shows every new line, prefixed with the worker's id, within ``every`` seconds.
    """

    def __init__(self, write: Callable[[str], None], *, every: float = 0.5) -> None:
        self.write = write
        self.every = every
        self.dir: Path | None = None
        self._seen: dict[str, str] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> Path:
        """The directory the workers write to (made, and the watcher started, on first use)."""
        if self.dir is None:
            self.dir = Path(tempfile.mkdtemp(prefix="fpt-live-"))
            self._thread = threading.Thread(target=self._watch, name="fpt-live", daemon=True)
            self._thread.start()
        return self.dir

    def _watch(self) -> None:
        while not self._stop.wait(self.every):
            self.poll()

    def poll(self) -> None:
        """Show each worker's line if it changed since the last look."""
        if self.dir is None:
            return
        with self._lock:
            for path in sorted(self.dir.glob("*.line")):
                try:
                    line = path.read_text(encoding="utf-8").strip()
                except OSError:
                    continue
                if line and self._seen.get(path.stem) != line:
                    self._seen[path.stem] = line
                    self.write(f"[{path.stem}] {line}\n")

    def stop(self) -> None:
        """Show the last lines, stop watching, remove the directory."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.poll()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)


def worker_line_writer(config: pytest.Config) -> Callable[[str], None] | None:
    """On an xdist worker whose controller relays the live view: a ``write`` for ``LiveView``
    that replaces the worker's line file (atomically, so the controller never reads half a line)."""
    wi = getattr(config, "workerinput", None)
    if wi is None or LIVE_KEY not in wi:
        return None
    path = Path(wi[LIVE_KEY]) / f"{wi['workerid']}.line"

    def write(text: str) -> None:
        line = text.strip().rsplit("\r", 1)[-1]
        if not line:
            return
        tmp = path.with_suffix(".tmp")
        try:
            tmp.write_text(line + "\n", encoding="utf-8")
            os.replace(tmp, path)
        except OSError:  # the controller cleaned up: nothing to show any more
            pass

    return write
