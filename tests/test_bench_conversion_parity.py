"""benchmarks/conversion_parity.py --quick runs, prints its table and one parseable RESULT line per source family,
each within its target."""

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "conversion_parity.py"


def test_quick_benchmark_prints_the_table_and_parity_results():
    out = subprocess.run([sys.executable, str(SCRIPT), "--quick"], capture_output=True, text=True, check=True,
                         timeout=300).stdout
    assert "source's own WhisperFeatureExtractor (30 s silence padding)" in out
    assert re.search(r"^voxtral\s+no\s+Voxtral's encoder attends", out, re.MULTILINE)
    results = re.findall(r"^RESULT conversion_max_abs_dlogit_(\w+): ([\d.e+-]+) logits \(target < ([\d.e-]+)\)$",
                         out, re.MULTILINE)
    assert [(family, target) for family, _, target in results] == [("qwen2_audio", "0.0001"), ("qwen3_asr", "0.0001")]
    assert all(float(value) < float(target) for _, value, target in results)
