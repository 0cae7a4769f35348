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


def _sweep_items(speech_probs, other_probs):
    """Dev items as the benchmark keeps them: manifest row, measurements, Silero window probabilities."""
    import numpy as np

    from uas_audio.annotate.experts.silero import SileroVADExpert

    items = []
    for speech, probs in [(True, p) for p in speech_probs] + [(False, p) for p in other_probs]:
        p = np.asarray(probs, dtype=np.float32)
        items.append({"row": {"id": f"clip{len(items)}", "speech": speech}, "vad_probs": p,
                      "m": {**SileroVADExpert.summarise(p), "speech_s": 0.0}})
    return items


def _benchmark_module():
    import importlib.util

    sys.path.insert(0, str(SCRIPT.parent / "datasets"))
    spec = importlib.util.spec_from_file_location("annotate_real", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_speech_rule_sweep_adopts_the_smallest_change_that_reaches_97_percent_with_a_margin():
    bench = _benchmark_module()
    short_word = [0.0] * 10 + [0.9] * 4 + [0.0] * 10  # 0.128 s of windows >= 0.5: under today's 0.2 s
    lines, chosen = bench.speech_rule_sweep(_sweep_items([short_word] * 40, [[0.0] * 30] * 10))
    assert chosen[:3] == ("A", 0.5, 0.1) and chosen[3] == 40  # probability 0.5 kept, S nearest 0.2 that hears all
    assert any("clip0" in line for line in lines if line.startswith("  missed by today's rule"))


def test_speech_rule_sweep_keeps_todays_rule_when_a_non_speech_clip_looks_the_same():
    bench = _benchmark_module()
    short_word = [0.0] * 10 + [0.9] * 4 + [0.0] * 10
    lines, chosen = bench.speech_rule_sweep(_sweep_items([short_word] * 40, [short_word] + [[0.0] * 30] * 9))
    assert chosen is None and any("keep today's" in line for line in lines)
