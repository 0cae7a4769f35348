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


def _event_item(source, labels, speech_s, acceptable):
    return {"row": {"id": f"{source}-{len(labels)}", "source": source, "acceptable_events": acceptable},
            "m": {"vad_speech_s": speech_s, "vad_mean_top_prob": 0.9, "event_labels": labels}}


def test_event_calibration_says_where_the_shipped_table_was_counted_and_whether_the_recount_matches():
    bench = _benchmark_module()
    dev = [_event_item("sound-theme-freedesktop", ["music"], 0.0, ["music"]),
           _event_item("sound-theme-freedesktop", ["beep"], 0.0, []),
           _event_item("klettres-data", ["hiss"], 0.5, [])]  # a voice version 2 added: not in version 1's dev
    shipped = {("beep", False): (0, 1), ("music", False): (1, 1)}
    lines = bench.event_calibration_lines(dev, shipped, threshold=0.6)
    assert "2 of 3 dev clips" in lines[1] and "recounted here: identical" in lines[1]
    assert not any("recount on version 1" in line for line in lines)
    row = {line.split()[0] + " " + line.split()[1]: line.split() for line in lines[4:]}
    assert row["music, no"][-3:] == ["yes", "/", "yes"]  # (1 + 1) / (1 + 2) = 0.667 under both
    assert row["hiss, speech"][2:] == ["-", "0.500", "0/1", "0.333", "no", "/", "no"]  # counted on version 2 only

    lines = bench.event_calibration_lines(dev, {("music", False): (5, 5)}, threshold=0.6)
    assert "DIFFERENT from the shipped table" in lines[1]
    assert "    ('beep', False): (0, 1)," in lines and "    ('music', False): (1, 1)," in lines
