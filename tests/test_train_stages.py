"""Stages 1-3 on TRL's SFTTrainer: finite and falling loss on an overfit batch, what trains and what stays
bit-identical (frozen modules, and the old vocabulary rows in stage 1), and resume reproducing the next losses."""

import math

import pytest
import torch

from test_train_tasks import make_qa_dataset, make_uas_dataset
from uas_audio.tiny import tiny_model, tiny_processor
from uas_audio.trainers import tasks as T
from uas_audio.trainers.freezing import count_trainable
from uas_audio.trainers.stage_config import load_recipe
from uas_audio.trainers.train import build_trainer, ensure_audio_codes, train

FAST = dict(warmup_steps=0, activation_checkpointing=False, logging_steps=1, save_strategy="no",
            per_device_train_batch_size=2, lr_scheduler_type="constant", weight_decay=0.1)
NUM_CODES = 8


def _snapshot(model):
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def _losses(trainer):
    return [h["loss"] for h in trainer.state.log_history if "loss" in h]


def _run_stage(stage, rows, tmp_path, steps=5, lr=1e-2, codes=False):
    model, processor = tiny_model(), tiny_processor()
    if codes:
        ensure_audio_codes(model, processor, NUM_CODES)
    recipe = load_recipe(stage, output_dir=str(tmp_path / f"stage{stage}"), max_steps=steps, learning_rate=lr,
                         **FAST)
    before = _snapshot(model)
    trainer = build_trainer(recipe, model, processor, rows)
    counts = count_trainable(model)
    trainer.train()
    return model, before, counts, _losses(trainer)


def _tts_rows(num_rows=2):
    return T.tts_rows(make_uas_dataset(num_rows), encode=lambda wav: [1, 5, 2, 7, 3, 3, 0, 6])


@pytest.fixture(scope="module")
def stage1(tmp_path_factory):
    return _run_stage(1, _tts_rows(), tmp_path_factory.mktemp("s1"), codes=True)


@pytest.fixture(scope="module")
def stage2(tmp_path_factory):
    return _run_stage(2, T.uas_rows(make_uas_dataset(2)), tmp_path_factory.mktemp("s2"), lr=3e-2)


@pytest.fixture(scope="module")
def stage3(tmp_path_factory):
    ds = make_uas_dataset(2)
    rows = T.mixture({"asr": T.asr_rows(ds), "qa": T.qa_rows(make_qa_dataset(ds).select([0]))},
                     {"asr": 0.5, "qa": 0.5})
    return _run_stage(3, rows, tmp_path_factory.mktemp("s3"))


@pytest.mark.parametrize("stage", ["stage1", "stage2", "stage3"])
def test_stage_loss_is_finite_and_falls_on_an_overfit_batch(stage, request):
    _, _, _, losses = request.getfixturevalue(stage)
    assert len(losses) == 5 and all(math.isfinite(x) for x in losses)
    assert losses[-1] < losses[0] - 0.05, losses


def test_stage1_trains_only_the_new_vocabulary_rows_and_keeps_old_rows_bit_identical(stage1):
    model, before, (trainable, total), _ = stage1
    embed, head = "model.language_model.embed_tokens.weight", "lm_head.weight"
    assert trainable == sum(before[n][model.config.audio_code_start:].numel() for n in (embed, head))  # new rows
    start = model.config.audio_code_start
    after = dict(model.named_parameters())
    for name in (embed, head):
        assert torch.equal(after[name][:start], before[name][:start])  # weight decay did not move them either
        assert not torch.equal(after[name][start:], before[name][start:])
    for name, value in after.items():
        if name not in (embed, head):
            assert torch.equal(value, before[name]), name


def test_stage2_trains_only_the_projector(stage2):
    model, before, (trainable, _), _ = stage2
    projector = {n for n, _ in model.named_parameters() if ".multi_modal_projector." in n}
    assert trainable == sum(before[n].numel() for n in projector)
    for name, value in model.named_parameters():
        changed = not torch.equal(value, before[name])
        assert changed == (name in projector), name


def test_stage3_trains_everything_but_the_audio_encoder(stage3):
    model, before, (trainable, total), _ = stage3
    encoder = {n for n, _ in model.named_parameters() if ".audio_tower." in n}
    assert trainable == total - sum(before[n].numel() for n in encoder)
    for name in encoder:
        assert torch.equal(dict(model.named_parameters())[name], before[name]), name
    assert not torch.equal(model.lm_head.weight, before["lm_head.weight"])
    assert not torch.equal(model.model.multi_modal_projector.linear_1.weight,
                           before["model.multi_modal_projector.linear_1.weight"])


def test_stage1_without_audio_codes_is_refused(tmp_path):
    recipe = load_recipe(1, output_dir=str(tmp_path), max_steps=1, **FAST)
    with pytest.raises(ValueError, match="add_audio_codes"):
        build_trainer(recipe, tiny_model(), tiny_processor(), _tts_rows())


def test_resume_from_a_checkpoint_reproduces_the_next_losses(tmp_path):
    ds = make_uas_dataset(4)
    rows = T.asr_rows(ds)
    common = dict(FAST, save_strategy="steps", save_steps=2, learning_rate=5e-3, per_device_train_batch_size=1)
    full = train(3, output_dir=tmp_path / "full", max_steps=4, train_dataset=rows, overrides=common)
    part = dict(common)
    train(3, output_dir=tmp_path / "part", max_steps=4, train_dataset=rows,
          overrides=dict(part, save_steps=2), callbacks=[_StopAfter(2)])
    resumed = train(3, output_dir=tmp_path / "part", max_steps=4, train_dataset=rows, overrides=common, resume=True)
    assert _losses(resumed)[-2:] == pytest.approx(_losses(full)[-2:], rel=1e-5)
    assert resumed.state.global_step == 4


class _StopAfter:
    """A callback ending training after ``steps`` optimizer steps (a run interrupted after its checkpoint)."""

    def __new__(cls, steps):
        from transformers import TrainerCallback

        class Stop(TrainerCallback):
            def on_step_end(self, args, state, control, **kwargs):
                if state.global_step >= steps:
                    control.should_training_stop = True
                    control.should_save = True
                return control

        return Stop()


def test_resume_without_a_checkpoint_names_the_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint-"):
        train(3, output_dir=tmp_path / "empty", max_steps=1, train_dataset=T.asr_rows(make_uas_dataset(1)),
              overrides=FAST, resume=True)


def test_sft_fused_head_loss_equals_the_models_own_loss_on_an_audio_batch(tmp_path):
    ds = make_uas_dataset(2)
    rows = T.uas_rows(ds)
    model, processor = tiny_model(), tiny_processor()
    trainer = build_trainer(load_recipe(3, output_dir=str(tmp_path), max_steps=1, **FAST), model, processor, rows)
    batch = trainer.data_collator([rows[0], rows[1]])
    assert "input_features" in batch
    with torch.no_grad():
        fused = trainer.compute_loss(trainer.model, dict(batch))  # TRL's path: model(..., fused_lm_head=True)
        own = model(**batch).loss  # the model's forward: full logits, shifted cross-entropy
    assert float(fused) == pytest.approx(float(own), rel=1e-5)
