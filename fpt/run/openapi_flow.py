"""The flow derived from an OpenAPI plan: every operation called by every user, checked and probed.

One :class:`ApiFlow` per ``fpt_load.openapi`` call. Each iteration of a user:

1. **creates** its resources (each create operation once), remembers each in the user's
   ledger at the URL of the operation that reads it (so cross-user probes, read-back and
   the detectors have targets) with the user's values it holds;
2. **reads, lists, updates** through the operations bound to those resources (ids from the
   answer's id property, or the ``Location`` header), and calls the other operations;
3. **deletes** a resource made for that purpose (never one in the ledger: a deleted write
   would be reported as lost).

Values are generated once, before the run, by Schemathesis (``APIOperation.as_strategy``:
schema-valid path, query, header and body values from the document, OpenAPI 3.0 and 3.1
semantics): a small pool per operation, drawn with a fixed seed. Within the load a user
takes the next value of the pool and puts its own values in: every free-text string of a
body is the user's canary, a field named or formatted ``email`` its email, ``member_id`` its
member id. No Hypothesis search runs inside the load.

Ownership is inferred from the answers, never guessed from names: a field (a path, list
items as ``*``) is the user's when an answer to that user held exactly that user's canary,
email or member id there; from then on, every answer of that operation that has the field
is checked with ``user.expect_owner``. The foreign-canary scan, cross-user probes, replay,
cache probe, cancellation and the single-user phase apply as to any flow.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from fpt.evidence.coverage import ApiCoverage, OperationCoverage, OpKind, SkipReason
from fpt.run.detectors.ownership import MISSING, lookup
from fpt.run.openapi import FORM_TYPE, Operation, Plan, Planned, Skipped, _singular
from fpt.run.user import User

#: values generated per operation before the run (users take them in turn)
POOL = 6
OK = frozenset(range(200, 300))
#: a refusal of the user's own request: the operation needs a role the auth function does not give
REFUSED = frozenset({403})
#: identity fields whose values prove whose an answer is
OWNER_FIELDS = ("canary", "email", "member_id")
_STATE = "fpt.run.openapi"

Auth = Callable[[User], Awaitable[Any]]


@dataclass
class _Counts:
    calls: int = 0
    ok: int = 0
    checked: int = 0
    probed: int = 0
    refused: int = 0
    statuses: dict[str, int] = field(default_factory=dict)


@dataclass
class _Mine:
    """What one user holds: the resources each create made in the user's last iteration."""

    ids: dict[str, Any] = field(default_factory=dict)
    turn: int = 0
    #: operations that refused this user (403): not asked again
    refused: set[str] = field(default_factory=set)


def tighten(doc: Any) -> Any:
    """The document with object schemas that list properties closed (``additionalProperties: false``).

    Values valid under it are valid under the original; without it the generator spends its
    bodies on random extra keys nobody reads.
    """
    if isinstance(doc, list):
        return [tighten(v) for v in doc]
    if not isinstance(doc, dict):
        return doc
    out = {k: tighten(v) for k, v in doc.items()}
    if "properties" in out and out.get("type", "object") == "object" and "additionalProperties" not in out \
            and not any(k in out for k in ("allOf", "anyOf", "oneOf")):
        out["additionalProperties"] = False
    return out


def generate(doc: Mapping[str, Any], ops: list[Operation], *, seed: int,
             size: int = POOL) -> tuple[dict[str, list[Any]], dict[str, str]]:
    """A pool of Schemathesis cases per operation (by op_id), and why an operation had none."""
    try:
        import schemathesis
    except ImportError:
        from fpt.config.errors import ConfigError

        raise ConfigError("spec", "(Schemathesis not installed)", "be hunted with Schemathesis installed: "
                          "pip install 'fpt[openapi]'") from None
    schema = schemathesis.openapi.from_dict(tighten(dict(doc)))
    pools: dict[str, list[Any]] = {}
    errors: dict[str, str] = {}
    for op in ops:
        try:
            api_op = schema[op.path][op.method]
            fixed = {p.name: "0" for p in op.path_params}  # bound at run time: nothing to search for
            cases = _draw(api_op.as_strategy(path_parameters=fixed or None), seed=seed, size=size)
        except Exception as e:  # the generator cannot build this operation: skipped, with why
            errors[op.op_id] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:200]
            continue
        if cases:
            pools[op.op_id] = cases
        else:
            errors[op.op_id] = "no value generated"
    return pools, errors


def _draw(strategy: Any, *, seed: int, size: int) -> list[Any]:
    """``size`` values of ``strategy``, drawn once with a fixed seed (no shrinking, no database)."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hseed

    out: list[Any] = []

    @hseed(seed)
    @settings(max_examples=size, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck), print_blob=False)
    @given(strategy)
    def draw(value: Any) -> None:
        out.append(value)

    draw()
    return out


def personal(value: Any, schema: Any, user: User, key: str = "") -> Any:
    """A generated value with the user's own values in its free strings (see the module docstring).

    Guided by the value's schema: a string constrained to a shape (``format`` other than
    email, ``pattern``, ``enum``, ``const``, a ``maxLength`` shorter than the canary) keeps the
    generated value, so the value stays valid.
    """
    schema = schema if isinstance(schema, Mapping) else {}
    ident = user.identity
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        return {k: personal(v, props.get(k, extra if isinstance(extra, Mapping) else {}), user, k)
                for k, v in value.items()}
    if isinstance(value, list):
        items = schema.get("items")
        return [personal(v, items, user, key) for v in value]
    if isinstance(value, float) and value.is_integer() and schema.get("type") == "integer":
        return int(value)  # 5.0 is an integer to JSON Schema, not to most services
    if not isinstance(value, str) or any(k in schema for k in ("enum", "const")):
        return value
    if "pattern" in schema and not _matches(schema["pattern"], ident.canary):
        return value
    fmt = schema.get("format")
    name = key.lower()
    if fmt == "email" or (fmt is None and "email" in name):
        return ident.email
    if fmt is not None:
        return value  # a date, a uuid, a uri: the schema wants that shape
    if name in ("member_id", "memberid"):
        return ident.member_id
    canary = ident.canary
    low, high = int(schema.get("minLength", 0)), schema.get("maxLength")
    if high is not None and int(high) < len(canary):
        return value
    return canary + "x" * max(0, low - len(canary))


def _matches(pattern: Any, text: str) -> bool:
    """Whether ``text`` matches a schema's ``pattern`` (one Python cannot read matches nothing)."""
    try:
        return re.search(str(pattern), text) is not None
    except re.error:
        return False


def owned_paths(doc: Any, user: User) -> dict[str, str]:
    """Paths of ``doc`` (list items as ``*``) holding exactly one of the user's owner values."""
    values = {str(getattr(user.identity, f)).lower(): f for f in OWNER_FIELDS}
    found: dict[str, set[str]] = {}
    bad: set[str] = set()

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{path}.{k}" if path else str(k))
        elif isinstance(node, list):
            for v in node[:200]:
                walk(v, f"{path}.*" if path else "*")
        elif isinstance(node, str):
            attr = values.get(node.lower())
            if attr is None:
                bad.add(path)
            else:
                found.setdefault(path, set()).add(attr)

    walk(doc, "")
    # A list field learned only when every item held the user's value there.
    return {p: next(iter(a)) for p, a in found.items() if len(a) == 1 and p not in bad}


def _one_per_parent(learned: Mapping[str, str]) -> dict[str, str]:
    """One learned field per object (the canary's when there is one): a swapped answer is one
    finding naming one field per item, not every field that shows it."""
    rank = {"canary": 0, "member_id": 1, "email": 2}
    best: dict[str, tuple[str, str]] = {}
    for path, attr in learned.items():
        parent = path.rpartition(".")[0]
        kept = best.get(parent)
        if kept is None or rank[attr] < rank[kept[1]]:
            best[parent] = (path, attr)
    return dict(best.values())


def expand(doc: Any, pattern: str) -> list[str]:
    """Concrete paths of ``doc`` matching ``pattern`` (``*`` over list items)."""
    out = [""]
    node_paths: list[tuple[str, Any]] = [("", doc)]
    for part in pattern.split("."):
        nxt: list[tuple[str, Any]] = []
        for prefix, node in node_paths:
            if part == "*" and isinstance(node, list):
                nxt.extend((f"{prefix}.{i}" if prefix else str(i), v) for i, v in enumerate(node[:200]))
            elif isinstance(node, dict) and part in node:
                nxt.append((f"{prefix}.{part}" if prefix else part, node[part]))
        node_paths = nxt
    out = [p for p, v in node_paths if isinstance(v, str)]
    return out


class ApiFlow:
    """``flow(user)`` for every operation of a plan; keeps the coverage counts (see the module docstring)."""

    def __init__(self, plan: Plan, pools: Mapping[str, list[Any]], *, gen_errors: Mapping[str, str]) -> None:
        self.plan = plan
        self.__name__ = "openapi" + (f" {plan.title}" if plan.title else "")
        self.pools = dict(pools)
        skipped = list(plan.skipped)
        planned = []
        for p in plan.planned:
            if p.op.op_id in gen_errors:
                skipped.append(Skipped(op=p.op, kind=p.kind, reason=SkipReason.NO_SCHEMA,
                                       detail=gen_errors[p.op.op_id]))
            elif p.kind == OpKind.DELETE and not p.create:
                # A collection delete would take the ledger's writes with it (read-back: lost).
                skipped.append(Skipped(op=p.op, kind=p.kind, reason=SkipReason.EXCLUDED,
                                       detail="deletes the resources the run reads back"))
            else:
                planned.append(p)
        self.skipped = tuple(skipped)
        self.creates = [p for p in planned if p.kind == OpKind.CREATE]
        # Unbound operations first, those on the user's resources last: the user's last successful
        # GET then holds its own data (the replay's control asks it again with the user's credentials).
        middle = [p for p in planned if p.kind not in (OpKind.CREATE, OpKind.DELETE)]
        self.middle = [p for p in middle if not p.create] + [p for p in middle if p.create]
        self.deletes = [p for p in planned if p.kind == OpKind.DELETE]
        self.by_id = {p.op.op_id: p for p in planned}
        #: for each create, the GET operation that reads what it made (its ledger URL)
        self.reader = {c.op.op_id: next((p for p in planned if p.create == c.op.op_id and p.op.method == "GET"
                                         and p.kind == OpKind.READ), None) for c in self.creates}
        self.counts = {p.op.op_id: _Counts() for p in planned}
        #: every operation skipped: an iteration sends nothing by design (fpt.run.runner.iterate)
        self.nothing_to_send = not planned
        #: per operation: learned owned paths -> identity field
        self.learned: dict[str, dict[str, str]] = {p.op.op_id: {} for p in planned}
        self._gets = [(re.compile(p.op.path_regex()), p.op.op_id) for p in planned if p.op.method == "GET"]

    # -- the flow --------------------------------------------------------------------------------

    async def __call__(self, user: User) -> None:
        """One iteration for ``user``: create, read/list/update/act, delete."""
        if self.observe not in user.ctx.observers:
            user.ctx.observers.append(self.observe)
        mine: _Mine = user.state.setdefault(_STATE, _Mine())
        mine.turn += 1
        for p in self.creates:
            made = await self._create(user, p, ledger=True)
            if made is not None:
                mine.ids[p.op.op_id] = made
        for p in self.middle:
            if p.create and p.create not in mine.ids:
                continue  # its create has not succeeded for this user yet: not reached
            if p.op.op_id in mine.refused:
                continue  # refused to this user once (a role it lacks): asked again, it proves nothing
            await self._call(user, p, mine.ids.get(p.create))
        for p in self.deletes:
            create = self.by_id.get(p.create)
            if create is None:
                continue
            made = await self._create(user, create, ledger=False)
            if made is not None:
                await self._call(user, p, made)

    def _case(self, p: Planned, user: User, turn: int) -> Any:
        pool = self.pools[p.op.op_id]
        return pool[(turn + user.index) % len(pool)]

    def _request(self, user: User, p: Planned, made: Any) -> tuple[str, dict[str, Any]]:
        mine: _Mine = user.state[_STATE]
        case = self._case(p, user, mine.turn)
        op = p.op
        values: dict[str, Any] = {}
        for param in op.path_params:
            link = next((lk for lk in p.links if lk.param == param.name), None)
            if link is not None and made is not None:
                values[param.name] = made
            elif param.name in p.given:
                values[param.name] = _given(p.given[param.name], user)
            elif param.name.lower() in ("member_id", "memberid"):
                values[param.name] = user.identity.member_id
            elif "email" in param.name.lower():
                values[param.name] = user.identity.email
            else:
                values[param.name] = (case.path_parameters or {}).get(param.name, "")
        url = op.path
        for name, value in values.items():
            url = url.replace("{" + name + "}", quote(str(value), safe=""))
        kwargs: dict[str, Any] = {}
        query = {k: v for k, v in (case.query or {}).items()}
        headers = {k: str(v) for k, v in (case.headers or {}).items()
                   if k.lower() not in ("authorization", "cookie", "content-type")}
        for param in op.params:
            if param.name in p.given and param.where == "query":
                query[param.name] = _given(p.given[param.name], user)
            elif param.name in p.given and param.where == "header":
                headers[param.name] = str(_given(p.given[param.name], user))
        if query:
            schemas = {q.name: q.schema for q in op.params if q.where == "query"}
            kwargs["params"] = {k: personal(v, schemas.get(k), user, k) if k not in p.given else v
                                for k, v in query.items()}
        if headers:
            kwargs["headers"] = headers
        body = case.body
        if op.body_type is not None and not _unset(body):
            body = personal(body, op.body_schema, user)
            if op.body_type.startswith(FORM_TYPE):
                kwargs["data"] = body
            else:
                kwargs["content"] = json.dumps(body).encode()
                kwargs.setdefault("headers", {})["content-type"] = op.body_type
        return url, kwargs

    async def _send(self, user: User, p: Planned, made: Any) -> tuple[httpx.Response | None, Any]:
        """Call the operation in its step; a 2xx answer's body checked there (None, None otherwise)."""
        url, kwargs = self._request(user, p, made)
        counts = self.counts[p.op.op_id]
        counts.calls += 1
        try:
            async with user.step(p.op.op_id, expect_status=OK | REFUSED):
                r = await user.http.request(p.op.method, url, **kwargs)
                key = str(r.status_code)
                counts.statuses[key] = counts.statuses.get(key, 0) + 1
                if r.status_code in REFUSED:
                    counts.refused += 1
                    user.state[_STATE].refused.add(p.op.op_id)
                    return None, None
                if r.status_code not in OK:
                    return None, None
                counts.ok += 1
                return r, self._check(user, p, r)
        except httpx.HTTPError:
            return None, None

    def _check(self, user: User, p: Planned, r: httpx.Response) -> Any:
        """Learn and check the user's fields in a 2xx answer; the parsed body (None when not JSON)."""
        if not r.content or "json" not in r.headers.get("content-type", ""):
            return None
        try:
            doc = r.json()
        except ValueError:
            return None
        learned = self.learned[p.op.op_id]
        for path, attr in owned_paths(doc, user).items():
            learned.setdefault(path, attr)
        expected: dict[str, Any] = {}
        for pattern, attr in _one_per_parent(learned).items():
            for path in expand(doc, pattern):
                expected[path] = getattr(user.identity, attr)
        if expected:
            self.counts[p.op.op_id].checked += 1
            user.expect_owner(doc, **expected)
        return doc

    async def _create(self, user: User, p: Planned, *, ledger: bool) -> Any:
        r, doc = await self._send(user, p, None)
        if r is None:
            return None
        made = None
        if p.id_field and isinstance(doc, dict):
            made = lookup(doc, p.id_field)
            made = None if made is MISSING or made is None else made
        location = r.headers.get("location")
        if made is None and location:
            made = location
        if made is None:
            return None
        if ledger:
            url = self._read_url(p, made, location)
            if url is not None:
                owned = {k: v for k, v in (doc.items() if isinstance(doc, dict) else ())
                         if isinstance(v, str) and v.lower() in
                         {str(getattr(user.identity, f)).lower() for f in OWNER_FIELDS}}
                user.ledger.add(_singular(p.op.path.rstrip("/").rsplit("/", 1)[-1]), url, **owned)
        return made

    def _read_url(self, create: Planned, made: Any, location: str | None) -> str | None:
        reader = self.reader.get(create.op.op_id)
        if reader is not None and not (isinstance(made, str) and made == location):
            url = reader.op.path
            for link in reader.links:
                url = url.replace("{" + link.param + "}", quote(str(made), safe=""))
            return url if "{" not in url else None
        if location:
            return urlsplit(location).path or None
        return None

    async def _call(self, user: User, p: Planned, made: Any) -> None:
        if isinstance(made, str) and made.startswith(("/", "http")) and p.links \
                and p.links[0].by != "location":
            made = made.rstrip("/").rsplit("/", 1)[-1]  # a Location was all the create gave
        elif isinstance(made, str) and made.startswith(("/", "http")):
            made = made.rstrip("/").rsplit("/", 1)[-1]
        await self._send(user, p, made)

    # -- probes seen by the observer -------------------------------------------------------------

    def observe(self, user: User, request: httpx.Request, response: httpx.Response) -> None:
        """Count cross-user probes by the operation whose URL they asked for."""
        if not user.probing or request.method != "GET":
            return
        path = request.url.path
        if any(e.url == path for e in user.ledger.entries):
            return  # the prober's control: its own write
        for rx, op_id in self._gets:
            if rx.match(path):
                self.counts[op_id].probed += 1
                return

    # -- coverage --------------------------------------------------------------------------------

    def coverage(self) -> ApiCoverage:
        """Every operation of the document with its counts or its reason, in document order."""
        rows: dict[str, OperationCoverage] = {}
        for p in [*self.creates, *self.middle, *self.deletes]:
            c = self.counts[p.op.op_id]
            rows[p.op.op_id] = OperationCoverage(
                op_id=p.op.op_id, method=p.op.method, path=p.op.path, kind=p.kind, calls=c.calls, ok=c.ok,
                checked=c.checked, probed=c.probed, refused=c.refused, statuses=dict(c.statuses),
                bound_by=p.links[0].by if p.links else "")
        for s in self.skipped:
            rows[s.op.op_id] = OperationCoverage(op_id=s.op.op_id, method=s.op.method, path=s.op.path,
                                                 kind=s.kind, skipped=s.reason, detail=s.detail)
        return ApiCoverage(title=self.plan.title,
                           operations=tuple(rows[i] for i in self.plan.order if i in rows))


def _given(value: Any, user: User) -> Any:
    """A squad-given parameter value: as it is, or ``value(user)`` when callable."""
    return value(user) if callable(value) else value


def _unset(body: Any) -> bool:
    return type(body).__name__ == "NotSet"


async def fetch_document(spec: str, *, target: Any, cfg: Any, note: Callable[[str], None] | None = None
                         ) -> dict[str, Any]:
    """The document at a URL: absolute (on ``live_hosts``), or a path on the target (``/openapi.json``)."""
    from fpt.config.errors import ConfigError
    from fpt.config.hosts import Perimeter
    from fpt.run.openapi import check_document, parse_text
    from fpt.run.runner import client_kwargs

    if spec.startswith("/") and not (isinstance(target, str | httpx.AsyncBaseTransport) or callable(target)):
        raise ConfigError("spec", spec, "be an absolute URL, or a path on a target (set target= or base_url)")
    kwargs = client_kwargs(target, fast=False, perimeter=Perimeter.of(cfg.live_hosts), note=note)()
    async with httpx.AsyncClient(**kwargs) as client:
        try:
            r = await client.get(spec)
        except httpx.HTTPError as e:
            raise ConfigError("spec", spec, f"be reachable ({type(e).__name__}: {e})") from None
    if r.status_code != 200:
        raise ConfigError("spec", spec, f"answer 200 with the document (it answered {r.status_code})")
    return check_document(parse_text(r.text, spec))


async def derive(spec: Any, *, target: Any, cfg: Any, overrides: Mapping[str, Any],
                 note: Callable[[str], None] | None = None
                 ) -> tuple[ApiFlow, tuple[str, ...], tuple[str, ...]]:
    """The flow for ``spec``, and the public and shared paths the squad marked."""
    from pathlib import Path

    from fpt.run.openapi import Overrides, plan, read_document

    if isinstance(spec, str) and spec.startswith(("http://", "https://", "/")) \
            and not Path(spec).is_file():  # noqa: ASYNC240 (one stat, before the run)
        doc = await fetch_document(spec, target=target, cfg=cfg, note=note)
    else:
        doc = read_document(spec)
    the_plan = plan(doc, Overrides.of(doc, **overrides))
    pools, errors = generate(doc, [p.op for p in the_plan.planned], seed=cfg.seed)
    flow = ApiFlow(the_plan, pools, gen_errors=errors)
    return flow, the_plan.public_paths, the_plan.shared_paths
