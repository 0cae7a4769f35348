"""Held-out loss of chat rows (stage 2's report): rotate_audio moves every row to another clip's audio and keeps
the rest; rows_loss is the token-weighted cross-entropy of the assistant turns, the same number training reports."""

import pytest
import torch

from uas_audio.tiny import tiny_model, tiny_processor
from uas_audio.trainers.collator import AudioChatCollator
from uas_audio.trainers.heldout import rotate_audio, rows_loss

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _row(path, answer):
    return {"messages": [{"role": "user", "content": [{"type": "audio", "audio": {"bytes": None, "path": path},
                                                        "text": None},
                                                       {"type": "text", "text": "Identify the speaker's gender."}]},
                         {"role": "assistant", "content": [{"type": "text", "text": answer}]}]}


def _paths(rows):
    return [p["audio"]["path"] for r in rows for m in r["messages"] for p in m["content"] if p["type"] == "audio"]


def test_rotate_audio_gives_every_row_another_clip_and_leaves_the_input_alone():
    rows = [_row("a.wav", "x"), _row("b.wav", "y"), _row("a.wav", "z"), _row("c.wav", "w")]
    rotated = rotate_audio(rows)
    assert _paths(rows) == ["a.wav", "b.wav", "a.wav", "c.wav"]  # the input is untouched
    assert _paths(rotated) == ["b.wav", "c.wav", "b.wav", "a.wav"]
    assert [r["messages"][1] for r in rotated] == [r["messages"][1] for r in rows]
    with pytest.raises(ValueError, match="fewer than two distinct clips"):
        rotate_audio([_row("a.wav", "x"), _row("a.wav", "y")])


def test_rows_loss_matches_the_models_own_loss(tmp_path):
    import numpy as np
    import soundfile as sf

    rng = np.random.default_rng(0)
    paths = []
    for k in range(3):
        path = tmp_path / f"{k}.wav"
        sf.write(path, 0.1 * rng.standard_normal(16000 + 4000 * k).astype("float32"), 16000)
        paths.append(str(path))
    rows = [_row(p, a) for p, a in zip(paths, ('{"gender":"Male"}', '{"gender":"Female"}', "hello there"))]
    model, processor = tiny_model(seed=0), tiny_processor()
    measured = rows_loss(model, processor, rows, batch_size=2)
    # one batch of all rows through the model's own loss (mean over the same labelled tokens)
    batch = AudioChatCollator(processor)(rows)
    with torch.no_grad():
        reference = float(model(**batch).loss)
    assert measured["tokens"] == int((batch["labels"][:, 1:] != -100).sum())
    assert measured["loss"] == pytest.approx(reference, rel=1e-4)
    assert not model.training
    assert rows_loss(model, processor, rotate_audio(rows))["loss"] != pytest.approx(measured["loss"], rel=1e-6)
