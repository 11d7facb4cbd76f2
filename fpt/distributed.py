"""pytest-xdist support: workers send their run results, the controller merges them.

With ``--dist each`` every worker runs every FPT test with 1/N of the rate and its
own slice of users; results of the same test are merged exactly. With the default
distribution different tests run on different workers and are simply collected. A
worker that goes down with an error leaves the run incomplete: it cannot pass.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from fpt.session import FptSession

OUTPUT_KEY = "fpt_results"
EXPLORE_KEY = "fpt_explorations"
NOTES_KEY = "fpt_notes"


def worker_split(config: pytest.Config) -> tuple[int, int] | None:
    """(index, count) on an xdist worker under ``--dist each``; None otherwise."""
    wi = getattr(config, "workerinput", None)
    # Workers run with dist="no"; the controller tells them its mode (pytest_configure_node).
    if wi is None or wi.get("fpt_dist") != "each":
        return None
    return int(wi["workerid"].removeprefix("gw")), int(wi["workercount"])


class XdistBridge:
    """Registered on workers and on the controller; moves results through ``workeroutput``."""

    def __init__(self, state: FptSession) -> None:
        self.state = state

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Worker: hand every result to the controller. Controller: merge before reporting."""
        output = getattr(session.config, "workeroutput", None)
        if output is not None:
            output[OUTPUT_KEY] = json.dumps([r.to_dict() for r in self.state.results])
            output[EXPLORE_KEY] = json.dumps([e.to_dict() for e in self.state.explorations])
            output[NOTES_KEY] = json.dumps(self.state.notes)
        else:
            self.merge()

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """On the controller: tell each worker the distribution mode."""
        node.workerinput["fpt_dist"] = getattr(node.config.option, "dist", "no")

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """On the controller: collect a worker's results; a crashed worker makes the run incomplete."""
        from fpt.explore import ExploreRecord
        from fpt.result import RunResult

        for text in json.loads(getattr(node, "workeroutput", {}).get(NOTES_KEY, "[]")):
            self.state.note(text)
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
        from fpt.merge import merge_by_test

        if self.state.worker_results:
            merged = merge_by_test(self.state.worker_results)
            if self.state.incomplete:
                merged = [_incomplete(r) for r in merged]
            self.state.results.extend(merged)
            self.state.worker_results.clear()


def _incomplete(r: Any) -> Any:
    import dataclasses

    return dataclasses.replace(r, incomplete=True)
