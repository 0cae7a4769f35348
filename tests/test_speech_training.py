"""Training entry points of the speech head: data sources, checkpoints, exact resume, the CLI."""

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from uas_audio.audio import encode_wav
from uas_audio.cli import main as cli_main
from uas_audio.modeling.speech import UASFlowDecoder, UASSpeechTokenizer, UASVocoder
from uas_audio.modeling.speech.training import SpeechTrainingConfig, load_speech_clips, train_speech


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _tone(freq: float, seconds: float = 0.6) -> np.ndarray:
    t = np.arange(int(16_000 * seconds)) / 16_000
    return (0.3 * np.sin(2 * np.pi * freq * t * (1 + t))).astype(np.float32)


@pytest.fixture
def wav_dir(tmp_path):
    folder = tmp_path / "wavs"
    folder.mkdir()
    for i, freq in enumerate([180.0, 260.0, 410.0]):
        sf.write(folder / f"clip{i}.wav", _tone(freq), 16_000)
    return folder


def _codec_config(data, out, **overrides) -> SpeechTrainingConfig:
    values = dict(
        part="codec", data=str(data), output_dir=str(out), max_steps=4, batch_size=2, segment_seconds=0.32,
        reference_seconds=0.2, fsq_levels=[4, 4], save_every=2, warmup_steps=1, log_every=1,
    )
    return SpeechTrainingConfig(**{**values, **overrides})


def test_folder_and_datasets_sources_decode_the_same_clips(wav_dir, tmp_path):
    from datasets import Audio, Dataset

    (wav_dir / "broken.wav").write_bytes(b"not audio")
    from_folder = load_speech_clips(wav_dir)
    assert len(from_folder) == 3  # the broken file is skipped, not fatal
    rows = {"id": ["a", "b"], "audio": [{"bytes": encode_wav(_tone(f), 16_000, "FLOAT"), "path": None} for f in (180.0, 260.0)]}
    Dataset.from_dict(rows).cast_column("audio", Audio(decode=False)).save_to_disk(str(tmp_path / "ds"))
    from_dataset = load_speech_clips(tmp_path / "ds")
    assert len(from_dataset) == 2
    np.testing.assert_allclose(from_dataset[1], from_folder[1], atol=1e-4)  # the folder holds 16-bit PCM


def test_no_usable_audio_is_a_clear_error(tmp_path):
    (tmp_path / "x.wav").write_bytes(b"nope")
    with pytest.raises(ValueError, match="no usable audio"):
        load_speech_clips(tmp_path)
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        load_speech_clips(tmp_path / "missing")


def test_codec_training_resumes_exactly_where_it_stopped(wav_dir, tmp_path):
    first = train_speech(_codec_config(wav_dir, tmp_path / "run"))
    assert first["step"] == 4
    checkpoint = tmp_path / "run" / "checkpoints" / "step-4"
    assert (checkpoint / "model.safetensors").exists() and (checkpoint / "optimizer.bin").exists()
    resumed = train_speech(_codec_config(wav_dir, tmp_path / "run", max_steps=6, resume=True))
    straight = train_speech(_codec_config(wav_dir, tmp_path / "straight", max_steps=6))
    assert resumed["step"] == 6 and [h["step"] for h in resumed["history"]] == [1, 2, 3, 4, 5, 6]
    assert resumed["history"] == straight["history"]
    for name, value in straight["flow_decoder"].state_dict().items():
        assert torch.equal(resumed["flow_decoder"].state_dict()[name], value), name
    # the trained parts load back as models
    assert isinstance(UASSpeechTokenizer.from_pretrained(tmp_path / "run" / "speech_tokenizer"), UASSpeechTokenizer)
    assert isinstance(UASFlowDecoder.from_pretrained(tmp_path / "run" / "flow_decoder"), UASFlowDecoder)


def test_resume_without_a_checkpoint_is_an_error(wav_dir, tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint under"):
        train_speech(_codec_config(wav_dir, tmp_path / "empty", resume=True))


def test_codec_training_lowers_its_loss(wav_dir, tmp_path):
    result = train_speech(_codec_config(wav_dir, tmp_path / "run", max_steps=30, save_every=30, learning_rate=3e-3))
    losses = [h["loss"] for h in result["history"]]
    assert np.mean(losses[-5:]) < 0.75 * np.mean(losses[:3])


def test_train_speech_cli_trains_the_hifigan_vocoder_and_keeps_count_on_resume(wav_dir, tmp_path, capsys):
    out = tmp_path / "voc"
    args = ["train-speech", "--part", "vocoder", "--vocoder-type", "hifigan", "--data", str(wav_dir),
            "--output-dir", str(out), "--batch-size", "1"]
    assert cli_main([*args, "--max-steps", "1", "--save-every", "1"]) == 0
    assert cli_main([*args, "--max-steps", "2", "--save-every", "1", "--resume"]) == 0
    assert "trained vocoder to step 2" in capsys.readouterr().out
    progress = json.loads((out / "checkpoints" / "step-2" / "progress.json").read_text())
    assert [h["step"] for h in progress["history"]] == [1, 2]
    assert set(progress["history"][0]) >= {"discriminator", "adversarial", "feature_matching", "mel_l1_x45"}
    vocoder = UASVocoder.from_pretrained(out / "vocoder")
    assert vocoder(torch.zeros(1, 128, 3)).shape == (1, 480)


def test_gradient_accumulation_and_mixed_precision_count_optimizer_steps(wav_dir, tmp_path):
    from accelerate.state import AcceleratorState

    # accelerate keeps one precision per process; earlier tests in this process ran without mixed precision
    AcceleratorState._reset_state(reset_partial_state=True)
    try:
        result = train_speech(
            _codec_config(wav_dir, tmp_path / "acc", max_steps=2, gradient_accumulation_steps=2, mixed_precision="bf16")
        )
    finally:
        AcceleratorState._reset_state(reset_partial_state=True)
    assert result["step"] == 2 and [h["step"] for h in result["history"]] == [1, 2]
    assert all(np.isfinite(h["loss"]) for h in result["history"])


def test_train_speech_cli_reports_missing_data_without_a_traceback(tmp_path, capsys):
    code = cli_main(["train-speech", "--part", "codec", "--data", str(tmp_path / "nowhere"),
                     "--output-dir", str(tmp_path / "out"), "--max-steps", "1"])
    assert code == 2
    assert "train-speech: error:" in capsys.readouterr().err
