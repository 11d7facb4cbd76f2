"""The HTML report a Locust or k6 user looks for (issue 21, item 8): totals first, run details,
per-endpoint statistics with ids folded, an HDR latency distribution, foldable sections, and
runnable repro lines whose secret is an environment variable."""

from __future__ import annotations

import asyncio
import html
import re

import pytest

from fpt.config.redact import scrub
from fpt.config.settings import FptConfig
from fpt.demo import create_app
from fpt.evidence.metrics import MAX_ENDPOINTS, OTHER_ENDPOINTS, Metrics
from fpt.evidence.routes import route_template
from fpt.judge.dod.evaluate import evaluate
from fpt.report.html import render
from fpt.run.runner import Run
from fpt.run.shapes import constant
from fpt.rundetails import changed_settings
from suites.flows import book_visit


@pytest.mark.parametrize(("path", "route"), [
    ("/visits/4711", "/visits/{id}"),
    ("/members/3f2a9c1e-1111-2222-3333-444455556666/visits", "/members/{id}/visits"),
    ("/m/M0010000012", "/m/{id}"),
    ("/t/fptc0000000cx5be8a1c9d3f0", "/t/{id}"),
    ("/api/v1/items", "/api/v1/items"),      # v1 is a version, not an id
    ("/records/latest", "/records/latest"),
    ("/", "/"),
])
def test_route_template_folds_ids_only(path: str, route: str) -> None:
    assert route_template(path) == route


def test_endpoints_merge_exactly_and_stay_bounded() -> None:
    a, b = Metrics(), Metrics()
    a.endpoint("GET", "/visits/1", 1000.0, None)
    b.endpoint("GET", "/visits/2", 3000.0, "status")
    b.endpoint("POST", "/visits", 2000.0, None)
    a.merge(Metrics.from_dict(b.to_dict()))
    assert {k: (m.count, m.failed) for k, m in a.endpoints.items()} == {
        "GET /visits/{id}": (2, 1), "POST /visits": (1, 0)}
    many = Metrics()
    for n in range(MAX_ENDPOINTS + 50):
        many.endpoint("GET", f"/route{chr(97 + n % 26)}{n}x", 1.0, None)  # distinct routes, not ids
    assert len(many.endpoints) == MAX_ENDPOINTS + 1
    assert many.endpoints[OTHER_ENDPOINTS].count == 50


def test_env_placeholder_survives_redaction_a_secret_does_not() -> None:
    assert scrub('-H "Cookie: $FPT_COOKIE"') == '-H "Cookie: $FPT_COOKIE"'
    assert scrub("Cookie: $FPT_COOKIE&#34;") == "Cookie: $FPT_COOKIE&#34;"
    assert "s3cr3t" not in scrub("Cookie: session=s3cr3t")
    assert "s3cr3t" not in scrub("Cookie: $Version=1; session=s3cr3t")
    assert "s3cr3t" not in scrub("Cookie: $A&session=s3cr3t")


def test_html_report_totals_details_endpoints_distribution_and_repro() -> None:
    cfg = FptConfig(users=10, profile="virtual", arrivals="rendezvous", burst=5, alone=1, seed=3)
    run = Run(book_visit, cfg=cfg, shape=constant(20), duration=1.0,
              target=create_app(bugs=("shared_cache",)), thresholds=(), name="t::swap")
    r = asyncio.run(run.execute())
    c = evaluate([r])
    details = {"fpt": "9.9.9", "commit": "abc123", "command": "pytest -m fpt", "host": "box",
               "settings": changed_settings(cfg)}
    page = scrub(render(c, [r], details))
    # totals come first, before the checklist and the runs
    assert page.index('id="totals"') < page.index('id="checklist"') < page.index('id="run-1"')
    assert re.search(r"<th>iterations</th><td>\d+</td>", page)
    # run details: version, commit, command line, host, the settings that are not defaults
    assert 'id="run-details"' in page
    for text in ("9.9.9", "abc123", "pytest -m fpt", "<code>users</code>", "<code>profile</code>"):
        assert text in page
    # foldable sections
    assert page.count("<details") >= 8
    # per endpoint: method and route template, ids folded
    assert 'id="run-1-endpoints"' in page
    assert "<td>GET</td><td><code>/me</code></td>" in page
    assert "/visits/{id}" in page or "<code>/visits</code>" in page
    assert not re.search(r"<code>/visits/\d+</code>", page)
    # the HDR distribution plot
    assert 'class="panel panel-distribution"' in page
    assert "99%" in page or "90%" in page
    # a runnable repro line: the cookie is an environment variable, never written
    line = html.unescape(re.search(r'<pre class="curl">([^<]*)</pre>', page).group(1))  # type: ignore[union-attr]
    assert line.startswith("curl -sS -X GET $FPT_BASE_URL/me -H 'x-fpt-request: ")
    assert '-H "Cookie: $FPT_COOKIE"' in line
    assert "[redacted]" not in line


def test_changed_settings_names_the_source() -> None:
    cfg = FptConfig().with_values({"users": 7}, "command line")
    assert changed_settings(cfg) == [("users", "7", "command line")]
    assert changed_settings(FptConfig()) == []
