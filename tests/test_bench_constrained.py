"""benchmarks/constrained_decoding.py --quick runs and ends with parseable RESULT lines."""

import os
import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "constrained_decoding.py"


def test_quick_benchmark_prints_a_table_and_result_lines():
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--device", "cpu"], capture_output=True,
                         text=True, check=True, timeout=300, env=env).stdout
    for setting in ("roomy", "tight"):
        assert re.search(rf"^tiny\s+{setting} \d+\s+[\d.]+\s+\d+\s+[\d.]+\s+[\d.]+\s+-?[\d.]+$", out, re.MULTILINE), out
    assert "grammar compile: first" in out
    results = dict(re.findall(r"^RESULT (\w+): (-?[\d.]+) (?:%|ms) \(target <= [\d.]+\)$", out, re.MULTILINE))
    assert set(results) == {"constraint_overhead", "cached_compile_ms"}
    assert float(results["cached_compile_ms"]) > 0


FUZZ = SCRIPT.with_name("constrained_fuzz.py")


def test_quick_fuzz_prints_its_table_the_baseline_and_a_full_pass_rate():
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, str(FUZZ), "--quick"], capture_output=True, text=True, check=True,
                         timeout=300, env=env).stdout
    assert re.search(r"^all\s+\d+\s+\d+\s+\d+\s+\d+", out, re.MULTILINE), out
    assert "baseline valid:" in out and "FAILED" not in out
    assert out.strip().splitlines()[-1] == "RESULT fuzz_pass_rate: 100.0 % (target >= 100)"
