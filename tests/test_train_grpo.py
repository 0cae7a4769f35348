"""Stage 4: AudioGRPOTrainer carries the audio features into the old-policy, reference and loss forwards."""

import math

import pytest
import torch
from transformers import TrainerCallback

from test_train_tasks import make_qa_dataset, make_uas_dataset
from uas_audio.tiny import tiny_model, tiny_processor
from uas_audio.trainers import tasks as T
from uas_audio.trainers.freezing import apply_stage_freezing
from uas_audio.trainers.grpo import AudioGRPOTrainer, merge_audio_rows, split_audio_rows
from uas_audio.trainers.stage_config import load_recipe


def _length_reward(prompts, completions, completion_ids, **kwargs):
    """Varies across a group, so advantages (and the loss) are not all zero."""
    return [float(len(ids) % 3) for ids in completion_ids]


def _log_prob_calls(model, calls, name):
    """Record every fused (log-probability) forward: whether it had audio features and gradients."""

    def hook(module, args, kwargs):
        if kwargs.get("fused_lm_head"):
            calls.append((name, kwargs.get("input_features") is not None, torch.is_grad_enabled()))

    return model.register_forward_pre_hook(hook, with_kwargs=True)


@pytest.fixture(scope="module")
def grpo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("grpo")
    rows = T.prompt_rows(make_qa_dataset(make_uas_dataset(2)))
    # num_iterations=2: the batch is reused, so TRL scores the old policy; beta>0: the reference model runs.
    recipe = load_recipe(4, output_dir=str(out), max_steps=2, per_device_train_batch_size=2, num_generations=2,
                         max_completion_length=6, num_iterations=2, beta=0.1, warmup_steps=0, learning_rate=1e-3,
                         activation_checkpointing=False, logging_steps=1, save_strategy="no")
    model = tiny_model()
    apply_stage_freezing(model, recipe.trainable)
    trainer = AudioGRPOTrainer(model=model, reward_funcs=[_length_reward], args=recipe, train_dataset=rows,
                               processing_class=tiny_processor())
    calls = []
    _log_prob_calls(trainer.model, calls, "policy")
    _log_prob_calls(trainer.ref_model, calls, "reference")
    trainer.train()
    return trainer, calls


def test_old_policy_reference_and_loss_forwards_all_receive_the_audio_features(grpo_run):
    _, calls = grpo_run
    old_policy = [c for c in calls if c[0] == "policy" and not c[2]]
    loss = [c for c in calls if c[0] == "policy" and c[2]]
    reference = [c for c in calls if c[0] == "reference"]
    assert old_policy and loss and reference
    assert all(with_audio for _, with_audio, _ in calls), calls


def test_reference_model_is_the_saved_initial_policy(grpo_run):
    trainer, _ = grpo_run
    assert trainer.ref_model.config._name_or_path.endswith("reference-model")
    initial = tiny_model()
    for (name, value), reference in zip(initial.named_parameters(), trainer.ref_model.parameters()):
        assert torch.equal(value, reference), name


def test_grpo_loss_is_finite_and_the_policy_moves(grpo_run):
    trainer, _ = grpo_run
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert len(losses) == 2 and all(math.isfinite(x) for x in losses)
    initial = tiny_model()
    assert not torch.equal(trainer.model.lm_head.weight, initial.lm_head.weight)
    assert torch.equal(trainer.model.model.audio_tower.conv1.weight, initial.model.audio_tower.conv1.weight)


def test_audio_rows_split_per_prompt_and_merge_back_in_row_order():
    features = torch.arange(2 * 3 * 4, dtype=torch.float32).reshape(2, 3, 4)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])
    rows = split_audio_rows(features, mask, [1, 0, 1])
    assert rows[1] is None and rows[2][0].shape == (1, 3, 2)  # trimmed to its own frames
    merged = merge_audio_rows([rows[2], rows[1], rows[0]])
    assert torch.equal(merged["input_features"][0, :, :2], features[1, :, :2])
    assert torch.equal(merged["input_features_mask"], torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]]))
    assert merge_audio_rows([None, None]) == {}


def test_more_placeholder_runs_than_feature_rows_is_an_error():
    with pytest.raises(ValueError, match="1 clips of features for 2 audio parts"):
        split_audio_rows(torch.zeros(1, 3, 4), torch.ones(1, 4), [1, 1])


class _LogSpy(TrainerCallback):
    """Keeps the last logged metrics."""

    def __init__(self):
        self.logs = {}

    def on_log(self, args, state, control, logs=None, **kwargs):
        self.logs.update(logs or {})


GRPO_FAST = dict(per_device_train_batch_size=2, num_generations=2, max_completion_length=6, warmup_steps=0,
                 activation_checkpointing=False, logging_steps=1, save_strategy="no")


def test_stage4_from_uas_data_scores_holistic_prompts_with_the_uas_rewards(tmp_path):
    from uas_audio.trainers.train import train

    make_uas_dataset(2).save_to_disk(str(tmp_path / "uas"))
    spy = _LogSpy()
    trainer = train(4, data=[tmp_path / "uas"], output_dir=tmp_path / "out", max_steps=1, callbacks=[spy],
                    overrides=dict(GRPO_FAST, mixture={"uas": 1.0},
                                   reward_funcs=["uas_validity", "uas_field_agreement", "format"]))
    assert trainer.state.global_step == 1
    for name in ("uas_validity", "uas_field_agreement", "answer_format"):
        assert f"rewards/{name}/mean" in spy.logs  # every reward ran (the uas, transcript columns reached them)
    assert spy.logs["rewards/uas_validity/mean"] == 0.0  # a random tiny model writes no valid UAS in 6 tokens


def test_stage4_with_lora_passes_the_audio_to_every_log_probability_forward(tmp_path):
    from uas_audio.trainers.train import build_trainer

    rows = T.prompt_rows(make_qa_dataset(make_uas_dataset(1)))
    recipe = load_recipe(4, output_dir=str(tmp_path), max_steps=1, num_iterations=2, beta=0.1,
                         reward_funcs=["format"], **GRPO_FAST)
    trainer = build_trainer(recipe, tiny_model(), tiny_processor(), rows, lora=True)
    assert trainer.ref_model is None  # the reference is the base model with the adapters disabled
    calls = []
    _log_prob_calls(trainer.model.get_base_model(), calls, "policy")
    trainer.train()
    assert len(calls) >= 3 and all(with_audio for _, with_audio, _ in calls), calls
