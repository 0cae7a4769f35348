"""A saved UAS-Audio folder loads through ``trust_remote_code`` in a process where ``uas_audio`` is not importable,
and gives the same logits."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

import uas_audio
from uas_audio.modeling.audio_encoders import stacked_frames as _stacked_frames
from uas_audio.modeling.audio_encoders import whisper_encoder_frames as _encoder_frames
from uas_audio.tiny import TINY_AUDIO_FAMILY_CONFIGS

PACKAGE_ROOT = str(Path(uas_audio.__file__).resolve().parents[1])  # the src/ folder the editable install adds

# Runs in a clean interpreter: drops every sys.path entry that could reach uas_audio, proves it is gone, then
# loads the folder through the Auto class with remote code and writes the logits.
_LOADER = """
import importlib.util, sys
sys.path[:] = [p for p in sys.path if p and not p.startswith({root!r})]
assert importlib.util.find_spec("uas_audio") is None, "uas_audio is still importable"
import numpy as np, torch
from transformers import AutoModelForCausalLM
for folder in {folders!r}:  # one saved model per audio encoder family
    inputs = dict(np.load(folder + "/inputs.npz"))
    model = AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=True)
    assert type(model).__module__.startswith("transformers_modules"), type(model).__module__
    with torch.no_grad():
        logits = model(**{{k: torch.from_numpy(v) for k, v in inputs.items()}}).logits
    np.save(folder + "/logits.npy", logits.numpy())
print("uas_audio importable:", importlib.util.find_spec("uas_audio") is not None)
"""


def test_frame_arithmetic_shipped_with_the_model_gives_the_processors_counts():
    # audio_encoders.py travels with the modeling file; on tensors it must give what uas_audio.audio.frames gives.
    from uas_audio.audio import frames

    lengths = torch.tensor([1, 2, 99, 2999, 3000, 3001, 7777, 45000])
    assert _encoder_frames(lengths, 3000).tolist() == [frames.num_encoder_frames(int(n)) for n in lengths]
    assert _stacked_frames(_encoder_frames(lengths, 3000), 4).tolist() == [
        frames.num_audio_tokens(int(n), 4) for n in lengths
    ]


def test_code_token_spelling_is_the_processors():
    from uas_audio.modeling.modeling_uas_audio import audio_code_token as model_spelling
    from uas_audio.processing import audio_code_token as processor_spelling

    assert [model_spelling(i) for i in (0, 7, 1023)] == [processor_spelling(i) for i in (0, 7, 1023)]


def test_modeling_files_need_only_each_other_and_installed_libraries():
    # What transformers checks before running remote code: imported libraries and same-folder relative imports.
    from transformers.dynamic_module_utils import get_imports, get_relative_imports

    folder = Path(uas_audio.__file__).parent / "modeling"
    for name in ("configuration_uas_audio.py", "modeling_uas_audio.py", "audio_encoders.py"):
        assert "uas_audio" not in get_imports(folder / name)
    assert get_relative_imports(folder / "configuration_uas_audio.py") == []
    assert get_relative_imports(folder / "audio_encoders.py") == []
    relative = sorted(get_relative_imports(folder / "modeling_uas_audio.py"))
    assert relative == ["audio_encoders", "configuration_uas_audio"]


FAMILIES = ("whisper", "qwen2_audio", "aut")


def test_trust_remote_code_reload_without_the_package(tmp_path):
    models, inputs = {}, {}
    for family in FAMILIES:  # every encoder family's files travel with the model
        model = uas_audio.tiny_model(seed=5, audio_config=TINY_AUDIO_FAMILY_CONFIGS[family])
        config = model.config
        n = int(model.num_audio_tokens(torch.tensor(150)))
        ids = [40, 41, config.audio_bos_token_id] + [config.audio_token_id] * n + [config.audio_eos_token_id, 42]
        features = torch.randn(1, 128, 150, generator=torch.Generator().manual_seed(0))
        inputs[family] = {
            "input_ids": np.array([ids]),
            "attention_mask": np.ones((1, len(ids)), dtype=np.int64),
            "input_features": features.numpy(),
            "input_features_mask": np.ones((1, 150), dtype=np.int64),
        }
        model.save_pretrained(tmp_path / family)
        np.savez(tmp_path / family / "inputs.npz", **inputs[family])
        models[family] = model

    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    script = _LOADER.format(root=PACKAGE_ROOT, folders=[str(tmp_path / family) for family in FAMILIES])
    env = {"PATH": os.environ.get("PATH", ""), "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf_home")}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=workdir, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "uas_audio importable: False" in result.stdout

    for family, model in models.items():
        with torch.no_grad():
            expected = model(**{k: torch.from_numpy(v) for k, v in inputs[family].items()}).logits
        got = np.load(tmp_path / family / "logits.npy")
        if family == "whisper":
            np.testing.assert_array_equal(got, expected.numpy())
        else:  # transformers' encoders: the other process's thread count may reorder float sums (~2e-7 measured)
            np.testing.assert_allclose(got, expected.numpy(), atol=1e-5, rtol=0)
