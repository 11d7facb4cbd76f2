"""What the data-swap hunting detectors cost the client per request (UserClient.send's hot path).

Two users take turns sending ``--requests`` GETs over fpt's own transport to a tiny asyncio
HTTP server on 127.0.0.1 (fixed answer, keep-alive), with the detectors:

- ``off``: no replay, cache probe, cancellation or request-id pairing (``ctx.hunt`` is None);
- ``draw only``: the detectors on with shares so small none fires (the cost every request pays:
  one random draw);
- ``defaults``: replay 10%, cache probe 10%, cancel 5%, and request-id pairing on (the requests the
  detectors add run in the same event loop, so their cost is in the figure).

Prints microseconds of wall time per flow request (best of ``--repeat``).
``python bench/hunt_overhead.py --requests 5000``
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fpt.config.hosts import Perimeter
from fpt.config.settings import FptConfig
from fpt.run.context import RunContext
from fpt.run.detectors.replay import Hunter
from fpt.run.identity import IdentityFactory
from fpt.run.runner import client_kwargs
from fpt.run.user import User

BODY = b'{"ok": true}'
ANSWER = (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
          b"x-request-id: %s\r\n\r\n%s")


async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answer every request on the connection at once (echoing X-Request-ID)."""
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            rid = b"-"
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"x-request-id:"):
                    rid = line.split(b":", 1)[1].strip()
            writer.write(ANSWER % (len(BODY), rid, BODY))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    except asyncio.CancelledError:
        return  # shutting down: this bench cancels its own connection handlers at the end
    finally:
        writer.close()


async def measure(url: str, requests: int, mode: str) -> float:
    """Microseconds per flow request in ``mode``."""
    cfg = FptConfig(base_url=url)
    make = client_kwargs(url, perimeter=Perimeter.from_config(cfg))
    ctx = RunContext(flow="bench", phase="load",
                     request_id_header="X-Request-ID" if mode == "defaults" else "")
    ids = IdentityFactory(1)
    users = [User(ids.make(i), ctx, **make()) for i in range(2)]
    hunter: Hunter | None = None
    if mode == "draw only":
        hunter = Hunter(ctx, seed=1, replay_share=1e-12, cache_share=1e-12, cancel_share=1e-12)
    elif mode == "defaults":
        hunter = Hunter(ctx, seed=1, replay_share=0.1, cache_share=0.1, cancel_share=0.05)
    ctx.hunt = hunter
    for u in users:  # warm the connections
        await u.http.get("/")
    start = time.perf_counter()
    for i in range(requests):
        await users[i % 2].http.get("/")
    if hunter is not None:
        await hunter.drain(10.0)
    took = time.perf_counter() - start
    for u in users:
        await u.aclose()
    return took / requests * 1e6


async def main_async(requests: int, repeat: int) -> None:
    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    try:
        modes = ("off", "draw only", "defaults")
        took: dict[str, list[float]] = {m: [] for m in modes}
        for _ in range(repeat):  # interleaved, so a noisy neighbour hits every mode alike
            for mode in modes:
                took[mode].append(await measure(url, requests, mode))
        for mode in modes:
            print(f"{mode:<10} {min(took[mode]):8.1f} µs per flow request ({requests} requests, "
                  f"best of {repeat})")
    finally:
        server.close()
        for task in asyncio.all_tasks():
            if task is not asyncio.current_task():
                task.cancel()
        await asyncio.sleep(0)
        await server.wait_closed()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    asyncio.run(main_async(args.requests, args.repeat))
    print(f"command: python bench/hunt_overhead.py --requests {args.requests} --repeat {args.repeat}")


if __name__ == "__main__":
    main()
