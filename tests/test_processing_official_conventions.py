"""UASAudioProcessor(conventions="official"): the official release's audio token names, AuT framing and code tokens,
as issue 18 states them (no official checkpoint or config was at hand: these are the stated conventions, not a
comparison with the release)."""

import json

import numpy as np
import pytest
import torch

from uas_audio import schema
from uas_audio.audio.frames import HOP_LENGTH
from uas_audio.processing import UASAudioFeatureExtractor, UASAudioProcessor, load_default_tokenizer

SR = 16_000
ASR = "Transcribe the following audio content into text."
NUM_TEST_CODES = 16  # the release has 8,192; the processor does not depend on the count


def _official_tokenizer():
    """The embedded tokenizer plus the official placeholder and the first code tokens, as a release's would carry."""
    tokenizer = load_default_tokenizer()
    tokenizer.add_tokens(["<|AUDIO|>"], special_tokens=True)
    tokenizer.add_tokens([f"<|audio_{i}|>" for i in range(NUM_TEST_CODES)])
    return tokenizer


@pytest.fixture(scope="module")
def official():
    return UASAudioProcessor(UASAudioFeatureExtractor(), _official_tokenizer(), conventions="official")


def _clip_of_frames(num_frames: int) -> np.ndarray:
    """A clip the feature extractor turns into exactly ``num_frames`` mel frames."""
    return 0.01 * np.random.default_rng(num_frames).standard_normal(num_frames * HOP_LENGTH).astype(np.float32)


def test_official_conventions_set_token_names_and_aut_framing(official):
    assert (official.audio_token, official.audio_bos_token, official.audio_eos_token) == (
        "<|AUDIO|>", "<|audio_bos|>", "<|audio_eos|>")
    assert (official.encoder_family, official.window_frames, official.stack_factor) == ("aut", 100, 1)
    assert official.code_token(0) == "<|audio_0|>" and official.code_token(8191) == "<|audio_8191|>"


def test_default_conventions_are_unchanged():
    processor = UASAudioProcessor(UASAudioFeatureExtractor(), load_default_tokenizer())
    assert processor.conventions == "uas"
    assert (processor.audio_token, processor.audio_bos_token, processor.audio_eos_token) == (
        "<|audio|>", "<|audio_bos|>", "<|audio_eos|>")
    assert (processor.encoder_family, processor.window_frames, processor.stack_factor) == ("whisper", 3000, 4)
    assert processor.code_token(7) == "<|code_7|>"
    assert processor.chat_template == load_default_tokenizer().chat_template


@pytest.mark.parametrize(
    ("num_frames", "expected"),
    # 150 / 999 / 3000 frames -> 20 / 130 / 390 are the AuT numbers; the rest follow 13 per 100-frame chunk
    # plus the remainder through three stride-2 steps: 1 -> 1, 99 -> 13, 100 -> 13, 101 -> 14, 260 -> 26 + 8
    [(1, 1), (99, 13), (100, 13), (101, 14), (150, 20), (260, 34), (999, 130), (3000, 390)],
)
def test_official_prompt_expands_each_clip_to_aut_placeholder_count(official, num_frames, expected):
    conversation = [{"role": "user", "content": [{"type": "audio", "audio": _clip_of_frames(num_frames)},
                                                 {"type": "text", "text": ASR}]}]
    rendered = official.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)
    assert rendered == f"<|im_start|>user\n<|AUDIO|>{ASR}<|im_end|>\n<|im_start|>assistant\n"
    inputs = official.apply_chat_template(conversation, add_generation_prompt=True, tokenize=True,
                                          return_dict=True, return_tensors="pt")
    assert int(inputs["input_features_mask"].sum()) == num_frames
    ids = inputs["input_ids"][0].tolist()
    assert ids.count(official.audio_token_id) == expected == official.num_audio_tokens(num_frames)
    expanded = "<|audio_bos|>" + "<|AUDIO|>" * expected + "<|audio_eos|>"
    assert official.decode(ids) == rendered.replace("<|AUDIO|>", expanded)


def test_official_discrete_mode_writes_audio_code_tokens():
    processor = UASAudioProcessor(UASAudioFeatureExtractor(), _official_tokenizer(), conventions="official",
                                  input_mode="discrete", speech_encoder=lambda wav: [3, 0, 15])
    out = processor(text=["Listen: <|AUDIO|>"], audio=[np.zeros(SR // 2, np.float32)])
    assert processor.decode(out["input_ids"][0]) == (
        "Listen: <|audio_bos|><|audio_3|><|audio_0|><|audio_15|><|audio_eos|>")
    processor.speech_encoder = lambda wav: [NUM_TEST_CODES]
    with pytest.raises(ValueError, match=r"no '<\|audio_16\|>'; add the '<\|audio_\{\}\|>' code tokens"):
        processor(text=["<|AUDIO|>"], audio=[np.zeros(SR // 2, np.float32)])


def test_explicit_arguments_override_the_conventions():
    processor = UASAudioProcessor(UASAudioFeatureExtractor(), _official_tokenizer(), conventions="official",
                                  stack_factor=2, code_token_format="<|code_{}|>")
    assert (processor.stack_factor, processor.code_token(1), processor.audio_token) == (2, "<|code_1|>", "<|AUDIO|>")
    assert processor.num_audio_tokens(150) == 10


def test_bad_conventions_and_missing_placeholder_are_clear_errors():
    with pytest.raises(ValueError, match="conventions must be one of"):
        UASAudioProcessor(UASAudioFeatureExtractor(), load_default_tokenizer(), conventions="qwen")
    with pytest.raises(ValueError, match=r"the tokenizer has no '<\|AUDIO\|>' token"):
        UASAudioProcessor(UASAudioFeatureExtractor(), load_default_tokenizer(), conventions="official")
    with pytest.raises(ValueError, match="code_token_format must hold one"):
        UASAudioProcessor(UASAudioFeatureExtractor(), load_default_tokenizer(), code_token_format="<|code|>")


def test_official_processor_round_trips_through_save_and_load(official, tmp_path):
    official.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "processor_config.json").read_text())
    assert config["conventions"] == "official" and config["code_token_format"] == "<|audio_{}|>"
    loaded = UASAudioProcessor.from_pretrained(tmp_path)
    for name in ("conventions", "audio_token", "audio_bos_token", "audio_eos_token", "code_token_format",
                 "encoder_family", "window_frames", "stack_factor", "audio_token_id", "chat_template"):
        assert getattr(loaded, name) == getattr(official, name), name
    clip = _clip_of_frames(999)
    a = official(text=["x <|AUDIO|> y"], audio=[clip], return_tensors="pt")
    b = loaded(text=["x <|AUDIO|> y"], audio=[clip], return_tensors="pt")
    assert torch.equal(a["input_ids"], b["input_ids"])
    assert int((b["input_ids"] == loaded.audio_token_id).sum()) == 130


def _uas_json() -> str:
    description, discrete, continuous = schema.EVENT_KEYS
    return json.dumps({
        schema.TRANSCRIPTION: "hello there",
        schema.PARALINGUISTICS: dict.fromkeys(schema.PARALINGUISTIC_KEYS),
        schema.NON_LINGUISTIC_EVENTS: {description: "A quiet room.", discrete: [], continuous: []},
    })


def test_official_decode_uas_reads_prose_around_a_fenced_block(official):
    reply = "Here is the analysis:\n```json\n" + _uas_json() + "\n```\nLet me know if you need more.<|im_end|>"
    assert official.decode_uas(reply).transcription == "hello there"
    default = UASAudioProcessor(UASAudioFeatureExtractor(), load_default_tokenizer())
    with pytest.raises(schema.UASParseError):
        default.decode_uas(reply)  # the default stays strict: exactly one object, optionally fenced
