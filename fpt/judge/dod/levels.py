"""DoD levels: the built-in ones, and those a ``[tool.fpt.dod]`` table adds or makes stricter."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fpt.config.errors import ConfigError
from fpt.judge.dod.catalogue import DEFAULT_LEVELS, ITEMS


def parse_levels(table: Mapping[str, Any], source: str = "[tool.fpt.dod] in pyproject.toml"
                 ) -> dict[str, tuple[str, ...]]:
    """Levels from a ``[tool.fpt.dod]`` table over the defaults; a bad one is a ``ConfigError``."""
    if not isinstance(table, Mapping):
        raise ConfigError("dod", table, "be a table of levels such as release = [\"suite.executed\"]", source)
    levels = dict(DEFAULT_LEVELS)
    for name, value in table.items():
        if name == "level":
            continue
        allowed = f"be a non-empty list of checklist items ({', '.join(ITEMS)})"
        if (not isinstance(value, list) or not value
                or not all(isinstance(v, str) and v in ITEMS for v in value)):
            raise ConfigError(f"dod.{name}", value, allowed, source)
        # "squad: passed" must mean what it means everywhere: a built-in level can be made
        # stricter, never weaker (a squad that wants less names its own level).
        missing = [v for v in DEFAULT_LEVELS.get(name, ()) if v not in value]
        if missing:
            raise ConfigError(f"dod.{name}", value, f"keep every item of the built-in {name} level (missing "
                              f"{', '.join(missing)}); name a new level to require less", source)
        levels[name] = tuple(value)
    return levels


def check_level(level: str, levels: Mapping[str, Sequence[str]], source: str = "") -> None:
    """A ``ConfigError`` unless ``level`` is one of ``levels``."""
    if level not in levels:
        raise ConfigError("dod_level", level, f"be one of the DoD levels ({', '.join(sorted(levels))})",
                          source)
