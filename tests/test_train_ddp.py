"""Scale-out: stages 3 and 1 with two CPU processes (torchrun; the Trainer's accelerate state picks gloo DDP on CPU)
keep both ranks in sync; stage 1's split vocabulary rows save as a plain model with the old rows untouched.
(`accelerate launch --cpu` starts multi-CPU runs through mpirun only.)"""

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from test_train_tasks import make_qa_dataset, make_uas_dataset

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs" / "accelerate"

_RANK_SCRIPT = """
import hashlib, json, os, sys
import torch
from uas_audio.trainers.train import train

stage, out, data = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
mixture = {"uas": 0.5, "qa": 0.5} if stage == 3 else {"asr": 0.5, "tts": 0.5}
trainer = train(stage, output_dir=out, data=data, max_steps=2, overrides=dict(
    per_device_train_batch_size=1, activation_checkpointing=False, warmup_steps=0, save_strategy="no",
    logging_steps=1, learning_rate=1e-3, mixture=mixture))
model = trainer.accelerator.unwrap_model(trainer.model)
digest = hashlib.sha256()
for name, value in sorted(model.state_dict().items()):
    digest.update(name.encode()); digest.update(value.detach().float().numpy().tobytes())
rank = trainer.accelerator.process_index
with open(os.path.join(out, f"rank{rank}.json"), "w") as f:
    json.dump({"digest": digest.hexdigest(), "world": trainer.accelerator.num_processes,
               "step": trainer.state.global_step}, f)
"""


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_accelerate_configs_cover_ddp_fsdp_and_deepspeed_zero2_zero3():
    kinds = {p.name: yaml.safe_load(p.read_text()) for p in CONFIGS.glob("*.yaml")}
    assert kinds["ddp.yaml"]["distributed_type"] == "MULTI_GPU"
    assert kinds["fsdp.yaml"]["fsdp_config"]["fsdp_auto_wrap_policy"] == "TRANSFORMER_BASED_WRAP"
    assert kinds["deepspeed_zero2.yaml"]["deepspeed_config"]["zero_stage"] == 2
    assert kinds["deepspeed_zero3.yaml"]["deepspeed_config"]["zero_stage"] == 3


def test_model_names_the_blocks_fsdp_wraps():
    from uas_audio.tiny import tiny_model

    model = tiny_model()
    names = {type(m).__name__ for m in model.modules()}
    # accelerate's TRANSFORMER_BASED_WRAP reads model._no_split_modules (post_init gathers the children's)
    assert set(model._no_split_modules) >= {"UASAudioEncoderLayer", "Qwen2DecoderLayer"}
    assert set(model._no_split_modules) <= names


def _run_ranks(tmp_path, stage, data):
    script = tmp_path / "rank.py"
    script.write_text(_RANK_SCRIPT)
    out = tmp_path / "out"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false",
           "ACCELERATE_USE_CPU": "true"}  # what `accelerate launch --cpu` sets: gloo DDP on CPU
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(_free_port()),
         str(script), str(stage), str(out), *map(str, data)],
        capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["world"] == ranks[1]["world"] == 2
    assert ranks[0]["step"] == ranks[1]["step"] == 2
    assert ranks[0]["digest"] == ranks[1]["digest"]
    return out


def test_two_cpu_processes_end_stage3_with_identical_weights(tmp_path):
    uas = make_uas_dataset(4)
    uas.save_to_disk(str(tmp_path / "uas"))
    make_qa_dataset(uas).save_to_disk(str(tmp_path / "qa"))
    _run_ranks(tmp_path, 3, [tmp_path / "uas", tmp_path / "qa"])


def test_two_cpu_processes_train_stage1_split_rows_in_sync_and_save_a_plain_model(tmp_path):
    make_uas_dataset(2, seconds=0.4).save_to_disk(str(tmp_path / "uas"))
    out = _run_ranks(tmp_path, 1, [tmp_path / "uas"])
    import torch
    from transformers import AutoModelForCausalLM

    from uas_audio.tiny import tiny_model

    saved, initial = AutoModelForCausalLM.from_pretrained(out), tiny_model()
    start = saved.config.audio_code_start
    assert type(saved.lm_head) is torch.nn.Linear and saved.config.num_audio_codes == 1000
    assert torch.equal(saved.lm_head.weight[:start], initial.lm_head.weight)
    assert torch.equal(saved.get_input_embeddings().weight[:start], initial.get_input_embeddings().weight)
