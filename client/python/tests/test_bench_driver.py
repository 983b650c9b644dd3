"""tools/bench/ipp_compare_driver.py through ipp's package (--api ipp), the
Python half of tools/bench/compare, at tiny counts: every workload runs and
checks itself (no timing is asserted; speed is tools/bench's business)."""

import os
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
DRIVER = os.path.join(ROOT, "tools", "bench", "ipp_compare_driver.py")


def test_compare_driver_smoke(py, cluster, tmp_path):
    prof = tmp_path / "driver.pstats"
    p = subprocess.run(
        [sys.executable, DRIVER, "--api", "ipp", "--profile-dir",
         os.path.join(cluster.ipp_dir, "profile_" + cluster.profile), "--throughput", "40",
         "--latency", "5", "--sync-latency", "5", "--map", "30", "--chain", "6", "--dag", "12",
         "--profile", str(prof)],
        capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    got = dict(line.split("=", 1) for line in p.stdout.splitlines())
    assert got["throughput_tasks"] == "40" and got["throughput_failed"] == "0"
    assert got["sync_latency_rounds"] == "5" and float(got["sync_latency_p50_us"]) > 0
    assert got["map_items"] == "30" and got["map_wrong"] == "0"
    assert got["chain_tasks"] == "6" and got["chain_order_violations"] == "0"
    assert got["dag_nodes"] == "12" and got["dag_order_violations"] == "0"
    assert prof.stat().st_size > 0  # cProfile stats of the client's side
