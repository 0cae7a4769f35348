"""The real-recordings benchmark runs in quick mode on the registry-shipped set and prints its RESULT lines.
Slow: the first run fetches about 20 MB of Debian packages and two sdists (then cached)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "annotate_real.py"
RESULT = re.compile(r"^RESULT (\w+): (-?[\d.]+) (.+?) \(target (>=|<=|>|<|==) (-?[\d.]+)\)$")


@pytest.mark.slow
def test_quick_real_audio_benchmark_prints_tables_and_result_lines():
    run = subprocess.run([sys.executable, str(SCRIPT), "--quick"], capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    results = {m.group(1): float(m.group(2)) for m in map(RESULT.match, run.stdout.splitlines()) if m}
    assert {"speech_recall_dev", "false_speech_heldout", "gender_accuracy_emitted_heldout", "event_precision_dev",
            "annotate_real_rtf"} <= set(results)
    assert "| heldout | signal voice activity |" in run.stdout
