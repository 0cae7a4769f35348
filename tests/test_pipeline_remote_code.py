"""A saved audio-to-uas pipeline folder loads with trust_remote_code in a process where uas_audio cannot be
imported, and gives the same output as the pipeline that saved it."""

import ast
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from transformers import pipeline

import uas_audio
from uas_audio.pipelines.export import flat_module_name
from without_package import WITHOUT_UAS_AUDIO

LIMITS = {"transcription": 8, "accent": 4, "prosody": 4, "timbre": 4, "description": 8, "label": 4,
          "characteristic": 4, "max_events": 1}

# Runs in a fresh interpreter: any import of uas_audio fails, as where the package is not installed.
_LOAD_WITHOUT_PACKAGE = WITHOUT_UAS_AUDIO + textwrap.dedent("""
    import json, sys
    import numpy as np, torch
    torch.set_num_threads(1)
    from transformers import pipeline
    folder, limits = sys.argv[1], json.loads(sys.argv[2])
    pipe = pipeline("audio-to-uas", model=folder, trust_remote_code=True, device="cpu")
    clip = np.sin(np.arange(12000) / 7.0).astype(np.float32) * 0.3
    out = pipe((clip, 16000), limits=limits)
    print(json.dumps({"pipeline": type(pipe).__module__, "text": out["text"], "valid": out["valid"],
                      "loaded": sorted(m for m in sys.modules if m.startswith("uas_audio"))}))
""")


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("exported") / "uas-audio-tiny"
    pipe = pipeline("audio-to-uas", model=uas_audio.tiny_model(), processor=uas_audio.tiny_processor(), device="cpu")
    pipe.save_pretrained(folder)
    clip = np.sin(np.arange(12000) / 7.0).astype(np.float32) * 0.3
    return folder, pipe((clip, 16000), limits=LIMITS)["text"]


def test_saved_config_names_the_pipeline_and_the_exported_classes(saved):
    folder, _ = saved
    config = json.loads((folder / "config.json").read_text())
    impl = config["custom_pipelines"]["audio-to-uas"]["impl"]
    assert impl == f"{flat_module_name('uas_audio.pipelines.audio_to_uas')}.AudioToUASPipeline"
    assert config["auto_map"]["AutoModelForCausalLM"].startswith(flat_module_name("uas_audio.modeling.modeling_uas_audio"))
    for reference in [impl, *config["auto_map"].values()]:
        assert (folder / f"{reference.rsplit('.', 1)[0]}.py").exists(), reference


def test_exported_code_does_not_import_the_package(saved):
    folder, _ = saved
    for path in folder.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                assert not any(a.name.split(".")[0] == "uas_audio" for a in node.names), (path.name, node.lineno)
            elif isinstance(node, ast.ImportFrom):
                assert node.level <= 1, (path.name, node.lineno)
                assert node.level == 1 or not (node.module or "").startswith("uas_audio"), (path.name, node.lineno)
                if node.level == 1:  # a same-folder import: the module must have been exported beside it
                    assert (folder / f"{node.module}.py").exists(), (path.name, node.module)


def test_remote_code_load_without_the_package_gives_the_same_output(saved, tmp_path):
    folder, expected_text = saved
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(tmp_path / "modules"),
           "PYTHONPATH": ""}
    proc = subprocess.run([sys.executable, "-c", _LOAD_WITHOUT_PACKAGE, str(folder), json.dumps(LIMITS)],
                          capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["loaded"] == []
    assert report["pipeline"].startswith("transformers_modules.")
    assert report["text"] == expected_text
    assert report["valid"] is True
