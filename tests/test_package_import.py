"""Importing the package is light (schema, audio, synth and qa need neither torch nor transformers), and the Auto
classes and the audio-to-uas pipeline task are registered whenever transformers gets loaded, whatever the order."""

import subprocess
import sys

import pytest

REGISTERED = """
from transformers import AutoConfig, AutoModelForCausalLM
from transformers.pipelines import PIPELINE_REGISTRY
from transformers.models.auto.configuration_auto import CONFIG_MAPPING
import uas_audio.registration
assert uas_audio.registration.is_registered()
assert "uas_audio" in CONFIG_MAPPING and "audio-to-uas" in PIPELINE_REGISTRY.supported_tasks
assert AutoConfig.for_model("uas_audio").__class__.__name__ == "UASAudioConfig"
assert AutoModelForCausalLM._model_mapping[CONFIG_MAPPING["uas_audio"]].__name__ == "UASAudioForConditionalGeneration"
from transformers.models.auto.processing_auto import PROCESSOR_MAPPING
assert PROCESSOR_MAPPING[CONFIG_MAPPING["uas_audio"]].__name__ == "UASAudioProcessor"
print("registered")
"""


def _run(code: str) -> str:
    result = subprocess.run([sys.executable, "-W", "error::RuntimeWarning", "-c", code], capture_output=True,
                            text=True, timeout=300, env={"OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
                                                         "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_light_subpackages_import_neither_torch_nor_transformers():
    out = _run("import sys, uas_audio, uas_audio.schema, uas_audio.audio, uas_audio.synth, uas_audio.qa\n"
               "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))\n"
               "print(uas_audio.registration.is_registered())")
    assert out.split() == ["[]", "False"]


@pytest.mark.parametrize("first", [
    "import uas_audio",                                                   # then transformers
    "import transformers\nimport uas_audio",                              # transformers first
    "import uas_audio.schema",                                            # a light subpackage, then transformers
    "from uas_audio.modeling.configuration_uas_audio import UASAudioConfig",  # a module that imports transformers
    "from uas_audio.processing import UASAudioProcessor",
])
def test_registration_happens_whatever_the_import_order(first):
    assert _run(first + "\n" + REGISTERED).strip() == "registered"
