"""Scan cost per response body (foreign canaries and other users' personal data), 10 to 100,000 users.

The canary scan is one regex pass plus dict lookups; the personal-data index is one
Aho-Corasick automaton over every user's unique values. Neither may grow with the
number of users. Printed: the whole scanner (canaries + personal data, as every
response gets it) per body size and pool size; then the personal-data search alone
with three engines: ``ahocorasick_rs`` (what fpt uses), ``pyahocorasick`` and a regex
union of every value (each only if installed / while it compiles in reasonable time),
and what building the index costs.
Run: ``python bench/scan.py``.
"""

from __future__ import annotations

import random
import re
import sys
import time
import timeit
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fpt.report.findings import finding_line
from fpt.run.context import RunContext
from fpt.run.detectors.canary import CanaryScanner
from fpt.run.detectors.personal import FIELDS, PersonalIndex
from fpt.run.identity import Identity, IdentityFactory, OwnerIndex, make_canary
from fpt.run.user import User

POOLS = (10, 1_000, 10_000, 100_000)
STREETS = ("Oak St", "Maple Ave", "Pine Rd", "Cedar Ln", "Elm Dr", "Birch Way")
FIRST = ("Ann", "Bo", "Cy", "Dee", "Eli", "Fay", "Gus", "Hal", "Ivy", "Jo")


def synthetic(i: int) -> Identity:
    """A cheap identity of the same shape as faker's (faker costs ~0.4 ms each: 40 s for 100k)."""
    rng = random.Random(i)
    first, last = rng.choice(FIRST), f"Lastname{rng.randrange(10**6)}"
    return Identity(index=i, name=f"{first} {last}", email=f"{first.lower()}.{last.lower()}.{i}@example.test",
                    phone=f"+1-555-{rng.randrange(1000):03d}-{rng.randrange(10000):04d}",
                    birth_date="1970-01-01",
                    address=f"{rng.randrange(1, 9999)} {rng.choice(STREETS)}, Town{rng.randrange(500)}, "
                            f"IL {rng.randrange(10000, 99999)}",
                    member_id=f"M001{i:07d}", password="x", canary=make_canary(1, i))


def body_of(size: int, me: Identity) -> bytes:
    """A JSON-ish body of ``size`` bytes holding the user's own profile (as a /me answer would)."""
    rng = random.Random(size)
    words = [f'"field{i}": "{rng.random():.12f}"' for i in range(size // 20)]
    own = ", ".join(f'"{k}": "{getattr(me, k)}"' for k in (*FIELDS, "canary"))
    words.insert(len(words) // 2, own)
    return ("{" + ", ".join(words) + "}").encode()[:size - 1] + b"}"


def best(fn: Callable[[], object], n: int) -> float:
    """Best of 3 means, in microseconds."""
    return min(timeit.timeit(fn, number=n) / n * 1e6 for _ in range(3))


def pool(users: int) -> tuple[OwnerIndex, Identity]:
    index = OwnerIndex()
    me = IdentityFactory(1).make(0)
    index.add(me)
    for i in range(1, users):
        index.add(synthetic(i))
    return index, me


def scanner_cost(index: OwnerIndex, me: Identity, size: int) -> float:
    """Microseconds the whole scanner takes on one body of ``size`` bytes (own data only)."""
    ctx = RunContext(flow="bench")
    ctx.owners = index
    user = User(me, ctx, base_url="http://t", transport=httpx.MockTransport(lambda r: httpx.Response(200)))
    scanner = CanaryScanner(index)
    request = httpx.Request("GET", "http://t/me")
    response = httpx.Response(200, content=body_of(size, me), request=request)
    scanner(user, request, response)  # builds the index once
    assert ctx.findings.total == 0, [finding_line(f) for f in ctx.findings.examples]
    return best(lambda: scanner(user, request, response), 20_000 if size < 10_000 else 1_000)


def _all(search: Callable[[str], Iterator[object]], text: str) -> list[object]:
    return list(search(text))


def values(index: OwnerIndex) -> list[str]:
    return [str(getattr(i, f)).lower() for i in index.by_index.values() for f in FIELDS]


def main() -> None:
    print("command: python bench/scan.py")
    print("whole scanner (canaries + personal data), microseconds per body")
    print(f"{'users':>8} {'2 KiB':>9} {'50 KiB':>9} {'index build':>12} {'values':>8}")
    built: dict[int, OwnerIndex] = {}
    me = IdentityFactory(1).make(0)
    for users in POOLS:
        index, me = pool(users)
        built[users] = index
        start = time.perf_counter()
        personal = PersonalIndex(index)
        personal.find(b"")
        build = time.perf_counter() - start
        small, large = scanner_cost(index, me, 2_048), scanner_cost(index, me, 51_200)
        print(f"{users:8d} {small:8.2f}us {large:8.1f}us {build * 1e3:10.1f}ms {len(personal._meta):8d}")

    print("\npersonal-data search alone, one 2 KiB body, microseconds (build time)")
    body = body_of(2_048, me).lower()
    text = body.decode()
    print(f"{'users':>8} {'ahocorasick_rs':>22} {'pyahocorasick':>22} {'regex union':>22}")
    for users in POOLS:
        vals = values(built[users])
        cells = []
        start = time.perf_counter()
        import ahocorasick_rs
        rs = ahocorasick_rs.BytesAhoCorasick([v.encode() for v in vals])
        took = time.perf_counter() - start
        cells.append(f"{best(partial(rs.find_matches_as_indexes, body, overlapping=True), 20_000):8.2f}us "
                     f"({took * 1e3:7.0f}ms)")
        try:
            import ahocorasick
        except ImportError:
            cells.append(f"{'not installed':>22}")
        else:
            start = time.perf_counter()
            automaton = ahocorasick.Automaton()
            for n, v in enumerate(vals):
                automaton.add_word(v, n)
            automaton.make_automaton()
            took = time.perf_counter() - start
            cells.append(f"{best(partial(_all, automaton.iter, text), 20_000):8.2f}us "
                         f"({took * 1e3:7.0f}ms)")
        if users <= 10_000:
            start = time.perf_counter()
            union = re.compile("|".join(map(re.escape, sorted(vals, key=len, reverse=True))))
            took = time.perf_counter() - start
            n = 2_000 if users <= 1_000 else 20
            cells.append(f"{best(partial(union.findall, text), n):8.1f}us ({took * 1e3:7.0f}ms)")
        else:
            cells.append(f"{'(not tried: too slow)':>22}")
        print(f"{users:8d} " + " ".join(f"{c:>22}" for c in cells))


if __name__ == "__main__":
    main()
