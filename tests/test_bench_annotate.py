"""The annotation throughput benchmark runs in quick mode and ends with parseable RESULT lines."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "annotate_throughput.py"
RESULT = re.compile(r"^RESULT (\w+): (-?[\d.]+) (.+?) \(target (>=|<=|>|<|==) (-?[\d.]+)\)$")


@pytest.mark.slow  # ~85 s on a loaded 2-core machine (librosa.pyin is the peer)
def test_quick_benchmark_prints_its_tables_and_result_lines():
    run = subprocess.run([sys.executable, str(SCRIPT), "--quick"], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    results = {m.group(1): m for m in map(RESULT.match, run.stdout.splitlines()) if m}
    assert set(results) == {"annotate_rtf", "pitch_speedup_vs_pyin", "pitch_f0_error"}
    assert results["annotate_rtf"].group(3) == "x real time per core"
    assert float(results["pitch_speedup_vs_pyin"].group(2)) > 1.0  # the tracker beats pyin in every run
    assert float(results["pitch_f0_error"].group(2)) >= 0.0
    assert "| librosa.pyin |" in run.stdout and "| stage 1+2+3 | 12 |" in run.stdout
