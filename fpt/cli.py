"""The ``fpt`` command: ``fpt gate FILE... [--level LEVEL]``, ``fpt merge SHARDS... --out DIR``,
``fpt demo [--port 8000] [--bugs ...]`` and ``fpt har2flow RECORDING.har``."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

EXIT_PASSED, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def _settings(config: Path | None) -> tuple[dict[str, tuple[str, ...]], str, str]:
    """The DoD levels, the default level and where it came from, read as the pytest plugin reads them."""
    from fpt.config.settings import build, read_pyproject, read_tool_table
    from fpt.judge.dod.levels import parse_levels

    if config is not None and not config.is_file():
        raise FileNotFoundError(f"{config}: no such file")
    # --config FILE means FILE, whatever its name: never the pyproject.toml beside it.
    path = config if config is not None else Path.cwd() / "pyproject.toml"
    pyproject = read_tool_table(config) if config is not None else read_pyproject(Path.cwd())
    levels = parse_levels(pyproject.get("dod", {}), f"[tool.fpt.dod] in {path}")
    # Same layering as the plugin (pyproject, then FPT_DOD_LEVEL): `fpt gate` and `pytest -m fpt`
    # judge the same level unless told otherwise.
    cfg = build(pyproject=pyproject, ini={}, environ=os.environ, cli={})
    return levels, cfg.dod_level, cfg.sources.get("dod_level", "the default")


def gate_command(args: argparse.Namespace) -> int:
    """Validate, merge, print the verdict; 0 passed, 1 failed, 2 unusable input."""
    from fpt.config.errors import ConfigError, GateError
    from fpt.config.redact import scrub
    from fpt.evidence.provenance import SESSION_ENV
    from fpt.judge.dod.levels import check_level
    from fpt.judge.gate import gate
    from fpt.report.markdown import checklist_markdown

    try:
        levels, default, source = _settings(args.config)
        level = args.level or default
        check_level(level, levels, "--level" if args.level else source)
        max_age = _max_age(args.max_age)
        merged = gate(args.files, level=level, levels=levels, environ=os.environ, any_job=args.any_job,
                      session_id=args.session or os.environ.get(SESSION_ENV, "").strip(), max_age=max_age,
                      require_signature=args.require_signature)
    except (GateError, ConfigError, FileNotFoundError) as e:
        print(scrub(f"fpt gate: FAILED: {e}"), file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as e:  # a pyproject that is not TOML
        print(scrub(f"fpt gate: FAILED: cannot read the configuration: {e}"), file=sys.stderr)
        return EXIT_BAD_INPUT
    print(scrub(checklist_markdown(merged)), end="")
    print(f"fpt gate: {merged.verdict.upper()} at level {level} ({len(args.files)} file(s))")
    return EXIT_PASSED if merged.verdict == "passed" else EXIT_FAILED


def merge_command(args: argparse.Namespace) -> int:
    """Merge shard files into one checklist and reports; 0 passed, 1 failed, 2 refused input."""
    from fpt.shard_cli import merge_command as run

    return run(args)
def _max_age(value: str | None) -> float | None:
    """``--max-age`` in seconds; a ``ConfigError`` naming the form for a bad one."""
    from fpt.config.errors import ConfigError
    from fpt.config.units import DURATION_FORM, parse_duration

    if value is None:
        return None
    try:
        seconds = parse_duration(value)
    except ValueError:
        raise ConfigError("--max-age", value, DURATION_FORM, "fpt gate") from None
    if seconds <= 0:
        raise ConfigError("--max-age", value, "be a duration > 0", "fpt gate")
    return seconds


def demo_command(args: argparse.Namespace) -> int:
    """Serve the embedded demo booking service on 127.0.0.1 until interrupted."""
    try:
        import uvicorn

        from fpt.demo.app import create_app, parse_bugs
    except ImportError as e:
        print(f"fpt demo: FAILED: the demo needs its extras ({e.name} is missing): "
              "pip install 'fpt[demo]'", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        bugs = parse_bugs(args.bugs)
    except ValueError as e:
        print(f"fpt demo: FAILED: --bugs: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if not 0 < args.port < 65536:
        print(f"fpt demo: FAILED: --port must be from 1 to 65535; got {args.port}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"fpt demo: booking service on http://127.0.0.1:{args.port} "
          f"(bugs: {', '.join(sorted(bugs)) or 'none'}); Ctrl-C stops it", flush=True)
    # Loopback only: the demo is a load-test target, never a service for the network.
    uvicorn.run(create_app(bugs=bugs), host="127.0.0.1", port=args.port, log_level="warning")
    return EXIT_PASSED


def har2flow_command(args: argparse.Namespace) -> int:
    """Print a flow (Python source) for a HAR recording."""
    from fpt.config.redact import scrub
    from fpt.har import HarError, har2flow

    try:
        text = args.recording.read_text(encoding="utf-8")
        print(har2flow(text, name=args.name, source=args.recording.name), end="")
    except (OSError, HarError, UnicodeDecodeError) as e:
        print(scrub(f"fpt har2flow: FAILED: {args.recording}: {e}"), file=sys.stderr)
        return EXIT_BAD_INPUT
    return EXIT_PASSED


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fpt`` script."""
    from fpt.config.version import version

    ap = argparse.ArgumentParser(prog="fpt", description="fpt: functional performance testing tools "
                                 "(the tests themselves run under pytest: pytest -m fpt)")
    ap.add_argument("--version", action="version", version=f"fpt {version()}")
    sub = ap.add_subparsers(dest="command", metavar="{gate,demo}")
    g = sub.add_parser("gate", help="judge one or more fpt-dod.json files at a DoD level")
    g.add_argument("files", nargs="+", type=Path, help="fpt-dod.json files (e.g. one per squad)")
    g.add_argument("--level", default=None,
                   help="DoD level to judge (default: as pytest -m fpt does: FPT_DOD_LEVEL, else "
                        "level in [tool.fpt.dod], else squad)")
    g.add_argument("--config", type=Path, default=None,
                   help="TOML file whose [tool.fpt.dod] defines the levels (default: ./pyproject.toml)")
    g.add_argument("--max-age", default=None, metavar="DURATION",
                   help="refuse a file written longer ago than this (e.g. 2h, 30m)")
    g.add_argument("--any-job", action="store_true",
                   help="accept files from other CI jobs (release QA reading artifacts); by default, in "
                        "a CI job, only a file written by this job is accepted")
    g.add_argument("--session", default=None, metavar="ID",
                   help="accept only the file of this session (default: $FPT_SESSION_ID when set)")
    g.add_argument("--require-signature", action="store_true",
                   help="refuse a file without a valid HMAC-SHA256 signature (key: $FPT_SIGNING_KEY)")
    g.set_defaults(run=gate_command)
    m = sub.add_parser("merge", help="merge the shards of a run (--fpt-shard K/N) into one checklist")
    m.add_argument("paths", nargs="+", type=Path,
                   help="shard files (fpt-shard-K-of-N.json) or directories holding them")
    m.add_argument("--out", type=Path, required=True, help="directory for the merged checklist and reports")
    m.set_defaults(run=merge_command)
    d = sub.add_parser("demo", help="serve the embedded demo booking service on 127.0.0.1")
    d.add_argument("--port", type=int, default=8000, help="port on 127.0.0.1 (default: 8000)")
    d.add_argument("--bugs", default="", help="comma-separated bugs to switch on: shared_cache, "
                   "request_global, no_owner_check, leaky_listing, ... (an unknown name lists them "
                   "all; default: none)")
    d.set_defaults(run=demo_command)
    h = sub.add_parser("har2flow", help="write a flow (Python) for a HAR recording: "
                       "fpt har2flow rec.har > flows.py")
    h.add_argument("recording", type=Path, help="the .har file (browser dev tools: Save all as HAR)")
    h.add_argument("--name", default="recorded_flow", help="the flow's name (default: recorded_flow)")
    h.set_defaults(run=har2flow_command)
    args = ap.parse_args(argv)
    if args.command is None:  # bare `fpt`: what it can do, not a usage error
        ap.print_help()
        return EXIT_PASSED
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
