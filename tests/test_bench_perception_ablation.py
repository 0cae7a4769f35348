"""benchmarks/perception_ablation.py --quick runs end to end: both readouts for every mixture, the table, the plot
and parseable RESULT lines; and the summary picks each mixture's better readout."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from perception_ablation import summarize  # noqa: E402
from run_all import parse_results  # noqa: E402


def test_quick_ablation_prints_tables_plot_and_results(tmp_path):
    plot = tmp_path / "ablation.png"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "perception_ablation.py"), "--quick",
                           "--plot", str(plot)], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    for mixture in ("asr (peer)", "asr+uas", "asr+qa", "asr+uas+qa", "asr+caption"):
        assert f"| {mixture} | qa |" in out or f"| {mixture} | uas |" in out
    assert "| random choice (expected) | - |" in out
    assert "| qa: perception % | qa: content % | uas: perception % | uas: content % |" in out
    for variant in ("asr", "asr+uas", "asr+qa", "asr+uas+qa", "asr+caption"):  # one line per seed and mixture
        assert f"seed 0 {variant:<12} qa: perception" in out and "| uas: perception" in out
    results = {r["name"]: r for r in parse_results(out)}
    assert set(results) == {"uas_gain_perception", "uas_qa_gain_perception", "both_gain_perception",
                            "uas_over_caption_perception", "both_gain_reasoning"}
    assert all(r["unit"] == "points" and r["op"] == ">" and float(r["target"]) == 0 for r in results.values())
    assert plot.stat().st_size > 0


def _run(perception, reasoning=0.5):
    return {"perception": perception, "reasoning": reasoning, "by_field": {"gender": perception}}


def test_summary_takes_the_better_readout_by_mean_perception():
    result = {"scores": {
        "asr": {"qa": [_run(0.30), _run(0.34)], "uas": [_run(0.31), _run(0.31)]},
        "asr+uas": {"qa": [_run(0.30), _run(0.30)], "uas": [_run(0.60), _run(0.50)]},
    }}
    summary = summarize(result)
    assert summary["asr"]["readout"] == "qa" and summary["asr"]["perception"] == pytest.approx((32.0, 2 ** 0.5 * 2))
    assert summary["asr+uas"]["readout"] == "uas" and summary["asr+uas"]["gender"][0] == pytest.approx(55.0)
    assert summary["asr+uas"]["by_readout"]["qa"]["perception"] == pytest.approx((30.0, 0.0))
