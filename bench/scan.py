"""Foreign-canary scan cost per response body, with 10 and 100,000 users in the run.

The scan is one regex pass plus dict lookups, so its cost must not grow with the
number of users. Run: ``python bench/scan.py``.
"""

from __future__ import annotations

import random
import sys
import timeit
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fpt.run.detectors.canary import CanaryScanner
from fpt.run.identity import IdentityFactory, OwnerIndex, make_canary
from fpt.run.user import RunContext, User


def body_of(size: int, canaries: list[str]) -> bytes:
    """A JSON-ish body of ``size`` bytes holding the given canaries."""
    rng = random.Random(size)
    words = [f'"field{i}": "{rng.random():.12f}"' for i in range(size // 20)]
    for c in canaries:
        words.insert(rng.randrange(len(words)), f'"note": "{c}"')
    return ("{" + ", ".join(words) + "}").encode()[:size]


def cost_us(users: int, size: int) -> float:
    """Mean microseconds to scan one body of ``size`` bytes holding the user's own canary."""
    ctx = RunContext(flow="bench")
    index = OwnerIndex()
    me = IdentityFactory(1).make(0)
    ctx.owners = index
    user = User(me, ctx, base_url="http://t", transport=httpx.MockTransport(lambda r: httpx.Response(200)))
    for i in range(1, users):  # registering canaries only: what the scan looks up
        index.canaries[make_canary(1, i)] = f"user#{i}"
    scanner = CanaryScanner(index)
    request = httpx.Request("GET", "http://t/visits")
    response = httpx.Response(200, content=body_of(size, [me.canary]), request=request)
    n = 20_000 if size < 10_000 else 2_000
    t = timeit.timeit(lambda: scanner(user, request, response), number=n)
    assert ctx.findings.total == 0
    return t / n * 1e6


def main() -> None:
    print("command: python bench/scan.py")
    print(f"{'body':>6} {'10 users':>10} {'100k users':>11} {'ratio':>6}")
    for size in (2_048, 51_200):
        small = min(cost_us(10, size) for _ in range(3))
        large = min(cost_us(100_000, size) for _ in range(3))
        print(f"{size // 1024:4d}KB {small:8.2f}us {large:9.2f}us {large / small:6.2f}")


if __name__ == "__main__":
    main()
