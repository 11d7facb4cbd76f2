"""Shards: parsing and the engines' variables, the common start, the shard file and its merge's refusals."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from fpt.config.errors import ConfigError
from fpt.config.hist import Histogram
from fpt.config.settings import FptConfig, build
from fpt.config.shard import Shard, combined_split, engine_shard, parse_shard, parse_start_at, session_of
from fpt.config.thresholds import Unmeasurable, evaluate, parse_threshold
from fpt.evidence.findings import FindingLog
from fpt.evidence.metrics import Metrics
from fpt.evidence.result import RunResult
from fpt.judge.dod.checklist import digest
from fpt.judge.merge import merge_results
from fpt.report.checklist import detail
from fpt.run.engine import EngineStats
from fpt.shard_plugin import suite_digest, wait_until
from fpt.shardfile import MergeError, ShardFile, collect, merge, problems, read, relabel, settings_of, write


def _build(environ: dict[str, str] | None = None, cli: dict[str, object] | None = None) -> FptConfig:
    return build(pyproject={}, ini={}, environ=environ or {}, cli=cli or {})


# -- where K/N comes from ------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [("1/4", "1/4"), (" 2 / 2 ", "2/2"), ("", ""), ("1/1", "1/1")])
def test_shard_values(text: str, expected: str) -> None:
    assert parse_shard(text) == expected


@pytest.mark.parametrize("text", ["0/2", "3/2", "2", "1/0", "a/b", "-1/2", "1/2/3", "1.5/2"])
def test_bad_shard_names_key_value_and_what_is_allowed(text: str) -> None:
    with pytest.raises(ConfigError) as e:
        _build(cli={"shard": text})
    assert e.value.key == "shard"
    assert str(e.value) == (f"fpt: shard must be K/N with whole numbers 1 <= K <= N (this is shard K of N), "
                            f"such as 1/4; got {text!r} (from command line)")


def test_fpt_shard_from_environment_and_engine_variables() -> None:
    assert _build({"FPT_SHARD": "2/3"}).shard == "2/3"
    # Kubernetes Indexed Job: 0-based index, total from the manifest
    cfg = _build({"JOB_COMPLETION_INDEX": "0", "FPT_SHARD_TOTAL": "3"})
    assert (cfg.shard, cfg.sources["shard"]) == ("1/3", "JOB_COMPLETION_INDEX=0 and FPT_SHARD_TOTAL=3")
    # GitLab parallel: 1-based
    assert _build({"CI_NODE_INDEX": "2", "CI_NODE_TOTAL": "2"}).shard == "2/2"
    # an Indexed Job that indexes something else is not a shard
    assert _build({"JOB_COMPLETION_INDEX": "4"}).shard == ""
    # fpt's own settings beat the engine's variables
    assert _build({"CI_NODE_INDEX": "2", "CI_NODE_TOTAL": "2", "FPT_SHARD": "1/2"}).shard == "1/2"
    assert _build({"CI_NODE_INDEX": "2", "CI_NODE_TOTAL": "2"}, {"shard": "1/4"}).shard == "1/4"


@pytest.mark.parametrize(("environ", "key", "says"), [
    ({"FPT_SHARD_TOTAL": "3"}, "FPT_SHARD_TOTAL", "come with JOB_COMPLETION_INDEX"),
    ({"FPT_SHARD_TOTAL": "3", "JOB_COMPLETION_INDEX": "3"}, "JOB_COMPLETION_INDEX",
     "be below FPT_SHARD_TOTAL (3)"),
    ({"FPT_SHARD_TOTAL": "x", "JOB_COMPLETION_INDEX": "0"}, "FPT_SHARD_TOTAL", "be a whole number >= 1"),
    ({"CI_NODE_INDEX": "3", "CI_NODE_TOTAL": "2"}, "CI_NODE_INDEX", "be at most CI_NODE_TOTAL (2)"),
    ({"CI_NODE_INDEX": "0", "CI_NODE_TOTAL": "2"}, "CI_NODE_INDEX", "be a whole number >= 1"),
    ({"CI_NODE_TOTAL": "2"}, "CI_NODE_INDEX", "be set with the other"),
])
def test_engine_variables_that_do_not_make_a_shard_are_refused(environ: dict[str, str], key: str,
                                                              says: str) -> None:
    with pytest.raises(ConfigError) as e:
        engine_shard(environ)
    assert e.value.key == key
    assert says in str(e.value)


def test_start_at_takes_iso_with_a_zone_or_epoch_seconds() -> None:
    assert parse_start_at("2025-05-01T12:00:00Z") == 1746100800.0
    assert parse_start_at("2025-05-01T14:00:00+02:00") == 1746100800.0
    assert parse_start_at("1746100800") == 1746100800.0
    assert parse_start_at("") is None
    for bad in ("2025-05-01T12:00:00", "tomorrow", "-5", "0"):  # no zone: another time on every runner
        with pytest.raises(ConfigError) as e:
            _build(cli={"start_at": bad})
        assert e.value.key == "start_at"
        assert "ISO 8601 with a zone" in str(e.value)


def test_session_id_given_else_the_engine_run_else_the_common_start() -> None:
    assert session_of("mine", 5.0, {"GITHUB_RUN_ID": "7"}) == "mine"
    assert session_of("", 5.0, {"GITHUB_RUN_ID": "7", "GITHUB_RUN_ATTEMPT": "2"}) == "github-7-2"
    assert session_of("", None, {"CI_PIPELINE_ID": "99"}) == "gitlab-99"
    assert session_of("", 1746100800.0, {}) == "start-1746100800.000"
    assert session_of("", None, {}) == ""


def test_shards_of_one_session_make_the_same_unique_identities() -> None:
    a = _build({"FPT_SHARD": "1/2", "FPT_START_AT": "1746100800", "FPT_UNIQUE_IDENTITIES": "1"})
    b = _build({"FPT_SHARD": "2/2", "FPT_START_AT": "1746100800", "FPT_UNIQUE_IDENTITIES": "1"})
    other = _build({"FPT_SHARD": "2/2", "FPT_START_AT": "1746100801", "FPT_UNIQUE_IDENTITIES": "1"})
    assert a.identity_nonce == b.identity_nonce != other.identity_nonce


def test_shard_slices_compose_with_xdist_workers() -> None:
    """Shard K's W workers take (K-1)*W .. K*W-1 of N*W: every process a disjoint slice."""
    assert combined_split("", None) is None
    assert combined_split("", (1, 2)) == (1, 2)
    assert combined_split("2/3", None) == (1, 3)
    slices = {combined_split(f"{k}/3", (i, 2)) for k in (1, 2, 3) for i in (0, 1)}
    assert slices == {(j, 6) for j in range(6)}


def test_wait_until_sleeps_to_the_common_start_and_says_how_late() -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    said: list[str] = []
    assert wait_until(102.5, said.append, clock=lambda: now[0], sleep=sleep) == 0.0
    assert slept == [1.0, 1.0, 0.5]
    assert said == ["fpt: shard waits 2.5s for the common start (start_at 102.500)"]
    assert wait_until(90.0, said.append, clock=lambda: now[0], sleep=sleep) == 12.5  # past: start now
    assert len(said) == 1


def test_suite_digest_follows_the_tests_and_their_files(tmp_path: Path) -> None:
    (tmp_path / "test_a.py").write_text("def test_a(): pass\n")
    (tmp_path / "conftest.py").write_text("")
    one = suite_digest(["test_a.py::test_a"], tmp_path)
    assert one == suite_digest(["test_a.py::test_a"], tmp_path)
    (tmp_path / "conftest.py").write_text("X = 1\n")
    assert suite_digest(["test_a.py::test_a"], tmp_path) != one
    assert suite_digest(["test_a.py::test_a", "test_a.py::test_b"], tmp_path) != one


# -- the shard file and its merge ---------------------------------------------------------------------

def _run(worker: str, first_user: int, started: int, started_at: float) -> RunResult:
    m = Metrics()
    for i in range(started):
        m.step("s", i / 10, 1000.0 + 10 * i + first_user, None)
        m.iteration(i / 10, 2000.0 + first_user, None)
    engine = EngineStats(planned=started, started=started, completed=started, crashed=0, dropped_no_user=0,
                         dropped_cap=0, cancelled=0, window=2, elapsed=2.1, peak_inflight=2,
                         mean_inflight=1.0, overlapped_starts=3, lateness=Histogram())
    return RunResult(name="test_x.py::test_load", flow="f", profile="virtual", target="x", shape="50/s",
                     target_rate=25, duration=2, users=10, seed=1, arrivals="uniform", engine=engine,
                     metrics=m, findings=FindingLog(), worker=worker, first_user=first_user,
                     started_at=started_at)


def _shard(k: int, n: int = 2, *, session: str = "s1", **settings: object) -> ShardFile:
    cfg = dataclasses.replace(FptConfig(shard=f"{k}/{n}", report_dir=f"r{k}"), **settings)  # type: ignore[arg-type]
    shard = Shard(index=k, total=n, session=session)
    return ShardFile(shard=shard, code={"fpt": "0.1.0", "suite": "sha256:ab"}, settings=settings_of(cfg),
                     levels={"squad": ("suite.executed",)},
                     results=(relabel(_run("main", 10 * (k - 1), 50, 1000.0 + k / 10), shard),),
                     outcomes={"test_x.py::test_load": "passed"}, path=f"r{k}/fpt-shard-{k}-of-{n}.json")


def test_shard_file_round_trips_and_refuses_an_edit(tmp_path: Path) -> None:
    f = _shard(1)
    path = write(f, tmp_path)
    assert path.name == "fpt-shard-1-of-2.json"
    back = read(path)
    assert back.results[0].worker == "shard1"
    assert back.results[0].metrics.flow.count == 50
    data = json.loads(path.read_text())
    data["settings"]["rate"] = 500.0
    path.write_text(json.dumps(data))
    with pytest.raises(MergeError, match="digest does not match the content"):
        read(path)
    path.write_text(path.read_text()[:100])
    with pytest.raises(MergeError, match="is not valid JSON"):
        read(path)
    (tmp_path / "fpt-dod.json").write_text(json.dumps({"schema_version": 2}))
    with pytest.raises(MergeError, match="is not an fpt shard file"):
        read(tmp_path / "fpt-dod.json")
    with pytest.raises(MergeError, match="nowhere: no such file or directory"):
        collect([tmp_path / "fpt-dod.json", tmp_path / "nowhere"])
    (tmp_path / "sub").mkdir()
    with pytest.raises(MergeError, match=r"sub: no shard file \(fpt-shard-\*-of-\*.json\) in it"):
        collect([tmp_path / "sub"])
    assert collect([tmp_path, path]) == [path.resolve()]  # a file named twice is one shard


def test_merge_is_the_xdist_controllers_merge() -> None:
    a, b = _shard(1), _shard(2)
    merged = merge([b, a])
    direct = merge_results([a.results[0], b.results[0]])
    (r,) = merged.results
    assert r.worker == "shard1,shard2"
    assert r.engine.started == direct.engine.started == 100
    assert r.target_rate == 50  # each shard drove 25/s
    assert (r.users, r.first_user) == (20, 0)
    assert r.metrics.flow.hist.percentile(90) == direct.metrics.flow.hist.percentile(90)
    assert merged.outcomes == {"passed": 1, "failed": 0, "skipped": 0}  # one test, counted once
    assert merged.skew[0].seconds == pytest.approx(0.1)
    assert merged.skew[0].to_dict()["overlap_across_shards"] is None  # never claimed


@pytest.mark.parametrize(("shards", "says"), [
    ([_shard(1)], "shard 2/2 of session 's1' missing (given: 1/2)"),
    ([_shard(1), _shard(1), _shard(2)], "shard 1/2 given 2 times"),
    ([_shard(1), _shard(2, session="s2")], "of session 's2', r1/fpt-shard-1-of-2.json of 's1': shards of "
                                            "different sessions"),
    ([_shard(1), _shard(2, rate=10.0)],
     "has other settings than r1/fpt-shard-1-of-2.json: rate (10.0 vs None)"),
    ([_shard(1), _shard(2, 3)], "different shard counts"),
    ([_shard(1), dataclasses.replace(_shard(2), code={"fpt": "0.2.0", "suite": "sha256:ab"})],
     "ran another fpt version than r1/fpt-shard-1-of-2.json: '0.2.0' vs '0.1.0'"),
    ([_shard(1), dataclasses.replace(_shard(2), code={"fpt": "0.1.0", "suite": "sha256:cd"})],
     "ran another suite (tests collected or their files)"),
])
def test_merge_refuses_what_is_not_one_run_and_says_which(shards: list[ShardFile], says: str) -> None:
    assert any(says in p for p in problems(shards)), problems(shards)
    with pytest.raises(MergeError, match="(?s).*" + says.replace("(", r"\(").replace(")", r"\)")
                       .replace("?", r"\?")):
        merge(shards)


def test_report_dir_may_differ_between_shards() -> None:
    assert problems([_shard(1), _shard(2)]) == []


def test_a_run_missing_from_one_shard_leaves_the_merge_incomplete() -> None:
    a, b = _shard(1), dataclasses.replace(_shard(2), results=())
    merged = merge([a, b])
    assert merged.results[0].incomplete
    assert merged.incomplete == ("run test_x.py::test_load (call 1) is missing from shard 2/2",)


def test_merged_shards_never_claim_overlap_across_shards() -> None:
    """Two shards of one user each: every answer checked, none overlapped another user's within its
    shard. Merged, the run has 2 users and 0 overlapping pairs: the swap item stays not evidenced
    (a single process with both users could have shown it; the shards cannot)."""
    from fpt.evidence.checks import Evidence, StepEvidence
    from fpt.judge.dod.evaluate import evaluate

    def one_user(k: int) -> ShardFile:
        f = _shard(k)
        ev = Evidence(checks=("canary_scan",), steps=(StepEvidence(step="s", responses=50, ok=50, scanned=50,
                                                                   load_ok=50),))
        r = dataclasses.replace(f.results[0], users=1, evidence=ev)
        return dataclasses.replace(f, results=(r,))

    (r,) = merge([one_user(1), one_user(2)]).results
    assert (r.users, r.evidence.inspected, r.evidence.overlap_pairs) == (2, 100, 0)
    item = evaluate([r]).item("data_swap.high_traffic_virtual")
    assert item.status == "not_evidenced"
    assert "overlap" in detail(item)


@pytest.mark.parametrize(("field", "forged"), [
    ("unmeasured", {"why": "looked fine to me"}),  # a reason this fpt does not know
    ("unmeasured", {"why": "no_iteration_due", "hidden": 1}),  # a number no reason has
])
def test_a_shard_whose_threshold_reason_is_forged_is_refused_not_merged(tmp_path: Path, field: str,
                                                                       forged: object) -> None:
    unmeasured = evaluate(parse_threshold("p90<1s"), None, Unmeasurable.NO_ITERATION_DUE)
    run = dataclasses.replace(_run("main", 0, 50, 1000.0), thresholds=(unmeasured,))
    f = dataclasses.replace(_shard(1), results=(run,))
    data = json.loads(write(f, tmp_path).read_text())
    data["results"][0]["thresholds"][0][field] = forged
    data["digest"] = digest({k: v for k, v in data.items() if k != "digest"})  # a forger recomputes it
    path = tmp_path / "fpt-shard-1-of-2.json"
    path.write_text(json.dumps(data))
    with pytest.raises(MergeError, match=r"fpt-shard-1-of-2\.json: malformed shard file"):
        read(path)
