"""`train --lora` outputs are first-class: they load in the pipeline, in `load_model_and_processor`, in `eval` and
`push`, and `uas-audio merge` turns them into a plain model with the same logits."""

import numpy as np
import pytest
import torch

from test_train_cli import FAST_YAML
from test_train_tasks import make_qa_dataset, make_uas_dataset
from uas_audio.cli import main

WAVE = (np.random.default_rng(0).standard_normal(16000) * 0.1).astype(np.float32)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two LoRA runs: on the embedded default (its base saved beside the adapters), and on a saved stage-1 model
    whose vocabulary holds audio codes (the adapters point at it and train the code rows as trainable tokens)."""
    root = tmp_path_factory.mktemp("lora-runs")
    uas = make_uas_dataset(2, seconds=0.4)
    uas.save_to_disk(str(root / "uas"))
    make_qa_dataset(uas).save_to_disk(str(root / "qa"))
    (root / "s3.yaml").write_text(FAST_YAML + "learning_rate: 0.01\n")
    (root / "s1.yaml").write_text(FAST_YAML.replace("{uas: 0.5, qa: 0.5}", "{asr: 0.5, tts: 0.5}")
                                  + "num_audio_codes: 16\n")
    common = ["--config", str(root / "s3.yaml"), "--data", str(root / "uas"), str(root / "qa"), "--max-steps", "2",
              "--lora"]
    assert main(["train", "--stage", "3", *common, "--output-dir", str(root / "embedded")]) == 0
    assert main(["train", "--stage", "1", "--config", str(root / "s1.yaml"), "--data", str(root / "uas"),
                 "--output-dir", str(root / "stage1"), "--max-steps", "1"]) == 0
    assert main(["train", "--stage", "3", *common, "--model", str(root / "stage1"),
                 "--output-dir", str(root / "on-stage1")]) == 0
    return root


@pytest.mark.parametrize("run", ["embedded", "on-stage1"])
def test_lora_output_loads_in_the_pipeline_with_its_adapters(runs, run):
    from transformers import pipeline

    from uas_audio.trainers.lora import load_lora_folder

    folder = runs / run
    assert (folder / "adapter_config.json").is_file() and (folder / "adapter_model.safetensors").is_file()
    assert (folder / "config.json").is_file() == (run == "embedded")  # a base saved only when not findable
    pipe = pipeline("audio-to-uas", model=str(folder))
    assert pipe((WAVE, 16_000), max_new_tokens=600)["uas"] is not None
    merged, processor = load_lora_folder(folder, merge=True)
    ids = processor.tokenizer("Describe the audio.", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        torch.testing.assert_close(pipe.model(input_ids=ids).logits, merged(input_ids=ids).logits,
                                   atol=1e-4, rtol=1e-4)
        # the adapters changed the numbers: the base alone gives other logits
        unadapted, _ = load_lora_folder(folder, merge=False)
        with unadapted.disable_adapter():
            base_logits = unadapted(input_ids=ids).logits
    assert (base_logits - merged(input_ids=ids).logits).abs().max() > 1e-4


def test_merge_command_writes_a_plain_model_with_the_adapter_logits(runs, tmp_path):
    from transformers import AutoModelForCausalLM

    from uas_audio.trainers.lora import load_lora_folder
    from uas_audio.trainers.train import load_model_and_processor

    assert main(["merge", str(runs / "on-stage1"), str(tmp_path / "merged")]) == 0
    assert not (tmp_path / "merged" / "adapter_config.json").exists()
    plain = AutoModelForCausalLM.from_pretrained(tmp_path / "merged")
    merged, processor = load_lora_folder(runs / "on-stage1")
    via_train, _ = load_model_and_processor(runs / "on-stage1")
    ids = processor.tokenizer("Describe the audio.", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        torch.testing.assert_close(plain(input_ids=ids).logits, merged(input_ids=ids).logits)
        torch.testing.assert_close(via_train(input_ids=ids).logits, merged(input_ids=ids).logits)


def test_merge_command_refuses_a_folder_without_adapters(tmp_path, capsys):
    assert main(["merge", str(tmp_path), str(tmp_path / "out")]) == 2
    assert "no adapter_config.json" in capsys.readouterr().err


def test_eval_and_push_accept_a_lora_output(runs, tmp_path):
    from uas_audio.evaluation.runner import is_uas_audio_model
    from uas_audio.hub_cards.push import stage_model_dir

    assert is_uas_audio_model(runs / "on-stage1") and is_uas_audio_model(runs / "embedded")
    staged = stage_model_dir(runs / "embedded", tmp_path / "repo", repo_id="user/lora-run")
    assert (staged / "model.safetensors").is_file() and not (staged / "adapter_config.json").exists()
