"""The README's main job, in its --fast form: a real run end to end, a second run that resumes, and a third
that picks up an interrupted training stage from its last checkpoint."""

import json

from uas_audio.quickstart import run_quickstart
from uas_audio.schema import UAS

STEPS = ["synthesize", "validate", "composition", "annotate", "split", "qa", "speech_tokenizer", "train_uas",
         "train_control", "evaluate", "demo", "cards"]


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
    assert f"RESULT quickstart_perception_gain: {gain:.1f} points (target >= 10)" in report
    assert "RESULT quickstart_perception_from_audio: " in report
    assert "## Stage 2: aligning the projector" in report

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

    printed = capsys.readouterr().out
    assert printed.rstrip().splitlines()[-2].startswith("RESULT quickstart_perception_gain: ")
    assert printed.rstrip().splitlines()[-1].startswith("RESULT quickstart_perception_from_audio: ")
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
