"""The tiny model and processor agree on the special tokens: the tokenizer's eos is ``<|im_end|>`` (a chat turn's
end) and its pad ``<|endoftext|>``; the text config and generation config say the same, so a Trainer has nothing
to realign (and no warning to give), and saving and loading keeps it."""

import logging

import pytest
from transformers import AutoTokenizer
from transformers.trainer_utils import align_special_tokens

from uas_audio.processing.chatml import END_OF_TEXT, IM_END
from uas_audio.tiny import tiny_config, tiny_model, tiny_processor

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("input_mode", ["continuous", "discrete"])
def test_config_generation_config_and_tokenizer_agree_on_eos_and_pad(input_mode):
    model, processor = tiny_model(input_mode=input_mode), tiny_processor(input_mode=input_mode)
    tokenizer = processor.tokenizer
    im_end, end_of_text = tokenizer.convert_tokens_to_ids([IM_END, END_OF_TEXT])
    assert (tokenizer.eos_token_id, tokenizer.pad_token_id) == (im_end, end_of_text)
    text = model.config.get_text_config()
    assert (text.eos_token_id, text.pad_token_id) == (im_end, end_of_text)
    assert model.generation_config.eos_token_id == [im_end, end_of_text]
    assert model.generation_config.pad_token_id == end_of_text
    assert tiny_config().get_text_config().eos_token_id == im_end


def test_a_trainer_finds_nothing_to_realign(caplog):
    model, processor = tiny_model(), tiny_processor()
    before = (model.config.get_text_config().to_dict(), model.generation_config.to_dict())
    with caplog.at_level(logging.WARNING):
        align_special_tokens(model, processor)
    assert "differ from the model config" not in caplog.text
    assert (model.config.get_text_config().to_dict(), model.generation_config.to_dict()) == before


def test_chat_generation_prompt_ends_turns_with_the_eos_token():
    processor = tiny_processor()
    text = processor.apply_chat_template([{"role": "user", "content": [{"type": "text", "text": "Hi"}]},
                                          {"role": "assistant", "content": [{"type": "text", "text": "Yes."}]}],
                                         tokenize=False)
    assert text.endswith("Yes." + processor.tokenizer.eos_token + "\n")


def test_saved_processor_and_model_keep_the_same_special_tokens(tmp_path):
    from uas_audio.modeling import UASAudioForConditionalGeneration

    model, processor = tiny_model(), tiny_processor()
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    tokenizer = AutoTokenizer.from_pretrained(tmp_path)
    loaded = UASAudioForConditionalGeneration.from_pretrained(tmp_path)
    assert (tokenizer.eos_token, tokenizer.pad_token) == (IM_END, END_OF_TEXT)
    assert loaded.config.get_text_config().eos_token_id == tokenizer.eos_token_id
    assert loaded.config.get_text_config().pad_token_id == tokenizer.pad_token_id
    assert loaded.generation_config.eos_token_id == model.generation_config.eos_token_id
