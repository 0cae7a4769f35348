"""Bring your own audio LLM: tiny random Qwen2-Audio and Qwen3-ASR checkpoints, built and saved with transformers,
convert into UAS-Audio with the same logits on the same audio and text and the same greedy generation; the converted
folder reloads, trains a stage-3 step, and sources that do not map are refused with their reason."""

import json

import numpy as np
import pytest
import torch
from transformers import (
    AutoModelForCausalLM,
    Qwen2AudioConfig,
    Qwen2AudioForConditionalGeneration,
    Qwen3ASRConfig,
    Qwen3ASRForConditionalGeneration,
    VoxtralConfig,
    VoxtralForConditionalGeneration,
)

from uas_audio.cli import main as cli_main
from uas_audio.modeling.conversion import convert_audio_llm
from uas_audio.processing import UASAudioProcessor, load_default_tokenizer

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny models: one thread is fastest on a shared CPU
ENCODER = dict(d_model=32, encoder_layers=2, encoder_attention_heads=4, encoder_ffn_dim=64, num_mel_bins=128)
TEXT = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
            tie_word_embeddings=True, initializer_range=0.2)
QWEN3_ASR_TOKENS = ["<|audio_start|>", "<|audio_end|>"]  # the tokens a Qwen3-ASR tokenizer puts around a clip


def _tokenizer(extra=()):
    tokenizer = load_default_tokenizer()
    if extra:
        tokenizer.add_special_tokens({"additional_special_tokens": list(extra)}, replace_extra_special_tokens=False)
    return tokenizer


def _save_qwen2_audio(folder):
    tokenizer = _tokenizer()
    torch.manual_seed(0)
    config = Qwen2AudioConfig(
        audio_config={**ENCODER, "max_source_positions": 30},  # a 60-frame "30 s" window keeps the source tiny
        text_config={"model_type": "qwen2", "vocab_size": len(tokenizer), **TEXT},
        audio_token_index=tokenizer.convert_tokens_to_ids("<|audio|>"),
    )
    source = Qwen2AudioForConditionalGeneration(config).eval()
    source.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return source


def _save_qwen3_asr(folder):
    tokenizer = _tokenizer(QWEN3_ASR_TOKENS)
    torch.manual_seed(1)
    config = Qwen3ASRConfig(
        audio_config={"model_type": "qwen3_asr_encoder", **ENCODER, "n_window": 50, "n_window_infer": 200,
                      "downsample_hidden_size": 16, "output_dim": 32},
        text_config={"model_type": "qwen3", "vocab_size": len(tokenizer), "head_dim": 8, **TEXT},
        audio_token_id=tokenizer.convert_tokens_to_ids("<|audio|>"),
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    source = Qwen3ASRForConditionalGeneration(config).eval()
    source.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return source


def _source_inputs(family, inputs):
    """The converted processor's features as the source takes them: zero-padded to its 30 s window (Qwen2-Audio)
    or to whole 100-frame chunks (Qwen3-ASR), under its own keyword."""
    features, mask = inputs["input_features"], inputs["input_features_mask"]
    target = 60 if family == "qwen2_audio" else -(-features.shape[-1] // 100) * 100
    features = torch.nn.functional.pad(features, (0, target - features.shape[-1]))
    mask = torch.nn.functional.pad(mask, (0, target - mask.shape[-1]))
    key = "feature_attention_mask" if family == "qwen2_audio" else "input_features_mask"
    return {"input_ids": inputs["input_ids"], "attention_mask": inputs["attention_mask"], "input_features": features,
            key: mask}


SOURCES = {"qwen2_audio": (_save_qwen2_audio, (0.45, 0.57)), "qwen3_asr": (_save_qwen3_asr, (2.35, 1.5))}


@pytest.fixture(scope="module", params=sorted(SOURCES))
def converted(request, tmp_path_factory):
    family = request.param
    save, seconds = SOURCES[family]
    root = tmp_path_factory.mktemp(family)
    source = save(root / "source")
    model, processor = convert_audio_llm(root / "source", root / "converted")
    rng = np.random.default_rng(0)
    clips = [0.1 * rng.standard_normal(int(16_000 * s)).astype(np.float32) for s in seconds]
    processor.tokenizer.padding_side = "left"  # batched generation
    conversations = [[{"role": "user", "content": [{"type": "audio", "audio": clip},
                                                   {"type": "text", "text": "Transcribe the audio."}]}]
                     for clip in clips]
    inputs = processor.apply_chat_template(conversations, add_generation_prompt=True, tokenize=True,
                                           return_dict=True, return_tensors="pt", padding=True)
    return family, source, model, processor, inputs, root


def test_converted_model_gives_the_source_logits(converted):
    family, source, model, _, inputs, _ = converted
    with torch.no_grad():
        expected = source(**_source_inputs(family, inputs)).logits
        got = model(**inputs).logits
    delta = (got - expected).abs().max().item()
    print(f"conversion parity {family}: max |delta logit| = {delta:.3g}")
    assert got.shape == expected.shape
    assert delta < 1e-4


def test_converted_model_generates_what_the_source_generates(converted):
    family, source, model, _, inputs, _ = converted
    with torch.no_grad():
        expected = source.generate(**_source_inputs(family, inputs), max_new_tokens=8, do_sample=False)
        got = model.generate(**inputs, max_new_tokens=8, do_sample=False)
    assert torch.equal(got, expected)
    assert len(set(got[:, -8:].flatten().tolist())) > 1  # a real sequence, not one repeated token


def test_converted_folder_reloads_with_the_auto_classes(converted):
    family, _, model, processor, inputs, root = converted
    reloaded = AutoModelForCausalLM.from_pretrained(root / "converted").eval()
    reloaded_processor = UASAudioProcessor.from_pretrained(root / "converted")
    assert (reloaded_processor.audio_token_id, reloaded_processor.encoder_family) == (
        model.config.audio_token_id, {"qwen2_audio": "qwen2_audio", "qwen3_asr": "aut"}[family])
    with torch.no_grad():
        torch.testing.assert_close(reloaded(**inputs).logits, model(**inputs).logits, atol=0, rtol=0)


def test_converted_model_trains_a_stage3_step(converted, tmp_path):
    from test_train_tasks import make_uas_dataset
    from uas_audio.trainers import tasks as T
    from uas_audio.trainers.stage_config import load_recipe
    from uas_audio.trainers.train import build_trainer

    _, _, model, processor, _, _ = converted
    processor.tokenizer.padding_side = "right"
    recipe = load_recipe(3, output_dir=str(tmp_path / "stage3"), max_steps=1, learning_rate=1e-3, warmup_steps=0,
                         activation_checkpointing=False, logging_steps=1, save_strategy="no",
                         per_device_train_batch_size=2, report_to=[])
    before = {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}
    trainer = build_trainer(recipe, model.train(), processor, T.asr_rows(make_uas_dataset(2)))
    trainer.train()
    model.eval()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert len(losses) == 1 and np.isfinite(losses[0])
    moved = [name for name, p in model.named_parameters() if name in before and not torch.equal(p, before[name])]
    assert any(name.startswith("model.multi_modal_projector") for name in moved)


def test_voxtral_is_refused_with_the_reason(tmp_path):
    tokenizer = _tokenizer()
    config = VoxtralConfig(
        audio_config={**ENCODER, "intermediate_size": 64, "num_hidden_layers": 1, "hidden_size": 16,
                      "num_attention_heads": 2, "max_source_positions": 30},
        text_config={"model_type": "llama", "vocab_size": len(tokenizer), **TEXT},
    )
    VoxtralForConditionalGeneration(config).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="voxtral does not convert: .*30 s chunks"):
        convert_audio_llm(tmp_path, tmp_path / "out")


def test_cli_convert_writes_a_folder_and_reports_mistakes_in_one_line(converted, tmp_path, capsys):
    _, _, _, _, _, root = converted
    assert cli_main(["convert", str(root / "source"), str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "config.json").is_file() and (tmp_path / "out" / "processor_config.json").is_file()
    assert "converted" in capsys.readouterr().out
    assert cli_main(["convert", str(tmp_path / "missing"), str(tmp_path / "out2")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("uas-audio convert: error:") and "no config.json" in err and "Traceback" not in err
    assert cli_main(["convert", str(root / "source"), str(tmp_path / "out")]) == 2  # not over a full folder
    assert "not empty" in capsys.readouterr().err


@pytest.mark.slow
def test_converted_model_trains_through_stages_2_to_4(converted, tmp_path):
    from test_train_tasks import make_qa_dataset, make_uas_dataset
    from uas_audio.trainers import tasks as T
    from uas_audio.trainers.run_stages import train_stages

    _, _, _, _, _, root = converted
    ds = make_uas_dataset(2)
    stages = [(2, T.uas_rows(ds)), (3, T.asr_rows(ds)), (4, T.prompt_rows(make_qa_dataset(ds).select([0, 1])))]
    folder = train_stages(stages, tmp_path / "run", [1, 1, 1], batch_size=2, learning_rate=1e-3, progress=False,
                          checkpoints=False, model=root / "converted",
                          stage_overrides={4: {"num_generations": 2, "max_completion_length": 8}})
    for stage in (2, 3, 4):
        losses = json.loads((tmp_path / "run" / f"stage{stage}" / "done.json").read_text())["losses"]
        assert losses and all(np.isfinite(losses)), (stage, losses)
    reloaded = AutoModelForCausalLM.from_pretrained(folder)
    assert type(reloaded.model.audio_tower).__name__ in ("Qwen2AudioEncoder", "Qwen3ASREncoder")
