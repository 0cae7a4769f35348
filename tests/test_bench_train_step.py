"""benchmarks/train_step_throughput.py --quick measures both models and ends with a parseable RESULT line."""

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "train_step_throughput.py"


def test_quick_benchmark_prints_both_models_and_the_result_line():
    out = subprocess.run([sys.executable, str(SCRIPT), "--quick"], capture_output=True, text=True, check=True,
                         timeout=300).stdout
    rows = dict(re.findall(r"^(UAS-Audio|Qwen2-Audio)\s+([\d,]+)\s", out, re.MULTILINE))
    assert set(rows) == {"UAS-Audio", "Qwen2-Audio"}
    params = {name: int(count.replace(",", "")) for name, count in rows.items()}
    assert abs(params["UAS-Audio"] / params["Qwen2-Audio"] - 1) < 0.05  # same LLM, encoder of equal size
    families = dict(re.findall(r"^UAS-Audio/(Qwen2-Audio|AuT) enc\s+([\d,]+)\s", out, re.MULTILINE))
    assert set(families) == {"Qwen2-Audio", "AuT"}  # the other encoder families train at the same size
    results = re.findall(r"^RESULT train_step_speedup: ([\d.]+) x \(target >= 3\)$", out, re.MULTILINE)
    assert len(results) == 1 and float(results[0]) > 0
