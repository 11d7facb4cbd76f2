"""fpt: functional performance testing for pytest.

``import fpt`` is cheap: the public names load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fpt.config.errors import ConfigError, EngineError, FptError, FptFailure, ScaleError
    from fpt.config.settings import FptConfig
    from fpt.evidence.findings import Finding
    from fpt.evidence.result import RunResult
    from fpt.run.identity import Identity
    from fpt.run.scaling import CallableScaler, CommandScaler, ObserveScaler, Scaler, at
    from fpt.run.shapes import Shape, constant, ramp, spike, stages, step_up
    from fpt.run.user import User, check
    from fpt.run.websocket import WebSocket

_NAMES = {
    "ConfigError": "fpt.config.errors",
    "EngineError": "fpt.config.errors",
    "Finding": "fpt.evidence.findings",
    "FptConfig": "fpt.config.settings",
    "FptError": "fpt.config.errors",
    "FptFailure": "fpt.config.errors",
    "Identity": "fpt.run.identity",
    "RunResult": "fpt.evidence.result",
    "Shape": "fpt.run.shapes",
    "User": "fpt.run.user",
    "WebSocket": "fpt.run.websocket",
    "check": "fpt.run.user",
    "at": "fpt.run.scaling",
    "Scaler": "fpt.run.scaling",
    "CallableScaler": "fpt.run.scaling",
    "CommandScaler": "fpt.run.scaling",
    "ObserveScaler": "fpt.run.scaling",
    "ScaleError": "fpt.config.errors",
    "constant": "fpt.run.shapes",
    "ramp": "fpt.run.shapes",
    "spike": "fpt.run.shapes",
    "stages": "fpt.run.shapes",
    "step_up": "fpt.run.shapes",
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
    "WebSocket",
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
