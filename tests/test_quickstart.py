"""The README's main job, in its --fast form: a real run end to end, a second run that resumes, and a third
that picks up an interrupted training stage from its last checkpoint."""

import json
from pathlib import Path

import numpy as np
import pytest

from uas_audio.evaluation.result_lines import result_line
from uas_audio.evaluation.speech_quality import pocketsphinx_available
from uas_audio.quickstart import QuickstartSettings, run_quickstart
from uas_audio.schema import UAS

STEPS = ["synthesize", "validate", "composition", "annotate", "split", "qa", "speech_tokenizer", "train_uas",
         "train_control", "evaluate", "demo", "cards", "train_vocoder", "speech_out",
         "speech_tts"]


def _speech_out_section(report: str) -> str:
    start = report.index("## Speech out")
    return report[start:report.index("\n## ", start + 1)]


def _check_speech_out(out: Path, report: str, heldout: list[str]) -> None:
    """The speech decoder's section: the vocoder trained, the first held-out speech clip resynthesized and scored
    against Griffin-Lim, the WER of the original and the resynthesis, the spectrogram image and the two waveforms."""
    vocoder = json.loads((out / ".steps" / "train_vocoder.json").read_text())
    assert vocoder["steps"] == 2 and vocoder["type"] == "istft" and Path(vocoder["dir"], "config.json").is_file()
    speech = json.loads((out / ".steps" / "speech_out.json").read_text())
    assert speech["clip"] in heldout and speech["words"] == len(speech["transcript"].split()) > 0
    systems = {e["system"]: e for e in speech["systems"]}
    assert list(systems) == ["original clip", "Griffin-Lim (true mel)", "trained vocoder (true mel)",
                             "resynthesis wav → codes → mel → wav"]
    assert systems["original clip"]["mcd_db"] is None
    assert all(e["mel_l1"] > 0 and e["mcd_db"] > 0 for name, e in systems.items() if name != "original clip")
    # Griffin-Lim inverts the true mel: far closer to it than a 2-step decoder's resynthesis
    assert systems["Griffin-Lim (true mel)"]["mcd_db"] < systems["resynthesis wav → codes → mel → wav"]["mcd_db"]
    section = _speech_out_section(report)
    assert f"**{speech['clip']}**" in section
    assert "| system | mel L1 | MCD dB | WER % (errors / words) | heard |" in section
    if pocketsphinx_available():
        for name in ("original clip", "resynthesis wav → codes → mel → wav"):
            e = systems[name]
            assert e["errors"] >= 0 and e["heard"] is not None
            assert f"| {100 * e['errors'] / speech['words']:.0f} ({e['errors']} / {speech['words']}) |" in section
        assert systems["Griffin-Lim (true mel)"]["errors"] is None  # recognised: the original and the resynthesis
    else:
        assert all(e["errors"] is None for e in systems.values())
        assert "not measured, PocketSphinx is not installed" in section
    png = (out / speech["image"]).read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    assert f"![log-mel of the held-out clip {speech['clip']} and of its resynthesis](speech-out.png)" in section
    assert all(Path(w).stat().st_size > 1000 for w in speech["wavs"])
    # TTS from the stage-3 model: the same clip's transcript spoken through the same decoder
    tts = json.loads((out / ".steps" / "speech_tts.json").read_text())
    assert tts["clip"] == speech["clip"] and tts["error"] is None and 0 < tts["codes"] <= tts["limit"]
    assert Path(tts["wav"]).stat().st_size > 1000
    assert "| TTS: the stage-3 model speaks the transcript | - | - |" in section
    assert (tts["errors"] is not None) == pocketsphinx_available()


def _check_speak_heldout(out: Path, heldout: list[str]) -> None:
    """The speech-head benchmark's quickstart rows: held-out speech clips, each heard as itself, resynthesized and
    spoken by the stage-3 model; corpus WER = errors / words for every system."""
    from uas_audio.quickstart import HELDOUT_SPEECH_SYSTEMS, speak_heldout

    if not pocketsphinx_available():
        with pytest.raises(RuntimeError, match="PocketSphinx"):
            speak_heldout(out, max_clips=2)
        return
    result = speak_heldout(out, max_clips=2, max_codes=25)
    assert 1 <= result["clips"] == len(result["per_clip"]) <= 2
    assert all(c["id"] in heldout for c in result["per_clip"])
    assert result["words"] == sum(c["words"] for c in result["per_clip"]) > 0
    assert list(result["systems"]) == list(HELDOUT_SPEECH_SYSTEMS)
    for name, row in result["systems"].items():
        assert row["errors"] == sum(c[name]["errors"] for c in result["per_clip"]) >= 0
        assert row["wer"] == pytest.approx(100 * row["errors"] / result["words"])
    tts = result["tts"]
    assert all(0 <= c["codes"] <= c["limit"] <= 25 for c in result["per_clip"])
    assert tts["codes"] == sum(c["codes"] for c in result["per_clip"]) and tts["limit"] <= 25 * result["clips"]
    assert tts["closed"] == sum(c["closed"] for c in result["per_clip"])
    # any clips instead of the run's held-out ones (the speech-head benchmark's sentences)
    wav = np.random.default_rng(0).normal(0, 0.05, 16_000).astype(np.float32)
    mine = speak_heldout(out, clips=[{"id": "mine", "wav": wav, "transcript": "Hello there."}], max_codes=10)
    assert [c["id"] for c in mine["per_clip"]] == ["mine"] and mine["words"] == 2
    assert 0 <= mine["tts"]["codes"] <= mine["tts"]["limit"] <= 10


def test_open_run_reroots_the_paths_the_run_recorded(tmp_path, monkeypatch):
    """Markers record paths relative to where the run was started; an opened run finds them under its folder."""
    from uas_audio.quickstart import open_run

    with pytest.raises(FileNotFoundError, match="no quickstart run"):
        open_run(tmp_path / "nothing")
    steps = tmp_path / "moved" / ".steps"
    steps.mkdir(parents=True)
    (steps / "synthesize.json").write_text(json.dumps({"dataset": "quickstart-report/data/synth/dataset"}))
    (steps / "train_uas.json").write_text(json.dumps({"model": "quickstart-report/models/uas-audio/stage3",
                                                      "mixture": {"stage3": {"asr": 0.2}}, "note": "quickstart-reports"}))
    run = open_run(tmp_path / "moved")
    assert run.results["synthesize"]["dataset"] == str(tmp_path / "moved" / "data" / "synth" / "dataset")
    assert run.results["train_uas"]["model"] == str(tmp_path / "moved" / "models" / "uas-audio" / "stage3")
    assert run.results["train_uas"]["mixture"] == {"stage3": {"asr": 0.2}}
    assert run.results["train_uas"]["note"] == "quickstart-reports"  # a longer name is not the recorded folder


def test_fast_quickstart_writes_report_and_resumes(tmp_path, capsys):
    out = tmp_path / "qs"
    assert run_quickstart(out=out, fast=True, seed=3) == 0
    report = (out / "report.md").read_text()
    assert "Ground-truth records valid: 24 / 24." in report
    validate = json.loads((out / ".steps" / "validate.json").read_text())
    # every check rejects every corrupted copy of a real record
    assert validate["perturbations"] and all(p["caught"] == p["total"] > 0 for p in validate["perturbations"])
    assert {p["check"] for p in validate["perturbations"]} == {
        "ontology", "transcription_integrity", "logical_consistency", "duration_alignment"}

    # held-out clips are split by id: none is trained on, together they are the corpus
    split = json.loads((out / ".steps" / "split.json").read_text())
    assert not set(split["train"]) & set(split["heldout"])
    assert len(split["train"]) + len(split["heldout"]) == 24 and split["heldout"]

    # both models scored on the same held-out questions, perception and content, every perception field present
    evaluate = json.loads((out / ".steps" / "evaluate.json").read_text())
    assert set(evaluate["scores"]) == {"ASR-only control", "UAS-Audio (stage 3)"}
    for scores in evaluate["scores"].values():
        assert scores["counts"]["perception"] > 0 and 0.0 <= scores["perception"] <= 1.0
        assert {"gender", "age", "emotion", "accent", "events", "content"} <= set(scores["by_field"])
    assert evaluate["scores"]["ASR-only control"]["counts"] == evaluate["chance"]["counts"]
    # every model also scored with shuffled audio, on the same items; the majority-label baseline beside them
    assert set(evaluate["shuffled"]) == set(evaluate["scores"])
    assert all(s["counts"] == evaluate["chance"]["counts"] for s in evaluate["shuffled"].values())
    assert 0.0 <= evaluate["majority"]["perception"] <= 1.0
    assert "| ASR-only control |" in report and "| UAS-Audio (stage 3) |" in report
    assert "| UAS-Audio (stage 3), audio shuffled |" in report
    assert "| majority label of the training annotations (expected) |" in report
    assert report.count("content %") == 1 and "reasoning" not in report  # one name, one column
    gain = 100 * (evaluate["scores"]["UAS-Audio (stage 3)"]["perception"]
                  - evaluate["scores"]["ASR-only control"]["perception"])
    assert result_line("quickstart_perception_gain", gain, "points", ">=", 10) in report
    assert "RESULT quickstart_perception_from_audio: " in report
    assert "## Stage 2: aligning the projector" in report
    # stage 2 measured on the held-out clips' one-field rows: initial projector, stage 2, stage 2 with rotated audio
    heldout = json.loads((out / ".steps" / "train_uas.json").read_text())["stage2_heldout"]
    assert heldout["rows"] > 0 and all(heldout[k] > 0 for k in ("before", "after", "after_rotated_audio"))
    drop = 100 * (heldout["before"] - heldout["after"]) / heldout["before"]
    assert result_line("quickstart_stage2_heldout_loss_drop", drop, "%", ">=", 30) in report
    assert f"with the initial projector to {heldout['after']:.3f} after stage 2" in report

    # stage 3 trains on the recipe's mixture, TTS included: targets from the speech tokenizer trained on the clips
    train_uas = json.loads((out / ".steps" / "train_uas.json").read_text())
    speech = json.loads((out / ".steps" / "speech_tokenizer.json").read_text())
    assert train_uas["mixture"]["stage3"]["tts"] > 0 and train_uas["stage3_rows"]["tts"] > 0
    for model in ("uas-audio", "asr-only"):  # one starting point, the code tokens included
        config = json.loads((out / "models" / model / "stage3" / "config.json").read_text())
        assert config["num_audio_codes"] == speech["codes"] == 40
    assert "## Speech tokenizer and the stage-3 mixture" in report and "tts 0.1" in report

    # the pipeline's output on held-out clips is schema-valid UAS
    demo = json.loads((out / ".steps" / "demo.json").read_text())
    assert demo["outputs"] and all(o["id"] in split["heldout"] for o in demo["outputs"])
    for o in demo["outputs"]:
        assert o["valid"] is True
        UAS.model_validate(o["uas"])
    assert "| field | reference | prediction | equal |" in report  # each clip's reference beside its prediction
    assert (out / "perception.png").stat().st_size > 0
    card = (out / "model-card.md").read_text()
    assert "pipeline_tag: audio-text-to-text" in card and "No evaluation results were recorded" not in card
    assert "audio shuffled across clips" in card
    assert "uas_qa" in (out / "dataset-card.md").read_text()
    _check_speech_out(out, report, split["heldout"])
    _check_speak_heldout(out, split["heldout"])

    printed = capsys.readouterr().out
    assert printed.rstrip().splitlines()[-3].startswith("RESULT quickstart_perception_gain: ")
    assert printed.rstrip().splitlines()[-2].startswith("RESULT quickstart_perception_from_audio: ")
    assert printed.rstrip().splitlines()[-1].startswith("RESULT quickstart_stage2_heldout_loss_drop: ")
    before = (out / "data" / "synth" / "dataset").stat().st_mtime_ns
    assert run_quickstart(out=out, fast=True, seed=3) == 0
    printed = capsys.readouterr().out
    assert (out / "report.md").read_text() == report  # a resumed run writes the same report
    for step in STEPS:
        assert f"[{step}] done in an earlier run, skipped" in printed
    assert (out / "data" / "synth" / "dataset").stat().st_mtime_ns == before

    # a training step killed after its last checkpoint: the step runs again and resumes from that checkpoint
    (out / ".steps" / "train_control.json").unlink()
    (out / "models" / "asr-only" / "stage3" / "done.json").unlink()
    assert run_quickstart(out=out, fast=True, seed=3) == 0
    printed = capsys.readouterr().out
    assert "[asr-only/stage3] resuming from checkpoint-4" in printed
    assert "[train_uas] done in an earlier run, skipped" in printed
    assert (out / "models" / "asr-only" / "stage3" / "done.json").is_file()

    # the vocoder's step killed after its last checkpoint: it resumes there and the speech out comes out the same
    (out / ".steps" / "train_vocoder.json").unlink()
    (out / ".steps" / "speech_out.json").unlink()
    assert run_quickstart(out=out, fast=True, seed=3) == 0
    printed = capsys.readouterr().out
    assert "[train_vocoder] ..." in printed and "[speech_out] ..." in printed
    assert _speech_out_section((out / "report.md").read_text()) == _speech_out_section(report)


@pytest.mark.slow
def test_parallel_quickstart_trains_the_vocoder_in_the_second_process(tmp_path, capfd, monkeypatch):
    """With ``parallel`` the control's process goes on with the speech-out steps after its training; what they
    write is what a run of them one after the other writes."""
    fast = QuickstartSettings(**{**QuickstartSettings.for_mode(True, seed=3).__dict__, "parallel": True})
    monkeypatch.setattr(QuickstartSettings, "for_mode", classmethod(lambda cls, _fast, seed=0: fast))
    assert run_quickstart(out=tmp_path / "parallel", fast=True, seed=3) == 0
    printed = capfd.readouterr().out
    assert "[train_vocoder, speech_out, speech_tts] ... (in the second process, after train_control)" in printed
    assert "[train_vocoder] finished in" in printed  # printed by the second process
    fast.parallel = False
    assert run_quickstart(out=tmp_path / "sequential", fast=True, seed=3) == 0
    parallel, sequential = ((tmp_path / name / "report.md").read_text() for name in ("parallel", "sequential"))
    _check_speech_out(tmp_path / "parallel", parallel,
                      json.loads((tmp_path / "parallel" / ".steps" / "split.json").read_text())["heldout"])
    assert _speech_out_section(parallel) == _speech_out_section(sequential)


def test_speech_out_section_says_wer_not_measured_without_pocketsphinx(tmp_path):
    """Without the experts extra the section states that the WER was not measured, and shows no WER cell."""
    from uas_audio.quickstart import _Run, _speech_out_lines

    run = _Run(tmp_path, QuickstartSettings())
    systems = [{"system": name, "mel_l1": None if name == "original clip" else 0.1,
                "mcd_db": None if name == "original clip" else 9.0, "heard": None, "errors": None}
               for name in ("original clip", "Griffin-Lim (true mel)", "trained vocoder (true mel)",
                            "resynthesis wav → codes → mel → wav")]
    run.results.update({
        "train_vocoder": {"type": "istft", "steps": 1200, "mel_l1_first": 0.9, "mel_l1_last": 0.5},
        "speech_out": {"clip": "synth-0-000002", "transcript": "Where did you hide a stack of books?", "words": 8,
                       "seconds_of_audio": 4.26, "asr": None, "systems": systems, "image": "speech-out.png"},
        "speech_tts": {"clip": "synth-0-000002", "error": None, "codes": 212, "limit": 212, "closed": False,
                       "heard": None, "errors": None, "wav": "speech-out/tts.wav"}})
    section = "\n".join(_speech_out_lines(run))
    assert "Word error rate: not measured, PocketSphinx is not installed" in section
    assert "| resynthesis wav → codes → mel → wav | 0.100 | 9.0 | - | - |" in section
    assert "| TTS: the stage-3 model speaks the transcript | - | - | - | - |" in section
    assert "did not close the speech span within its limit of 212 codes" in section
    assert "[TTS](speech-out/tts.wav)" in section
