"""Model experts: transformers pipelines loaded from local directories the tests build and save (a tiny
audio classifier with id2label, a tiny CTC recogniser, a tiny UAS-Audio captioner), driving stage 2."""

import json

import numpy as np
import pytest
import torch

from uas_audio.annotate.clip import Clip
from uas_audio.annotate.experts import build_expert, build_experts, describe, run_experts
from uas_audio.annotate.synthesize import RuleSynthesizer, SynthesisInput

SR = 16000
_TINY_W2V = dict(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                 conv_dim=(16, 16), conv_stride=(5, 4), conv_kernel=(10, 8), num_conv_pos_embeddings=16,
                 num_conv_pos_embedding_groups=2, feat_extract_norm="layer", do_stable_layer_norm=True)


def _tone(f0: float = 140.0, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (0.2 * np.sin(2 * np.pi * f0 * t) * (np.sin(2 * np.pi * 3 * t) > 0)).astype(np.float32)


@pytest.fixture(scope="module")
def emotion_model(tmp_path_factory):
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2ForSequenceClassification

    path = tmp_path_factory.mktemp("emotion")
    config = Wav2Vec2Config(**_TINY_W2V, num_labels=3, id2label={0: "angry", 1: "neutral", 2: "sad"},
                            label2id={"angry": 0, "neutral": 1, "sad": 2}, classifier_proj_size=8)
    torch.manual_seed(0)
    model = Wav2Vec2ForSequenceClassification(config)
    with torch.no_grad():  # make the first label win whatever the input, so the expected output is known
        model.classifier.bias.copy_(torch.tensor([8.0, 0.0, -8.0]))
    model.save_pretrained(path)
    Wav2Vec2FeatureExtractor(sampling_rate=SR, return_attention_mask=True).save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def ctc_model(tmp_path_factory):
    from transformers import (Wav2Vec2Config, Wav2Vec2CTCTokenizer, Wav2Vec2FeatureExtractor, Wav2Vec2ForCTC,
                              Wav2Vec2Processor)

    path = tmp_path_factory.mktemp("ctc")
    vocab = {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3, "|": 4, "h": 5, "i": 6}
    (path / "vocab.json").write_text(json.dumps(vocab))
    tokenizer = Wav2Vec2CTCTokenizer(str(path / "vocab.json"))
    processor = Wav2Vec2Processor(Wav2Vec2FeatureExtractor(sampling_rate=SR), tokenizer)
    torch.manual_seed(0)
    model = Wav2Vec2ForCTC(Wav2Vec2Config(**_TINY_W2V, vocab_size=len(vocab), pad_token_id=0))
    with torch.no_grad():  # every frame says "h": CTC collapses the run to one "h"
        model.lm_head.bias.copy_(torch.tensor([0.0, -9, -9, -9, -9, 9.0, -9]))
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return str(path)


def test_audio_classification_expert_reports_the_models_label(emotion_model):
    expert = build_expert({"type": "audio-classification", "model": emotion_model, "field": "emotion", "top_k": 3})
    out = expert([Clip("a", _tone(), SR), Clip("b", _tone(220.0), SR)])
    assert [m["emotion_label"] for m in out] == ["angry", "angry"]
    assert out[0]["emotion_score"] > 0.99 and out[0]["emotion_labels"] == ["angry"]
    assert expert.describe(out[0]).startswith("emotion: angry")


def test_a_classifier_label_becomes_the_normalised_uas_emotion(emotion_model):
    experts = build_experts(["pitch", "voice_activity", {"type": "audio-classification", "model": emotion_model,
                                                          "field": "emotion"}])
    clip = Clip("a", _tone(), SR, "hello there")
    m = run_experts(experts, [clip])[0]
    record = RuleSynthesizer().record(SynthesisInput("a", "hello there", clip.duration_s, m, describe(experts, m)))
    assert record["paralinguistics"]["emotion"] == "Anger"


def test_asr_expert_transcribes_only_clips_without_a_transcript(ctc_model):
    expert = build_expert({"type": "automatic-speech-recognition", "model": ctc_model})
    known, unknown = Clip("k", _tone(), SR, "given text"), Clip("u", _tone(), SR, None)
    out = expert([known, unknown])
    assert out == [{"asr_transcript": None}, {"asr_transcript": "h"}]
    assert unknown.transcript == "h" and known.transcript == "given text"


def test_asr_transcripts_feed_the_runner_and_its_integrity_check(ctc_model, tmp_path):
    import io

    import datasets
    import soundfile as sf

    from uas_audio.annotate import annotate, load_annotations

    buffer = io.BytesIO()
    sf.write(buffer, _tone(), SR, format="WAV")
    ds = datasets.Dataset.from_dict({"id": ["x"], "audio": [{"bytes": buffer.getvalue(), "path": None}]})
    ds = ds.cast_column("audio", datasets.Audio(decode=False))
    config = {"experts": ["pitch", "voice_activity", "speaking_rate",
                          {"type": "automatic-speech-recognition", "model": ctc_model}], "min_gender_confidence": 0.0}
    annotate(ds, tmp_path, config, progress=False)
    row = load_annotations(tmp_path)[0]
    assert row["status"] == "accepted"
    assert row["transcript"] == "h" and row["uas"]["transcription"] == "h"


def test_captioner_expert_asks_a_uas_audio_checkpoint_the_caption_prompt(tmp_path):
    import uas_audio
    from transformers import pipeline

    from uas_audio.schema import CAPTION_PROMPT

    uas_audio.tiny_model().save_pretrained(tmp_path)
    uas_audio.tiny_processor().save_pretrained(tmp_path)
    expert = build_expert({"type": "captioner", "model": str(tmp_path), "max_new_tokens": 8})
    clip = Clip("a", _tone(), SR)
    out = expert([clip])
    direct = pipeline("audio-to-uas", model=str(tmp_path))(
        {"array": clip.waveform, "sampling_rate": SR}, question=CAPTION_PROMPT, max_new_tokens=8)
    assert out == [{"caption": direct["text"].strip() or None}]


@pytest.fixture(scope="module")
def clap_model(tmp_path_factory):
    """A tiny random CLAP (HTSAT audio tower, RoBERTa text tower) with a word-level vocabulary."""
    from transformers import ClapConfig, ClapFeatureExtractor, ClapModel, ClapProcessor, RobertaTokenizer

    path = tmp_path_factory.mktemp("clap")
    words = ["<s>", "<pad>", "</s>", "<unk>", "<mask>", "This", "Ġis", "Ġa", "Ġsound", "Ġof", "Ġdog", "Ġbark",
             "Ġrain", "Ġmusic"]
    (path / "vocab.json").write_text(json.dumps({w: i for i, w in enumerate(words)}))
    (path / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = RobertaTokenizer(vocab_file=str(path / "vocab.json"), merges_file=str(path / "merges.txt"))
    config = ClapConfig(
        text_config=dict(vocab_size=len(words), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=32, max_position_embeddings=64, projection_dim=8),
        audio_config=dict(patch_embeds_hidden_size=8, depths=[1, 1, 1, 1], num_attention_heads=[2, 2, 2, 2],
                          hidden_size=64, projection_dim=8, num_hidden_layers=4),
        projection_dim=8)
    torch.manual_seed(0)
    ClapModel(config).save_pretrained(path)
    ClapProcessor(feature_extractor=ClapFeatureExtractor(max_length_s=2, truncation="rand_trunc"),
                  tokenizer=tokenizer).save_pretrained(path)
    return str(path)


def test_zero_shot_tagger_scores_the_configured_labels_and_feeds_both_event_lists(clap_model):
    expert = build_expert({"type": "zero-shot-audio-classification", "model": clap_model, "labels": ["dog bark", "rain"],
                           "threshold": 0.3, "licence": "test-only"})
    out = expert([Clip("a", _tone(seconds=1.2))])[0]
    assert out["events_label"] in ("dog bark", "rain") and 0.0 < out["events_score"] <= 1.0
    assert set(out["events_labels"]) <= {"dog bark", "rain"} and out["events_label"] in out["events_labels"]
    m = {**out, "event_labels": [], "background_labels": []}
    record = RuleSynthesizer().record(SynthesisInput("a", None, 1.2, m))
    events = record["nonLinguisticEvents"]
    assert [e["label"] for e in events["discreteEvents"]] == [x for x in out["events_labels"] if x == "dog bark"]
    assert [e["label"] for e in events["continuousEvents"]] == [x for x in out["events_labels"] if x == "rain"]
    info = expert.info()
    assert info["model"] == clap_model and info["licence"] == "test-only" and info["name"] == "events_zero_shot"


def test_a_zero_shot_expert_without_labels_is_a_config_error(clap_model):
    with pytest.raises(ValueError, match="labels"):
        build_expert({"type": "zero-shot-audio-classification", "model": clap_model})


def test_model_experts_record_name_model_and_licence_in_the_report(emotion_model, ctc_model, tmp_path):
    import io

    import datasets
    import soundfile as sf

    from uas_audio.annotate import annotate

    buffer = io.BytesIO()
    sf.write(buffer, _tone(), SR, format="WAV")
    ds = datasets.Dataset.from_dict({"id": ["x"], "audio": [{"bytes": buffer.getvalue(), "path": None}],
                                     "transcript": ["hi"]}).cast_column("audio", datasets.Audio(decode=False))
    config = {"experts": ["pitch", "voice_activity",
                          {"type": "audio-classification", "model": emotion_model, "field": "emotion", "licence": "MIT"},
                          {"type": "automatic-speech-recognition", "model": ctc_model, "licence": "Apache-2.0"}]}
    summary = annotate(ds, tmp_path, config, progress=False)
    experts = {e["name"]: e for e in summary["experts"]}
    assert experts["emotion_classifier"]["model"] == emotion_model and experts["emotion_classifier"]["licence"] == "MIT"
    assert experts["asr"]["licence"] == "Apache-2.0" and experts["pitch"]["licence"].startswith("Apache-2.0")
    assert "| emotion_classifier |" in (tmp_path / "report.md").read_text()
