"""Weights load from safetensors only: a folder of pickled ``pytorch_model.bin`` weights is refused with a clear
error by every loading path (the class, the Auto classes, the pipeline, load_model_and_processor), and loads only
when the user says so explicitly."""

import pytest
import torch

import uas_audio
from uas_audio.modeling import UASAudioForConditionalGeneration


@pytest.fixture(scope="module")
def pickled_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pickled")
    model = uas_audio.tiny_model()
    model.save_pretrained(folder)
    uas_audio.tiny_processor().save_pretrained(folder)
    state = {name: tensor.contiguous() for name, tensor in model.state_dict().items()}
    (folder / "model.safetensors").unlink()
    torch.save(state, folder / "pytorch_model.bin")
    return folder


def test_class_and_auto_loading_refuse_pickled_weights(pickled_folder):
    from transformers import AutoModelForCausalLM

    for load in (UASAudioForConditionalGeneration.from_pretrained, AutoModelForCausalLM.from_pretrained):
        with pytest.raises(OSError, match="safetensors only"):
            load(pickled_folder)


def test_pipeline_and_training_loader_refuse_pickled_weights(pickled_folder):
    from transformers import pipeline

    from uas_audio.trainers.train import load_model_and_processor

    # transformers' pipeline wraps the loader's error in its own ValueError, our message inside
    with pytest.raises(ValueError, match="holds only pickled PyTorch weights"):
        pipeline("audio-to-uas", model=str(pickled_folder))
    with pytest.raises(OSError, match="pickled PyTorch weights"):
        load_model_and_processor(pickled_folder)


def test_an_explicit_opt_in_loads_them(pickled_folder):
    model = UASAudioForConditionalGeneration.from_pretrained(pickled_folder, use_safetensors=False)
    torch.testing.assert_close(model.lm_head.weight, uas_audio.tiny_model().lm_head.weight)
