"""Before a run against a URL: is anything listening there? A refused target stops the run at once.

Without this a dead port is loaded for the whole duration and every refused connection is
counted as the flow's failure, which reads as a functional bug.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import httpx

from fpt.config.errors import TargetUnreachable, Unreachable
from fpt.config.hosts import Perimeter
from fpt.config.redact import url as redact_url
from fpt.config.settings import FptConfig

#: longest the first connection may take (the request deadline, if shorter)
CONNECT_LIMIT = 5.0


async def ensure_reachable(target: Any, cfg: FptConfig) -> None:
    """Raise :class:`TargetUnreachable` when a URL target refuses (or never answers) a TCP connection.

    An in-process app or a transport is always reachable; a host off the perimeter is left to
    the guarded transport, which refuses it without connecting.
    """
    if not isinstance(target, str):
        return
    url = httpx.URL(target)
    host = url.host
    if not host or not Perimeter.of(cfg.live_hosts).allows(host):
        return
    port = url.port or (443 if url.scheme == "https" else 80)
    shown = redact_url(target)
    limit = min(CONNECT_LIMIT, cfg.request_deadline)
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), limit)
    except TimeoutError:
        raise TargetUnreachable(shown, Unreachable.TIMED_OUT,
                                f"no TCP connection within {limit:g}s") from None
    except ConnectionRefusedError:
        raise TargetUnreachable(shown, Unreachable.REFUSED, "connection refused") from None
    except OSError as e:
        raise TargetUnreachable(shown, Unreachable.OTHER, e.strerror or type(e).__name__) from None
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
