"""examples/python/seeds.py — the script the README's Python section runs —
runs as written against a real cluster, every one of its checks passing."""

import os
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
SCRIPT = os.path.join(ROOT, "examples", "python", "seeds.py")


def test_seeds_script_runs_as_the_readme_says(py, cluster):
    env = dict(os.environ, IPP_DIR=cluster.ipp_dir, IPP_PROFILE=cluster.profile)
    p = subprocess.run([sys.executable, SCRIPT], env=env, capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    out = p.stdout
    assert "prime map == builtin map: [" in out and "I got PID: " in out
    assert out.rstrip().endswith("all seeds' examples ran")
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    assert "/usr/bin/python3 examples/python/seeds.py" in readme
