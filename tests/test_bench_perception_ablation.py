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


@pytest.mark.slow  # ~100 s on a loaded 2-core machine: the default run keeps the summary test below
def test_quick_ablation_prints_tables_plot_and_results(tmp_path):
    plot = tmp_path / "ablation.png"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "perception_ablation.py"), "--quick",
                           "--plot", str(plot)], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    for mixture in ("asr (peer)", "asr+uas", "asr+qa", "asr+uas+qa", "asr+caption"):
        assert f"| {mixture} | qa |" in out or f"| {mixture} | uas |" in out
    assert "| random choice (expected) | - |" in out
    assert ("| qa: perception % | qa: shuffled audio % | qa: content % | uas: perception % | uas: shuffled audio % "
            "| uas: content % |") in out
    for variant in ("asr", "asr+uas", "asr+qa", "asr+uas+qa", "asr+caption"):  # one line per seed and mixture
        assert f"seed 0 {variant:<12} qa: perception" in out and "(shuffled audio" in out
    results = {r["name"]: r for r in parse_results(out)}
    gains = {"uas_gain_perception", "uas_qa_gain_perception", "both_gain_perception", "uas_over_caption_perception",
             "both_gain_content", "uas_gain_from_audio", "uas_qa_gain_from_audio", "both_gain_from_audio"}
    targets = {"uas_from_audio": ("points", ">=", 10), "both_from_audio": ("points", ">=", 10),
               "asr_from_audio_abs": ("points", "<=", 2), "uas_gender": ("%", ">=", 85),
               "both_gender": ("%", ">=", 85), "uas_over_caption_from_audio": ("points", ">", 0)}
    assert set(results) == gains | set(targets)
    assert all(results[g]["unit"] == "points" and results[g]["op"] == ">" and float(results[g]["target"]) == 0
               for g in gains)
    assert all((results[t]["unit"], results[t]["op"], float(results[t]["target"])) == spec
               for t, spec in targets.items())
    assert "| majority label of the training records (expected) | - |" in out
    assert plot.stat().st_size > 0


def _run(perception, content=0.5):
    return {"perception": perception, "content": content, "by_field": {"gender": perception}}


def _pair(real, shuffled):
    return {"real": [_run(p) for p in real], "shuffled": [_run(p) for p in shuffled]}


def test_summary_takes_the_better_readout_and_the_gain_over_shuffled_audio():
    result = {"scores": {
        "asr": {"qa": _pair([0.30, 0.34], [0.30, 0.30]), "uas": _pair([0.31, 0.31], [0.31, 0.31])},
        "asr+uas": {"qa": _pair([0.30, 0.30], [0.30, 0.30]), "uas": _pair([0.60, 0.50], [0.45, 0.45])},
    }}
    summary = summarize(result)
    assert summary["asr"]["readout"] == "qa" and summary["asr"]["perception"] == pytest.approx((32.0, 2 ** 0.5 * 2))
    assert summary["asr"]["audio"] == pytest.approx((2.0, 2 ** 0.5 * 2))
    assert summary["asr+uas"]["readout"] == "uas" and summary["asr+uas"]["gender"][0] == pytest.approx(55.0)
    assert summary["asr+uas"]["audio"][0] == pytest.approx(10.0)
    assert summary["asr+uas"]["by_readout"]["qa"]["real"]["perception"] == pytest.approx((30.0, 0.0))
    assert summary["asr+uas"]["by_readout"]["uas"]["shuffled"]["perception"] == pytest.approx((45.0, 0.0))


def test_shuffled_audio_gives_every_item_another_clips_audio():
    from uas_audio.evaluation import EvalItem
    from uas_audio.evaluation.perception import shuffled_audio

    items = [EvalItem(id=f"{c}-{k}", bench="b", question="q", choices=["a", "b"], answer="a", audio=c)
             for c in (b"x", b"y", b"z") for k in range(2)]
    blind = shuffled_audio(items)
    assert [i.id for i in blind] == [i.id for i in items]
    assert all(b.audio != i.audio for b, i in zip(blind, items))
    assert sorted(b.audio for b in blind) == sorted(i.audio for i in items)
    with pytest.raises(ValueError, match="two clips"):
        shuffled_audio(items[:2])


_ORPHAN_SCRIPT = """
import os, sys, time
from concurrent.futures import ProcessPoolExecutor
import multiprocessing
sys.path.insert(0, sys.argv[1])
from perception_ablation import _exit_with_parent
if __name__ == "__main__":
    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"), initializer=_exit_with_parent,
                               initargs=(os.getpid(), 0.2))
    print(pool.submit(os.getpid).result(), flush=True)
    time.sleep(120)
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in state  # an exited worker nobody reaped yet is a zombie: gone


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads process states from /proc (Linux)")
def test_workers_exit_when_the_benchmark_is_killed(tmp_path):
    """Killing the benchmark's process ends its training workers too (they used to train on as orphans)."""
    import os
    import signal
    import time

    script = tmp_path / "parent.py"
    script.write_text(_ORPHAN_SCRIPT)
    parent = subprocess.Popen([sys.executable, str(script), str(ROOT / "benchmarks")], stdout=subprocess.PIPE,
                              text=True)
    try:
        worker = int(parent.stdout.readline())
        assert _alive(worker)
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=30)
        deadline = time.monotonic() + 20
        while _alive(worker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(worker), "the worker outlived the killed benchmark"
    finally:
        if parent.poll() is None:
            parent.kill()
