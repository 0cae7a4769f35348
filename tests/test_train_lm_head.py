"""The labelled-positions LM head: same outputs and gradients as TRL's fused head, fewer positions projected."""

import copy

import numpy as np
import pytest
import torch
from trl.trainer.utils import add_fused_lm_head

from uas_audio.tiny import tiny_model, tiny_processor
from uas_audio.trainers import lm_head
from uas_audio.trainers.collator import IGNORE_INDEX, AudioChatCollator
from uas_audio.trainers.lm_head import add_labelled_lm_head

pytestmark = pytest.mark.usefixtures("one_torch_thread")
SR = 16_000
OUTPUTS = ("log_probs", "entropy", "is_top1")


def _row(seconds: float, answer: str) -> dict:
    t = np.arange(int(seconds * SR)) / SR
    clip = (0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    return {"messages": [
        {"role": "user", "content": [{"type": "audio", "audio": clip},
                                     {"type": "text", "text": "Transcribe the following audio content into text."}]},
        {"role": "assistant", "content": answer},
    ]}


@pytest.fixture(scope="module")
def batch():
    collator = AudioChatCollator(tiny_processor())
    return collator([_row(1.0, "good morning to you"), _row(0.6, "see you soon")])


def _pair():
    """TRL's fused head, and the same weights with the labelled head on top of it."""
    reference = tiny_model(seed=3)
    add_fused_lm_head(reference, outputs=OUTPUTS)
    patched = copy.deepcopy(tiny_model(seed=3))
    add_fused_lm_head(patched, outputs=OUTPUTS)
    assert add_labelled_lm_head(patched)
    return reference, patched


def _grads(model):
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_outputs_and_gradients_match_trl_fused_head(batch):
    reference, patched = _pair()
    expected = reference(**batch, fused_lm_head=True)
    got = patched(**batch, fused_lm_head=True)
    assert torch.equal(got.label_mask, expected.label_mask)
    torch.testing.assert_close(got.log_probs, expected.log_probs, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got.entropy, expected.entropy, atol=1e-4, rtol=1e-5)
    assert torch.equal(got.is_top1, expected.is_top1)
    torch.testing.assert_close(got.loss, expected.loss, atol=1e-6, rtol=1e-6)
    expected.loss.backward()
    got.loss.backward()
    want, have = _grads(reference), _grads(patched)
    assert want.keys() == have.keys() and len(want) > 10
    for name in want:
        torch.testing.assert_close(have[name], want[name], atol=1e-6, rtol=1e-4, msg=name)


def test_only_labelled_positions_are_projected(batch, monkeypatch):
    _, patched = _pair()
    seen = []
    real = lm_head._score
    monkeypatch.setattr(lm_head, "_score", lambda hidden, *a: seen.append(hidden.size(0)) or real(hidden, *a))
    patched(**batch, fused_lm_head=True)
    labelled = int((batch["labels"][:, 1:] != IGNORE_INDEX).sum())
    assert sum(seen) == labelled
    assert labelled < batch["labels"][:, 1:].numel() / 3  # prompt and audio placeholders dominate the batch


@pytest.mark.parametrize("recompute_above", [0, 1 << 40], ids=["recomputed", "kept"])
def test_chunks_give_the_same_loss_and_gradients(batch, monkeypatch, recompute_above):
    _, whole = _pair()
    out = whole(**batch, fused_lm_head=True)
    out.loss.backward()
    monkeypatch.setattr(lm_head, "TOKEN_CHUNK", 3)
    monkeypatch.setattr(lm_head, "RECOMPUTE_ABOVE", recompute_above)
    calls = []
    real = lm_head._score
    monkeypatch.setattr(lm_head, "_score", lambda *a: calls.append(1) or real(*a))
    _, chunked = _pair()
    got = chunked(**batch, fused_lm_head=True)
    forward_calls = len(calls)
    got.loss.backward()
    assert len(calls) == (2 * forward_calls if recompute_above == 0 else forward_calls)  # backward recomputes
    torch.testing.assert_close(got.loss, out.loss)
    for name, grad in _grads(whole).items():
        torch.testing.assert_close(_grads(chunked)[name], grad, msg=name)


def test_a_batch_without_labels_gives_a_zero_differentiable_loss(batch):
    _, patched = _pair()
    unlabelled = {**batch, "labels": torch.full_like(batch["labels"], IGNORE_INDEX)}
    out = patched(**unlabelled, fused_lm_head=True)
    assert out.loss.item() == 0.0 and out.label_mask.sum() == 0
    out.loss.backward()  # connected to the model, as TRL's head is


def test_plain_calls_still_return_the_models_logits(batch):
    plain = tiny_model(seed=3)
    _, patched = _pair()
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    torch.testing.assert_close(patched(**inputs).logits, plain(**inputs).logits)


def test_models_with_scaled_logits_keep_trls_head():
    model = tiny_model(seed=3)
    model.config.get_text_config().final_logit_softcapping = 30.0
    assert add_labelled_lm_head(model) is False


def test_the_sft_stages_train_with_the_labelled_head(tmp_path):
    from test_train_tasks import make_uas_dataset
    from uas_audio.trainers import tasks as T
    from uas_audio.trainers.stage_config import load_recipe
    from uas_audio.trainers.train import build_trainer

    recipe = load_recipe(3, output_dir=str(tmp_path), max_steps=1, report_to="none")
    trainer = build_trainer(recipe, tiny_model(), tiny_processor(), T.asr_rows(make_uas_dataset(1)))
    assert type(trainer).__name__ == "AudioSFTTrainer" and trainer.labelled_lm_head


def test_bf16_autocast_stage3_trains_with_finite_falling_loss(tmp_path):
    """bf16 mixed precision through the trainer (CPU autocast here; the same code path as on CUDA)."""
    from test_train_tasks import make_uas_dataset
    from uas_audio.trainers import tasks as T
    from uas_audio.trainers.stage_config import load_recipe
    from uas_audio.trainers.train import build_trainer

    recipe = load_recipe(3, output_dir=str(tmp_path), max_steps=6, report_to="none", bf16=True, use_cpu=True, learning_rate=1e-2,
                         warmup_steps=0, lr_scheduler_type="constant", logging_steps=1, save_strategy="no",
                         activation_checkpointing=False, per_device_train_batch_size=2)
    trainer = build_trainer(recipe, tiny_model(), tiny_processor(), T.asr_rows(make_uas_dataset(2)))
    assert trainer.accelerator.mixed_precision == "bf16"
    dtypes = []
    trainer.model.model.language_model.layers[0].mlp.register_forward_hook(lambda m, i, o: dtypes.append(o.dtype))
    trainer.train()
    assert dtypes and set(dtypes) == {torch.bfloat16}
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert len(losses) == 6 and all(np.isfinite(losses))
    assert losses[-1] < losses[0]


def test_flops_estimate_matches_trainers_and_counts_parameters_once(tmp_path, monkeypatch):
    from test_train_tasks import make_uas_dataset
    from uas_audio.trainers import tasks as T
    from uas_audio.trainers.stage_config import load_recipe
    from uas_audio.trainers.train import build_trainer

    recipe = load_recipe(3, output_dir=str(tmp_path), max_steps=1, report_to="none")
    trainer = build_trainer(recipe, tiny_model(), tiny_processor(), T.asr_rows(make_uas_dataset(1)))
    inputs = {"input_ids": torch.ones(2, 7, dtype=torch.long)}
    expected = 6 * 14 * trainer.model.num_parameters(exclude_embeddings=True)
    counts = []
    real = trainer.model.num_parameters
    monkeypatch.setattr(trainer.model, "num_parameters", lambda **kw: counts.append(1) or real(**kw))
    assert [trainer.floating_point_ops(inputs) for _ in range(3)] == [expected] * 3
    assert len(counts) == 1
    assert trainer.floating_point_ops({"labels": inputs["input_ids"]}) == 0
