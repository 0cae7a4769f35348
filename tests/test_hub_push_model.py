"""Publishing a model stops at the Hub boundary: the staged folder has exactly the files a push sends, loads back
with identical logits, and the card's usage snippets run from it where ``uas_audio`` cannot be imported."""

import json
import logging
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import soundfile as sf
import torch
from huggingface_hub import CommitOperationAdd, HfApi

import uas_audio
from uas_audio.hub_cards import StagingError, check_model_folder, commit_operations, push_folder, stage_model
from uas_audio.modeling import UASAudioForConditionalGeneration
from without_package import WITHOUT_UAS_AUDIO

REPO_ID = "someone/uas-tiny"

# Runs in a fresh interpreter where importing uas_audio fails: executes the card's snippets against the folder.
_RUN_SNIPPETS = WITHOUT_UAS_AUDIO + textwrap.dedent("""
    import json, sys
    import torch
    torch.set_num_threads(1)
    for snippet in json.loads(sys.argv[1]):
        exec(compile(snippet, "<card snippet>", "exec"), {})
        print("---")
    print(json.dumps(sorted(m for m in sys.modules if m.startswith("uas_audio"))))
""")


def _clip() -> np.ndarray:
    return (np.sin(np.arange(12000) / 7.0) * 0.3).astype(np.float32)


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    torch.set_num_threads(1)
    model, processor = uas_audio.tiny_model(seed=3), uas_audio.tiny_processor()
    folder = stage_model(model, processor, tmp_path_factory.mktemp("stage") / "repo", repo_id=REPO_ID,
                         eval_results=[{"bench": "mmsu", "accuracy": 0.5}], base_models=[])
    return model, processor, folder


def test_staged_folder_holds_weights_processor_code_and_card(staged):
    _, _, folder = staged
    names = {p.name for p in folder.iterdir()}
    assert {"model.safetensors", "config.json", "generation_config.json", "processor_config.json",
            "tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "README.md"} <= names
    assert not [n for n in names if n.endswith((".bin", ".pt", ".pth", ".pkl", ".ckpt"))]
    config = json.loads((folder / "config.json").read_text())
    assert config["custom_pipelines"]["audio-to-uas"]["impl"] == "uas_pipelines_audio_to_uas.AudioToUASPipeline"
    assert config["auto_map"]["AutoModelForCausalLM"].endswith(".UASAudioForConditionalGeneration")
    assert json.loads((folder / "processor_config.json").read_text())["auto_map"]["AutoProcessor"].endswith(
        ".UASAudioProcessor")


def test_folder_loads_back_with_identical_logits(staged):
    model, _, folder = staged
    reloaded = UASAudioForConditionalGeneration.from_pretrained(folder).eval()
    n = int(model.num_audio_tokens(torch.tensor(150)))
    c = model.config
    ids = torch.tensor([[40, 41, c.audio_bos_token_id] + [c.audio_token_id] * n + [c.audio_eos_token_id, 42]])
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids),
              "input_features": torch.randn(1, 128, 150, generator=torch.Generator().manual_seed(1)),
              "input_features_mask": torch.ones(1, 150, dtype=torch.long)}
    with torch.no_grad():
        torch.testing.assert_close(reloaded(**inputs).logits, model(**inputs).logits, rtol=0, atol=0)


def test_card_snippets_run_from_the_folder_without_the_package(staged, tmp_path):
    model, processor, folder = staged
    readme = (folder / "README.md").read_text()
    snippets = [s.replace(REPO_ID, str(folder)) for s in re.findall(r"```python\n(.*?)```", readme, re.S)
                if REPO_ID in s]
    assert len(snippets) == 2  # the pipeline and the generate examples
    sf.write(tmp_path / "clip.wav", _clip(), 16000)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(tmp_path / "modules"), "PYTHONPATH": ""}
    proc = subprocess.run([sys.executable, "-c", _RUN_SNIPPETS, json.dumps(snippets)], capture_output=True,
                          text=True, env=env, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    pipeline_out, generate_out, loaded = proc.stdout.split("---\n")
    assert json.loads(loaded) == []

    # the same calls in this process, with the package's own classes
    from transformers import pipeline

    pipe = pipeline("audio-to-uas", model=model, processor=processor, device="cpu")
    assert pipeline_out.strip() == str(pipe(str(tmp_path / "clip.wav"))["uas"])
    conversation = [{"role": "user", "content": [{"type": "audio", "path": str(tmp_path / "clip.wav")},
                                                 {"type": "text", "text": uas_audio.schema.ASR_PROMPT}]}]
    inputs = processor.apply_chat_template(conversation, add_generation_prompt=True, tokenize=True,
                                           return_dict=True, return_tensors="pt")
    output = model.generate(**inputs, max_new_tokens=64)
    expected = processor.decode(output[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
    assert generate_out.strip() == expected.strip()


class _RecordingApi(HfApi):
    """Stops at the boundary: records what would be sent instead of sending it."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def create_repo(self, repo_id, **kwargs):
        self.calls.append(("create_repo", repo_id, kwargs))

    def create_commit(self, repo_id, operations, **kwargs):
        self.calls.append(("create_commit", repo_id, {**kwargs, "operations": list(operations)}))
        return "commit-info"


def test_push_sends_every_staged_file_in_one_commit(staged):
    _, _, folder = staged
    api = _RecordingApi()
    assert push_folder(folder, REPO_ID, private=True, api=api) == "commit-info"
    (create, repo, create_kw), (commit, commit_repo, commit_kw) = api.calls
    assert (create, repo, create_kw) == ("create_repo", REPO_ID,
                                         {"repo_type": "model", "private": True, "exist_ok": True})
    assert (commit, commit_repo, commit_kw["repo_type"]) == ("create_commit", REPO_ID, "model")
    operations = commit_kw["operations"]
    assert all(isinstance(op, CommitOperationAdd) for op in operations)
    assert [op.path_in_repo for op in operations] == sorted(p.name for p in folder.iterdir())
    weights = next(op for op in operations if op.path_in_repo == "model.safetensors")
    assert weights.path_or_fileobj == str(folder / "model.safetensors")


def test_push_never_logs_the_token(staged, monkeypatch, caplog, capsys):
    _, _, folder = staged
    monkeypatch.setenv("HF_TOKEN", "hf_do_not_print_me")
    with caplog.at_level(logging.DEBUG):
        push_folder(folder, REPO_ID, api=_RecordingApi())
    captured = capsys.readouterr()
    assert "pushing" in caplog.text
    assert "hf_do_not_print_me" not in caplog.text + captured.out + captured.err


def test_pickle_files_are_refused(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"x")
    (tmp_path / "pytorch_model.bin").write_bytes(b"x")
    with pytest.raises(StagingError, match=r"pickle files must not be published: \['pytorch_model.bin'\]"):
        commit_operations(tmp_path)
    with pytest.raises(StagingError, match="pickle"):
        check_model_folder(tmp_path)


def test_staging_into_a_non_empty_directory_is_refused(staged, tmp_path):
    model, processor, _ = staged
    (tmp_path / "old.txt").write_text("stale")
    with pytest.raises(StagingError, match="empty or new directory"):
        stage_model(model, processor, tmp_path, repo_id=REPO_ID)


def test_a_folder_without_the_pipeline_registration_is_refused(staged, tmp_path):
    _, _, folder = staged
    copy = tmp_path / "copy"
    copy.mkdir()
    for path in folder.iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    config = json.loads((copy / "config.json").read_text())
    del config["custom_pipelines"]
    (copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(StagingError, match="'audio-to-uas' pipeline is not registered"):
        check_model_folder(copy)


def test_cli_stages_a_saved_checkpoint_with_its_reports_and_recipe(staged, tmp_path, capsys):
    from uas_audio.cli import main

    model, processor, _ = staged
    checkpoint = tmp_path / "checkpoint"
    model.save_pretrained(checkpoint)
    processor.save_pretrained(checkpoint)
    (tmp_path / "mmsu.json").write_text(json.dumps({"bench": "mmsu", "accuracy": 0.25, "scorer": "official"}))
    (tmp_path / "recipe.yaml").write_text("stage: 3\nlearning_rate: 1.0e-4\nwarmup_steps: 1000\n")
    out = tmp_path / "repo"
    code = main(["push", str(checkpoint), "--repo-id", REPO_ID, "--stage-only", str(out), "--eval-report",
                 str(tmp_path / "mmsu.json"), "--recipe", str(tmp_path / "recipe.yaml"),
                 "--base-model", "Qwen/Qwen2.5-0.5B"])
    assert code == 0, capsys.readouterr().err
    check_model_folder(out)
    readme = (out / "README.md").read_text()
    assert "base_model: Qwen/Qwen2.5-0.5B" in readme
    assert "| MMSU | Accuracy (official scoring) | 25.00 |" in readme
    assert "| 3 | 0.0001 | 1000 |" in readme
    reloaded = UASAudioForConditionalGeneration.from_pretrained(out)
    for name, tensor in model.state_dict().items():
        assert torch.equal(reloaded.state_dict()[name], tensor), name


def test_cli_refuses_a_checkpoint_without_its_processor(staged, tmp_path, capsys):
    from uas_audio.cli import main

    model, _, _ = staged
    model.save_pretrained(tmp_path / "checkpoint")
    code = main(["push", str(tmp_path / "checkpoint"), "--repo-id", REPO_ID, "--stage-only", str(tmp_path / "o")])
    assert code == 2
    assert "no processor saved with the model" in capsys.readouterr().err
