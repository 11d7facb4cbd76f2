"""Run the demo as a real uvicorn server on 127.0.0.1, on a free port, and stop it."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
APPS = {"booking": "fpt.demo.app:create_app_from_env",
        "eligibility": "fpt.demo.eligibility:create_eligibility_app"}


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on now (the OS picks it)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def stop_process(proc: subprocess.Popen[bytes], *, kill: bool = False, timeout: float = 5.0) -> None:
    """SIGTERM (or SIGKILL), then SIGKILL after ``timeout``; idempotent."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_for_http(url: str, proc: subprocess.Popen[bytes], timeout: float, *,
                  status: int | None = None) -> bool:
    """Poll ``url`` until it answers (with ``status``, if given); False when ``proc`` exits or time is up."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            answer = httpx.get(url, timeout=1.0)
            if status is None or answer.status_code == status:
                return True
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            return False
        time.sleep(0.05)


@dataclass
class Server:
    """A running uvicorn process."""

    base_url: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        """The server's process id."""
        return self.process.pid

    def alive(self) -> bool:
        """Still running."""
        return self.process.poll() is None

    def stop(self, *, kill: bool = False, timeout: float = 5.0) -> None:
        """SIGTERM (or SIGKILL), then SIGKILL after ``timeout``; idempotent."""
        stop_process(self.process, kill=kill, timeout=timeout)


def start(*, app: str = "booking", bugs: Iterable[str] = (), sessions: str = "memory",
          redis_url: str | None = None, eligibility_url: str | None = None, replica: str = "r1",
          host: str = "127.0.0.1", port: int | None = None, log_dir: Path | None = None,
          ready_timeout: float = 20.0) -> Server:
    """Start a server and wait (bounded) until ``/health`` answers."""
    port = port or free_port(host)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "FPT_DEMO_BUGS": ",".join(bugs), "FPT_DEMO_SESSIONS": sessions,
           "FPT_DEMO_REDIS_URL": redis_url or "", "FPT_DEMO_ELIGIBILITY_URL": eligibility_url or "",
           "FPT_DEMO_REPLICA": replica}
    log = (log_dir or Path(os.environ.get("TMPDIR", "/tmp"))) / f"fpt-demo-{app}-{replica}-{port}.log"
    with log.open("wb") as fh:
        # Bound by host and port, not an inherited fd: uvicorn would take an fd for a Unix
        # socket and skip TCP_NODELAY, adding ~40 ms to split responses.
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", APPS[app], "--host", host, "--port", str(port),
             "--log-level", "warning", "--no-access-log", "--loop", "uvloop", "--http", "httptools",
             "--timeout-graceful-shutdown", "2"],
            env=env, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT)
    server = Server(base_url=f"http://{host}:{port}", port=port, process=proc, log=log, env=env)
    if wait_for_http(server.base_url + "/health", proc, ready_timeout, status=200):
        return server
    server.stop(kill=True)
    tail = log.read_text(errors="replace")[-2000:]
    why = "exited" if proc.poll() is not None else f"did not answer within {ready_timeout:g}s"
    raise RuntimeError(f"demo {app} server {why}; its log:\n{tail}")


@contextlib.contextmanager
def serve(**kwargs: object) -> Iterator[Server]:
    """A demo server for the ``with`` block; stopped even when the block fails."""
    server = start(**kwargs)  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.stop()
