"""A minimal ASGI app for benchmarks: the cheapest possible server-side work."""

from __future__ import annotations

import asyncio
from typing import Any

BODY = b'{"hello":"world"}'


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answer every HTTP request with a small JSON body (after ``?delay=<ms>`` if asked)."""
    if scope["type"] != "http":
        return
    query = scope.get("query_string", b"")
    if query.startswith(b"delay="):
        await asyncio.sleep(float(query[6:]) / 1000)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"17")]})
    await send({"type": "http.response.body", "body": BODY})
