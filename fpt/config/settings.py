"""One immutable configuration, built once at the boundary.

Sources, strongest first: ``fpt_load(...)`` arguments, the test's ``fpt`` marker,
``--fpt-*`` options, ``FPT_*`` environment variables, pytest ini keys ``fpt_*``,
``[tool.fpt]`` in pyproject.toml, defaults. Every value is parsed here; a bad one
raises :class:`ConfigError` naming the key, the value, what is allowed and where
it came from. Nothing below this module sees ``pytest.Config``.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fpt.config import shard as _shard
from fpt.config.errors import ConfigError
from fpt.config.thresholds import THRESHOLD_FORM
from fpt.config.units import DURATION_FORM, parse_duration, parse_percent

PROFILES = ("live", "virtual")
PROFILE_RATE = {"live": 5.0, "virtual": 50.0}
"""Default rate of each profile; for ``live`` it is also the ceiling."""
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _positive_float(v: Any) -> float:
    f = float(v) if not isinstance(v, bool) else math.nan
    if not f > 0 or math.isinf(f):
        raise ValueError
    return f


def _non_negative_float(v: Any) -> float:
    f = float(v) if not isinstance(v, bool) else math.nan
    if not f >= 0 or math.isinf(f):
        raise ValueError
    return f


def _positive_int(v: Any) -> int:
    if isinstance(v, bool):
        raise ValueError
    if isinstance(v, float) and not v.is_integer():
        raise ValueError
    i = int(v)
    if i < 1:
        raise ValueError
    return i


def _int(v: Any) -> int:
    if isinstance(v, bool) or (isinstance(v, float) and not v.is_integer()):
        raise ValueError
    return int(v)


def _non_negative_int(v: Any) -> int:
    i = _int(v)
    if i < 0:
        raise ValueError
    return i


def _ratio(v: Any) -> float:
    if isinstance(v, bool):
        raise ValueError
    f = parse_percent(str(v))
    if not 0 <= f < math.inf:
        raise ValueError
    return f


def _fraction(v: Any) -> float:
    f = _ratio(v)
    if f > 1:
        raise ValueError
    return f


def _bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    s = str(v).strip().lower()
    if s in ("1", "true", "yes", "on"):
        return True
    if s in ("0", "false", "no", "off", ""):
        return False
    raise ValueError


def _duration(v: Any) -> float:
    d = parse_duration(v)
    if d <= 0:
        raise ValueError
    return d


def _grace(v: Any) -> float:
    return parse_duration(v)


def _choice(options: tuple[str, ...]) -> Callable[[Any], str]:
    def parse(v: Any) -> str:
        s = str(v).strip()
        if s not in options:
            raise ValueError
        return s

    return parse


def _url(v: Any) -> str:
    s = str(v).strip()
    parts = urlsplit(s)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError
    return s.rstrip("/")


def _str_list(v: Any) -> tuple[str, ...]:
    if isinstance(v, list | tuple):
        if not all(isinstance(x, str) for x in v):
            raise ValueError
        items = [x.strip() for x in v]
    elif isinstance(v, str):
        items = [x.strip() for x in v.replace("\n", ",").split(",")]
    else:
        raise ValueError
    return tuple(x for x in items if x)


def _thresholds(v: Any) -> tuple[str, ...]:
    from fpt.config.thresholds import parse_threshold

    items = _str_list(v)
    for item in items:
        parse_threshold(item)
    return items


def _patterns(v: Any) -> tuple[str, ...]:
    items = _str_list(v)
    for item in items:
        try:
            re.compile(item)
        except re.error:
            raise ValueError from None
    return items


def _pids(v: Any) -> tuple[int, ...]:
    raw: list[Any] = list(v) if isinstance(v, list | tuple) else list(_str_list(v)) if isinstance(v, str) \
        else [v]
    return tuple(_positive_int(x) for x in raw)


def _metric_name(v: Any) -> str:
    s = str(v).strip()
    if s and not re.fullmatch(r"[A-Za-z_:][A-Za-z0-9_:]*", s):
        raise ValueError
    return s


def _optional_url(v: Any) -> str:
    return _url(v) if str(v).strip() else ""


MAX_USERS = 1_000_000
"""More virtual users than this is a mistake, not a test (each costs memory before it runs)."""


def _users(v: Any) -> int:
    i = _positive_int(v)
    if i > MAX_USERS:
        raise ValueError
    return i


def _name(v: Any) -> str:
    s = str(v).strip()
    if s and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", s):
        raise ValueError
    return s


@dataclass(frozen=True)
class Key:
    """One configuration key: its parser and how to explain what it takes."""

    name: str
    parse: Callable[[Any], Any]
    allowed: str
    help: str
    default: Any = None
    flag: bool = False


KEYS: tuple[Key, ...] = (
    Key("base_url", _url, "be an http(s) URL such as http://127.0.0.1:8000",
        "base URL of the service under test"),
    Key("profile", _choice(PROFILES), f"be one of {', '.join(PROFILES)}",
        "load profile: live (real service, 5/s) or virtual (virtualized downstream, 50/s)", "live"),
    Key("rate", _positive_float, "be a number > 0 (iterations per second)",
        "target iterations per second (default: the profile's)"),
    Key("users", _users, f"be a whole number from 1 to {MAX_USERS:,}", "number of virtual users", 20),
    Key("duration", _duration, DURATION_FORM, "length of each load run", 30.0),
    Key("seed", _int, "be a whole number", "seed for identities and arrivals", 1),
    Key("report_dir", str, "be a directory path", "where reports are written", "fpt-report"),
    Key("arrivals", _choice(("uniform", "poisson", "rendezvous")),
        "be one of uniform, poisson, rendezvous",
        "how arrivals are spread within the rate (rendezvous: groups of `burst` released together at "
        "the same mean rate, so checked steps overlap without asking)", "rendezvous"),
    Key("burst", _positive_int, "be a whole number >= 1",
        "users released together by rendezvous arrivals", 4),
    Key("alone", _non_negative_int, "be a whole number >= 0",
        "iterations of the flow for one user alone before the load (0: skip)", 3),
    Key("probe_share", _fraction, "be a fraction between 0 and 1 (or a percentage like 20%)",
        "share of iterations followed by a cross-user probe", 0.2),
    Key("replay_share", _fraction, "be a fraction between 0 and 1 (or a percentage like 10%)",
        "share of successful requests repeated as another user and with no credentials", 0.1),
    Key("replay_writes", _bool, "be true or false",
        "replay PUT and DELETE as well as GET/HEAD/OPTIONS (only if replaying them cannot corrupt "
        "the run's own checks)", False, flag=True),
    Key("cancel_share", _fraction, "be a fraction between 0 and 1 (or a percentage like 2%)",
        "share of idempotent requests the client gives up on mid-flight (then sends again)", 0.05),
    Key("cache_probe_share", _fraction, "be a fraction between 0 and 1 (or a percentage like 10%)",
        "share of successful GETs asked again at once by another user (same URL, its own credentials)",
        0.1),
    Key("connection_share", _fraction, "be a fraction between 0 and 1 (or a percentage like 5%)",
        "share of successful requests after which another user's request is sent on the keep-alive "
        "connection the first user just used, as a pooling gateway would (fpt's own transport only)",
        0.05),
    Key("hunt_max_rate", _non_negative_float, "be a number >= 0 (requests per second; 0: no limit)",
        "most requests per second each hunting detector (replay, cache probe, cancellation) acts on, "
        "per step: the shares apply below it, so fast runs pay a bounded cost", 10.0),
    Key("request_id_header", str, "be a response header name (empty: off)",
        "header the service echoes with the request's id; another request's id is a swap", ""),
    Key("shared_paths", _patterns, "be a list of regular expressions over URL paths",
        "routes where a user may legitimately see another user's data (a message, a public post)", ()),
    Key("shared_steps", _str_list, "be a list of step names",
        "steps where a user may legitimately see another user's data", ()),
    Key("unique_identities", _bool, "be true or false",
        "mix a per-session nonce into the identities (printed, so a run can be reproduced)", False,
        flag=True),
    Key("identity_nonce", _non_negative_int, "be a whole number >= 0",
        "the nonce unique_identities mixes in (0: a new one per session)", 0),
    Key("canary_scan", _bool, "be true or false", "scan every response for other users' canaries",
        True),
    Key("scan_limit", _positive_int, "be a whole number of bytes >= 1",
        "bytes of each response body scanned for canaries", 1 << 20),
    Key("http_transport", _choice(("fast", "httpx")), "be fast or httpx",
        "wire layer of each user's httpx client: fast (HTTP/1.1 on httptools) or httpx (httpcore: "
        "HTTP/2, proxies)", "fast"),
    Key("served_by", str, "be a response header name", "header naming the replica that answered",
        "x-served-by"),
    Key("session_cookie", str, "be a cookie name", "session cookie to watch (default: guess by name)", ""),
    Key("login_steps", _str_list, "be a list of step names", "steps where a new session is legitimate",
        ("login",)),
    Key("scale_p90_factor", _positive_float, "be a number > 0",
        "allowed p90 during a scale event, as a multiple of the p90 before it", 3.0),
    Key("scale_error_rate", _fraction, "be a fraction between 0 and 1 (or a percentage like 1%)",
        "allowed error rate during a scale event", 0.01),
    Key("max_inflight", _positive_int, "be a whole number >= 1",
        "cap on iterations in flight (default: users)"),
    Key("grace", _grace, DURATION_FORM, "how long stragglers may finish after the run", 10.0),
    Key("thresholds", _thresholds, "be a list of limits that " + THRESHOLD_FORM,
        "pass/fail limits, comma separated", ("errors<1%",)),
    Key("public_paths", _patterns, "be a list of regular expressions over URL paths",
        "routes any user may read (a catalogue, a public profile): cross-user answers there are "
        "not findings", ()),
    Key("high_traffic_rate", _positive_float, "be a number > 0 (iterations per second)",
        "rate a virtual run must achieve to evidence data_swap.high_traffic_virtual", 50.0),
    Key("request_deadline", _duration, DURATION_FORM,
        "longest a whole request (head and body) may take before it is a timeout", 30.0),
    Key("allow_rate", _bool, "be true or false",
        "allow a live rate above the live profile's ceiling of 5/s", False, flag=True),
    Key("live_hosts", _str_list, "be a list of host names, IP addresses or networks (loopback: all of them)",
        "hosts fpt may send to (a URL target in either profile, redirects, absolute URLs)", LOOPBACK),
    Key("dod_level", _name, "be a level name such as squad or release",
        "Definition-of-Done level the gate checks (levels in [tool.fpt.dod])", "squad"),
    Key("save_baseline", _name, "be a baseline name (letters, digits, - _ .)",
        "store this session's p90 and error rates as baseline NAME", ""),
    Key("compare", _name, "be a baseline name (letters, digits, - _ .)",
        "compare this session against baseline NAME", ""),
    Key("baseline_dir", str, "be a directory path", "where baselines are stored", ".fpt-baselines"),
    Key("baseline_p90_regression", _ratio, "be a fraction >= 0 (or a percentage like 20% or 150%)",
        "allowed p90 growth over the baseline, per step", 0.2),
    Key("service_pids", _pids, "be a list of process ids (whole numbers >= 1)",
        "local processes of the service under test, sampled once a second (CPU, RSS, open fds)", ()),
    Key("metrics_url", _optional_url, "be an http(s) URL on the live_hosts allowlist",
        "the service's Prometheus text endpoint, scraped once a second during each run", ""),
    Key("metrics_rss", _metric_name, "be a Prometheus metric name ('' skips it)",
        "metric read as the service's resident memory, bytes", "process_resident_memory_bytes"),
    Key("metrics_cpu", _metric_name, "be a Prometheus metric name ('' skips it)",
        "counter read as the service's CPU seconds", "process_cpu_seconds_total"),
    Key("metrics_fds", _metric_name, "be a Prometheus metric name ('' skips it)",
        "metric read as the service's open file descriptors", "process_open_fds"),
    Key("recovery_within", _duration, DURATION_FORM,
        "stress and spike: how soon p90 and errors must be back after the load drops", 30.0),
    Key("recovery_rate", _positive_float, "be a number > 0 (iterations per second)",
        "stress: the safe rate of the recovery window (default: the last rate that held)"),
    Key("soak_min_span", _duration, DURATION_FORM,
        "soak: service RSS samples must span this long before service_rss_growth is judged", 60.0),
    Key("baseline_error_increase", _fraction, "be a fraction between 0 and 1 (or a percentage like 1%)",
        "allowed error-rate increase over the baseline (absolute), per step", 0.01),
    Key("shard", _shard.parse_shard, _shard.SHARD_FORM,
        "this process is shard K of N (1-based): 1/N of every run's rate, the K-th slice of the users; "
        "merge the shards with `fpt merge` (also JOB_COMPLETION_INDEX with FPT_SHARD_TOTAL, "
        "CI_NODE_INDEX/CI_NODE_TOTAL)", ""),
    Key("start_at", _shard.parse_start_at, _shard.START_FORM,
        "common start of the shards' load (ISO time with a zone, or epoch seconds): waits for it"),
    Key("shard_session", _shard.parse_session, _shard.SESSION_FORM,
        "id the shards of one run share (default: the CI run's id, else the start_at)", ""),
)
KEY_BY_NAME = {k.name: k for k in KEYS}


def parse_value(name: str, value: Any, source: str = "") -> Any:
    """Parse one value for ``name`` or raise a :class:`ConfigError` that explains it."""
    key = KEY_BY_NAME.get(name)
    if key is None:
        raise ConfigError(name, value, f"be one of the known keys ({', '.join(sorted(KEY_BY_NAME))})",
                          source)
    try:
        return key.parse(value)
    except (ValueError, TypeError):
        raise ConfigError(name, value, key.allowed, source) from None


@dataclass(frozen=True, kw_only=True)
class FptConfig:
    """Settings for load runs; ``rate=None`` means the profile's default."""

    base_url: str | None = None
    profile: str = "live"
    rate: float | None = None
    users: int = 20
    duration: float = 30.0
    seed: int = 1
    report_dir: str = "fpt-report"
    arrivals: str = "rendezvous"
    burst: int = 4
    alone: int = 3
    probe_share: float = 0.2
    replay_share: float = 0.1
    replay_writes: bool = False
    cancel_share: float = 0.05
    cache_probe_share: float = 0.1
    connection_share: float = 0.05
    hunt_max_rate: float = 10.0
    request_id_header: str = ""
    shared_paths: tuple[str, ...] = ()
    shared_steps: tuple[str, ...] = ()
    unique_identities: bool = False
    identity_nonce: int = 0
    canary_scan: bool = True
    scan_limit: int = 1 << 20
    http_transport: str = "fast"
    served_by: str = "x-served-by"
    session_cookie: str = ""
    login_steps: tuple[str, ...] = ("login",)
    scale_p90_factor: float = 3.0
    scale_error_rate: float = 0.01
    max_inflight: int | None = None
    grace: float = 10.0
    thresholds: tuple[str, ...] = ("errors<1%",)
    public_paths: tuple[str, ...] = ()
    high_traffic_rate: float = 50.0
    request_deadline: float = 30.0
    allow_rate: bool = False
    live_hosts: tuple[str, ...] = LOOPBACK
    dod_level: str = "squad"
    save_baseline: str = ""
    compare: str = ""
    baseline_dir: str = ".fpt-baselines"
    baseline_p90_regression: float = 0.2
    baseline_error_increase: float = 0.01
    service_pids: tuple[int, ...] = ()
    metrics_url: str = ""
    metrics_rss: str = "process_resident_memory_bytes"
    metrics_cpu: str = "process_cpu_seconds_total"
    metrics_fds: str = "process_open_fds"
    recovery_within: float = 30.0
    recovery_rate: float | None = None
    soak_min_span: float = 60.0
    shard: str = ""
    start_at: float | None = None
    shard_session: str = ""
    sources: Mapping[str, str] = dataclasses.field(default_factory=dict, compare=False)

    def with_values(self, values: Mapping[str, Any], source: str) -> FptConfig:
        """A copy with ``values`` parsed and applied (``None`` values are skipped)."""
        parsed: dict[str, Any] = {}
        sources = dict(self.sources)
        for name, raw in values.items():
            if raw is None:
                continue
            parsed[name] = parse_value(name, raw, source)
            sources[name] = source
        return dataclasses.replace(self, **parsed, sources=sources)

    @property
    def effective_rate(self) -> float:
        """The rate to run at: explicit, or the profile's default."""
        return self.rate if self.rate is not None else PROFILE_RATE[self.profile]

    def validate(self, *, url_target: bool = True) -> None:
        """Cross-key rules: the live ceiling and the host allowlist (``url_target``: base_url is used)."""
        if (self.profile == "live" and not self.allow_rate and self.recovery_rate is not None
                and self.recovery_rate > PROFILE_RATE["live"]):
            raise ConfigError("recovery_rate", self.recovery_rate,
                              f"be <= {PROFILE_RATE['live']:g}/s with the live profile unless raised "
                              "explicitly (allow_rate)", self.sources.get("recovery_rate", ""))
        if self.profile == "live" and not self.allow_rate and self.effective_rate > PROFILE_RATE["live"]:
            raise ConfigError(
                "rate", self.rate,
                f"be <= {PROFILE_RATE['live']:g}/s with the live profile unless raised explicitly "
                "(--fpt-allow-rate, allow_rate = true in [tool.fpt], or fpt_load(..., allow_rate=True))",
                self.sources.get("rate", ""),
            )
        # Virtual means the target's downstream is virtual: a URL target is still a real host.
        if self.base_url and (url_target or self.profile == "live"):
            from fpt.config.hosts import Perimeter

            host = urlsplit(self.base_url).hostname or ""
            if not Perimeter.of(self.live_hosts).allows(host):
                raise ConfigError(
                    "base_url", self.base_url,
                    f"point at an allowed live host ({', '.join(self.live_hosts)}); "
                    "add the host to live_hosts in [tool.fpt] to load-test it",
                    self.sources.get("base_url", ""),
                )
        if self.metrics_url:
            from fpt.config.hosts import Perimeter
            from fpt.config.redact import url as redact_url

            if not Perimeter.of(self.live_hosts).allows(urlsplit(self.metrics_url).hostname or ""):
                raise ConfigError(
                    "metrics_url", redact_url(self.metrics_url),
                    f"point at an allowed host ({', '.join(self.live_hosts)}); add the host to "
                    "live_hosts in [tool.fpt] to scrape it (nothing was sent)",
                    self.sources.get("metrics_url", ""),
                )


def from_env(environ: Mapping[str, str]) -> dict[str, str]:
    """``FPT_RATE=10`` style overrides."""
    out = {}
    for key in KEYS:
        v = environ.get(f"FPT_{key.name.upper()}")
        if v is not None and v != "":
            out[key.name] = v
    return out


def read_pyproject(rootpath: Path) -> dict[str, Any]:
    """The ``[tool.fpt]`` table of ``rootpath/pyproject.toml`` (sub-tables left out)."""
    path = rootpath / "pyproject.toml"
    if not path.is_file():
        return {}
    return read_tool_table(path)


def read_tool_table(path: Path) -> dict[str, Any]:
    """The ``[tool.fpt]`` table of the TOML file ``path`` (sub-tables but ``dod`` left out)."""
    import tomllib

    with path.open("rb") as fh:
        data = tomllib.load(fh)
    table = data.get("tool", {}).get("fpt", {})
    out = {k: v for k, v in table.items() if not isinstance(v, dict)}
    dod = table.get("dod")
    if isinstance(dod, dict):
        out["dod"] = dod
    return out


def build(*, pyproject: Mapping[str, Any], ini: Mapping[str, Any], environ: Mapping[str, str],
          cli: Mapping[str, Any]) -> FptConfig:
    """Layer every source over the defaults, weakest first."""
    table = dict(pyproject)
    dod = table.pop("dod", None) or {}
    cfg = FptConfig()
    engine = _shard.engine_shard(environ)  # the engines' own variables: weaker than any fpt setting
    if engine is not None:
        cfg = cfg.with_values({"shard": engine[0]}, engine[1])
    if isinstance(dod, Mapping) and "level" in dod:
        cfg = cfg.with_values({"dod_level": dod["level"]}, "[tool.fpt.dod] in pyproject.toml")
    cfg = cfg.with_values(table, "[tool.fpt] in pyproject.toml")
    cfg = cfg.with_values(ini, "pytest ini")
    cfg = cfg.with_values(from_env(environ), "environment")
    cfg = cfg.with_values(cli, "command line")
    if cfg.unique_identities and not cfg.identity_nonce:
        # One nonce for the session (each run prints it; identity_nonce = N reproduces the identities).
        import secrets

        # Shards of one session must make the same identities, or no shard knows another's users.
        session = _shard.session_of(cfg.shard_session, cfg.start_at, environ) if cfg.shard else ""
        nonce = _shard.nonce_of(session) if session else secrets.randbelow(10**9) + 1
        cfg = cfg.with_values({"identity_nonce": nonce}, "unique_identities")
    return cfg
