"""The ``fpt`` command: ``fpt gate FILE... [--level LEVEL]`` and ``fpt demo [--port 8000] [--bugs ...]``."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

EXIT_PASSED, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def _settings(config: Path | None) -> tuple[dict[str, tuple[str, ...]], str, str]:
    """The DoD levels, the default level and where it came from, read as the pytest plugin reads them."""
    from fpt.config import build, read_pyproject
    from fpt.dod import parse_levels

    root = config.parent if config else Path.cwd()
    if config is not None and not config.is_file():
        raise FileNotFoundError(f"{config}: no such file")
    pyproject = read_pyproject(root)
    levels = parse_levels(pyproject.get("dod", {}), f"[tool.fpt.dod] in {root / 'pyproject.toml'}")
    # Same layering as the plugin (pyproject, then FPT_DOD_LEVEL): `fpt gate` and `pytest -m fpt`
    # judge the same level unless told otherwise.
    cfg = build(pyproject=pyproject, ini={}, environ=os.environ, cli={})
    return levels, cfg.dod_level, cfg.sources.get("dod_level", "the default")


def gate_command(args: argparse.Namespace) -> int:
    """Validate, merge, print the verdict; 0 passed, 1 failed, 2 unusable input."""
    from fpt.dod import check_level
    from fpt.errors import ConfigError
    from fpt.gate import GateError, gate
    from fpt.redact import scrub
    from fpt.report.markdown import checklist_markdown

    try:
        levels, default, source = _settings(args.config)
        level = args.level or default
        check_level(level, levels, "--level" if args.level else source)
        merged = gate(args.files, level=level, levels=levels)
    except (GateError, ConfigError, FileNotFoundError) as e:
        print(scrub(f"fpt gate: FAILED: {e}"), file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as e:  # a pyproject that is not TOML
        print(scrub(f"fpt gate: FAILED: cannot read the configuration: {e}"), file=sys.stderr)
        return EXIT_BAD_INPUT
    print(scrub(checklist_markdown(merged)), end="")
    print(f"fpt gate: {merged.verdict.upper()} at level {level} ({len(args.files)} file(s))")
    return EXIT_PASSED if merged.verdict == "passed" else EXIT_FAILED


def demo_command(args: argparse.Namespace) -> int:
    """Serve the embedded demo booking service on 127.0.0.1 until interrupted."""
    try:
        import uvicorn

        from suites.demo.app import create_app, parse_bugs
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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fpt`` script."""
    from fpt.version import version

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
                   help="pyproject.toml whose [tool.fpt.dod] defines the levels (default: ./pyproject.toml)")
    g.set_defaults(run=gate_command)
    d = sub.add_parser("demo", help="serve the embedded demo booking service on 127.0.0.1")
    d.add_argument("--port", type=int, default=8000, help="port on 127.0.0.1 (default: 8000)")
    d.add_argument("--bugs", default="", help="comma-separated bugs to switch on: shared_cache, "
                   "request_global, no_owner_check, leaky_listing, ... (an unknown name lists them "
                   "all; default: none)")
    d.set_defaults(run=demo_command)
    args = ap.parse_args(argv)
    if args.command is None:  # bare `fpt`: what it can do, not a usage error
        ap.print_help()
        return EXIT_PASSED
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
