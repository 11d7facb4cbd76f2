"""Where the demo keeps members, visits and sessions: replica memory or Redis.

Memory is fine for one replica. A fleet behind a load balancer needs Redis for
everything, or members lose their sessions when the fleet changes (that is the
``sessions="memory"`` bug the scaling suite catches).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

SESSION_TTL = 3600


class Store(Protocol):
    """Members, visits and sessions."""

    async def add_member(self, member: dict[str, Any]) -> bool:
        """Add a member; False when the email is taken."""
        ...

    async def member_by_email(self, email: str) -> dict[str, Any] | None:
        """The member with this email."""
        ...

    async def member(self, member_id: str) -> dict[str, Any] | None:
        """The member with this id."""
        ...

    async def add_visit(self, visit: dict[str, Any]) -> dict[str, Any]:
        """Store a visit, giving it the next id."""
        ...

    async def visit(self, visit_id: int) -> dict[str, Any] | None:
        """One visit by id."""
        ...

    async def save_visit(self, visit: dict[str, Any]) -> None:
        """Overwrite a visit."""
        ...

    async def visits_of(self, member_id: str) -> list[dict[str, Any]]:
        """A member's visits."""
        ...

    async def recent_visits(self, n: int) -> list[dict[str, Any]]:
        """The last ``n`` visits of anyone (for the front desk)."""
        ...

    async def session(self, token: str) -> str | None:
        """The member id a session token belongs to."""
        ...

    async def set_session(self, token: str, member_id: str) -> None:
        """Open a session."""
        ...

    async def drop_session(self, token: str) -> None:
        """Close a session."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


class MemoryStore:
    """Everything in this process's memory."""

    def __init__(self) -> None:
        self.members: dict[str, dict[str, Any]] = {}
        self.emails: dict[str, str] = {}
        self.visits: dict[int, dict[str, Any]] = {}
        self.sessions: dict[str, str] = {}
        self._ids = itertools.count(1)

    async def add_member(self, member: dict[str, Any]) -> bool:
        """Add a member unless the email is taken."""
        if member["email"] in self.emails or member["member_id"] in self.members:
            return False
        self.members[member["member_id"]] = member
        self.emails[member["email"]] = member["member_id"]
        return True

    async def member_by_email(self, email: str) -> dict[str, Any] | None:
        """Look up by email."""
        mid = self.emails.get(email)
        return self.members.get(mid) if mid else None

    async def member(self, member_id: str) -> dict[str, Any] | None:
        """Look up by id."""
        return self.members.get(member_id)

    async def add_visit(self, visit: dict[str, Any]) -> dict[str, Any]:
        """Store with the next id."""
        visit = {**visit, "id": next(self._ids)}
        self.visits[visit["id"]] = visit
        return visit

    async def visit(self, visit_id: int) -> dict[str, Any] | None:
        """One visit."""
        return self.visits.get(visit_id)

    async def save_visit(self, visit: dict[str, Any]) -> None:
        """Overwrite."""
        self.visits[visit["id"]] = visit

    async def visits_of(self, member_id: str) -> list[dict[str, Any]]:
        """A member's visits, oldest first."""
        return [v for v in self.visits.values() if v["member_id"] == member_id]

    async def recent_visits(self, n: int) -> list[dict[str, Any]]:
        """The last n visits."""
        return list(self.visits.values())[-n:]

    async def session(self, token: str) -> str | None:
        """Member of a session."""
        return self.sessions.get(token)

    async def set_session(self, token: str, member_id: str) -> None:
        """Open a session."""
        self.sessions[token] = member_id

    async def drop_session(self, token: str) -> None:
        """Close a session."""
        self.sessions.pop(token, None)

    async def close(self) -> None:
        """Nothing to release."""


class RedisStore:
    """Members, visits and (optionally) sessions in Redis, shared by every replica."""

    def __init__(self, url: str, *, sessions_in_memory: bool = False, prefix: str = "fpt-demo") -> None:
        import redis.asyncio as redis

        self.r = redis.from_url(url, decode_responses=True)
        self.p = prefix
        # The classic bug: data in Redis, but sessions kept in the replica's memory.
        self._local_sessions: dict[str, str] | None = {} if sessions_in_memory else None

    async def add_member(self, member: dict[str, Any]) -> bool:
        """Add a member unless the email is taken (atomic on the email key)."""
        if not await self.r.set(f"{self.p}:email:{member['email']}", member["member_id"], nx=True):
            return False
        await self.r.set(f"{self.p}:member:{member['member_id']}", json.dumps(member))
        return True

    async def member_by_email(self, email: str) -> dict[str, Any] | None:
        """Look up by email."""
        mid = await self.r.get(f"{self.p}:email:{email}")
        return await self.member(str(mid)) if mid else None

    async def member(self, member_id: str) -> dict[str, Any] | None:
        """Look up by id."""
        raw = await self.r.get(f"{self.p}:member:{member_id}")
        return json.loads(raw) if raw else None

    async def add_visit(self, visit: dict[str, Any]) -> dict[str, Any]:
        """Store with the next id (INCR)."""
        vid = int(await self.r.incr(f"{self.p}:visit-id"))
        visit = {**visit, "id": vid}
        await self.save_visit(visit)
        await self.r.rpush(f"{self.p}:visits-of:{visit['member_id']}", vid)
        await self.r.rpush(f"{self.p}:recent", vid)
        await self.r.ltrim(f"{self.p}:recent", -200, -1)
        return visit

    async def visit(self, visit_id: int) -> dict[str, Any] | None:
        """One visit."""
        raw = await self.r.get(f"{self.p}:visit:{visit_id}")
        return json.loads(raw) if raw else None

    async def save_visit(self, visit: dict[str, Any]) -> None:
        """Overwrite."""
        await self.r.set(f"{self.p}:visit:{visit['id']}", json.dumps(visit))

    async def _many(self, ids: list[Any]) -> list[dict[str, Any]]:
        if not ids:
            return []
        raws = await self.r.mget([f"{self.p}:visit:{i}" for i in ids])
        return [json.loads(x) for x in raws if x]

    async def visits_of(self, member_id: str) -> list[dict[str, Any]]:
        """A member's visits, oldest first."""
        return await self._many(await self.r.lrange(f"{self.p}:visits-of:{member_id}", 0, -1))

    async def recent_visits(self, n: int) -> list[dict[str, Any]]:
        """The last n visits."""
        return await self._many(await self.r.lrange(f"{self.p}:recent", -n, -1))

    async def session(self, token: str) -> str | None:
        """Member of a session."""
        if self._local_sessions is not None:
            return self._local_sessions.get(token)
        value = await self.r.get(f"{self.p}:session:{token}")
        return str(value) if value is not None else None

    async def set_session(self, token: str, member_id: str) -> None:
        """Open a session."""
        if self._local_sessions is not None:
            self._local_sessions[token] = member_id
            return
        await self.r.set(f"{self.p}:session:{token}", member_id, ex=SESSION_TTL)

    async def drop_session(self, token: str) -> None:
        """Close a session."""
        if self._local_sessions is not None:
            self._local_sessions.pop(token, None)
            return
        await self.r.delete(f"{self.p}:session:{token}")

    async def close(self) -> None:
        """Close the Redis connections."""
        await self.r.aclose()


class Pipe:
    """One backend connection shared by every request: commands go out in order, replies come back in order.

    A reply is read after the command went out; a request cancelled in between (its
    client gave up) leaves its reply on the wire. The correct connection is dropped
    and reopened then (``reset_on_cancel``, what redis-py does since its 2023 fix);
    the buggy one keeps going, one reply behind, and hands each request the reply
    of the one before it: the previous member's data.
    """

    def __init__(self, *, reset_on_cancel: bool = True, latency: float = 0.003) -> None:
        self.reset_on_cancel = reset_on_cancel
        self.latency = latency
        self._wire: deque[list[Any]] = deque()

    async def call(self, tag: str | None, command: Callable[[], Awaitable[Any]]) -> tuple[str | None, Any]:
        """Send ``command`` tagged ``tag`` and read a reply: ``(tag of the reply, value)``.

        Pipelined: commands of concurrent requests are on the wire together and their
        replies come back in the order the commands went out.
        """
        reply = [tag, await command()]
        self._wire.append(reply)  # the command went out; its reply is on the wire
        try:
            await asyncio.sleep(self.latency)  # reading the reply
        except asyncio.CancelledError:
            if self.reset_on_cancel:
                # The fix: a cancelled read takes its own reply off the wire. Its own: by identity,
                # as an equal reply of the same member's concurrent request is another request's.
                for i, waiting in enumerate(self._wire):
                    if waiting is reply:
                        del self._wire[i]
                        break
            raise
        got = self._wire.popleft()
        return got[0], got[1]
