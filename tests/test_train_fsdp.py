"""Stage-1 freezing and training under FSDP2 on two CPU processes (gloo): torch's ``fully_shard`` directly, and
stages 1 and 3 through ``uas_audio.trainers.train.train`` with accelerate's FSDP2 preparation and the settings of
``configs/accelerate/fsdp.yaml``. Old vocabulary rows stay bit-identical on each rank's shard, new rows train, the
saved folder loads as a plain model."""

import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from test_train_freezing import EMBED, HEAD, NUM_CODES
from uas_audio.tiny import tiny_model, tiny_processor
from uas_audio.trainers.train import ensure_audio_codes
_FSDP_RANK = r'''
import json, os, sys
import torch, torch.distributed as dist
from torch.distributed.fsdp import fully_shard
from torch.distributed.tensor import DTensor
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict
sys.path.insert(0, sys.argv[2])
from test_train_freezing import EMBED, HEAD, _batch, _stage1_model
from uas_audio.trainers.freezing import apply_stage_freezing, merge_split_rows

torch.set_num_threads(1)
dist.init_process_group("gloo")
rank = dist.get_rank()
model = _stage1_model()  # seeded: the same initial weights on both ranks
start, before = model.config.audio_code_start, {k: v.clone() for k, v in model.state_dict().items()}
apply_stage_freezing(model, "new_vocab_rows")
# accelerate's FSDP2 layout: one unit per _no_split_modules block, the embeddings, the LM head, then the root
blocks = set(model._no_split_modules)
wrapped = [m for m in model.modules() if type(m).__name__ in blocks]
for module in wrapped:
    fully_shard(module)
fully_shard(model.get_input_embeddings())
fully_shard(model.lm_head, reshard_after_forward=False)
fully_shard(model)
units = sorted({type(m).__name__.removeprefix("FSDP") for m in wrapped})
sharded = {n: isinstance(p, DTensor) for n, p in model.named_parameters()}
optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2, weight_decay=0.1)
losses = []
for step in range(4):
    batch = _batch(model, seed=100 * rank + step)  # different data per rank, as a sharded sampler gives
    loss = model(**batch).loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 0.5)
    optimizer.step()
    optimizer.zero_grad()
    losses.append(loss.item())
full = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True))  # on every rank
full = merge_split_rows(full)
report = {"world": dist.get_world_size(), "units": units, "losses": losses,
          "keys_plain": sorted(full) == sorted(before),
          "new_rows_sharded": sharded["lm_head.new_rows"] and sharded["model.language_model.embed_tokens.new_rows"],
          "local_new_rows": model.lm_head.new_rows.to_local().shape[0],
          # this rank's own shard of the old rows (FSDP2 shards dim 0 like torch.chunk)
          "local_old_identical": all(torch.equal(layer.old_rows.to_local(), before[name][:start].chunk(2)[rank])
                                     for layer, name in ((model.get_input_embeddings(), EMBED), (model.lm_head, HEAD)))}
for name in (EMBED, HEAD):
    report[name] = {"old_identical": torch.equal(full[name][:start], before[name][:start]),
                    "new_changed": not torch.equal(full[name][start:], before[name][start:]),
                    "digest": float(full[name].double().sum())}
report["others_identical"] = all(torch.equal(full[k], before[k]) for k in before if k not in (EMBED, HEAD))
with open(os.path.join(sys.argv[1], f"rank{rank}.json"), "w") as f:
    json.dump(report, f)
dist.destroy_process_group()
'''


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow  # the train-entry FSDP2 tests below cover the same in the default suite
def test_fsdp2_two_cpu_processes_stage1_keeps_old_rows_bit_identical_and_trains_new_rows(tmp_path):
    script = tmp_path / "rank.py"
    script.write_text(_FSDP_RANK)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(_free_port()),
         str(script), str(tmp_path), str(Path(__file__).parent)],
        capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    for report in ranks:
        assert report["world"] == 2 and report["units"] == ["Qwen2DecoderLayer", "UASAudioEncoderLayer"]
        assert report["new_rows_sharded"] and report["local_new_rows"] == NUM_CODES // 2
        assert report["keys_plain"] and report["others_identical"] and report["local_old_identical"]
        for name in (EMBED, HEAD):
            assert report[name]["old_identical"] and report[name]["new_changed"], (name, report)
        assert all(torch.isfinite(torch.tensor(report["losses"])))
    for name in (EMBED, HEAD):  # both ranks end with the same full weights
        assert ranks[0][name]["digest"] == ranks[1][name]["digest"]


# accelerate 1.15 runs FSDP on accelerators only: AcceleratorState turns ACCELERATE_USE_FSDP into
# DistributedType.FSDP for MULTI_GPU-like types, never for MULTI_CPU (accelerate/state.py), and `accelerate launch`
# sends `--cpu` runs to the single-process launcher (commands/launch.py: `elif args.use_fsdp and not args.cpu`).
# The rank script lifts that one check, so the rest (accelerate's FSDP2 preparation and state dicts, the Trainer,
# uas_audio's train entry) runs unchanged on CPU with gloo.
_FSDP_ON_CPU = r'''
import json, os, sys
import torch
from accelerate.state import AcceleratorState
from accelerate.utils import DistributedType

_init = AcceleratorState.__init__
def _fsdp_on_cpu(self, *args, fsdp_plugin=None, **kwargs):
    _init(self, *args, fsdp_plugin=fsdp_plugin, **kwargs)
    plugin = fsdp_plugin or getattr(self, "fsdp_plugin", None)
    if plugin is not None and self.distributed_type == DistributedType.MULTI_CPU:
        self.distributed_type, self.fsdp_plugin = DistributedType.FSDP, plugin
AcceleratorState.__init__ = _fsdp_on_cpu
'''

_TRAIN_RANK = _FSDP_ON_CPU + r'''
from torch.distributed.tensor import DTensor
from uas_audio.tiny import tiny_model
from uas_audio.trainers.train import train

stage, out, data = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
mixture = {"asr": 0.5, "tts": 0.5} if stage == 1 else {"uas": 1.0}
trainer = train(stage, output_dir=out, data=data, max_steps=4, overrides=dict(
    per_device_train_batch_size=1, activation_checkpointing=False, warmup_steps=0, save_strategy="no",
    logging_steps=1, learning_rate=1e-2, weight_decay=0.1, lr_scheduler_type="constant", mixture=mixture))
model, rank = trainer.model, trainer.accelerator.process_index
report = {"distributed_type": str(trainer.accelerator.state.distributed_type), "fsdp": trainer.is_fsdp_enabled,
          "world": trainer.accelerator.num_processes, "class": type(model).__name__,
          "losses": [h["loss"] for h in trainer.state.log_history if "loss" in h],
          "all_sharded": all(isinstance(p, DTensor) for p in model.parameters()),
          "units": sorted({type(m).__name__ for m in model.modules() if type(m).__name__.startswith("FSDP")})}
if stage == 1:  # this rank's shard of the old rows against the initial model's rows
    initial = tiny_model()
    pairs = ((model.get_input_embeddings(), initial.get_input_embeddings()), (model.lm_head, initial.lm_head))
    report["local_old_identical"] = all(
        torch.equal(split.old_rows.to_local(), plain.weight.detach().chunk(2)[rank]) for split, plain in pairs)
    report["local_new_rows"] = [split.new_rows.to_local().shape[0] for split, _ in pairs]
with open(os.path.join(out, f"rank{rank}.json"), "w") as f:
    json.dump(report, f)
trainer.accelerator.end_training()  # leave the process group as `uas-audio train` does: no collective threads at exit
'''


def _fsdp_env() -> dict:
    """Environment `accelerate launch --config_file configs/accelerate/fsdp.yaml` gives each process, from the file
    (the same FSDP_* names as accelerate's launcher), with fp32 on CPU."""
    import yaml

    config = yaml.safe_load((Path(__file__).resolve().parents[1] / "configs/accelerate/fsdp.yaml").read_text())
    env = {"ACCELERATE_USE_FSDP": "true", "ACCELERATE_USE_CPU": "true", "ACCELERATE_MIXED_PRECISION": "no"}
    for key, value in config["fsdp_config"].items():
        env["FSDP_" + key.removeprefix("fsdp_").upper()] = str(value).lower() if isinstance(value, bool) else str(value)
    return env


def _torchrun(tmp_path, source, *args):
    script = tmp_path / "rank.py"
    script.write_text(source)
    env = {**os.environ, **_fsdp_env(), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1",
           "TOKENIZERS_PARALLELISM": "false"}
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(_free_port()),
         str(script), *map(str, args)],
        capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]


def _run_train_ranks(tmp_path, stage, data):
    out = tmp_path / f"stage{stage}"
    _torchrun(tmp_path, _TRAIN_RANK, stage, out, *data)
    ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]
    for report in ranks:
        assert report["distributed_type"] == "DistributedType.FSDP" and report["fsdp"] and report["world"] == 2
        assert report["class"] == "FSDPUASAudioForConditionalGeneration" and report["all_sharded"]
        assert {"FSDPQwen2DecoderLayer", "FSDPUASAudioEncoderLayer"} <= set(report["units"])  # _no_split_modules
        assert all(math.isfinite(x) for x in report["losses"]) and len(report["losses"]) == 4
    return out, ranks


@pytest.fixture(scope="module")
def uas_data(tmp_path_factory):
    from test_train_tasks import make_uas_dataset

    path = tmp_path_factory.mktemp("fsdp_data") / "uas"
    make_uas_dataset(2, seconds=0.4).save_to_disk(str(path))
    return path


def test_fsdp2_stage1_through_the_train_entry_saves_a_plain_model_with_old_rows_untouched(tmp_path, uas_data):
    out, ranks = _run_train_ranks(tmp_path, 1, [uas_data])
    for report in ranks:
        assert report["local_old_identical"] and report["local_new_rows"] == [500, 500]  # 1000 codes, 2 shards
    from transformers import AutoModelForCausalLM

    saved = AutoModelForCausalLM.from_pretrained(out)
    assert type(saved.lm_head) is nn.Linear  # the split rows merged into the plain layout
    assert "FSDP" not in json.dumps(json.loads((out / "config.json").read_text()).get("auto_map", {}))
    initial = tiny_model()
    start = saved.config.audio_code_start
    for get in (lambda m: m.lm_head.weight, lambda m: m.get_input_embeddings().weight):
        assert torch.equal(get(saved)[:start], get(initial))
    ensure_audio_codes(initial, tiny_processor(), 1000, seed=42)  # the recipe's seed: the initial new rows
    for get in (lambda m: m.lm_head.weight, lambda m: m.get_input_embeddings().weight):
        assert not torch.equal(get(saved)[start:], get(initial)[start:])


def test_fsdp2_stage3_through_the_train_entry_has_falling_loss_and_trains_the_head(tmp_path, uas_data):
    out, ranks = _run_train_ranks(tmp_path, 3, [uas_data])
    assert ranks[0]["losses"][-1] < ranks[0]["losses"][0], ranks[0]["losses"]
    from transformers import AutoModelForCausalLM

    saved, initial = AutoModelForCausalLM.from_pretrained(out), tiny_model()
    assert not torch.equal(saved.lm_head.weight, initial.lm_head.weight)  # the head unit was gathered and trained
    assert torch.equal(saved.model.audio_tower.conv1.weight, initial.model.audio_tower.conv1.weight)


_RESUME_RANK = _FSDP_ON_CPU + r'''
from transformers import TrainerCallback
from uas_audio.trainers.train import train

class StopAfter2(TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step >= 2:
            control.should_training_stop = control.should_save = True
        return control

mode, out, data = sys.argv[1], sys.argv[2], sys.argv[3:]
trainer = train(1, output_dir=out, data=data, max_steps=4, resume=mode == "resume",
                callbacks=[StopAfter2()] if mode == "part" else [], overrides=dict(
    per_device_train_batch_size=1, activation_checkpointing=False, warmup_steps=0, save_strategy="steps",
    save_steps=2, logging_steps=1, learning_rate=1e-2, weight_decay=0.1, lr_scheduler_type="constant",
    mixture={"asr": 0.5, "tts": 0.5}))
with open(os.path.join(out, f"{mode}{trainer.accelerator.process_index}.json"), "w") as f:
    json.dump([h["loss"] for h in trainer.state.log_history if "loss" in h], f)
'''


@pytest.mark.slow  # three 2-process runs
def test_fsdp2_stage1_resumes_from_a_sharded_checkpoint_with_the_next_losses_of_an_uninterrupted_run(
        tmp_path, uas_data):
    _torchrun(tmp_path, _RESUME_RANK, "full", tmp_path / "full", uas_data)
    _torchrun(tmp_path, _RESUME_RANK, "part", tmp_path / "part", uas_data)
    assert (tmp_path / "part" / "checkpoint-2" / "pytorch_model_fsdp_0").is_dir()  # fsdp.yaml: SHARDED_STATE_DICT
    _torchrun(tmp_path, _RESUME_RANK, "resume", tmp_path / "part", uas_data)
    for rank in (0, 1):
        full = json.loads((tmp_path / "full" / f"full{rank}.json").read_text())
        resumed = json.loads((tmp_path / "part" / f"resume{rank}.json").read_text())
        assert len(full) == 4 and resumed[-2:] == pytest.approx(full[-2:], rel=1e-5)
