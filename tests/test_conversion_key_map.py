"""A checkpoint in a layout of its own (tensor names that are not ours, sharded safetensors, extra tensors) loads
into UAS-Audio through a key map with identical logits and greedy generation; every missing, unexpected, doubled or
mis-shaped tensor is one error before anything is written; the CLI takes the map as JSON."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from uas_audio.cli import main as cli_main
from uas_audio.modeling.conversion import convert_with_key_map, map_keys, read_key_map
from uas_audio.processing import UASAudioProcessor
from uas_audio.tiny import tiny_model, tiny_processor

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: our name prefix -> the foreign layout's (a made-up one: a released checkpoint's map is written the same way)
FOREIGN = {"model.audio_tower.": "speech_encoder.", "model.multi_modal_projector.linear_1.": "adapter.proj.",
           "model.language_model.": "llm.model.", "lm_head.": "llm.lm_head."}
KEY_MAP = [[r"speech_encoder\.extra_stat$", None], *([rf"{theirs.replace('.', chr(92) + '.')}(.*)", ours + r"\1"]
                                                      for ours, theirs in FOREIGN.items())]


def _foreign(name: str) -> str:
    for ours, theirs in FOREIGN.items():
        if name.startswith(ours):
            return theirs + name[len(ours):]
    raise AssertionError(name)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """The tiny model saved in the foreign layout: two shards with an index, plus one tensor UAS-Audio lacks."""
    folder = tmp_path_factory.mktemp("foreign")
    original = tiny_model(seed=3)
    original.save_pretrained(folder / "original")
    state = load_file(str(folder / "original" / "model.safetensors"))
    renamed = {_foreign(k): v for k, v in state.items()}
    renamed["speech_encoder.extra_stat"] = torch.zeros(3)
    names = sorted(renamed)
    shards = {"part-1.safetensors": names[: len(names) // 2], "part-2.safetensors": names[len(names) // 2:]}
    src = folder / "src"
    src.mkdir()
    for shard, keys in shards.items():
        save_file({k: renamed[k].contiguous() for k in keys}, str(src / shard))
    (src / "model.safetensors.index.json").write_text(json.dumps(
        {"metadata": {}, "weight_map": {k: shard for shard, keys in shards.items() for k in keys}}))
    return original, src


def _inputs(processor):
    audio = np.random.default_rng(0).standard_normal(16_000).astype(np.float32) * 0.1
    return processor(text=["<|audio|> What is said?"], audio=[audio], return_tensors="pt")


def test_key_map_loads_with_identical_logits_and_generation(source, tmp_path):
    original, src = source
    processor = tiny_processor()
    model = convert_with_key_map(src, tmp_path / "out", original.config, KEY_MAP, processor)
    inputs = _inputs(processor)
    original.eval()
    with torch.no_grad():
        delta = (model(**inputs).logits - original(**inputs).logits).abs().max().item()
    assert delta == 0.0
    kwargs = dict(max_new_tokens=6, do_sample=False)
    assert torch.equal(model.generate(**inputs, **kwargs), original.generate(**inputs, **kwargs))
    reloaded = UASAudioProcessor.from_pretrained(tmp_path / "out")  # the processor was saved beside the weights
    assert torch.equal(_inputs(reloaded)["input_ids"], inputs["input_ids"])


@pytest.mark.parametrize("key_map, message", [
    (KEY_MAP[:-1], "match no pattern"),                                    # the head's tensor is left unmapped
    (KEY_MAP[1:], "no such tensor"),                                       # the extra tensor is mapped, not dropped
    ([*KEY_MAP[:2], [r"adapter\.proj\.(.*)", None], *KEY_MAP[3:]], "not given"),  # the projector dropped
])
def test_key_map_errors_name_the_tensors_and_write_nothing(source, tmp_path, key_map, message):
    original, src = source
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=message):
        convert_with_key_map(src, out, original.config, key_map)
    assert not out.exists()


def test_shape_mismatch_and_doubled_targets_are_errors(source, tmp_path):
    original, src = source
    wider = original.config.__class__.from_dict(original.config.to_dict())
    wider.text_config.intermediate_size *= 2
    with pytest.raises(ValueError, match=r"shape .*expected"):
        convert_with_key_map(src, tmp_path / "a", wider, KEY_MAP)
    doubled = [[r"speech_encoder\.extra_stat$", None], [r"(speech_encoder|llm|adapter)\..*", "lm_head.weight"]]
    with pytest.raises(ValueError, match="given twice"):
        convert_with_key_map(src, tmp_path / "b", original.config, doubled)


def test_map_keys_and_read_key_map(tmp_path):
    assert map_keys(["a.x", "b.y"], [(r"a\.(.*)", r"A.\1"), (r"b\.", None)]) == {"a.x": "A.x", "b.y": None}
    with pytest.raises(ValueError, match="not a regular expression"):
        map_keys(["a"], [("(", "x")])
    path = tmp_path / "map.json"
    path.write_text(json.dumps({r"a\.(.*)": r"A.\1", "b": None}))
    assert read_key_map(path) == [(r"a\.(.*)", r"A.\1"), ("b", None)]
    path.write_text(json.dumps([["a", 3]]))
    with pytest.raises(ValueError, match="key map is a list"):
        read_key_map(path)


def test_cli_convert_with_a_key_map(source, tmp_path, capsys):
    original, src = source
    (tmp_path / "map.json").write_text(json.dumps(KEY_MAP))
    original.config.to_json_file(tmp_path / "config.json")
    tiny_processor().save_pretrained(tmp_path / "proc")
    rc = cli_main(["convert", str(src), str(tmp_path / "out"), "--key-map", str(tmp_path / "map.json"),
                   "--config", str(tmp_path / "config.json"), "--processor", str(tmp_path / "proc")])
    assert rc == 0 and "loaded" in capsys.readouterr().out
    assert cli_main(["convert", str(src), str(tmp_path / "out2"), "--key-map", str(tmp_path / "map.json")]) == 2
    assert "go together" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text(json.dumps(KEY_MAP[1:]))
    rc = cli_main(["convert", str(src), str(tmp_path / "out3"), "--key-map", str(tmp_path / "bad.json"),
                   "--config", str(tmp_path / "config.json")])
    assert rc != 0 and "no such tensor in UAS-Audio" in capsys.readouterr().err
