"""The Ray engine benchmark runs in quick mode, finds the Ray rows equal to the local runner's and ends with its
RESULT lines."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "annotate_ray.py"
RESULT = re.compile(r"^RESULT (\w+): (-?[\d.]+) (.+?) \(target (>=|<=|>|<|==) (-?[\d.]+)\)$")


@pytest.mark.slow  # a Ray instance and three annotation runs: about a minute on a loaded 2-core machine
def test_quick_benchmark_prints_its_table_and_result_lines():
    run = subprocess.run([sys.executable, str(SCRIPT), "--quick"], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    results = {m.group(1): m for m in map(RESULT.match, run.stdout.splitlines()) if m}
    assert set(results) == {"ray_rows_equal_local", "ray_per_row_overhead", "ray_2_workers_vs_1"}
    assert results["ray_rows_equal_local"].group(2) == "2"  # both Ray engines gave the local runner's rows
    assert "| local runner | 1 process |" in run.stdout and "| ray | 2 |" in run.stdout
