"""An OpenAPI document turned into a plan of flows: operations, how their ids link, what is skipped.

``fpt_load.openapi(spec, auth=...)`` reads the document here (OpenAPI 3.0 or 3.1, JSON or
YAML; Swagger 2 is refused with a message), resolves its local ``$ref``s, and derives a
:class:`Plan`:

- **creates**: POST operations on a collection whose 2xx answer carries an id (a property
  named ``id`` or ``<resource>_id``), or that declare a ``Location`` header or an OpenAPI link;
- **item operations** (read, update, delete): operations whose path parameters take the id of
  a resource a create made: from the document's OpenAPI links where declared, else inferred
  (the create's collection path is the item path's prefix and the parameter is the created
  schema's ``id``, ``<resource>_id`` or ``<resource>Id``; at run time a ``Location`` header
  fills it when it names the item path), as Schemathesis' stateful testing infers links;
- **lists** and other reads (GET without an id to bind), and **actions** (any other call);
- **skipped** operations, each with a typed reason (excluded by the squad, the auth
  function's own sign-in routes, a required parameter fpt cannot build, a file upload, a
  body media type fpt does not generate).

Squad overrides without code, as keywords or as an ``x-fpt`` extension (the keyword wins):
``exclude`` (operationId, path, ``"METHOD /path"`` or tag), ``params`` (values by parameter
name), ``public`` and ``shared`` (operations whose answers any user may read / may carry
another user's data; they become ``public_paths`` / ``shared_paths``). At the document's
root ``x-fpt: {exclude: [...], params: {...}, public: [...], shared: [...]}``; on an
operation ``x-fpt: {exclude: true, public: true, shared: true, params: {...}}``.

Nothing here sends a request or imports httpx: the run side is ``fpt.run.openapi_flow``.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fpt.config.errors import ConfigError
from fpt.evidence.coverage import OpKind, SkipReason

METHODS = ("get", "put", "post", "delete", "patch")
#: paths of the sign-in machinery: the auth function's business, never called by the derived flow
AUTH_PATH = re.compile(r"(^|/)(log-?in|log-?out|sign-?in|sign-?out|sign-?up|register|token|oauth2?|auth|"
                       r"password)(/|$)", re.I)
#: request headers that carry credentials: the auth function sets them, never a generated value
CREDENTIAL_HEADERS = frozenset({"authorization", "cookie", "x-api-key", "api-key", "x-auth-token"})
JSON_TYPES = ("application/json",)
FORM_TYPE = "application/x-www-form-urlencoded"
FILE_TYPES = ("multipart/form-data", "application/octet-stream")
_PARAM = re.compile(r"\{([^}/]+)\}")


# -- reading the document --------------------------------------------------------------------------

def read_document(spec: Any) -> dict[str, Any]:
    """A document given as a dict, or the path of a JSON or YAML file (a URL is fetched by the caller)."""
    if isinstance(spec, Mapping):
        return check_document(copy.deepcopy(dict(spec)))
    if isinstance(spec, str | Path):
        path = Path(spec)
        if not path.is_file():
            raise ConfigError("spec", str(spec), "be an OpenAPI document: a dict, an existing JSON or YAML "
                              "file, or a URL (absolute on live_hosts, or a path like '/openapi.json' on "
                              "the target)")
        return check_document(parse_text(path.read_text(encoding="utf-8"), str(path)))
    raise ConfigError("spec", type(spec).__name__, "be a dict, a file path or a URL")


def parse_text(text: str, where: str) -> dict[str, Any]:
    """JSON, else YAML (PyYAML, when installed) of a document's text."""
    try:
        doc = json.loads(text)
    except ValueError:
        try:
            import yaml  # type: ignore[import-untyped]
        except ImportError:
            raise ConfigError("spec", where, "be JSON, or YAML with PyYAML installed "
                              "(pip install pyyaml)") from None
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise ConfigError("spec", where, f"be valid JSON or YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(doc, dict):
        raise ConfigError("spec", where, "hold an OpenAPI document (a JSON/YAML object)")
    return doc


def check_document(doc: dict[str, Any]) -> dict[str, Any]:
    """The document when it is OpenAPI 3.0 or 3.1 with ``paths``; a clear error otherwise."""
    version = str(doc.get("openapi", ""))
    if "swagger" in doc:
        raise ConfigError("spec", f"swagger {doc['swagger']}", "be OpenAPI 3.0 or 3.1 (convert a Swagger 2 "
                          "document first, e.g. with swagger2openapi)")
    if not version.startswith(("3.0", "3.1")):
        raise ConfigError("spec", version or "(no 'openapi' field)", "be an OpenAPI 3.0 or 3.1 document")
    if not isinstance(doc.get("paths"), dict):
        raise ConfigError("spec", "(no 'paths' object)", "have a 'paths' object listing the operations")
    return doc


class Refs:
    """Local ``$ref`` resolution (``#/components/...``), cycles cut at a fixed depth."""

    MAX_DEPTH = 12

    def __init__(self, doc: Mapping[str, Any]) -> None:
        self.doc = doc

    def target(self, ref: str) -> Any:
        """The object a local reference points at."""
        if not ref.startswith("#/"):
            raise ConfigError("spec", ref, "use local references only ('#/components/...')")
        node: Any = self.doc
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, Mapping) or part not in node:
                raise ConfigError("spec", ref, "point at something in the document")
            node = node[part]
        return node

    def deref(self, node: Any) -> Any:
        """``node`` with its own ``$ref`` followed (not its children's)."""
        seen = 0
        while isinstance(node, Mapping) and "$ref" in node and seen < self.MAX_DEPTH:
            node = self.target(node["$ref"])
            seen += 1
        return node

    def inline(self, node: Any, depth: int = 0) -> Any:
        """``node`` with every reference replaced by what it points at (a cycle ends as ``{}``)."""
        if depth > self.MAX_DEPTH:
            return {}
        if isinstance(node, Mapping):
            if "$ref" in node:
                return self.inline(self.target(node["$ref"]), depth + 1)
            return {k: self.inline(v, depth + 1) for k, v in node.items()}
        if isinstance(node, list):
            return [self.inline(v, depth + 1) for v in node]
        return node


def json_schema(schema: Any, *, request: bool, version: str = "3.1") -> Any:
    """An OpenAPI schema object as plain JSON Schema for a generator.

    3.0's ``nullable`` becomes a ``null`` type, boolean ``exclusiveMinimum``/``Maximum`` the
    numeric form; ``readOnly`` properties leave request bodies and ``writeOnly`` ones answers;
    annotations a generator does not need (``example``, ``discriminator``, ``xml``) go.
    """
    if isinstance(schema, list):
        return [json_schema(s, request=request, version=version) for s in schema]
    if not isinstance(schema, Mapping):
        return schema
    out: dict[str, Any] = {}
    for k, v in schema.items():
        if k in ("example", "examples", "discriminator", "xml", "externalDocs", "deprecated", "nullable",
                 "readOnly", "writeOnly") or k.startswith("x-"):
            continue
        if k == "properties" and isinstance(v, Mapping):
            drop = "readOnly" if request else "writeOnly"
            out[k] = {name: json_schema(p, request=request, version=version) for name, p in v.items()
                      if not (isinstance(p, Mapping) and p.get(drop))}
        elif k in ("items", "additionalProperties", "not", "allOf", "anyOf", "oneOf", "prefixItems",
                   "contains", "propertyNames"):
            out[k] = json_schema(v, request=request, version=version)
        elif k in ("exclusiveMinimum", "exclusiveMaximum") and isinstance(v, bool):
            bound = "minimum" if k == "exclusiveMinimum" else "maximum"
            if v and bound in schema:
                out[k] = schema[bound]
        else:
            out[k] = v
    for k in ("exclusiveMinimum", "exclusiveMaximum"):
        bound = "minimum" if k == "exclusiveMinimum" else "maximum"
        if isinstance(schema.get(k), bool) and schema.get(k):
            out.pop(bound, None)
    if request and isinstance(out.get("required"), list) and isinstance(schema.get("properties"), Mapping):
        props = out.get("properties", {})
        out["required"] = [r for r in out["required"] if r in props]
    if schema.get("nullable") is True and "type" in out:
        t = out["type"]
        out["type"] = [*t, "null"] if isinstance(t, list) else [t, "null"]
    return out


# -- the operation model ---------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class Param:
    """One parameter of an operation."""

    name: str
    where: str  # path, query, header, cookie
    required: bool
    schema: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Link:
    """A path parameter of an item operation bound to what a create's answer holds."""

    create: str            # op_id of the create
    param: str             # the item operation's path parameter
    source: str            # the create answer's property (``id``), or "" for the Location header
    by: str                # "link" (declared in the document), "name" (inferred), "location"


@dataclass(frozen=True, kw_only=True)
class Operation:
    """One operation of the document, with what the derived flow needs to call it."""

    op_id: str
    method: str            # upper case
    path: str
    tags: tuple[str, ...] = ()
    params: tuple[Param, ...] = ()
    body_type: str | None = None      # media type of the request body, when there is one
    body_schema: Any = None           # JSON Schema of a JSON or form body
    body_required: bool = False
    #: JSON Schema of the first 2xx JSON answer (``None``: none declared)
    answer_schema: Any = None
    #: statuses the document declares (``"201"``, ``"2XX"``, ``"default"``)
    statuses: tuple[str, ...] = ()
    location: bool = False            # a 2xx answer declares a Location header
    #: declared OpenAPI links of the 2xx answers: name -> the link object
    links: Mapping[str, Any] = field(default_factory=dict)
    x_fpt: Mapping[str, Any] = field(default_factory=dict)

    @property
    def path_params(self) -> tuple[Param, ...]:
        """Parameters in the path (always required)."""
        return tuple(p for p in self.params if p.where == "path")

    @property
    def collection(self) -> bool:
        """Whether the path ends in a literal segment (``/notes``), not a parameter."""
        return not self.path.rstrip("/").endswith("}")

    def path_regex(self) -> str:
        """A regular expression matching this operation's URL paths (for public/shared paths)."""
        parts = _PARAM.split(self.path)
        out = []
        for i, part in enumerate(parts):
            out.append("[^/]+" if i % 2 else re.escape(part))
        return "^" + "".join(out) + "$"

    @property
    def label(self) -> str:
        """``GET /notes/{note_id}``."""
        return f"{self.method} {self.path}"


def operations(doc: Mapping[str, Any]) -> list[Operation]:
    """Every operation of the document, in document order, references resolved."""
    refs = Refs(doc)
    version = str(doc.get("openapi", "3.1"))
    out: list[Operation] = []
    seen: set[str] = set()
    for path, item in doc["paths"].items():
        item = refs.deref(item)
        if not isinstance(item, Mapping):
            continue
        shared_params = [refs.deref(p) for p in item.get("parameters", [])]
        for method in METHODS:
            op = item.get(method)
            if not isinstance(op, Mapping):
                continue
            op_id = str(op.get("operationId") or f"{method.upper()} {path}")
            if op_id in seen:  # a document with a repeated operationId: keep both, told apart
                op_id = f"{op_id} ({method.upper()} {path})"
            seen.add(op_id)
            out.append(_operation(refs, version, path, method, op, shared_params, op_id))
    return out


def _operation(refs: Refs, version: str, path: str, method: str, op: Mapping[str, Any],
               shared_params: list[Any], op_id: str) -> Operation:
    params: dict[tuple[str, str], Param] = {}
    for raw in [*shared_params, *(refs.deref(p) for p in op.get("parameters", []))]:
        if not isinstance(raw, Mapping) or "name" not in raw:
            continue
        where = str(raw.get("in", "query"))
        schema = refs.inline(raw.get("schema", {}))
        if not schema and isinstance(raw.get("content"), Mapping):  # a parameter given as content
            first: Any = next(iter(raw["content"].values()), {})
            schema = refs.inline(first.get("schema", {})) if isinstance(first, Mapping) else {}
        params[(raw["name"], where)] = Param(name=str(raw["name"]), where=where,
                                             required=bool(raw.get("required")) or where == "path",
                                             schema=json_schema(schema, request=True, version=version))
    for name in _PARAM.findall(path):  # a path parameter the document forgot to declare
        params.setdefault((name, "path"), Param(name=name, where="path", required=True,
                                                schema={"type": "string"}))
    body_type = body_schema = None
    body_required = False
    rb = refs.deref(op.get("requestBody"))
    if isinstance(rb, Mapping) and isinstance(rb.get("content"), Mapping) and rb["content"]:
        content = rb["content"]
        body_required = bool(rb.get("required"))
        body_type = next((t for t in content if t.split(";")[0].strip() in JSON_TYPES or
                          t.split(";")[0].strip().endswith("+json")), None) \
            or next((t for t in content if t.startswith(FORM_TYPE)), None) or next(iter(content))
        media = content[body_type] if isinstance(content[body_type], Mapping) else {}
        if "schema" in media:
            body_schema = json_schema(refs.inline(media["schema"]), request=True, version=version)
    answer = None
    statuses: list[str] = []
    location = False
    links: dict[str, Any] = {}
    for status, resp in (op.get("responses") or {}).items():
        statuses.append(str(status))
        resp = refs.deref(resp)
        if not str(status).startswith("2") or not isinstance(resp, Mapping):
            continue
        headers = resp.get("headers") or {}
        location = location or any(h.lower() == "location" for h in headers)
        for name, link in (resp.get("links") or {}).items():
            links[name] = refs.deref(link)
        content = resp.get("content") or {}
        if answer is None:
            for t, media in content.items():
                if (t.startswith("application/json") or t.endswith("+json")) and isinstance(media, Mapping):
                    answer = json_schema(refs.inline(media.get("schema", {})), request=False, version=version)
                    break
    tags = tuple(str(t) for t in op.get("tags", ()))
    x_fpt = op.get("x-fpt") or {}
    if not isinstance(x_fpt, Mapping):
        raise ConfigError("x-fpt", x_fpt, f"be an object on operation {op_id}")
    return Operation(op_id=op_id, method=method.upper(), path=path, tags=tags, params=tuple(params.values()),
                     body_type=body_type, body_schema=body_schema, body_required=body_required,
                     answer_schema=answer, statuses=tuple(statuses), location=location, links=links,
                     x_fpt=x_fpt)


# -- squad overrides -------------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class Overrides:
    """What the squad says without code: excluded, public and shared operations, parameter values."""

    exclude: tuple[str, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)
    public: tuple[str, ...] = ()
    shared: tuple[str, ...] = ()

    @classmethod
    def of(cls, doc: Mapping[str, Any], **given: Any) -> Overrides:
        """The document's root ``x-fpt`` under the keywords given (a keyword replaces the document's)."""
        root = doc.get("x-fpt") or {}
        if not isinstance(root, Mapping):
            raise ConfigError("x-fpt", root, "be an object with exclude, params, public, shared")
        unknown = sorted(set(root) - {"exclude", "params", "public", "shared"})
        if unknown:
            raise ConfigError(f"x-fpt.{unknown[0]}", root[unknown[0]], "be one of exclude, params, public, "
                              "shared")
        values: dict[str, Any] = {}
        for key in ("exclude", "public", "shared"):
            value = given.get(key) if given.get(key) is not None else root.get(key, ())
            if isinstance(value, str):
                value = (value,)
            if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
                raise ConfigError(key, value, "be a list of operationIds, paths ('/notes/{id}'), "
                                  "'METHOD /path' or tags")
            values[key] = tuple(value)
        params = given.get("params") if given.get("params") is not None else root.get("params", {})
        if not isinstance(params, Mapping) or not all(isinstance(k, str) for k in params):
            raise ConfigError("params", params, "be a dict of parameter name (or 'operationId.name') to "
                              "value")
        values["params"] = dict(params)
        return cls(**values)


def _names(op: Operation) -> set[str]:
    return {op.op_id, op.path, op.label, f"{op.method.lower()} {op.path}", *op.tags}


def _selected(ops: Sequence[Operation], names: Iterable[str], key: str, flag: str) -> set[str]:
    """op_ids named by ``names`` (and by ``x-fpt: {flag: true}``); a name matching nothing is an error."""
    chosen: set[str] = set()
    for name in names:
        hit = {op.op_id for op in ops if name in _names(op)}
        if not hit:
            raise ConfigError(key, name, "name an operation of the document: an operationId, a path, "
                              f"'METHOD /path' or a tag (operations: {', '.join(o.op_id for o in ops[:12])}"
                              f"{', ...' if len(ops) > 12 else ''})")
        chosen |= hit
    chosen |= {op.op_id for op in ops if op.x_fpt.get(flag)}
    return chosen


# -- the plan --------------------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class Planned:
    """An operation the derived flow calls, and how."""

    op: Operation
    kind: OpKind
    #: the create whose resources this operation acts on, and how each path parameter binds to it
    create: str = ""
    links: tuple[Link, ...] = ()
    #: the created answer's property holding the id, for a create
    id_field: str = ""
    #: values for parameters fpt cannot generate nor bind (by name): the squad's
    given: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Skipped:
    """An operation the derived flow never calls, with the reason."""

    op: Operation
    kind: OpKind
    reason: SkipReason
    detail: str = ""


@dataclass(frozen=True, kw_only=True)
class Plan:
    """What the derived flow does with each operation of one document."""

    title: str
    planned: tuple[Planned, ...]
    skipped: tuple[Skipped, ...]
    #: regular expressions of the operations marked public / shared
    public_paths: tuple[str, ...] = ()
    shared_paths: tuple[str, ...] = ()
    order: tuple[str, ...] = ()  # op_ids in document order

    def of(self, kind: OpKind) -> list[Planned]:
        """The planned operations of one kind, in document order."""
        return [p for p in self.planned if p.kind == kind]

    def by_id(self) -> dict[str, Planned | Skipped]:
        """Every operation by op_id."""
        return {**{p.op.op_id: p for p in self.planned}, **{s.op.op_id: s for s in self.skipped}}


def _kind(op: Operation) -> OpKind:
    if op.method == "POST":
        return OpKind.CREATE if op.collection else OpKind.ACTION
    if op.method == "GET":
        return OpKind.READ if not op.collection else (
            OpKind.LIST if _is_list(op.answer_schema) else OpKind.READ)
    if op.method in ("PUT", "PATCH"):
        return OpKind.UPDATE
    return OpKind.DELETE


def _is_list(schema: Any) -> bool:
    if not isinstance(schema, Mapping):
        return False
    if schema.get("type") == "array":
        return True
    props = schema.get("properties") or {}
    return any(isinstance(p, Mapping) and p.get("type") == "array" for p in props.values())


def _props(schema: Any) -> dict[str, Any]:
    """Top-level properties of an object schema (through ``allOf``)."""
    if not isinstance(schema, Mapping):
        return {}
    out = dict(schema.get("properties") or {})
    for part in schema.get("allOf") or ():
        out.update(_props(part))
    return out


def _singular(word: str) -> str:
    word = word.lower().replace("-", "_")
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _id_field(op: Operation) -> str:
    """The property of a create's answer that holds the new resource's id ('' when none)."""
    props = _props(op.answer_schema)
    resource = _singular(op.path.rstrip("/").rsplit("/", 1)[-1])
    for name in ("id", f"{resource}_id", f"{resource}Id", "uuid", "key"):
        if name in props:
            return name
    return ""


def _declared_links(create: Operation, by_id: Mapping[str, Operation]) -> list[tuple[str, Link]]:
    """The create's OpenAPI links that fill a path parameter from ``$response.body#/...`` or a header."""
    out = []
    for link in create.links.values():
        if not isinstance(link, Mapping):
            continue
        target = link.get("operationId")
        if target is None and isinstance(link.get("operationRef"), str):
            ref = link["operationRef"]
            target = next((o.op_id for o in by_id.values()
                           if ref.endswith(o.path.replace("/", "~1") + "/" + o.method.lower())), None)
        if not isinstance(target, str) or target not in by_id:
            continue
        for param, expr in (link.get("parameters") or {}).items():
            param = str(param).split(".")[-1]
            if not isinstance(expr, str):
                continue
            if expr.startswith("$response.body#/"):
                source = expr[len("$response.body#/"):].replace("/", ".")
                out.append((target, Link(create=create.op_id, param=param, source=source, by="link")))
            elif expr.lower() == "$response.header.location":
                out.append((target, Link(create=create.op_id, param=param, source="", by="location")))
    return out


def _compatible(param: Param, prop: Any) -> bool:
    """An id property's type fits the path parameter's (integer ids into string parameters do)."""
    pt = param.schema.get("type") if isinstance(param.schema, Mapping) else None
    vt = prop.get("type") if isinstance(prop, Mapping) else None
    if pt is None or vt is None:
        return True
    pts = set(pt) if isinstance(pt, list) else {pt}
    vts = set(vt) if isinstance(vt, list) else {vt}
    return bool(pts & vts) or "string" in pts or ("number" in pts and "integer" in vts)


def _inferred_link(op: Operation, create: Operation, id_field: str) -> list[Link]:
    """Path parameters of ``op`` bound to ``create``'s id by name: ``/notes`` -> ``/notes/{note_id}``."""
    base = create.path.rstrip("/")
    if not op.path.startswith(base + "/"):
        return []
    rest = op.path[len(base) + 1:]
    names = _PARAM.findall(rest)
    first = rest.split("/", 1)[0]
    if not names or first != "{" + names[0] + "}":
        return []
    param = next(p for p in op.path_params if p.name == names[0])
    resource = _singular(base.rsplit("/", 1)[-1])
    props = _props(create.answer_schema)
    candidates = [names[0]] if names[0] in props else []
    if param.name.lower() in ("id", f"{resource}_id", f"{resource}id", "uuid", "key") or \
            param.name.lower().replace("_", "") == f"{resource}id":
        candidates.append(id_field)
    for source in candidates:
        if source and _compatible(param, props.get(source)):
            return [Link(create=create.op_id, param=param.name, source=source, by="name")]
    if create.location:
        return [Link(create=create.op_id, param=param.name, source="", by="location")]
    return []


def _identity_value(name: str) -> bool:
    """A parameter named after an identity field (``member_id``, ``email``): the user's own value."""
    return name.lower() in ("member_id", "memberid", "email", "user_email")


def plan(doc: Mapping[str, Any], overrides: Overrides | None = None) -> Plan:
    """What the derived flow does with each operation of ``doc`` (see the module docstring)."""
    overrides = overrides or Overrides()
    ops = operations(doc)
    by_id = {o.op_id: o for o in ops}
    excluded = _selected(ops, overrides.exclude, "exclude", "exclude")
    public = _selected(ops, overrides.public, "public", "public")
    shared = _selected(ops, overrides.shared, "shared", "shared")
    _check_params(overrides, by_id)
    creates, declared = _creates(ops, excluded, by_id)
    skipped: list[Skipped] = []
    planned: list[Planned] = []
    for op in ops:
        kind = _kind(op)
        if op.op_id not in creates and kind == OpKind.CREATE:
            kind = OpKind.ACTION
        given = _given(op, overrides)
        step = _skipped(op, kind, excluded) or _bound(op, kind, given, creates, declared, by_id)
        if isinstance(step, Skipped):
            skipped.append(step)
        else:
            planned.append(step)
    return Plan(title=str((doc.get("info") or {}).get("title", "")), planned=tuple(planned),
                skipped=tuple(skipped),
                public_paths=tuple(by_id[i].path_regex() for i in by_id if i in public),
                shared_paths=tuple(by_id[i].path_regex() for i in by_id if i in shared),
                order=tuple(o.op_id for o in ops))


def _check_params(overrides: Overrides, by_id: Mapping[str, Operation]) -> None:
    """A squad's ``params`` name parameters, or ``operationId.name`` of an operation of the document."""
    for name in overrides.params:
        if "." in name and name.split(".", 1)[0] not in by_id:
            raise ConfigError("params", name, "be a parameter name, or 'operationId.name' of an operation "
                              "of the document")


def _creates(ops: Sequence[Operation], excluded: Collection[str], by_id: Mapping[str, Operation]
             ) -> tuple[dict[str, str], dict[str, list[Link]]]:
    """The operations that create a resource (op_id -> its id field), and the links they declare."""
    creates: dict[str, str] = {}
    declared: dict[str, list[Link]] = {}
    for op in ops:
        if op.op_id in excluded or AUTH_PATH.search(op.path) or op.method not in ("GET", "POST", "PUT",
                                                                                     "PATCH", "DELETE"):
            continue
        if _kind(op) == OpKind.CREATE:
            id_field = _id_field(op)
            found = _declared_links(op, by_id)
            if id_field or op.location or found:
                creates[op.op_id] = id_field
            for target, link in found:
                declared.setdefault(target, []).append(link)
    return creates, declared


def _given(op: Operation, overrides: Overrides) -> dict[str, Any]:
    """Parameter values the squad gave: for every operation, for this one, and in its ``x-fpt``."""
    return {**{k: v for k, v in overrides.params.items() if "." not in k},
            **{k.split(".", 1)[1]: v for k, v in overrides.params.items() if k.startswith(op.op_id + ".")},
            **dict(op.x_fpt.get("params") or {})}


def _skipped(op: Operation, kind: OpKind, excluded: Collection[str]) -> Skipped | None:
    """Why ``op`` is not called at all: excluded by the squad, a sign-in route, a body fpt cannot build."""
    if op.op_id in excluded:
        why = op.x_fpt.get("exclude")
        return Skipped(op=op, kind=kind, reason=SkipReason.EXCLUDED,
                       detail=why if isinstance(why, str) else "")
    if AUTH_PATH.search(op.path):
        return Skipped(op=op, kind=kind, reason=SkipReason.AUTH)
    body = _body_problem(op)
    if body is not None:
        return Skipped(op=op, kind=kind, reason=body[0], detail=body[1])
    return None


def _bound(op: Operation, kind: OpKind, given: dict[str, Any], creates: Mapping[str, str],
           declared: Mapping[str, list[Link]], by_id: Mapping[str, Operation]) -> Planned | Skipped:
    """``op`` with its path parameters bound to the ids the user created (declared links first, then
    inferred ones), or skipped naming the parameter nothing can fill."""
    links: list[Link] = []
    create = ""
    unbound = [p for p in op.path_params if p.name not in given and not _identity_value(p.name)]
    if unbound:
        links = [lk for lk in declared.get(op.op_id, []) if lk.create in creates]
        if not links:
            for cid, id_field in creates.items():
                if cid != op.op_id:
                    links = _inferred_link(op, by_id[cid], id_field)
                    if links:
                        break
        create = links[0].create if links else ""
        missing = [p.name for p in unbound if p.name not in {lk.param for lk in links}]
        if missing:
            return Skipped(op=op, kind=kind, reason=SkipReason.NO_PARAMETER, detail=missing[0])
        if kind == OpKind.LIST or kind == OpKind.CREATE:  # a sub-collection of one resource
            kind = OpKind.READ if kind == OpKind.LIST else OpKind.ACTION
    # Required credential headers or cookies are left to the auth function: not generated, not skipped.
    return Planned(op=op, kind=kind, create=create, links=tuple(links), id_field=creates.get(op.op_id, ""),
                   given=given)


def _body_problem(op: Operation) -> tuple[SkipReason, str] | None:
    """Why fpt cannot build ``op``'s body (None when it can, or when there is none)."""
    if op.body_type is None:
        return None
    base = op.body_type.split(";")[0].strip()
    if base.startswith(FILE_TYPES) or _has_binary(op.body_schema):
        return SkipReason.FILE_UPLOAD, base
    if not (base in JSON_TYPES or base.endswith("+json") or base == FORM_TYPE):
        return SkipReason.UNSUPPORTED_BODY, base
    if op.body_schema is None and op.body_required:
        return SkipReason.NO_SCHEMA, base
    return None


def _has_binary(schema: Any) -> bool:
    if isinstance(schema, Mapping):
        if schema.get("format") in ("binary", "byte") and schema.get("type") == "string":
            return schema.get("format") == "binary"
        return any(_has_binary(v) for v in schema.values())
    if isinstance(schema, list):
        return any(_has_binary(v) for v in schema)
    return False
