"""--lora: adapters on the LLM projections train under SFTTrainer, save, reload to identical logits and merge."""

import numpy as np
import pytest
import torch

from test_train_tasks import make_uas_dataset
from uas_audio.tiny import tiny_model, tiny_processor
from uas_audio.trainers import tasks as T
from uas_audio.trainers.collator import AudioChatCollator
from uas_audio.trainers.lora import LLM_PROJECTION_REGEX, load_lora, merge_lora, save_lora
from uas_audio.trainers.stage_config import load_recipe
from uas_audio.trainers.train import build_trainer, ensure_audio_codes

NUM_CODES = 8


def _base():
    model, processor = tiny_model(), tiny_processor()
    ensure_audio_codes(model, processor, NUM_CODES, seed=0)
    return model, processor


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("lora")
    model, processor = _base()
    rows = T.mixture({"asr": T.asr_rows(make_uas_dataset(2)),
                      "tts": T.tts_rows(make_uas_dataset(2), encode=lambda wav: [1, 4, 2])}, {"asr": 1, "tts": 1})
    recipe = load_recipe(3, output_dir=str(out), max_steps=3, per_device_train_batch_size=2, learning_rate=1e-2,
                         warmup_steps=0, activation_checkpointing=False, save_strategy="no", logging_steps=1)
    trainer = build_trainer(recipe, model, processor, rows, lora=True)
    trainer.train()
    batch = AudioChatCollator(processor)([rows[0], rows[1]])
    return trainer.model, processor, batch, out


def _logits(model, batch):
    model.eval()
    with torch.no_grad():
        return model(**{k: v for k, v in batch.items() if k != "labels"}).logits


def test_lora_targets_only_llm_projections_and_trains_the_head_projector_and_code_rows(trained):
    peft_model, _, _, _ = trained
    trainable = [n for n, p in peft_model.named_parameters() if p.requires_grad]
    lora = [n for n in trainable if "lora_" in n]
    assert lora and all(".language_model.layers." in n for n in lora)
    assert any(n.endswith("lm_head.modules_to_save.default.weight") for n in trainable)
    assert any("multi_modal_projector.modules_to_save" in n for n in trainable)
    assert any("embed_tokens.token_adapter.trainable_tokens_delta" in n for n in trainable)
    assert not any("audio_tower" in n for n in trainable)
    assert "language_model" in LLM_PROJECTION_REGEX


def test_saved_adapters_reload_on_a_fresh_base_to_identical_logits(trained):
    peft_model, _, batch, out = trained
    save_lora(peft_model, out / "adapter")
    reloaded = load_lora(_base()[0], out / "adapter")
    torch.testing.assert_close(_logits(reloaded, batch), _logits(peft_model, batch), rtol=0, atol=0)
    assert not torch.allclose(_logits(_base()[0], batch), _logits(peft_model, batch))  # the adapters matter


def test_merged_model_gives_the_adapter_logits(trained):
    peft_model, _, batch, out = trained
    expected = _logits(peft_model, batch)
    merged = merge_lora(load_lora(_base()[0], out / "adapter"))
    assert not hasattr(merged, "peft_config")
    np.testing.assert_allclose(_logits(merged, batch).numpy(), expected.numpy(), atol=1e-5)


def test_lora_is_refused_for_stages_that_train_one_part_only(tmp_path):
    model, processor = _base()
    recipe = load_recipe(2, output_dir=str(tmp_path), max_steps=1, activation_checkpointing=False)
    with pytest.raises(ValueError, match="LoRA applies to stages 3 and 4"):
        build_trainer(recipe, model, processor, T.uas_rows(make_uas_dataset(1)), lora=True)
