"""HAProxy runtime API scaler: enable, drain and disable the servers of a backend.

Talks to HAProxy's admin socket (``stats socket ... level admin``), given as a
Unix socket path or ``host:port``. ``scale_to(n)`` makes the first *n* servers of
the backend ready and drains then disables the rest; ``replicas()`` counts the
servers that are ready and whose health check says UP.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from fpt.config.errors import ScaleError
from fpt.run.scaling import check_size

OP_RUNNING = 2
ADMIN_READY = 0
CONFIG_MAINT = 0x04
"""Admin-state bit kept for a server declared ``disabled`` in the config, even once it is made ready."""


@dataclass(frozen=True)
class ServerState:
    """One line of ``show servers state``."""

    name: str
    address: str
    op_state: int
    admin_state: int

    @property
    def serving(self) -> bool:
        """Ready (not in maintenance or drain) and UP."""
        return self.op_state == OP_RUNNING and self.ready

    @property
    def ready(self) -> bool:
        """No maintenance or drain flag set, other than the informational config one."""
        return self.admin_state & ~CONFIG_MAINT == ADMIN_READY


class HaproxyScaler:
    """Scale by switching the servers of one backend through the runtime API."""

    def __init__(self, socket: str, backend: str, *, drain_seconds: float = 1.0,
                 timeout: float = 5.0) -> None:
        self.socket = socket
        self.backend = backend
        self.drain_seconds = drain_seconds
        self.timeout = timeout

    async def command(self, line: str) -> str:
        """Send one runtime API command and return HAProxy's answer."""
        try:
            if ":" in self.socket and not self.socket.startswith("/"):
                host, port = self.socket.rsplit(":", 1)
                conn = asyncio.open_connection(host, int(port))
            else:
                conn = asyncio.open_unix_connection(self.socket)
            reader, writer = await asyncio.wait_for(conn, self.timeout)
        except (OSError, TimeoutError) as e:
            raise ScaleError(f"cannot reach the HAProxy admin socket {self.socket}: {e}") from None
        try:
            writer.write(line.encode() + b"\n")
            await writer.drain()
            data = await asyncio.wait_for(reader.read(), self.timeout)
        except TimeoutError:
            raise ScaleError(f"HAProxy did not answer {line!r} within {self.timeout:g}s") from None
        finally:
            writer.close()
        return data.decode(errors="replace")

    async def servers(self) -> list[ServerState]:
        """The backend's servers, in configuration order."""
        out = await self.command(f"show servers state {self.backend}")
        if "such backend" in out.lower() or "can't find backend" in out.lower():
            raise ScaleError(f"HAProxy has no backend named {self.backend!r}")
        states = []
        for line in out.splitlines():
            parts = line.split()
            if len(parts) < 7 or line.startswith("#") or not parts[0].isdigit():
                continue
            # be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state ...
            states.append(ServerState(name=parts[3], address=parts[4], op_state=int(parts[5]),
                                      admin_state=int(parts[6])))
        if not states:
            raise ScaleError(f"HAProxy backend {self.backend!r} has no servers "
                             f"(answer: {out.strip()[:120]!r})")
        return states

    async def set_state(self, server: str, state: str) -> None:
        """``ready``, ``drain`` or ``maint`` for one server."""
        out = (await self.command(f"set server {self.backend}/{server} state {state}")).strip()
        if out:
            raise ScaleError(f"HAProxy refused to set {self.backend}/{server} to {state}: {out[:200]}")

    async def scale_to(self, n: int) -> None:
        """Make the first ``n`` servers ready; drain, then disable, the others."""
        n = check_size(n)
        servers = await self.servers()
        if n > len(servers):
            raise ScaleError(f"backend {self.backend!r} has {len(servers)} servers; cannot scale to {n}")
        for s in servers[:n]:
            if not s.ready:
                await self.set_state(s.name, "ready")
        leaving = [s for s in servers[n:] if s.ready]
        for s in leaving:
            await self.set_state(s.name, "drain")
        if leaving:
            await asyncio.sleep(self.drain_seconds)
            for s in leaving:
                await self.set_state(s.name, "maint")

    async def replicas(self) -> int:
        """Servers that are ready and UP."""
        return sum(1 for s in await self.servers() if s.serving)
