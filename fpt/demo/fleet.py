"""A real local fleet of the demo: uvicorn replicas behind HAProxy, data (and sessions) in Redis.

HAProxy gets a fixed number of pre-declared server slots, all but the first
``disabled``; scaling out starts replica processes and makes their slots ready
through HAProxy's runtime API, scaling in drains their slots, puts them in
maintenance and stops the processes. Balancing is round-robin per request, so
every user's requests spread over all replicas:

- ``sessions="redis"`` (correct): sessions live in Redis with the data; users keep
  their session whichever replica answers.
- ``sessions="replica-memory"`` (the classic bug): sessions stay in the replica that
  created them; on scale-out users hop to replicas that never saw their session, and
  on scale-in the sessions of drained replicas are gone. (With sticky sessions the
  scale-out would hide it and only the scale-in would show it.)

Everything binds to 127.0.0.1 on free ports and is stopped, and its temporary
directory removed, when the ``with`` block ends, even on error.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from fpt.config.errors import ScaleError
from fpt.demo.server import Server, free_port, start, stop_process
from fpt.haproxy import HaproxyScaler
from fpt.run.scaling import check_size

BINARIES = {"haproxy": "haproxy", "redis-server": "redis-server"}
BACKEND = "booking"


def missing_binaries() -> list[str]:
    """The Debian packages whose binaries are not on PATH (or in /usr/sbin)."""
    return [pkg for pkg, exe in BINARIES.items() if _which(exe) is None]


def require_binaries() -> None:
    """In a test: skip when haproxy or redis-server is missing, or fail under ``CI=true``."""
    missing = missing_binaries()
    if missing:
        import pytest

        msg = f"the demo fleet needs {', '.join(missing)}: apt-get install {' '.join(missing)}"
        if os.environ.get("CI") == "true":
            pytest.fail(msg + " (CI=true: a missing binary fails instead of skipping)", pytrace=False)
        pytest.skip(msg)


def _which(exe: str) -> str | None:
    return shutil.which(exe) or shutil.which(exe, path="/usr/sbin:/usr/local/sbin:/sbin")


def _wait_tcp(port: int, proc: subprocess.Popen[bytes], what: str, log: Path, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    proc.kill()
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
    raise RuntimeError(f"{what} did not start on 127.0.0.1:{port}; its log:\n{tail}")


HAPROXY_CFG = """\
global
    stats socket {sock} mode 600 level admin
    maxconn 4096

defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout http-keep-alive 30s

frontend web
    bind 127.0.0.1:{port}
    default_backend {backend}

backend {backend}
    balance roundrobin
    option redispatch
    retries 2
    option httpchk GET /health
    default-server inter 200ms fall 2 rise 1
{servers}
"""


@dataclass
class DemoFleet:
    """The fleet; use as a context manager. ``scaler`` is its :class:`fpt.Scaler`."""

    sessions: str = "redis"
    slots: int = 4
    bugs: tuple[str, ...] = ()
    dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="fpt-fleet-")))
    replicas: dict[int, Server] = field(default_factory=dict)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    ports: list[int] = field(default_factory=list)
    base_url: str = ""
    redis_url: str = ""
    socket: str = ""

    def __post_init__(self) -> None:
        if self.sessions not in ("redis", "replica-memory"):
            raise ValueError(f"fleet sessions must be redis or replica-memory; got {self.sessions!r}")
        if self.slots < 1:
            raise ValueError(f"fleet needs at least one server slot; got {self.slots}")

    def __enter__(self) -> DemoFleet:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _spawn(self, args: list[str], name: str) -> tuple[subprocess.Popen[bytes], Path]:
        log = self.dir / f"{name}.log"
        with log.open("wb") as fh:
            proc = subprocess.Popen(args, stdout=fh, stderr=subprocess.STDOUT, cwd=self.dir)
        self.procs.append(proc)
        return proc, log

    def start(self) -> None:
        """Redis, the first replica, and HAProxy with every slot declared."""
        missing = missing_binaries()
        if missing:
            raise RuntimeError(f"the demo fleet needs {', '.join(missing)} "
                               f"(apt-get install {' '.join(missing)})")
        rport = free_port()
        redis, rlog = self._spawn([str(_which("redis-server")), "--port", str(rport), "--bind", "127.0.0.1",
                                   "--save", "", "--appendonly", "no", "--dir", str(self.dir)], "redis")
        _wait_tcp(rport, redis, "redis-server", rlog)
        self.redis_url = f"redis://127.0.0.1:{rport}/0"
        self.ports = [free_port() for _ in range(self.slots)]
        self._start_replica(0)
        self.socket = str(self.dir / "admin.sock")
        fport = free_port()
        servers = "\n".join(f"    server s{i + 1} 127.0.0.1:{p} check" + ("" if i == 0 else " disabled")
                            for i, p in enumerate(self.ports))
        cfg = self.dir / "haproxy.cfg"
        cfg.write_text(HAPROXY_CFG.format(sock=self.socket, port=fport, backend=BACKEND, servers=servers))
        check = subprocess.run([str(_which("haproxy")), "-c", "-f", str(cfg)], capture_output=True, text=True,
                               check=False)
        if check.returncode != 0:
            raise RuntimeError(f"haproxy rejected the fleet config: {check.stdout}{check.stderr}")
        haproxy, hlog = self._spawn([str(_which("haproxy")), "-db", "-f", str(cfg)], "haproxy")
        _wait_tcp(fport, haproxy, "haproxy", hlog)
        self.base_url = f"http://127.0.0.1:{fport}"
        self.scaler = DemoFleetScaler(self)
        deadline = time.monotonic() + 10
        while asyncio.run(self.scaler.replicas()) < 1:
            if time.monotonic() > deadline:
                raise RuntimeError("haproxy never saw the first replica healthy")
            time.sleep(0.05)

    def _start_replica(self, slot: int) -> Server:
        server = start(sessions=self.sessions, redis_url=self.redis_url, replica=f"r{slot + 1}",
                       port=self.ports[slot], bugs=self.bugs, log_dir=self.dir)
        self.replicas[slot] = server
        return server

    def kill(self, slot: int) -> None:
        """SIGKILL one replica: a crash, not a drain."""
        server = self.replicas.pop(slot, None)
        if server is not None:
            server.stop(kill=True)

    def stop(self) -> None:
        """Stop everything started, newest first; remove the temporary directory."""
        for server in self.replicas.values():
            server.stop()
        self.replicas.clear()
        for proc in reversed(self.procs):
            stop_process(proc)
        self.procs.clear()
        shutil.rmtree(self.dir, ignore_errors=True)


class DemoFleetScaler:
    """:class:`fpt.Scaler` of a :class:`DemoFleet`: starts/stops replicas, switches HAProxy slots."""

    def __init__(self, fleet: DemoFleet, *, drain_seconds: float = 1.0) -> None:
        self.fleet = fleet
        self.haproxy = HaproxyScaler(fleet.socket, BACKEND, drain_seconds=drain_seconds)

    async def scale_to(self, n: int) -> None:
        """Start replicas up to ``n`` and make them ready; drain, disable and stop the rest."""
        n = check_size(n)
        if n > self.fleet.slots:
            raise ScaleError(f"the demo fleet has {self.fleet.slots} server slots; cannot scale to {n}")
        for slot in range(n):
            if slot not in self.fleet.replicas:
                # Starting a process blocks until it answers: keep the load running meanwhile.
                await asyncio.to_thread(self.fleet._start_replica, slot)
        await self.haproxy.scale_to(n)
        for slot in [s for s in self.fleet.replicas if s >= n]:
            server = self.fleet.replicas.pop(slot)
            await asyncio.to_thread(server.stop)

    async def replicas(self) -> int:
        """Slots HAProxy has ready and UP."""
        return await self.haproxy.replicas()

