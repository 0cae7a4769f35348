"""Stage-1 freezing in one process: the old vocabulary rows are a frozen parameter of their own
(``SplitRowsEmbedding`` / ``SplitRowsLinear``), so AdamW with weight decay and gradient clipping leaves them
bit-identical while the new rows train; state dicts, checkpoints and the saved model keep the plain keys, and a
stage-1 run resumes from its checkpoint."""

import pytest
import torch
from torch import nn

from test_train_tasks import make_uas_dataset
from uas_audio.tiny import tiny_model, tiny_processor
from uas_audio.trainers import tasks as T
from uas_audio.trainers.freezing import (NewRowsGuard, SplitRowsEmbedding, SplitRowsLinear, apply_stage_freezing,
                                         count_trainable)
from uas_audio.trainers.train import ensure_audio_codes, train
NUM_CODES = 8
EMBED, HEAD = "model.language_model.embed_tokens.weight", "lm_head.weight"


def _stage1_model():
    model, processor = tiny_model(), tiny_processor()
    ensure_audio_codes(model, processor, NUM_CODES)
    return model


def _batch(model, seed=0):
    start, vocab = model.config.audio_code_start, model.config.text_config.vocab_size
    generator = torch.Generator().manual_seed(seed)
    ids = torch.cat([torch.randint(5, start, (2, 6), generator=generator),
                     torch.randint(start, vocab, (2, 6), generator=generator)], dim=1)
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids}


def test_split_layers_compute_like_the_plain_ones_and_save_plain_weights(tmp_path):
    model = _stage1_model()
    batch = _batch(model)
    reference, plain_state = model(**batch).logits, model.state_dict()
    guard = apply_stage_freezing(model, "new_vocab_rows")
    assert isinstance(model.get_input_embeddings(), SplitRowsEmbedding)
    assert isinstance(model.lm_head, SplitRowsLinear)
    assert torch.equal(model(**batch).logits, reference)
    state = model.state_dict()
    assert state.keys() == plain_state.keys()  # old_rows / new_rows appear as the plain weight
    assert all(torch.equal(state[k], plain_state[k]) for k in state)
    model.save_pretrained(tmp_path)
    from transformers import AutoModelForCausalLM

    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path)
    assert type(reloaded.lm_head) is nn.Linear and torch.equal(reloaded.lm_head.weight, plain_state[HEAD])
    model.load_state_dict(plain_state)  # a plain checkpoint loads into the split layers (resume)
    guard.merge()
    assert type(model.lm_head) is nn.Linear and type(model.get_input_embeddings()) is nn.Embedding
    assert torch.equal(model(**batch).logits, reference)


def test_old_rows_are_no_optimizer_parameter_and_stay_bit_identical_under_adamw_decay_and_clipping():
    model = _stage1_model()
    start, before = model.config.audio_code_start, {k: v.clone() for k, v in model.state_dict().items()}
    guard = apply_stage_freezing(model, "new_vocab_rows")
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert [p.shape[0] for p in trainable] == [NUM_CODES, NUM_CODES]  # the new rows, nothing else
    assert count_trainable(model)[0] == sum(before[n][start:].numel() for n in (EMBED, HEAD))
    optimizer = torch.optim.AdamW(trainable, lr=1e-2, weight_decay=0.1)
    for step in range(3):
        loss = model(**_batch(model, seed=step)).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
        optimizer.step()
        optimizer.zero_grad()
    guard.merge()
    after = model.state_dict()
    for name in (EMBED, HEAD):
        assert torch.equal(after[name][:start], before[name][:start]), name
        assert not torch.equal(after[name][start:], before[name][start:]), name
    assert all(torch.equal(after[k], before[k]) for k in before if k not in (EMBED, HEAD))


def test_stage1_refuses_a_layer_it_cannot_split():
    model = _stage1_model()
    model.lm_head.bias = nn.Parameter(torch.zeros(model.lm_head.out_features))
    with pytest.raises(ValueError, match="bias"):
        apply_stage_freezing(model, "new_vocab_rows")
    assert isinstance(apply_stage_freezing(_stage1_model(), "new_vocab_rows"), NewRowsGuard)




class _StopAfter:
    """A callback ending training after ``steps`` optimizer steps, with a checkpoint (an interrupted run)."""

    def __new__(cls, steps):
        from transformers import TrainerCallback

        class Stop(TrainerCallback):
            def on_step_end(self, args, state, control, **kwargs):
                if state.global_step >= steps:
                    control.should_training_stop = control.should_save = True
                return control

        return Stop()


def test_stage1_checkpoint_loads_as_a_plain_model_and_resume_reproduces_the_next_losses(tmp_path):
    rows = T.tts_rows(make_uas_dataset(2), encode=lambda wav: [1, 5, 2, 7, 3, 3, 0, 6])
    common = dict(warmup_steps=0, activation_checkpointing=False, logging_steps=1, save_strategy="steps", save_steps=2,
                  per_device_train_batch_size=1, lr_scheduler_type="constant", learning_rate=1e-2, weight_decay=0.1,
                  num_audio_codes=NUM_CODES)
    full = train(1, output_dir=tmp_path / "full", max_steps=4, train_dataset=rows, overrides=common)
    train(1, output_dir=tmp_path / "part", max_steps=4, train_dataset=rows, overrides=common,
          callbacks=[_StopAfter(2)])
    from transformers import AutoModelForCausalLM

    checkpoint = AutoModelForCausalLM.from_pretrained(tmp_path / "part" / "checkpoint-2")
    initial = tiny_model()
    start = checkpoint.config.audio_code_start
    assert type(checkpoint.lm_head) is nn.Linear
    assert torch.equal(checkpoint.lm_head.weight[:start], initial.lm_head.weight)
    assert torch.equal(checkpoint.get_input_embeddings().weight[:start], initial.get_input_embeddings().weight)
    resumed = train(1, output_dir=tmp_path / "part", max_steps=4, train_dataset=rows, overrides=common, resume=True)
    losses = [[h["loss"] for h in t.state.log_history if "loss" in h] for t in (full, resumed)]
    assert losses[1][-2:] == pytest.approx(losses[0][-2:], rel=1e-5)
    assert type(resumed.model.lm_head) is nn.Linear  # merged back after training
    assert torch.equal(resumed.model.lm_head.weight[:start], initial.lm_head.weight)
