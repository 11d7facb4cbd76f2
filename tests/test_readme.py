"""The README stands alone, and its first flow runs against the demo exactly as written."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from fpt.config import KEYS
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
    result.stdout.fnmatch_lines(output_patterns(demo_url))


@pytest.fixture(scope="module")
def demo_url() -> Iterator[str]:
    from suites.demo.server import serve

    with serve() as server:
        yield server.base_url


def output_patterns(base_url: str) -> list[str]:
    """The README's output sample as fnmatch patterns: numbers, a cut line's tail (…) and ``...``
    lines (output left out) match anything; the sample's port is the demo's."""
    (sample,) = re.findall(r"<!-- readme-output -->\s*\n```\n(.*?)\n```", README, flags=re.S)
    patterns = []
    for line in sample.replace("http://127.0.0.1:8000", base_url).splitlines():
        if line == "...":
            continue
        line = re.sub(r"([\[\]*?])", r"[\1]", line)  # fnmatch's own characters, literally
        line = re.sub(r"\d+(\.\d+)?", "*", line).replace("…", "*")
        patterns.append(line)
    return patterns


def test_output_patterns_are_strict_about_words() -> None:
    """The pin fails on a renamed column or a missing line, not on a changed number."""
    import fnmatch

    patterns = output_patterns("http://127.0.0.1:9")
    header = next(p for p in patterns if p.lstrip().startswith("step"))
    real = "  step        count  err %  p50 ms  p90 ms  p95 ms  p99 ms  max ms  rate /s"
    assert fnmatch.fnmatch(real, header)
    assert not fnmatch.fnmatch("  step        count  err%  p50   p90   p95   p99   max", header)
    assert patterns[-1] == "fpt: DoD squad PASSED; exit code *"


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
