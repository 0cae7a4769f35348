"""The speech-head benchmark runs in quick mode and ends with a parseable RESULT line."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # ~35 s on a loaded 2-core machine (builds the ~100M base preset)
def test_speech_head_benchmark_quick_prints_tables_and_the_rtf_result():
    completed = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "speech_head.py"), "--quick"],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"},
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    out = completed.stdout
    assert "Griffin-Lim (ground-truth mel)" in out and "resynthesis wav→codes→mel→wav" in out
    rows = re.findall(r"^(tiny|base)\s+([\d.]+)M", out, flags=re.MULTILINE)
    assert [name for name, _ in rows] == ["tiny", "base"]
    assert 80 < float(rows[1][1]) < 130  # the ~100M-class preset
    result = re.search(r"^RESULT speech_head_rtf_tiny: ([\d.]+) x real time \(target >= 10\)$", out, flags=re.MULTILINE)
    assert result is not None, out[-1500:]
    assert float(result.group(1)) > 0
    griffin_lim = re.search(r"^Griffin-Lim \(ground-truth mel\)\s+([\d.]+)\s+([\d.]+)$", out, flags=re.MULTILINE)
    assert float(griffin_lim.group(1)) < 0.2  # phase recovery from the true mel stays close to it
