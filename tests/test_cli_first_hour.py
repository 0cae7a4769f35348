"""The first hour of a new user (issue 20): `uas-audio` run as a user runs it, in a subprocess, on their mistakes.

Every case checks the exit status, the message, and that no Python traceback reaches the user. The commands start
all at once (a module fixture) so the suite pays for the slowest Python start, not for their sum.
"""

import io
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from uas_audio.cli import DESCRIPTION, _all_actions, _build_parser

ENTRY_POINT = Path(sys.executable).with_name("uas-audio")
CLI = [str(ENTRY_POINT)] if ENTRY_POINT.is_file() else [sys.executable, "-m", "uas_audio.cli"]
COMMANDS = ("quickstart", "synth", "annotate", "qa", "train-speech", "train", "eval", "review", "review-report",
            "push", "merge", "convert")


def _wav_bytes(freq=220.0, seconds=0.4, sr=16_000):
    buf = io.BytesIO()
    t = np.arange(int(seconds * sr)) / sr
    sf.write(buf, (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), sr, format="WAV")
    return buf.getvalue()


def _tree(folder: Path) -> dict[str, float]:
    return {str(p.relative_to(folder)): p.stat().st_mtime for p in sorted(folder.rglob("*"))}


def _run(args, cwd, env_extra=None):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(cwd / "hf-home"), **(env_extra or {})}
    env.pop("UAS_AUDIO_TRACEBACK", None)
    return subprocess.run([*CLI, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600,
                          stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Inputs with a user's mistake in each, every command run once (four at a time), results by case name."""
    from datasets import Audio, Dataset

    import uas_audio
    from test_train_tasks import make_uas_dataset
    from uas_audio.annotate import annotate

    root = tmp_path_factory.mktemp("first-hour")
    # an annotation output whose only clip is an empty .wav: nothing accepted
    (root / "empty-src").mkdir()
    (root / "empty-src" / "empty.wav").write_bytes(b"")
    annotate(root / "empty-src", root / "ann-none", progress=False)
    # a UAS dataset with one clip whose bytes are not audio
    uas = make_uas_dataset(3).cast_column("audio", Audio(decode=False)).to_list()
    uas[1]["audio"] = {"bytes": b"RIFF\x00\x00\x00\x00this is not a wave file", "path": "clip1.wav"}
    Dataset.from_list(uas).cast_column("audio", Audio(decode=False)).save_to_disk(str(root / "corrupt"))
    # a finished run: its last checkpoint reached max_steps
    from transformers import TrainerState

    checkpoint = root / "finished" / "checkpoint-2"
    checkpoint.mkdir(parents=True)
    TrainerState(global_step=2, max_steps=2).save_to_json(str(checkpoint / "trainer_state.json"))
    # a tiny model and an MMAU-format set of two questions, one of whose clips is corrupt
    uas_audio.tiny_model(seed=0).save_pretrained(root / "model")
    uas_audio.tiny_processor().save_pretrained(root / "model")
    (root / "good.wav").write_bytes(_wav_bytes())
    (root / "bad.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt garbage")
    (root / "mcq.json").write_text(json.dumps([
        {"id": name, "audio_id": f"{name}.wav", "question": "Does this audio contain speech?",
         "choices": ["Yes", "No"], "answer": "No", "task": "sound", "difficulty": "easy", "category": "Perception",
         "sub-category": "speech detection"} for name in ("good", "bad")]))

    cases = {
        "help": ["--help"],
        "version": ["--version"],
        "train-help": ["train", "--help"],
        "eval-no-model": ["eval", "--model", "/no/such/dir", "--bench", "mmsu", "--data", "x.json"],
        "eval-uncached-hub-id": ["eval", "--model", "nobody/no-such-model", "--bench", "mmsu", "--data", "x.json"],
        "eval-bad-clip": ["eval", "--model", "model", "--bench", "mmau", "--data", "mcq.json", "--audio-root", ".",
                          "--out", "eval-out", "--max-new-tokens", "4"],
        "annotate-missing-config": ["annotate", "empty-src", "--out", "ann2", "--config", "missing.yaml"],
        "annotate-config-typo": ["annotate", "empty-src", "--out", "ann3", "--config", "typo.yaml"],
        "annotate-config-not-yaml": ["annotate", "empty-src", "--out", "ann4", "--config", "broken.yaml"],
        "qa-nothing-accepted": ["qa", "ann-none", "--out", "qa-out"],
        "train-nothing-accepted": ["train", "--stage", "3", "--data", "ann-none", "--output-dir", "t1"],
        "train-corrupt-clip": ["train", "--stage", "2", "--data", "corrupt", "--output-dir", "t2"],
        "train-resume-finished": ["train", "--stage", "3", "--data", "corrupt", "--output-dir", "finished",
                                  "--resume", "--max-steps", "2"],
        "synth-log": ["synth", "--out", "synth-out", "--num-clips", "2", "--no-audiofolder"],
    }
    (root / "typo.yaml").write_text("shard_sise: 3\n")
    (root / "broken.yaml").write_text("experts: [pitch\n")
    before = {"finished": _tree(root / "finished")}
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {name: pool.submit(_run, args, root) for name, args in cases.items()}
        results = {name: future.result() for name, future in futures.items()}
    return root, results, before


def _user_error(proc, command, code=2):
    """The last stderr line is `uas-audio COMMAND: error: ...`; no traceback anywhere; returns that line."""
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out, out[-3000:]
    assert proc.returncode == code, out[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"uas-audio {command}: error: "), proc.stderr[-2000:]
    return last


# ------------------------------------------------------------------------------------------------------ help


def test_every_option_has_help_and_required_ones_say_so():
    parser = _build_parser()
    for action in _all_actions(parser):
        if action.option_strings and action.dest != "help":
            assert action.help, f"{action.option_strings} has no help"
            assert action.required == ("(required)" in action.help), action.option_strings
    subparsers = next(a for a in parser._actions if a.choices and "train" in a.choices)
    assert set(subparsers.choices) == set(COMMANDS)
    for name, sub in subparsers.choices.items():
        assert sub.description and not sub.description.endswith(("…", "...")), name


def test_help_and_version_as_a_user_types_them(runs):
    _, results, _ = runs
    help_, version, train_help = results["help"], results["version"], results["train-help"]
    assert help_.returncode == 0 and " ".join(DESCRIPTION.split()) in " ".join(help_.stdout.split())
    assert all(f"    {name}" in help_.stdout for name in COMMANDS)
    assert version.returncode == 0 and version.stdout.strip() == "uas-audio 0.1.0"
    assert train_help.returncode == 0
    assert " --data DATA [DATA ...]" in train_help.stdout and "[--data" not in train_help.stdout  # required
    assert "--skip-bad-rows" in train_help.stdout


# ------------------------------------------------------------------------------------------------------ eval


def test_eval_on_a_model_that_is_not_there_says_so(runs):
    _, results, _ = runs
    assert _user_error(results["eval-no-model"], "eval") == "uas-audio eval: error: no model at /no/such/dir"
    line = _user_error(results["eval-uncached-hub-id"], "eval")
    assert "no model at nobody/no-such-model" in line and "HF_HUB_OFFLINE" in line


def test_eval_keeps_an_undecodable_item_counts_it_wrong_and_reports_why(runs):
    root, results, _ = runs
    proc = results["eval-bad-clip"]
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    report = json.loads((root / "eval-out" / "report.json").read_text())
    assert list(report["audio_errors"]) == ["bad"] and "cannot decode audio" in report["audio_errors"]["bad"]
    overall = report["results"]["official"]["overall"]
    assert (overall["counted"], overall["errors"]) == (2, 1)
    lines = [json.loads(line) for line in (root / "eval-out" / "predictions.jsonl").read_text().splitlines()]
    assert {r["id"] for r in lines} == {"good", "bad"}
    assert "1 item(s) without a prediction, counted wrong" in proc.stdout


# -------------------------------------------------------------------------------------------- annotate / qa


def test_a_missing_annotate_config_is_one_line_naming_the_file(runs):
    _, results, _ = runs
    assert "missing.yaml" in _user_error(results["annotate-missing-config"], "annotate")


def test_a_config_key_typo_or_broken_yaml_is_one_line(runs):
    _, results, _ = runs
    line = _user_error(results["annotate-config-typo"], "annotate")
    assert "typo.yaml" in line and "shard_sise" in line
    line = _user_error(results["annotate-config-not-yaml"], "annotate")
    assert "not valid YAML" in line and "line 2" in line


def test_qa_on_an_annotation_without_accepted_rows_warns_and_fails(runs):
    _, results, _ = runs
    proc = results["qa-nothing-accepted"]
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "uas-audio qa: warning: 0 questions: ann-none has no accepted rows" in proc.stderr


# ----------------------------------------------------------------------------------------------------- train


def test_train_on_an_annotation_without_accepted_rows_names_it(runs):
    _, results, _ = runs
    assert "no accepted rows in ann-none" in _user_error(results["train-nothing-accepted"], "train")


def test_train_checks_every_clip_before_training_and_points_at_the_skip_option(runs):
    root, results, _ = runs
    line = _user_error(results["train-corrupt-clip"], "train")
    assert "1 row(s) with audio that does not decode" in line and "(id clip1)" in line
    assert "--skip-bad-rows" in line
    assert not (root / "t2").exists()  # stopped before anything was written


def test_resume_of_a_finished_run_refuses_and_writes_nothing(runs):
    root, results, before = runs
    line = _user_error(results["train-resume-finished"], "train")
    assert "already finished at step 2" in line
    assert _tree(root / "finished") == before["finished"]


def test_skip_bad_rows_trains_on_the_rest_and_records_the_bad_one(runs, tmp_path, capsys):
    from uas_audio.cli import main

    root, _, _ = runs
    (tmp_path / "fast.yaml").write_text("per_device_train_batch_size: 2\ngradient_checkpointing: false\n"
                                        "warmup_steps: 0\nsave_strategy: \"no\"\nmixture: {uas: 1.0}\n")
    code = main(["train", "--stage", "2", "--config", str(tmp_path / "fast.yaml"), "--data", str(root / "corrupt"),
                 "--output-dir", str(tmp_path / "out"), "--max-steps", "1", "--skip-bad-rows"])
    assert code == 0
    (record,) = [json.loads(line) for line in (tmp_path / "out" / "bad_rows.jsonl").read_text().splitlines()]
    assert (record["source"], record["row"], record["id"]) == (str(root / "corrupt"), 1, "clip1")
    assert "cannot decode audio" in record["reason"]
    assert (tmp_path / "out" / "model.safetensors").is_file()


# ------------------------------------------------------------------------------------------------------ logs


def test_logs_off_a_terminal_have_no_progress_bars_and_no_warnings(runs):
    _, results, _ = runs
    proc = results["synth-log"]
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "2 clips" in proc.stdout
    log = proc.stdout + proc.stderr
    assert "\r" not in log and "it/s" not in log and "clip/s" not in log
    assert "Warning" not in log


# ------------------------------------------------------------------------------------------------- packaging


def test_packaging_metadata_is_current_spdx():
    import tomllib

    root = Path(__file__).resolve().parents[1]
    pyproject = tomllib.loads((root / "pyproject.toml").read_text())
    assert pyproject["project"]["license"] == "Apache-2.0"  # a string (PEP 639), not the deprecated table
    assert pyproject["project"]["license-files"] == ["LICENSE"]
    assert "Apache License" in (root / "LICENSE").read_text()[:200]
    assert "setuptools>=77" in pyproject["build-system"]["requires"]  # the first setuptools that reads PEP 639
