"""The embedded byte-level BPE tokenizer: contract special tokens, compact UAS JSON, reproducible build."""

import json

import pytest
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from uas_audio import schema
from uas_audio.processing import load_default_tokenizer
from uas_audio.processing.build_tokenizer import build_tokenizer
from uas_audio.processing.chatml import CHAT_TEMPLATE, SPECIAL_TOKENS, TOKENIZER_DIR


@pytest.fixture(scope="module")
def tokenizer():
    return load_default_tokenizer()


def test_loads_through_auto_tokenizer_as_a_fast_tokenizer():
    tokenizer = AutoTokenizer.from_pretrained(TOKENIZER_DIR)
    assert isinstance(tokenizer, PreTrainedTokenizerFast)
    assert len(tokenizer) == 4000
    assert tokenizer.chat_template == CHAT_TEMPLATE


def test_contract_tokens_are_special_single_tokens(tokenizer):
    assert set(SPECIAL_TOKENS) <= set(tokenizer.all_special_tokens)
    for token in SPECIAL_TOKENS:
        assert len(tokenizer(token, add_special_tokens=False)["input_ids"]) == 1, token
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.pad_token == "<|endoftext|>"  # chat turns end at eos


def test_audio_code_tokens_added_later_survive_skip_special_tokens(tokenizer):
    extended = load_default_tokenizer()
    extended.add_tokens(["<|code_0|>", "<|code_1|>"])  # normal tokens, as add_audio_codes(n) adds them
    ids = extended("<|speech_bos|><|code_1|><|code_0|><|speech_eos|>", add_special_tokens=False)["input_ids"]
    assert len(ids) == 4
    assert extended.decode(ids, skip_special_tokens=True) == "<|code_1|><|code_0|>"


def test_uas_json_round_trips_exactly_and_compactly(tokenizer):
    description, discrete, continuous = schema.EVENT_KEYS
    record = {
        schema.TRANSCRIPTION: "Well, the teacher opened the window this morning.",
        schema.PARALINGUISTICS: dict(zip(schema.PARALINGUISTIC_KEYS, ["Adult", "Female", "Happiness",
                                          "British English", "moderate pace, lively delivery", "warm and bright"])),
        schema.NON_LINGUISTIC_EVENTS: {description: "A quiet indoor room with birdsong in the background.",
                                       discrete: [{"label": "door slam", "characteristic": "sharp and loud"}],
                                       continuous: []},
    }
    text = json.dumps(record)
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids) == text
    assert len(ids) < len(text) / 3  # schema keys and vocabularies are whole tokens, not bytes


def test_builder_reproduces_the_shipped_files(tmp_path):
    build_tokenizer(tmp_path)
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        assert (tmp_path / name).read_text() == (TOKENIZER_DIR / name).read_text(), name
