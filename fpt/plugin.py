"""pytest plugin: declares options, ini keys, the marker and fixtures, and delegates."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from fpt.config import redact
from fpt.config.errors import ConfigError, TargetUnreachable
from fpt.config.settings import KEYS, build

if TYPE_CHECKING:
    from fpt.load import LoadRunner
    from fpt.session import FptSession

SESSION_KEY: pytest.StashKey[FptSession] = pytest.StashKey()


def pytest_addoption(parser: pytest.Parser) -> None:
    """Every config key as ``--fpt-<key>`` and ini ``fpt_<key>``."""
    group = parser.getgroup("fpt", "functional performance testing")
    for key in KEYS:
        flag = "--fpt-" + key.name.replace("_", "-")
        if key.flag:
            group.addoption(flag, action="store_true", default=None, dest=f"fpt_{key.name}",
                            help=key.help)
        else:
            group.addoption(flag, action="store", default=None, dest=f"fpt_{key.name}",
                            metavar=key.name.upper(), help=key.help)
        parser.addini(f"fpt_{key.name}", key.help, default="")


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    """Before any conftest or plugin can fail the session: replace the checklist by a placeholder."""
    from fpt.early import begin

    begin(early_config)


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker and build the one immutable config (bad values stop the run)."""
    config.addinivalue_line(
        "markers", "fpt(**settings): a functional performance test; keyword settings override "
        "fpt config for this test (rate, users, duration, profile, thresholds, ...)")
    if config.option.help:
        return
    from fpt.config.settings import read_pyproject
    from fpt.early import EARLY_KEY, stopped
    from fpt.evidence.provenance import Provenance
    from fpt.judge.dod.levels import check_level, parse_levels
    from fpt.session import FptSession

    ini = {k.name: config.getini(f"fpt_{k.name}") or None for k in KEYS}
    cli = {k.name: getattr(config.option, f"fpt_{k.name}", None) for k in KEYS}
    try:
        pyproject = read_pyproject(config.rootpath)
    except Exception as e:  # a pyproject that is not valid TOML
        stopped(config, f"cannot read [tool.fpt] in pyproject.toml: {e}")
        raise pytest.UsageError(f"fpt: cannot read [tool.fpt] in pyproject.toml: {e}") from None
    try:
        cfg = build(pyproject=pyproject, ini=ini, environ=os.environ, cli=cli)
        levels = parse_levels(pyproject.get("dod", {}))
        check_level(cfg.dod_level, levels, cfg.sources.get("dod_level", ""))
    except ConfigError as e:
        stopped(config, f"usage error: {e}")
        raise pytest.UsageError(str(e)) from None
    worker = getattr(config, "workerinput", {}).get("workerid", "main")
    testrun = getattr(config, "workerinput", {}).get("testrunuid")
    if testrun and cfg.unique_identities and cfg.sources.get("identity_nonce") == "unique_identities" \
            and not cfg.shard:
        # xdist workers of one session make the same people (each knows the others' users); a
        # shard's nonce comes from the shard session instead.
        from fpt.config.shard import nonce_of

        cfg = cfg.with_values({"identity_nonce": nonce_of(testrun)}, "unique_identities (xdist session)")
    early = config.stash.get(EARLY_KEY, None)
    config.stash[SESSION_KEY] = state = FptSession(
        config=cfg, worker=worker, levels=levels,
        provenance=early.provenance if early is not None else Provenance.of(os.environ))
    config.pluginmanager.register(OutcomeCounter(state), "fpt-outcomes")
    if worker == "main":
        config.pluginmanager.register(LastWord(state), "fpt-last-word")
    if config.pluginmanager.has_plugin("xdist"):
        from fpt.distributed import LiveRelay, XdistBridge

        relay = None
        if worker == "main" and getattr(config.option, "numprocesses", None):
            def write(text: str) -> None:
                # Looked up when there is a line (the terminal registers after fpt configures). The
                # controller runs no test: nothing to capture, and its capture must stay as it is.
                out = _terminal_write(config, past_capture=False)
                if out is not None:
                    out(text)

            relay = LiveRelay(write)
        config.pluginmanager.register(XdistBridge(state, relay), "fpt-xdist")
    if cfg.shard:
        from fpt.shard_plugin import register

        register(config, state)


def pytest_sessionstart(session: pytest.Session) -> None:
    """Replace any earlier checklist by an incomplete one, and let SIGTERM end the session cleanly."""
    state = session.config.stash.get(SESSION_KEY, None)
    if state is None or state.worker != "main":
        return
    if session.config.getoption("lf", False):
        import dataclasses

        state.selection = dataclasses.replace(state.selection, last_failed=True)
    state.start()
    state.restore_signals = _sigterm_interrupts()


def _sigterm_interrupts() -> Any:
    """SIGTERM (a CI job cancelled) ends the session like Ctrl-C: reports say *interrupted*.

    Returns what undoes it (the session ends; the process may run more sessions).
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return None

    def interrupt(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM kills at once
        raise KeyboardInterrupt("SIGTERM")

    signal.signal(signal.SIGTERM, interrupt)
    return lambda: signal.signal(signal.SIGTERM, signal.SIG_DFL)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that use ``fpt_load`` are FPT tests: mark them so ``-m fpt`` selects them."""
    for item in items:
        if "fpt_load" in getattr(item, "fixturenames", ()) and item.get_closest_marker("fpt") is None:
            item.add_marker(pytest.mark.fpt)


@pytest.fixture
def fpt_config(request: pytest.FixtureRequest) -> Any:
    """The session's resolved :class:`fpt.config.settings.FptConfig`."""
    return request.config.stash[SESSION_KEY].config


@pytest.fixture
def fpt_virtual(request: pytest.FixtureRequest) -> Any:
    """Virtual downstream services (respx): ``fpt_virtual.service(name, base_url, latency=...)``."""
    from fpt.virtual import VirtualServices

    return VirtualServices(seed=request.config.stash[SESSION_KEY].config.seed)


@pytest.fixture
def fpt_load(request: pytest.FixtureRequest) -> LoadRunner:
    """Run a flow under load: ``fpt_load(flow, rate=..., users=..., duration=...)``."""
    from fpt.load import LoadRunner

    state = request.config.stash[SESSION_KEY]
    if request.node.get_closest_marker("fpt") is None:
        # Looked up with request.getfixturevalue: an FPT test all the same, whose outcome counts.
        request.node.add_marker(pytest.mark.fpt)
    marker: dict[str, Any] = {}
    for m in reversed(list(request.node.iter_markers("fpt"))):
        marker.update(m.kwargs)
    from fpt.config.shard import combined_split
    from fpt.distributed import worker_split
    from fpt.report.outputs import junit_properties

    def record(result: Any) -> None:
        state.record(result)
        request.node.user_properties.extend(junit_properties(result))

    runner = LoadRunner(state.config, name=request.node.nodeid, marker=marker, record=record,
                        progress=_progress_printer(request.config), worker=state.worker,
                        split=combined_split(state.config.shard, worker_split(request.config)),
                        record_explore=state.record_explore,
                        note=state.note)
    return runner


def _progress_printer(config: pytest.Config) -> Any:
    """The live view of long runs, written past pytest's capture (off with ``-q``); on an xdist
    worker, handed to the controller, which shows it."""
    from fpt.distributed import worker_line_writer
    from fpt.report.terminal import LiveView

    relayed = worker_line_writer(config)
    if relayed is not None:
        return LiveView(relayed, tty=False)
    write = _terminal_write(config)
    if write is None:
        return None
    tr = config.pluginmanager.get_plugin("terminalreporter")
    tty = bool(getattr(tr, "isatty", False))
    return LiveView(write, tty=tty, width=config.get_terminal_writer().fullwidth)


def _terminal_write(config: pytest.Config, past_capture: bool = True) -> Any:
    """A ``write(text)`` to the terminal (past pytest's capture, mid-test); None without a
    terminal or with ``-q``."""
    tr = config.pluginmanager.get_plugin("terminalreporter")
    if tr is None or config.option.verbose < 0:
        return None
    capman = config.pluginmanager.get_plugin("capturemanager") if past_capture else None
    tw = config.get_terminal_writer()

    def write(text: str) -> None:
        # Mid-test, pytest captures stdout: suspend it, or the line waits for the test to end.
        with capman.global_and_fixture_disabled() if capman is not None else contextlib.nullcontext():
            tr.ensure_newline()
            if tw.width_of_current_line and not text.startswith("\r"):  # after progress dots
                tw.line()
            tw.write(text, flush=True)

    return write


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Turn a bad ``fpt_load(...)`` argument, or a target not listening, into a clean failure
    without a traceback."""
    try:
        return (yield)
    except (ConfigError, TargetUnreachable) as e:
        raise pytest.fail.Exception(str(e), pytrace=False) from None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Tag the reports of tests marked ``fpt`` (the tag travels with the report from xdist workers).

    A test is an FPT test by its marker, never by a keyword: a checkout directory named
    ``fpt`` puts "fpt" into every test's keywords.
    """
    report: Any = yield
    redact.report(report)  # no secret reaches the terminal or JUnit XML through a failure or capture
    if item.get_closest_marker("fpt") is not None:
        report.fpt_test = True
    from fpt.config.errors import FptFailure

    crash = getattr(report.longrepr, "reprcrash", None)
    if call.excinfo is not None and call.excinfo.errisinstance(FptFailure) and crash is not None:
        # The short summary shows one line: fpt's own first line, not "...FptFailure: " before it.
        crash.message = str(call.excinfo.value)
    return report  # type: ignore[no-any-return]


@pytest.hookimpl(tryfirst=True)
def pytest_warning_recorded(warning_message: Any) -> None:
    """Scrub a warning before the terminal's warnings summary (or xdist, on a worker) keeps it."""
    redact.warning(warning_message)


#: of several reports of one test (``--dist each`` runs it on every worker), the worst wins
_RANK = {"passed": 0, "skipped": 1, "failed": 2}


class OutcomeCounter:
    """Counts how each FPT test ended; registered per session (on the xdist controller, worker
    reports come back to it)."""

    def __init__(self, state: FptSession) -> None:
        self.state = state
        self.seen: dict[str, str] = {}

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        """FPT tests left out by -k, --deselect, -m, --lf or --sw: listed in the checklist."""
        from fpt.evidence.narrowing import Selection

        names = [i.nodeid for i in items if i.get_closest_marker("fpt") is not None]
        if names:
            sel = self.state.selection
            self.state.selection = Selection(deselected=tuple(dict.fromkeys((*sel.deselected, *names))),
                                             last_failed=sel.last_failed)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """A setup/call skip, a failure in any phase (teardown too), or a passing call, of a test
        marked ``fpt``: each test once, the worst outcome wins."""
        if not getattr(report, "fpt_test", False):
            return
        if report.skipped and report.when in ("setup", "call"):
            outcome = "skipped"
        elif report.failed:
            outcome = "failed"
        elif report.passed and report.when == "call":
            outcome = "passed"
        else:
            return
        before = self.seen.get(report.nodeid)
        if before is not None and _RANK[before] >= _RANK[outcome]:
            return
        self.seen[report.nodeid] = outcome
        if before is not None:
            self.state.outcomes[before] -= 1
        self.state.count(outcome)


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session: pytest.Session) -> Generator[None, object, object]:
    """Note that the test loop ended normally: anything else leaves the checklist incomplete."""
    result = yield
    state = session.config.stash.get(SESSION_KEY, None)
    if state is not None:
        state.ran_to_end = True
    return result
class LastWord:
    """After every other plugin: the checklist as a JUnit testcase, and fpt's own last terminal line
    (the verdict and the exit code), so that no plugin's summary (``--reruns``) hides the gate."""

    def __init__(self, state: FptSession) -> None:
        self.state = state
        self.session: pytest.Session | None = None

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """After pytest's junitxml wrote its file: add the checklist's testcase to it."""
        self.session = session
        checklist = self.state.checklist
        xmlpath = getattr(session.config.option, "xmlpath", None)
        if checklist is None or not xmlpath:
            return
        from fpt.report.junit import add_checklist_testcase
        from fpt.report.terminal import checklist_lines

        try:
            add_checklist_testcase(xmlpath, checklist, checklist_lines(checklist))
        except (OSError, ValueError) as e:  # ParseError is a ValueError's kin: say so, keep the verdict
            self.state.note(f"the checklist was not added to {xmlpath}: {type(e).__name__}: {e}")

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        """The last line of the terminal: the checklist's verdict and the session's exit code."""
        checklist = self.state.checklist
        tr = config.pluginmanager.get_plugin("terminalreporter")
        if checklist is None or self.session is None or tr is None:
            return
        from fpt.report.terminal import last_line

        code = int(self.session.exitstatus)
        tr.write_line(last_line(checklist, code), **({"green": True} if checklist.verdict == "passed"
                                                     else {"red": True}))


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Judge the checklist, write the reports, and fail the session when the gate fails."""
    state = session.config.stash.get(SESSION_KEY, None)
    if state is None:
        return
    interrupted = ""
    if session.exitstatus == pytest.ExitCode.INTERRUPTED:
        interrupted = "the session was interrupted (Ctrl-C or SIGTERM) before it finished"
    elif not state.ran_to_end:
        # A second Ctrl-C while pytest handles the first leaves exitstatus unset: still no finish.
        interrupted = "the session stopped before its test loop ended (interrupted, or a collection error)"
    if state.restore_signals is not None:
        state.restore_signals()
    from fpt.rundetails import gather

    details = gather(state.config, args=session.config.invocation_params.args, root=session.config.rootpath) \
        if state.worker == "main" and state.had_fpt else None
    checklist = state.finish(interrupted=interrupted, details=details)
    # A shard's checklist is partial by design: its exit says how its tests went; the merge gates.
    if (checklist is not None and checklist.verdict != "passed" and checklist.shard is None
            and session.exitstatus == pytest.ExitCode.OK):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Per-run, per-step tables, then the checklist, at the end of the session."""
    state = config.stash.get(SESSION_KEY, None)
    if state is None or not state.had_fpt:
        return
    from fpt.report.explore import record_line
    from fpt.report.terminal import checklist_rows, run_summary

    terminalreporter.section("fpt summary")
    for reason in state.incomplete:
        terminalreporter.write_line(redact.scrub(f"INCOMPLETE: {reason}"), red=True)
    for result in state.results:
        for line in run_summary(result):
            terminalreporter.write_line(redact.scrub(line))
    for explored in state.explorations:
        terminalreporter.write_line(redact.scrub(record_line(explored)), red=not explored.passed)
    if state.checklist is not None:
        colour = {"passed": {"green": True}, "failed": {"red": True}, "not_evidenced": {"yellow": True}}
        for line, status in checklist_rows(state.checklist):
            terminalreporter.write_line(redact.scrub(line), **colour.get(status, {}))
    if state.checklist is not None:
        from fpt.report.narrowing import describe

        for w in state.checklist.weakened:
            terminalreporter.write_line(redact.scrub(describe(w)), yellow=True)
    for note in state.notes:
        terminalreporter.write_line(redact.scrub(note))
    if state.written:
        terminalreporter.write_line("fpt reports: " + ", ".join(str(p) for p in state.written))
