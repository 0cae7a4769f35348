"""train_stages: consecutive stages on built rows, skipped when done, and the encoder trained only when asked."""

import json

import pytest
from safetensors.torch import load_file

from uas_audio.synth import synthesize_corpus
from uas_audio.tiny import tiny_model
from uas_audio.trainers import tasks as T
from uas_audio.trainers.run_stages import train_stages

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    corpus = synthesize_corpus(tmp_path_factory.mktemp("synth"), 4, seed=2)
    return T.uas_rows(corpus)


def _weights(folder):
    return load_file(str(folder / "model.safetensors"))


def _changed(before, after, prefix):
    keys = [k for k in after if k.startswith(prefix)]
    assert keys, prefix
    return any(not before[k].equal(after[k]) for k in keys)


@pytest.mark.parametrize("train_encoder", [False, True])
def test_encoder_trains_only_when_asked(tmp_path, rows, train_encoder):
    init = tmp_path / "init"
    tiny_model().save_pretrained(init)
    from uas_audio.tiny import tiny_processor

    tiny_processor().save_pretrained(init)
    folder = train_stages([(3, rows)], tmp_path / "run", [2], batch_size=2, learning_rate=1e-2, progress=False,
                          checkpoints=False, train_encoder=train_encoder, model=init)
    before, after = _weights(init), _weights(folder)
    assert _changed(before, after, "model.language_model.")
    assert _changed(before, after, "model.audio_tower.") is train_encoder
    done = json.loads((folder / "done.json").read_text())
    assert done["steps"] == 2 and done["train_encoder"] is train_encoder and len(done["losses"]) >= 1


def test_stages_chain_and_finished_stages_are_skipped(tmp_path, rows, capsys):
    plan = [(2, rows), (3, rows)]
    last = train_stages(plan, tmp_path / "run", [1, 1], batch_size=2, progress=False, checkpoints=False)
    assert last == tmp_path / "run" / "stage3" and (tmp_path / "run" / "stage2" / "done.json").is_file()
    stamp = (last / "done.json").stat().st_mtime_ns
    assert train_stages(plan, tmp_path / "run", [1, 1], batch_size=2, progress=False) == last
    assert (last / "done.json").stat().st_mtime_ns == stamp
    with pytest.raises(ValueError, match="2 stages but 1 step counts"):
        train_stages(plan, tmp_path / "other", [1])


def test_audio_lr_factor_scales_only_the_audio_paths_update(tmp_path, rows):
    from uas_audio.tiny import tiny_processor

    init = tmp_path / "init"
    tiny_model().save_pretrained(init)
    tiny_processor().save_pretrained(init)
    before = _weights(init)
    deltas = {}
    for factor in (1.0, 10.0):
        folder = train_stages([(3, rows)], tmp_path / f"x{factor:g}", [1], batch_size=2, learning_rate=1e-3,
                              progress=False, checkpoints=False, train_encoder=True, audio_lr_factor=factor,
                              model=init, stage_overrides={3: {"warmup_steps": 0, "lr_scheduler_type": "constant"}})
        after = _weights(folder)
        deltas[factor] = {k: after[k] - before[k] for k in after}
    projector = [k for k in before if k.startswith("model.multi_modal_projector.")]
    encoder = [k for k in before if k.startswith("model.audio_tower.layers.0.fc1")]
    language = [k for k in before if k.startswith("model.language_model.layers.0.mlp")]
    for key in projector + encoder:  # the same first step, ten times larger
        assert deltas[1.0][key].abs().max() > 0
        assert (deltas[10.0][key] - 10 * deltas[1.0][key]).abs().max() <= 1e-4 * deltas[10.0][key].abs().max() + 1e-9
    for key in language:  # the language model's step is unchanged
        assert deltas[1.0][key].abs().max() > 0 and (deltas[10.0][key] - deltas[1.0][key]).abs().max() < 1e-7
    with pytest.raises(ValueError, match="lr_factor must be positive"):
        train_stages([(3, rows)], tmp_path / "bad", [1], audio_lr_factor=0.0, model=init)
