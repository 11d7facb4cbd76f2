"""The ``fpt`` command: ``fpt gate FILE... [--level release]``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

EXIT_PASSED, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def _levels(config: Path | None) -> dict[str, tuple[str, ...]]:
    from fpt.config import read_pyproject
    from fpt.dod import parse_levels

    root = config.parent if config else Path.cwd()
    if config is not None and not config.is_file():
        raise FileNotFoundError(f"{config}: no such file")
    table = read_pyproject(root).get("dod", {})
    return parse_levels(table, f"[tool.fpt.dod] in {root / 'pyproject.toml'}")


def gate_command(args: argparse.Namespace) -> int:
    """Validate, merge, print the verdict; 0 passed, 1 failed, 2 unusable input."""
    from fpt.dod import check_level
    from fpt.errors import ConfigError
    from fpt.gate import GateError, gate
    from fpt.report.markdown import checklist_markdown

    try:
        levels = _levels(args.config)
        check_level(args.level, levels, "--level")
        merged = gate(args.files, level=args.level, levels=levels)
    except (GateError, ConfigError, FileNotFoundError) as e:
        print(f"fpt gate: FAILED: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as e:  # a pyproject that is not TOML
        print(f"fpt gate: FAILED: cannot read the configuration: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(checklist_markdown(merged), end="")
    print(f"fpt gate: {merged.verdict.upper()} at level {args.level} ({len(args.files)} file(s))")
    return EXIT_PASSED if merged.verdict == "passed" else EXIT_FAILED


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fpt`` script."""
    ap = argparse.ArgumentParser(prog="fpt", description="fpt: functional performance testing tools")
    sub = ap.add_subparsers(dest="command", required=True)
    g = sub.add_parser("gate", help="judge one or more fpt-dod.json files at a DoD level")
    g.add_argument("files", nargs="+", type=Path, help="fpt-dod.json files (e.g. one per squad)")
    g.add_argument("--level", default="release", help="DoD level to judge (default: release)")
    g.add_argument("--config", type=Path, default=None,
                   help="pyproject.toml whose [tool.fpt.dod] defines the levels (default: ./pyproject.toml)")
    g.set_defaults(run=gate_command)
    args = ap.parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
