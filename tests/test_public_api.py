"""The public names are a contract: pin them."""

import subprocess
import sys

import fpt


def test_exported_members() -> None:
    assert fpt.__all__ == sorted(fpt.__all__)
    assert fpt.__all__ == [
        "CallableScaler", "CommandScaler", "ConfigError", "EngineError", "Finding", "FptConfig",
        "FptError", "FptFailure", "Identity", "ObserveScaler", "RunResult", "ScaleError", "Scaler",
        "Shape", "User", "WebSocket", "at", "check", "constant", "ramp", "spike", "stages", "step_up",
    ]
    for name in fpt.__all__:
        assert getattr(fpt, name).__doc__, name


def test_import_is_cheap() -> None:
    heavy = ('httpx', 'faker', 'hdrh', 'httpx_ws', 'wsproto')  # httpx_ws: loaded by a flow's user.ws
    code = f"import sys, fpt; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
