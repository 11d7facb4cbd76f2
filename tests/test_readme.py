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


@pytest.fixture(scope="module")
def demo_url() -> Iterator[str]:
    from fpt.demo.server import serve

    with serve() as server:
        yield server.base_url
