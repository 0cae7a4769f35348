"""UAS-Audio-D (``input_mode="discrete"``) end to end: the tiny discrete model and processor, the speech tokenizer
saved with the processor, the audio-to-uas pipeline from a saved folder, and SFT followed by generation."""

import json
import logging

import numpy as np
import pytest
import torch
from transformers import AutoProcessor, pipeline

import uas_audio
from uas_audio.pipelines.grammar import GrammarLimits
from uas_audio.processing import UASAudioProcessor, load_default_processor
from uas_audio.processing.processing_uas_audio import SPEECH_TOKENIZER_DIR
from uas_audio.schema import ASR_PROMPT, UAS
from uas_audio.tiny import TINY_NUM_AUDIO_CODES

SR = 16_000
SMALL = GrammarLimits(transcription=8, accent=4, prosody=4, timbre=4, description=8, label=4,
                      characteristic=4, max_events=1)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _clip(seconds: float, seed: int) -> np.ndarray:
    """A tone with noise whose pitch and loudness vary with the seed."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    tone = rng.uniform(0.05, 0.4) * np.sin(2 * np.pi * rng.uniform(100, 1500) * t)
    return (tone + rng.uniform(0.0, 0.1) * rng.standard_normal(len(t))).astype(np.float32)


def _codes_in(processor, input_ids) -> list[int]:
    start = processor.tokenizer.convert_tokens_to_ids("<|code_0|>")
    ids = torch.as_tensor(input_ids).flatten()
    return (ids[(ids >= start) & (ids < start + TINY_NUM_AUDIO_CODES)] - start).tolist()


@pytest.fixture(scope="module")
def saved_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("discrete") / "uas-audio-d-tiny"
    uas_audio.tiny_model(input_mode="discrete").save_pretrained(folder)
    uas_audio.tiny_processor(input_mode="discrete").save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def pipe(saved_folder):
    return pipeline("audio-to-uas", model=str(saved_folder), device="cpu")


# --- tiny UAS-Audio-D ------------------------------------------------------------------------------------


def test_tiny_discrete_model_and_processor_share_the_code_vocabulary():
    model = uas_audio.tiny_model(input_mode="discrete")
    processor = uas_audio.tiny_processor(input_mode="discrete")
    assert model.config.input_mode == "discrete" and model.model.audio_tower is None
    assert processor.input_mode == "discrete"
    assert processor.speech_tokenizer.codebook_size == model.config.num_audio_codes == TINY_NUM_AUDIO_CODES
    assert model.config.audio_code_start == processor.tokenizer.convert_tokens_to_ids("<|code_0|>")
    assert model.config.text_config.vocab_size == len(processor.tokenizer)
    assert processor.tokenizer.convert_ids_to_tokens(len(processor.tokenizer) - 1) == "<|code_15|>"


def test_tiny_speech_tokenizer_weights_follow_the_seed():
    first, again, other = (uas_audio.tiny_speech_tokenizer(seed) for seed in (0, 0, 1))
    weight = "input_proj.weight"
    assert torch.equal(first.state_dict()[weight], again.state_dict()[weight])
    assert not torch.equal(first.state_dict()[weight], other.state_dict()[weight])
    same_model = [uas_audio.tiny_model(seed=3, input_mode="discrete").get_input_embeddings().weight for _ in range(2)]
    assert torch.equal(*same_model)


def test_a_processor_built_with_a_speech_tokenizer_writes_its_codes():
    speech_tokenizer = uas_audio.tiny_speech_tokenizer()
    base = uas_audio.tiny_processor(input_mode="discrete")  # a tokenizer that has the code tokens
    processor = UASAudioProcessor(base.feature_extractor, base.tokenizer, input_mode="discrete",
                                  speech_encoder=speech_tokenizer)
    wav = _clip(0.5, seed=1)
    out = processor(text=["<|audio|>"], audio=[wav], return_tensors="pt")
    expected = speech_tokenizer.encode_for_processor(wav)
    assert len(expected) == 13  # 8000 samples: 50 mel frames, ceil(50 / 4) codes
    assert _codes_in(processor, out["input_ids"]) == expected
    assert "input_features" not in out


# --- save / load -----------------------------------------------------------------------------------------


def test_save_and_load_round_trip_gives_the_same_input_ids(saved_folder):
    original = uas_audio.tiny_processor(input_mode="discrete")
    loaded = AutoProcessor.from_pretrained(saved_folder)
    assert isinstance(loaded, UASAudioProcessor) and loaded.input_mode == "discrete"
    assert loaded.speech_tokenizer is not None
    for name, tensor in original.speech_tokenizer.state_dict().items():
        assert torch.equal(tensor, loaded.speech_tokenizer.state_dict()[name]), name
    conversation = [{"role": "user", "content": [{"type": "audio", "audio": _clip(0.9, seed=2)},
                                                 {"type": "text", "text": ASR_PROMPT}]}]
    kwargs = {"add_generation_prompt": True, "tokenize": True, "return_dict": True, "return_tensors": "pt"}
    before = original.apply_chat_template(conversation, **kwargs)["input_ids"]
    after = loaded.apply_chat_template(conversation, **kwargs)["input_ids"]
    assert torch.equal(before, after)
    assert len(set(_codes_in(loaded, after))) > 1


def test_the_speech_tokenizer_is_saved_as_safetensors_only(saved_folder):
    files = sorted(p.name for p in (saved_folder / SPEECH_TOKENIZER_DIR).iterdir())
    assert files == ["config.json", "model.safetensors"]
    config = json.loads((saved_folder / SPEECH_TOKENIZER_DIR / "config.json").read_text())
    assert config["model_type"] == "uas_speech_tokenizer" and config["fsq_levels"] == [4, 4]
    assert "speech_encoder" not in json.loads((saved_folder / "processor_config.json").read_text())


def test_a_bound_encode_for_processor_is_saved_as_its_speech_tokenizer(tmp_path):
    speech_tokenizer = uas_audio.tiny_speech_tokenizer(seed=4)
    processor = uas_audio.tiny_processor(input_mode="discrete")
    processor.speech_encoder = speech_tokenizer.encode_for_processor
    processor.save_pretrained(tmp_path)
    loaded = UASAudioProcessor.from_pretrained(tmp_path)
    wav = _clip(0.6, seed=3)
    assert _codes_in(loaded, loaded(text=["<|audio|>"], audio=[wav])["input_ids"]) == \
        speech_tokenizer.encode_for_processor(wav)


def test_an_unsaveable_speech_encoder_is_reported_and_not_restored(tmp_path, caplog):
    processor = uas_audio.tiny_processor(input_mode="discrete")
    processor.speech_encoder = lambda wav: [1, 2]
    with caplog.at_level(logging.WARNING):
        processor.save_pretrained(tmp_path)
    assert "not saved" in caplog.text
    assert not (tmp_path / SPEECH_TOKENIZER_DIR).exists()
    loaded = UASAudioProcessor.from_pretrained(tmp_path)
    with pytest.raises(ValueError, match="needs a speech encoder"):
        loaded(text=["<|audio|>"], audio=[_clip(0.2, seed=0)])


def test_a_continuous_processor_saves_no_speech_tokenizer(tmp_path):
    load_default_processor().save_pretrained(tmp_path)
    assert not (tmp_path / SPEECH_TOKENIZER_DIR).exists()
    assert UASAudioProcessor.from_pretrained(tmp_path).speech_encoder is None


# --- audio-to-uas ----------------------------------------------------------------------------------------


def test_the_pipeline_from_a_saved_discrete_folder_gives_valid_uas(pipe):
    assert pipe.model.config.input_mode == "discrete" and pipe.processor.speech_tokenizer is not None
    clips = [(_clip(seconds, seed), SR) for seed, seconds in enumerate((0.4, 0.7, 1.0, 1.3))]
    results = pipe(clips, limits=SMALL, do_sample=True)
    assert len(results) == 4
    for result in results:
        assert result["valid"], result["reasons"]
        UAS.model_validate(result["uas"])
        assert "<|code_" not in result["text"]


def test_targeted_fields_from_a_discrete_model_are_exactly_those_fields(pipe):
    result = pipe((_clip(0.8, seed=7), SR), fields=["paralinguistics.emotion", "transcription"], limits=SMALL,
                  do_sample=True)
    assert result["uas"].keys() == {"paralinguistics", "transcription"}
    assert result["uas"]["paralinguistics"].keys() == {"emotion"}
    assert result["valid"] and result["reasons"] == []


def test_a_choice_from_a_discrete_model_is_an_option_letter(pipe):
    options = ["Child", "Adult", "Elderly"]
    for seed in range(3):
        result = pipe((_clip(0.5, seed=seed), SR), question="What is the speaker's age group?", choices=options,
                      do_sample=True)
        assert result["answer"] in {"A", "B", "C"}
        assert result["choice"] == options["ABC".index(result["answer"])]


def test_transcribe_from_a_discrete_model_writes_no_code_tokens(pipe):
    result = pipe((_clip(0.5, seed=9), SR), task="transcribe", max_new_tokens=12, do_sample=True)
    assert isinstance(result["transcription"], str)
    assert "<|code_" not in result["text"]


# --- SFT then generation ---------------------------------------------------------------------------------


def test_discrete_sft_lowers_the_loss_and_the_saved_model_transcribes_what_it_learned(tmp_path):
    from uas_audio.trainers.collator import AudioChatCollator

    model = uas_audio.tiny_model(input_mode="discrete")
    processor = uas_audio.tiny_processor(input_mode="discrete")
    answers = {"a quiet hum": _clip(0.6, seed=11), "loud noise now": _clip(0.4, seed=12)}
    rows = [{"messages": [
        {"role": "user", "content": [{"type": "audio", "audio": wav}, {"type": "text", "text": ASR_PROMPT}]},
        {"role": "assistant", "content": [{"type": "text", "text": text}]},
    ]} for text, wav in answers.items()]
    quiet, loud = (_codes_in(processor, processor(text=["<|audio|>"], audio=[w])["input_ids"]) for w in answers.values())
    assert quiet and loud and quiet != loud  # only the audio codes tell the two prompts apart
    batch = AudioChatCollator(processor)(rows)
    assert "input_features" not in batch
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-3)
    model.train()
    torch.manual_seed(0)
    losses = []
    for _ in range(60):
        loss = model(**batch).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0]

    model.eval()
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    trained = pipeline("audio-to-uas", model=str(tmp_path), device="cpu")
    for text, wav in answers.items():
        assert trained((wav, SR), task="transcribe", max_new_tokens=10)["transcription"] == text


def test_the_stage_3_sft_trainer_trains_a_discrete_model_on_code_token_prompts(tmp_path):
    from test_train_tasks import make_uas_dataset
    from uas_audio.trainers import tasks as T
    from uas_audio.trainers.stage_config import load_recipe
    from uas_audio.trainers.train import build_trainer

    model = uas_audio.tiny_model(input_mode="discrete")
    processor = uas_audio.tiny_processor(input_mode="discrete")
    rows = T.asr_rows(make_uas_dataset(2))
    recipe = load_recipe(3, output_dir=str(tmp_path), max_steps=6, learning_rate=1e-2, warmup_steps=0,
                         activation_checkpointing=False, logging_steps=1, save_strategy="no",
                         per_device_train_batch_size=2, lr_scheduler_type="constant")
    trainer = build_trainer(recipe, model, processor, rows)
    batch = trainer.data_collator([rows[0], rows[1]])
    assert "input_features" not in batch
    prompt_codes = batch["input_ids"][(batch["input_ids"] >= model.config.audio_code_start) & (batch["labels"] == -100)]
    assert len(prompt_codes) > 0  # the audio entered as code tokens, and codes are not targets
    trainer.train()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(losses) == 6 and losses[-1] < 0.7 * losses[0], losses


def test_the_remote_code_export_of_a_discrete_pipeline_carries_the_speech_tokenizer(tmp_path):
    from uas_audio.pipelines.export import flat_module_name

    local = pipeline("audio-to-uas", model=uas_audio.tiny_model(input_mode="discrete"),
                     processor=uas_audio.tiny_processor(input_mode="discrete"), device="cpu")
    local.save_pretrained(tmp_path)
    assert (tmp_path / SPEECH_TOKENIZER_DIR / "model.safetensors").exists()
    tokenizer_module = flat_module_name("uas_audio.modeling.speech.modeling_speech_tokenizer")
    assert (tmp_path / f"{tokenizer_module}.py").exists()
    processor_code = (tmp_path / f"{flat_module_name('uas_audio.processing.processing_uas_audio')}.py").read_text()
    assert f"from .{tokenizer_module} import UASSpeechTokenizer" in processor_code


@pytest.mark.slow
def test_an_exported_discrete_pipeline_loads_without_the_package(tmp_path):
    """The remote-code export carries the speech tokenizer's code and weights: same output where uas_audio is
    not importable."""
    import subprocess
    import sys

    from test_pipeline_remote_code import _LOAD_WITHOUT_PACKAGE

    limits = {"transcription": 8, "accent": 4, "prosody": 4, "timbre": 4, "description": 8, "label": 4,
              "characteristic": 4, "max_events": 1}
    local = pipeline("audio-to-uas", model=uas_audio.tiny_model(input_mode="discrete"),
                     processor=uas_audio.tiny_processor(input_mode="discrete"), device="cpu")
    local.save_pretrained(tmp_path)
    assert (tmp_path / SPEECH_TOKENIZER_DIR / "model.safetensors").exists()
    clip = np.sin(np.arange(12000) / 7.0).astype(np.float32) * 0.3  # the clip the loader script uses
    expected = local((clip, SR), limits=limits)["text"]
    run = subprocess.run([sys.executable, "-c", _LOAD_WITHOUT_PACKAGE, str(tmp_path), json.dumps(limits)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    remote = json.loads(run.stdout.strip().splitlines()[-1])
    assert remote["loaded"] == [] and remote["valid"]
    assert remote["text"] == expected


def test_push_to_hub_uploads_the_speech_tokenizer_with_the_processor(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from transformers.utils import hub

    committed = []

    class _FakeApi:
        def create_repo(self, repo_id, exist_ok=False, **kwargs):
            return SimpleNamespace(repo_id=f"user/{repo_id}")

        def create_commit(self, repo_id, operations, **kwargs):
            committed.append((repo_id, sorted(op.path_in_repo for op in operations)))

    monkeypatch.setattr(hub, "hf_api", lambda: _FakeApi())
    uas_audio.tiny_processor(input_mode="discrete").save_pretrained(tmp_path / "d", push_to_hub=True)
    [(repo_id, paths)] = committed
    assert repo_id == "user/d"
    assert {"processor_config.json", "tokenizer.json", f"{SPEECH_TOKENIZER_DIR}/config.json",
            f"{SPEECH_TOKENIZER_DIR}/model.safetensors"} <= set(paths)
