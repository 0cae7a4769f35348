"""benchmarks/sft_throughput.py --quick runs and ends with parseable RESULT lines."""

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "sft_throughput.py"
ROWS = ["bare PyTorch loop", "bare loop, TRL fused LM head loss", "bare loop, labelled-positions head",
        "uas-audio train (AudioSFTTrainer)"]


def test_quick_benchmark_prints_the_table_and_the_overhead_results(tmp_path):
    result = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--out", str(tmp_path / "out")],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    names = "|".join(re.escape(name) for name in ROWS)
    rates = dict(re.findall(rf"^({names})\s+[0-9.]+\s+([0-9.]+)$", result.stdout, re.M))
    assert list(rates) == ROWS
    assert all(float(rate) > 0 for rate in rates.values())
    for result_name, peer in (("sft_trainer_overhead", ROWS[0]), ("sft_trainer_loop_overhead", ROWS[2])):
        match = re.search(rf"^RESULT {result_name}: (-?[0-9.]+) % \(target <= 10\)$", result.stdout, re.M)
        assert match, result_name
        bare, trainer = float(rates[peer]), float(rates[ROWS[3]])
        # the table rounds to 0.01 samples/s: the overhead's sign must agree with the two rates
        assert (float(match.group(1)) > 0) == (bare > trainer) or abs(bare - trainer) <= 0.01
