"""``fpt har2flow recording.har > flows.py``: a browser (or any client's) recording turned into a flow.

The output is a starting point a squad edits, written the way the README's flows are:

- requests of the service's origin only (static assets and third-party hosts left out, counted
  in the header comment), **grouped into steps**: a new step at each page of the recording
  (``pageref``), after a pause of a second or more, or when the first path segment changes;
- the recorded user's **credentials and personal values replaced** by the user's own
  (``user.identity.email``, ``.password``, ...); cookies and ``Authorization`` headers left to
  the user's client (a header whose token came from an earlier answer is correlated);
- requests that carry the password go in ``sign_in(user)``, run once per user;
- **ids correlated**: a value of an earlier JSON answer (``id``, ``*_id``, tokens) or a
  ``Location`` header that reappears in a later URL, query or body becomes a variable;
- free-text strings of the bodies the user writes get the user's canary, a create whose id a
  later request reads is put in the **ledger** (so other users probe it), and
  ``user.expect_owner`` is **suggested** wherever an answer echoes the recorded user's values.

Har2locust and har-to-k6 do the grouping and correlation; the ownership checks, the ledger and
the canary are what fpt needs to hunt data swaps on the recorded journey.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

#: JSON body keys whose recorded values are the user's identity (key -> identity attribute)
IDENTITY_KEYS = {"email": "email", "username": "email", "login": "email", "password": "password",
                 "name": "name", "full_name": "name", "phone": "phone", "birth_date": "birth_date",
                 "address": "address", "member_id": "member_id", "canary": "canary"}
#: identity values an answer's echo proves ownership with (what ``expect_owner`` is suggested on)
OWNER_ATTRS = ("email", "member_id", "canary")
STATIC = re.compile(r"\.(css|js|mjs|map|png|jpe?g|gif|svg|ico|woff2?|ttf|eot|webp)$", re.I)
STATIC_MIME = ("text/css", "text/javascript", "application/javascript", "image/", "font/")
_ID_KEY = re.compile(r"(^|_)(id|uuid|key|token|ref)$|Id$", re.I)
_PLAIN = re.compile(r"[\d\-:.TZ+/ ]*|[0-9a-f]{8}-[0-9a-f-]{27}", re.I)
_NAME = re.compile(r"[^a-z0-9_]+")
PAUSE_S = 1.0


class HarError(ValueError):
    """A file that is not a HAR recording fpt can read."""


@dataclass
class Entry:
    """One recorded request and its answer."""

    method: str
    url: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: Any                 # parsed JSON, or the raw text, or None
    json_body: bool
    status: int
    answer: Any               # parsed JSON answer, or None
    location: str
    pageref: str
    started: float
    origin: str


def read_har(text: str) -> list[Entry]:
    """The entries of a HAR document, in order."""
    try:
        doc = json.loads(text)
        raw = doc["log"]["entries"]
    except (ValueError, KeyError, TypeError) as err:
        raise HarError(f"not a HAR recording (a JSON object with log.entries): {err}") from None
    out = []
    for n, e in enumerate(raw):
        try:
            req, resp = e["request"], e["response"]
            parts = urlsplit(req["url"])
            post = req.get("postData") or {}
            mime = str(post.get("mimeType", ""))
            text_body = post.get("text")
            body: Any = text_body
            is_json = False
            if text_body and "json" in mime:
                try:
                    body, is_json = json.loads(text_body), True
                except ValueError:
                    pass
            content = resp.get("content") or {}
            answer = None
            if "json" in str(content.get("mimeType", "")) and content.get("text"):
                try:
                    answer = json.loads(content["text"])
                except ValueError:
                    answer = None
            headers = {h["name"].lower(): h["value"] for h in req.get("headers", [])}
            resp_headers = {h["name"].lower(): h["value"] for h in resp.get("headers", [])}
            started = e.get("startedDateTime", "")
            try:
                when = datetime.fromisoformat(started.replace("Z", "+00:00")).timestamp()
            except ValueError:
                when = float(n)
            out.append(Entry(method=req["method"].upper(), url=req["url"], path=parts.path or "/",
                             query=parse_qsl(parts.query, keep_blank_values=True), headers=headers,
                             body=body, json_body=is_json, status=int(resp.get("status", 0)), answer=answer,
                             location=resp_headers.get("location", ""), pageref=str(e.get("pageref", "")),
                             started=when, origin=f"{parts.scheme}://{parts.netloc}"))
        except (KeyError, TypeError, AttributeError) as err:
            raise HarError(f"entry {n} is not a request and its response: {err}") from None
    return out


def _static(e: Entry, mime: str = "") -> bool:
    return bool(STATIC.search(e.path)) or mime.startswith(STATIC_MIME)


def _leaves(doc: Any, path: tuple[Any, ...] = ()) -> Iterable[tuple[tuple[Any, ...], Any]]:
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _leaves(v, (*path, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc[:50]):
            yield from _leaves(v, (*path, i))
    else:
        yield path, doc


def _ident(text: str) -> str:
    name = _NAME.sub("_", text.lower()).strip("_") or "value"
    return name if not name[0].isdigit() else f"v_{name}"


def _singular(word: str) -> str:
    if word.endswith("ies"):
        return word[:-3] + "y"
    return word[:-1] if word.endswith("s") and not word.endswith("ss") else word


@dataclass
class _Var:
    name: str
    source: str          # python expression reading it from ``r`` at the producing request
    in_auth: bool
    used: bool = False

    @property
    def ref(self) -> str:
        return f'user.state["{self.name}"]' if self.in_auth else self.name


@dataclass
class _Writer:
    identity: dict[str, str]                 # recorded value -> identity attribute
    known: dict[str, _Var] = field(default_factory=dict)  # recorded value -> variable
    names: Counter[str] = field(default_factory=Counter)

    def value(self, v: Any, *, canary: bool = False) -> str:
        """The Python expression for a recorded JSON value in a request."""
        if isinstance(v, dict):
            items = (f"{json.dumps(k)}: {self.value(x, canary=canary)}" for k, x in v.items())
            return "{" + ", ".join(items) + "}"
        if isinstance(v, list):
            return "[" + ", ".join(self.value(x, canary=canary) for x in v) + "]"
        key = str(v) if isinstance(v, str | int) and not isinstance(v, bool) else None
        if key is not None and key in self.known:
            var = self.known[key]
            var.used = True
            return var.ref
        if isinstance(v, str) and v in self.identity:
            return f"user.identity.{self.identity[v]}"
        if isinstance(v, str) and canary and v.strip() and not _PLAIN.fullmatch(v):
            return "f" + json.dumps(f"{v} {{user.identity.canary}}")
        return json.dumps(v) if not isinstance(v, float | int) or isinstance(v, bool) else repr(v)

    def text(self, s: str) -> str:
        """An f-string (or plain string) for a recorded URL or header value, correlated values swapped in."""
        parts: list[tuple[bool, str]] = [(False, s)]
        for value in sorted(self.known, key=len, reverse=True):
            if len(value) < 1:
                continue
            var = self.known[value]
            nxt: list[tuple[bool, str]] = []
            for is_expr, chunk in parts:
                if is_expr:
                    nxt.append((is_expr, chunk))
                    continue
                pattern = re.compile(r"(?<![\w-])" + re.escape(value) + r"(?![\w-])")
                pos = 0
                for m in pattern.finditer(chunk):
                    nxt.append((False, chunk[pos:m.start()]))
                    nxt.append((True, var.ref))
                    var.used = True
                    pos = m.end()
                nxt.append((False, chunk[pos:]))
            parts = nxt
        if not any(e for e, _ in parts):
            return json.dumps(s)
        out = "".join("{" + c + "}" if e else c.replace("{", "{{").replace("}", "}}") for e, c in parts)
        return "f" + json.dumps(out).replace("\\\"", "'")

    def learn(self, e: Entry, resource: str, in_auth: bool) -> list[_Var]:
        """Values of ``e``'s answer later requests may reuse (ids, tokens, the Location)."""
        made = []
        loc = urlsplit(e.location).path or e.location
        if e.location and loc not in self.known:
            made.append(self._add(loc, f"{_singular(resource)}_url", 'r.headers["location"]', in_auth))
        if e.answer is None:
            return made
        for path, v in _leaves(e.answer):
            if not path or isinstance(v, bool) or v is None:
                continue
            last = str(path[-1])
            token_like = isinstance(v, str) and len(v) >= 16 and not _PLAIN.fullmatch(v)
            if not (isinstance(v, int | str) and (_ID_KEY.search(last) or token_like)):
                continue
            if isinstance(v, str) and v in self.identity:
                continue
            expr = "r.json()" + "".join(f"[{json.dumps(p) if isinstance(p, str) else p}]" for p in path)
            base = last if last.lower() not in ("id", "uuid") else f"{_singular(resource)}_{last.lower()}"
            if str(v) not in self.known:  # the first answer that gave a value is where it comes from
                made.append(self._add(str(v), base, expr, in_auth))
        return made

    def _add(self, value: str, base: str, expr: str, in_auth: bool) -> _Var:
        name = _ident(base)
        self.names[name] += 1
        if self.names[name] > 1:
            name = f"{name}_{self.names[name]}"
        var = _Var(name=name, source=expr, in_auth=in_auth)
        self.known[value] = var
        return var


def _identity_values(entries: list[Entry]) -> dict[str, str]:
    found: dict[str, str] = {}
    for e in entries:
        if e.json_body and isinstance(e.body, dict):
            for k, v in e.body.items():
                attr = IDENTITY_KEYS.get(str(k).lower())
                if attr and isinstance(v, str) and v:
                    found.setdefault(v, attr)
    return found


def _owner_lines(e: Entry, identity: Mapping[str, str]) -> list[str]:
    """``expect_owner`` suggestions for an answer echoing the recorded user's values."""
    if e.answer is None:
        return []
    direct: list[str] = []
    lists: dict[str, set[str]] = {}
    for path, v in _leaves(e.answer):
        if not isinstance(v, str) or identity.get(v) not in OWNER_ATTRS:
            continue
        attr = identity[v]
        ints = [i for i, p in enumerate(path) if isinstance(p, int)]
        if ints:
            if len(ints) == 1 and ints[0] == 1 and isinstance(path[0], str) and len(path) == 3:
                lists.setdefault(path[0], set()).add(f"{path[2]}=user.identity.{attr}")
            continue
        dotted = ".".join(map(str, path))
        if path[-1] == attr:
            direct.append(json.dumps(dotted))
        elif all(isinstance(p, str) and p.isidentifier() for p in path):
            direct.append(f"{'__'.join(map(str, path))}=user.identity.{attr}")
    out = []
    if direct:
        shown = ", ".join(dict.fromkeys(direct))
        out.append(f"user.expect_owner(r, {shown})  # the answer echoes the user's values")
    for key, fields in lists.items():
        out.append(f"for item in r.json().get({json.dumps(key)}, []):  # each item must be the user's")
        out.append(f"    user.expect_owner(item, {', '.join(sorted(fields))})")
    return out


def _steps(entries: list[Entry]) -> list[list[Entry]]:
    groups: list[list[Entry]] = []
    for e in entries:
        seg = e.path.strip("/").split("/", 1)[0]
        if groups:
            prev = groups[-1][-1]
            same = (e.pageref == prev.pageref and e.started - prev.started < PAUSE_S
                    and seg == prev.path.strip("/").split("/", 1)[0])
            if same:
                groups[-1].append(e)
                continue
        groups.append([e])
    return groups


def har2flow(text: str, *, name: str = "recorded_flow", source: str = "recording.har") -> str:
    """The Python source of a flow (and its ``sign_in``) for the HAR document ``text``."""
    entries = read_har(text)
    if not entries:
        raise HarError("the recording has no entries")
    kept = [e for e in entries if not _static(e)]
    origin = Counter(e.origin for e in kept).most_common(1)[0][0] if kept else ""
    left_out = len(entries) - len([e for e in kept if e.origin == origin])
    kept = [e for e in kept if e.origin == origin]
    identity = _identity_values(kept)
    password = {v for v, a in identity.items() if a == "password"}
    auth = [e for e in kept if e.json_body and any(v in password for _, v in _leaves(e.body))]
    last_auth = kept.index(auth[-1]) if auth else -1
    auth_part, flow_part = kept[:last_auth + 1], kept[last_auth + 1:]
    w = _Writer(identity=identity)
    # Two passes: the first learns which answers' values later requests use, the second writes.
    for in_auth, part in ((True, auth_part), (False, flow_part)):
        for e in part:
            w.text(e.path + ("?" + "&".join(f"{k}={v}" for k, v in e.query) if e.query else ""))
            for h in ("authorization",):
                if h in e.headers:
                    w.text(e.headers[h])
            if e.json_body:
                w.value(e.body)
            w.learn(e, e.path.strip("/").split("/", 1)[0], in_auth)
    used = {v for v, var in w.known.items() if var.used}
    w = _Writer(identity=identity)
    where = origin or "the service"
    out = [f'"""Flow recorded from {source} by `fpt har2flow`: {len(kept)} requests of {where}',
           f"({left_out} static or third-party requests left out). Edit it: names, checks, what to keep.",
           "",
           "Run it with fpt_load(" + name + ", ...): sign_in runs once per user (or pass setup=sign_in).",
           '"""', "", "from __future__ import annotations", "", "import fpt", ""]
    body_auth = _write(auth_part, w, used, identity, in_auth=True)
    body_flow = _write(flow_part, w, used, identity, in_auth=False)
    out += ["", "async def sign_in(user: fpt.User) -> None:",
            '    """The recorded sign-in, once per user: the session stays on user.http."""',
            '    if user.state.get("signed_in"):', "        return"]
    out += body_auth or ["    pass"]
    out += ['    user.state["signed_in"] = True', "", "",
            f"async def {_ident(name)}(user: fpt.User) -> None:",
            '    """The recorded journey, replayed as this user."""', "    await sign_in(user)"]
    out += body_flow or ["    pass"]
    return "\n".join(out) + "\n"


def _later_reads(entries: list[Entry]) -> dict[int, str]:
    """Index of a create -> the path of a later GET whose URL holds the id it answered."""
    out: dict[int, str] = {}
    for i, e in enumerate(entries):
        if e.method != "POST" or e.answer is None or not isinstance(e.answer, dict):
            continue
        ids = {str(v) for k, v in e.answer.items()
               if _ID_KEY.search(str(k)) and isinstance(v, int | str) and not isinstance(v, bool)}
        for later in entries[i + 1:]:
            if later.method == "GET" and ids & set(later.path.split("/")):
                out[i] = later.path
                break
    return out


def _write(part: list[Entry], w: _Writer, used: set[str], identity: Mapping[str, str], *,
           in_auth: bool) -> list[str]:
    reads = _later_reads(part)
    lines: list[str] = []
    names: Counter[str] = Counter()
    auth_last = len(part) - 1
    for group in _steps(part):
        first = group[0]
        step = _ident(first.path.strip("/").split("/", 1)[0] or "home")
        names[step] += 1
        if names[step] > 1:
            step = f"{step}_{names[step]}"
        expect = ""
        if in_auth and group[-1] is not part[auth_last] and 200 <= first.status < 300:
            expect = f", expect_status={{{first.status}, 409}}"  # 409: signed up by an earlier session
        lines.append(f'    async with user.step("{step}"{expect}):')
        for e in group:
            url = w.text(e.path + ("?" + "&".join(f"{k}={v}" for k, v in e.query) if e.query else ""))
            args = [url]
            if e.body is not None and e.json_body:
                args.append(f"json={w.value(e.body, canary=not in_auth and e.method != 'GET')}")
            elif e.body:
                args.append(f"content={json.dumps(e.body)}")
            auth_header = e.headers.get("authorization")
            if auth_header:
                header = w.text(auth_header)
                if header.startswith("f"):
                    args.append(f'headers={{"authorization": {header}}}')
                else:
                    lines.append("        # the recorded Authorization header is left out: the user's client "
                                 "keeps its own credentials")
            lines.append(f"        r = await user.http.{e.method.lower()}({', '.join(args)})")
            if e.status >= 400:
                lines.append(f"        # recorded answer: {e.status}")
            resource = e.path.strip("/").split("/", 1)[0]
            for var in w.learn(e, resource, in_auth):
                value = next(v for v, x in w.known.items() if x is var)
                if value in used:
                    target = f'user.state["{var.name}"]' if in_auth else var.name
                    lines.append(f"        {target} = {var.source}")
            if not in_auth:
                lines += ["        " + x for x in _owner_lines(e, identity)]
            idx = next((i for i, x in enumerate(part) if x is e), -1)
            if e.method == "POST" and idx in reads:
                read = w.text(reads[idx])
                owned = sorted({f"{k}=user.identity.{identity[v]}" for k, v in (e.answer or {}).items()
                                if isinstance(v, str) and identity.get(v) in OWNER_ATTRS})
                kind = _singular(resource)
                lines.append(f"        user.ledger.add({json.dumps(kind)}, {read}"
                             + "".join(f", {o}" for o in owned) + ")  # other users will try to read it")
    return lines

