"""The README stands alone, and its first flow runs against the demo exactly as written."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from fpt.config.settings import KEYS
from fpt.load import OVERRIDABLE

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def blocks(marker: str, language: str) -> list[str]:
    """The fenced ``language`` blocks right after ``<!-- marker -->`` (indented or not)."""
    pattern = rf"<!-- {re.escape(marker)} -->\s*\n\s*```{language}\n(.*?)\n\s*```"
    found = [textwrap.dedent(b) for b in re.findall(pattern, README, flags=re.S)]
    assert found, f"no ```{language} block marked <!-- {marker} --> in README.md"
    return found


def test_readme_refers_to_nothing_outside_the_repository() -> None:
    assert "../" not in README
    for link in re.findall(r"\]\(([^)#]+)", README):
        if not link.startswith(("http://", "https://")):
            assert (ROOT / link).exists() or link in ("docs/hunting.md", "docs/load-types.md"), link


def test_readme_lists_every_config_key_and_fpt_load_keyword() -> None:
    table = {m for m in re.findall(r"^\| ([a-z0-9_]+)(?: / [a-z0-9_]+)? \|", README, flags=re.M)}
    table |= {m for m in re.findall(r"^\| [a-z0-9_]+ / ([a-z0-9_]+) \|", README, flags=re.M)}
    missing = [k.name for k in KEYS if k.name not in table]
    assert not missing, f"config keys missing from the README's table: {missing}"
    keywords = README[README.index("## `fpt_load`"):README.index("## Configuration")]
    for name in (*OVERRIDABLE, "rate", "thresholds", "target", "events", "check"):
        assert f"`{name}`" in keywords, f"fpt_load keyword {name} not documented"


def test_readme_first_flow_runs_against_the_demo_as_written(pytester: pytest.Pytester,
                                                              demo_url: str) -> None:
    (code,) = blocks("readme-example", "python")
    (toml,) = blocks("readme-example: pyproject", "toml")
    pytester.makepyfile(test_booking=code)
    pytester.makepyprojecttoml(toml)
    # The README's demo listens on port 8000; this one on a free port: same server, same code.
    result = pytester.runpytest("-p", "no:cacheprovider", "-m", "fpt", "--fpt-base-url", demo_url)
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*flow book_visit [[]live[]]*", "*(flow)*", "*(requests)*",
                                 "*ok   data swap: passes*", "*DoD squad: PASSED*"])
    assert result.ret == pytest.ExitCode.OK
    # The README's output sample is this output: every line of it, in order, numbers aside.
    assert_lines_in_order(result.stdout.lines, output_patterns(demo_url))


@pytest.fixture(scope="module")
def demo_url() -> Iterator[str]:
    from fpt.demo.server import serve

    with serve() as server:
        yield server.base_url


def output_patterns(base_url: str) -> list[re.Pattern[str]]:
    """The README's output sample as regular expressions: numbers, runs of spaces (columns move with
    the numbers' widths) and a cut line's tail (…) match anything of their kind; ``...`` lines
    (output left out) are skipped; the sample's port is the demo's."""
    (sample,) = re.findall(r"<!-- readme-output -->\s*\n```\n(.*?)\n```", README, flags=re.S)
    patterns = []
    for line in sample.replace("http://127.0.0.1:8000", base_url).splitlines():
        if line == "...":
            continue
        parts = []
        for token in re.split(r"(\d+(?:\.\d+)?| +|…)", line):
            if not token:
                continue
            if token == "…":
                parts.append(".*")
            elif token.isspace():
                parts.append(" +")
            elif re.fullmatch(r"\d+(?:\.\d+)?", token):
                parts.append(r"\d+(?:\.\d+)?")
            else:
                parts.append(re.escape(token))
        patterns.append(re.compile("".join(parts)))
    return patterns


def assert_lines_in_order(lines: list[str], patterns: list[re.Pattern[str]]) -> None:
    """Each pattern matches a whole line, after the line the previous one matched."""
    at = 0
    for p in patterns:
        while at < len(lines) and not p.fullmatch(lines[at]):
            at += 1
        assert at < len(lines), f"no line matches {p.pattern!r} (in order); output:\n" + "\n".join(lines)
        at += 1


def test_output_patterns_are_strict_about_words() -> None:
    """The pin fails on a renamed column or a missing line, not on a changed number or width."""
    patterns = output_patterns("http://127.0.0.1:9")
    header = next(p for p in patterns if p.pattern.lstrip(" +").startswith("step"))
    assert header.fullmatch("  step        count  err %  p50 ms  p90 ms  p95 ms  p99 ms  max ms  rate /s")
    assert not header.fullmatch("  step        count  err%  p50   p90   p95   p99   max")
    login = next(p for p in patterns if "login" in p.pattern)
    assert login.fullmatch("  login          25    0.0    15.7    27.5    28.3    37.1    37.1      5.0")
    assert not login.fullmatch("  login          25    0.0    15.7    27.5    28.3    37.1    37.1")
    assert patterns[-1].fullmatch("fpt: DoD squad PASSED; exit code 0")


def test_readme_flask_example_runs_in_process_at_50_per_second(pytester: pytest.Pytester) -> None:
    pytest.importorskip("flask")
    (code,) = blocks("readme-example: flask", "python")
    pytester.makepyfile(test_members=code)
    pytester.makepyprojecttoml('[tool.fpt.dod]\nlevel = "virtual"\nvirtual = ["suite.executed", '
                               '"functional.single_user", "data_swap.high_traffic_virtual", '
                               '"performance.error_rate"]\n')
    result = pytester.runpytest("-p", "no:cacheprovider", "-m", "fpt")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*rate 50.00/s achieved of 50.00/s*", "*ok   data swap: passes*",
                                 "DoD virtual: PASSED"])
    assert result.ret == pytest.ExitCode.OK
