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
    rows = re.findall(r"^(tiny|tiny-hifigan|base)\s+(istft|hifigan)\s+([\d.]+)M", out, flags=re.MULTILINE)
    assert [(name, vocoder) for name, vocoder, _ in rows] == [("tiny", "istft"), ("tiny-hifigan", "hifigan"), ("base", "hifigan")]
    assert 80 < float(rows[2][2]) < 130  # the ~100M-class preset
    result = re.search(r"^RESULT speech_head_rtf_tiny: ([\d.]+) x real time \(target >= 10\)$", out, flags=re.MULTILINE)
    assert result is not None, out[-1500:]
    assert float(result.group(1)) > 0
    table = dict(  # system → (mel L1, MCD, WER %, errors, words), the first table (held-out espeak-ng)
        (m.group(1), m.groups()[1:])
        for m in reversed(list(re.finditer(r"^(\S.*?)\s{2,}([\d.]+|—)\s+([\d.]+|—)\s+([\d.]+|—)\s+(\d+) / (\d+)$",
                                          out, flags=re.MULTILINE)))
    )
    griffin_lim = table["Griffin-Lim (ground-truth mel)"]
    assert float(griffin_lim[0]) < 0.2  # phase recovery from the true mel stays close to it
    original = re.search(r"^original clip\s+—\s+—\s+([\d.]+)\s+(\d+) / (\d+)$", out, flags=re.MULTILINE)
    assert original is not None and int(original.group(3)) > 0  # WER of the clips themselves: the reference line
    for system in ("iSTFT vocoder (ground-truth mel)", "HiFi-GAN vocoder (ground-truth mel)", "resynthesis wav→codes→mel→wav"):
        l1, mcd, wer, errors, words = table[system]
        assert float(l1) >= 0 and float(mcd) >= 0 and int(words) == int(original.group(3))
        assert float(wer) == pytest.approx(100 * int(errors) / int(words), abs=0.06)  # WER = errors / reference words
    assert re.search(r"^RESULT vocoder_mcd_vs_griffin_lim: -?[\d.]+ dB \(target < 0\)$", out, flags=re.MULTILINE)
    assert re.search(r"^RESULT resynthesis_wer_gap: -?[\d.]+ points \(target <= 10\)$", out, flags=re.MULTILINE)
    assert re.search(r"^RESULT speech_training_wall: [\d.]+ minutes \(target <= 10\)$", out, flags=re.MULTILINE)


def test_codec_beside_the_vocoders_gives_the_same_weights(tmp_path, monkeypatch):
    """--jobs 2 trains the codec in a second process while the vocoders train here: same weights as one after the
    other (each part seeds itself), loaded back from the codec's saved folders."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))  # the spawned process imports speech_head too
    from speech_head import _train
    import torch

    runs = {}
    for jobs in (1, 2):
        (tmp_path / str(jobs)).mkdir()
        parts, timings = _train(True, 3, 2, 1, tmp_path / str(jobs), jobs=jobs)
        assert timings["jobs"] == jobs and timings["train_wall_s"] > 0
        runs[jobs] = {"tokenizer": parts["tokenizer"].state_dict(), "head": parts["head"].state_dict()}
    for part in ("tokenizer", "head"):
        one, two = runs[1][part], runs[2][part]
        assert one.keys() == two.keys() and all(torch.equal(one[k], two[k]) for k in one)
