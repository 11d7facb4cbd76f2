"""Parse human values at the boundary: durations, rates, sizes, percentages.

Every parser raises ``ValueError`` with the allowed form; config turns that into a
``ConfigError`` naming the key and where the value came from.
"""

from __future__ import annotations

import re

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}

DURATION_FORM = "look like 30s, 2m, 500ms or 90 (seconds)"


def parse_duration(value: str | float | int) -> float:
    """Return seconds from ``"30s"``, ``"2m"``, ``"500ms"``, ``"1h"`` or a number of seconds."""
    if isinstance(value, bool):
        raise ValueError(DURATION_FORM)
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(DURATION_FORM)
        return float(value)
    m = _DURATION.match(value)
    if not m:
        raise ValueError(DURATION_FORM)
    return float(m.group(1)) * _UNIT_SECONDS[m.group(2)]


def parse_percent(value: str) -> float:
    """Return a fraction from ``"1%"``, ``"0.5%"`` or ``"0.01"``."""
    v = value.strip()
    if v.endswith("%"):
        return float(v[:-1]) / 100.0
    return float(v)
