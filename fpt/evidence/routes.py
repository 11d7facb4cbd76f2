"""Route templates: a request path with its ids folded (``/visits/4711`` -> ``/visits/{id}``).

Per-endpoint statistics group requests by method and route, as Locust's and k6's reports do;
without folding, every visit would be an endpoint of its own.
"""

from __future__ import annotations

import re

#: a path segment that names one object rather than a collection or an action
_ID = re.compile(
    r"""^(?:
        \d+                                              # 4711
      | [0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}  # a UUID
      | [0-9a-fA-F]{12,}                                 # a hex digest or object id
      | (?=[A-Za-z_-]*\d)[A-Za-z0-9_-]{16,}              # a long token with digits in it
      | fptc[0-9a-f]{8}x[0-9a-f]{12}                      # an fpt canary
      | M\d{10}                                          # a demo member id
    )$""", re.X)
_CACHE: dict[str, str] = {}
#: distinct raw paths remembered (a run with unbounded ids stays flat in memory past it)
CACHE_SIZE = 4096


def route_template(path: str) -> str:
    """``path`` with each id-like segment replaced by ``{id}``; the query is never part of it."""
    folded = _CACHE.get(path)
    if folded is not None:
        return folded
    folded = "/".join("{id}" if _ID.match(seg) else seg for seg in path.split("/"))
    if len(_CACHE) < CACHE_SIZE:
        _CACHE[path] = folded
    return folded


_KEYS: dict[str, dict[str, str]] = {}


def endpoint_key(method: str, path: str) -> str:
    """``"GET /visits/{id}"``: the method and the route template, cached (asked once per request)."""
    by_path = _KEYS.get(method)
    if by_path is None:
        by_path = _KEYS[method] = {}
    key = by_path.get(path)
    if key is None:
        key = f"{method} {route_template(path)}"
        if len(by_path) < CACHE_SIZE:
            by_path[path] = key
    return key
