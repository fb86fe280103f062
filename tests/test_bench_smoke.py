"""The hand-run benchmarks keep working: each one's main at tiny sizes. No timing is asserted here;
bench/README.md says how to run them at full size and what they measured."""

from bench import api_writes, board, event_times, geofence, intel_ingest, intel_matching
from intel.domain.parse import parse


def test_matching_benchmark_runs_and_its_baseline_agrees_with_match_items(tmp_path, capsys):
    results = intel_matching.main(
        [
            "--items=50",
            "--venues=20",
            "--details=6",
            "--naive-sample=10",
            "--repeat=1",
            "--counts=10",
            "--stages=1",
            f"--workdir={tmp_path}",
        ]
    )
    assert results["sizes"]["items"] == 50 and results["sizes"]["details"] > 0
    assert "exact distances" in results["stage_cpu_ms"] and "reasons and matches" in results["stage_cpu_ms"]
    # The generated world puts items near venues: a run that matched nothing compared nothing.
    found = results["match_items"]
    assert found["matches"] > 0 and found["items_with_a_match"] > 0 and found["details_with_a_match"] > 0
    naive = results["naive"]
    assert naive["sample_items"] == 10 and naive["sample_matches"] > 0 and naive["same_matches_on_sample"]
    counts = results["counts"]
    assert counts["items"] == 10 and counts["matches"] > 0
    assert counts["candidate_item_places"] >= counts["item_places_in_time_window_measured"]
    assert counts["item_places_in_time_window_measured"] >= counts["item_places_within_reach"] > 0
    assert "match_items: median" in capsys.readouterr().out


def test_ingest_benchmark_polls_end_to_end_and_stage_by_stage(tmp_path, capsys):
    results = intel_ingest.main(
        ["--items=50", "--venues=20", "--details=4", "--match-per-poll=20", f"--workdir={tmp_path}"]
    )
    assert results["feed"]["items"] == 50 and not results["feed"]["over_fetch_default"]
    e2e = results["end_to_end"]
    poll, repoll, job = e2e["poll"], e2e["repoll"], e2e["matching_job"]
    assert poll["status"] == "ok" and poll["new_items"] == 50 and poll["stored"] == 50
    assert (poll["matched"], poll["waiting"], poll["waiting_to_be_matched"]) == (20, 30, 30)
    assert poll["placed"] > 0 and poll["placed_by_gazetteer"] > 0
    assert (repoll["status"], repoll["new_items"], repoll["stored"]) == ("ok", 0, 50)
    assert job["rounds"] == 1 and job["waiting_to_be_matched"] == 0
    stages = results["breakdown"]
    names = ["fetch", "parse", "build_items", "store", "match_and_record", "commit", "publish"]
    assert list(stages["stages_s"]) == names == list(stages["stages_cpu_s"])
    assert stages["parsed_items"] == stages["stored"] == 50 and stages["matched_items"] == 20
    assert "poll_feed again: ok" in capsys.readouterr().out


def test_board_benchmark_reads_every_agent_of_the_detail(tmp_path, capsys):
    results = board.main(["--agents=4", "--statuses=3", "--positions=5", "--repeat=1", f"--workdir={tmp_path}"])
    assert results["detail_board"]["agents_on_board"] == 4
    assert results["detail_board"]["statements"] > 0
    assert "detail_board:" in capsys.readouterr().out


def test_geofence_benchmark_evaluates_an_agent_with_a_long_track(tmp_path, capsys):
    results = geofence.main(["--fixes=30", "--repeat=1", f"--workdir={tmp_path}"])
    assert results["fixes"] == 30 and results["events"] == 0 and results["statements"] > 0
    assert "evaluate_agent with 30 fixes" in capsys.readouterr().out


def test_the_generated_feed_is_what_the_ingest_benchmark_says(tmp_path):
    parsed = parse(intel_ingest.make_feed(40, text_share=0.5))
    assert parsed.usable and len(parsed.items) == 40 and not parsed.problems
    with_points = [item for item in parsed.items if item.geometry]
    assert 0 < len(with_points) < 40 and all(item.geometry["type"] == "point" for item in with_points)


def _load(*args: str) -> dict:
    """bench/load.py patches the standard library for gevent, so it runs in its own process."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    command = [
        sys.executable,
        "bench/load.py",
        "--seconds=2",
        "--scenarios=5x10",
        "--saturation-rates=10",
        "--warm-up=1",
        "--idle-boards=5",
        "--agents=5",
        "--json",
        *args,
    ]
    done = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def _delivered_everything(results: dict, targets: set[str]) -> None:
    assert {r["target"] for r in results["scenarios"]} == targets
    for r in results["scenarios"]:
        assert r["posted"] == r["stored"] == 20 and r["lost"] == 0 and r["duplicated"] == 0, r
        assert r["p50_ms"] > 0 and r["server_cpu_ms_per_status"] > 0
    assert {m["target"] for m in results["memory"]} == targets


def test_load_benchmark_against_the_floor_and_the_embedded_default():
    _delivered_everything(_load("--targets=floor,embedded"), {"floor", "embedded"})


def test_load_benchmark_against_the_production_topology(postgres_url, redis_url):
    from .conftest import POSTGRES_URL

    results = _load("--targets=production", f"--postgres={POSTGRES_URL}", f"--redis={redis_url}")
    _delivered_everything(results, {"production"})


def test_api_writes_benchmark_posts_statuses_and_positions(tmp_path, capsys):
    results = api_writes.main(["--requests=10", "--agents=2", "--profile=5", f"--workdir={tmp_path}"])
    assert results["status"]["requests"] == results["position"]["requests"] == 10
    assert results["status"]["statements"] > 0 and results["position"]["statements"] > 0
    assert "cumulative" in results["profile"]
    assert "position:" in capsys.readouterr().out


def test_event_times_benchmark_reads_every_items_time(capsys):
    results = event_times.main(["--items=40", "--repeat=1", "--dateparser-sample=2"])
    assert results["items"] == 40 and results["items_with_a_stated_time"] == 40
    assert "event_window: median" in capsys.readouterr().out
