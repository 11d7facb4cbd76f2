"""fpt: functional performance testing for pytest.

``import fpt`` is cheap: the public names load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fpt.config import FptConfig
    from fpt.errors import ConfigError, EngineError, FptError, FptFailure
    from fpt.identity import Identity
    from fpt.records import Finding
    from fpt.result import RunResult
    from fpt.scaling import CallableScaler, CommandScaler, ObserveScaler, ScaleError, Scaler, at
    from fpt.shapes import Shape, constant, ramp, spike, stages, step_up
    from fpt.user import User, check

_NAMES = {
    "ConfigError": "fpt.errors",
    "EngineError": "fpt.errors",
    "Finding": "fpt.records",
    "FptConfig": "fpt.config",
    "FptError": "fpt.errors",
    "FptFailure": "fpt.errors",
    "Identity": "fpt.identity",
    "RunResult": "fpt.result",
    "Shape": "fpt.shapes",
    "User": "fpt.user",
    "check": "fpt.user",
    "at": "fpt.scaling",
    "Scaler": "fpt.scaling",
    "CallableScaler": "fpt.scaling",
    "CommandScaler": "fpt.scaling",
    "ObserveScaler": "fpt.scaling",
    "ScaleError": "fpt.scaling",
    "constant": "fpt.shapes",
    "ramp": "fpt.shapes",
    "spike": "fpt.shapes",
    "stages": "fpt.shapes",
    "step_up": "fpt.shapes",
}

__all__ = [
    "CallableScaler",
    "CommandScaler",
    "ConfigError",
    "EngineError",
    "Finding",
    "FptConfig",
    "FptError",
    "FptFailure",
    "Identity",
    "ObserveScaler",
    "RunResult",
    "ScaleError",
    "Scaler",
    "Shape",
    "User",
    "at",
    "check",
    "constant",
    "ramp",
    "spike",
    "stages",
    "step_up",
]


def __getattr__(name: str) -> Any:
    module = _NAMES.get(name)
    if module is None:
        raise AttributeError(f"module 'fpt' has no attribute {name!r}")
    # Not cached in globals(): the module stays the single source even if reloaded.
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(__all__)
