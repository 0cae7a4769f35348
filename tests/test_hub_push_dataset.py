"""Publishing a dataset stops at the Hub boundary: the staged folder loads back with ``load_dataset`` with the
same features and rows (audio bytes embedded), splits kept, one config per kind, and a push sends exactly it."""

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soundfile as sf
from datasets import Audio, Dataset, DatasetDict, Features, Value, load_dataset
from huggingface_hub import CommitOperationAdd, HfApi

from uas_audio.annotate import AnnotateConfig, annotate, load_annotations
from uas_audio.cli import main
from uas_audio.hub_cards import StagingError, detect_kind, push_folder, stage_dataset
from uas_audio.qa import build_qa, qa_features
from uas_audio.schema import uas_features
from uas_audio.synth import synthesize_corpus

REPO_ID = "someone/uas-data"


def _load(folder, kind):
    # A cache of its own: datasets names the cache of a local folder by its layout and card, so a folder
    # staged again at a same-named path with the same card would be read from an earlier run's cache.
    return load_dataset(str(folder), kind, cache_dir=str(folder.parent / f".cache-{folder.name}-{kind}"))


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    synthesize_corpus(root / "synth", 6, seed=1)
    annotate(str(root / "synth" / "dataset"), root / "annotated", AnnotateConfig(), progress=False)
    build_qa(root / "annotated", root / "qa")
    return root


@pytest.fixture(scope="module")
def staged(outputs):
    return stage_dataset({"uas": outputs / "annotated", "uas_qa": outputs / "qa"}, outputs / "repo", repo_id=REPO_ID)


def test_folder_has_one_directory_of_shards_per_kind_and_the_card(staged):
    files = sorted(p.relative_to(staged).as_posix() for p in staged.rglob("*") if p.is_file())
    assert files == ["README.md", "uas/train-00000-of-00001.parquet", "uas_qa/train-00000-of-00001.parquet"]
    assert detect_kind(staged.parent / "annotated") == "uas" and detect_kind(staged.parent / "qa") == "uas_qa"


def test_uas_config_loads_back_with_the_accepted_rows_and_features(staged, outputs):
    expected = load_annotations(outputs / "annotated", status="accepted").remove_columns(
        ["status", "reasons", "candidate"])
    loaded = _load(staged, "uas")
    assert list(loaded) == ["train"]
    train = loaded["train"]
    assert train.features == expected.features
    assert train.features["uas"] == uas_features()
    assert train.features["audio"] == Audio(decode=False)
    assert len(train) == len(expected) == 6
    for got, want in zip(train, expected):
        assert got["audio"]["bytes"] == want["audio"]["bytes"] and got["audio"]["bytes"]
        assert {k: v for k, v in got.items() if k != "audio"} == {k: v for k, v in want.items() if k != "audio"}


def test_qa_config_loads_back_with_identical_rows(staged, outputs):
    expected = Dataset.from_parquet(str(outputs / "qa" / "qa.parquet"), features=qa_features())
    train = _load(staged, "uas_qa")["train"]
    assert train.features == qa_features()
    expected = expected.to_list()
    for row in expected:  # QA rows refer to their clip's file; the staged copy embeds that file's bytes
        audio = row["messages"][0]["content"][0]["audio"]
        assert audio["bytes"] is None
        audio["bytes"], audio["path"] = Path(audio["path"]).read_bytes(), Path(audio["path"]).name
    assert train.to_list() == expected
    audio = train[0]["messages"][0]["content"][0]["audio"]
    assert audio["bytes"][:4] == b"RIFF"


def test_card_configs_point_at_the_shards(staged):
    meta = json.loads(json.dumps(__import__("yaml").safe_load((staged / "README.md").read_text().split("---")[1])))
    assert [c["config_name"] for c in meta["configs"]] == ["uas", "uas_qa"]
    assert "| accepted | 6 |" in (staged / "README.md").read_text()


def _wav_file(path, seconds, value):
    sf.write(path, np.full(int(16000 * seconds), value, dtype=np.float32), 16000)
    return str(path)


def _by_path_split(tmp_path, name, n):
    features = Features({"id": Value("string"), "audio": Audio(decode=False), "uas": uas_features()})
    uas = {"transcription": None, "paralinguistics": dict.fromkeys(["age", "gender", "emotion", "accent", "prosody",
                                                                    "timbre"]),
           "nonLinguisticEvents": {"description": "silence", "discreteEvents": [], "continuousEvents": []}}
    rows = [{"id": f"{name}{i}", "audio": {"bytes": None, "path": _wav_file(tmp_path / f"{name}{i}.wav", 0.5, i / 10)},
             "uas": uas} for i in range(n)]
    return Dataset(pa.Table.from_pylist(rows, schema=features.arrow_schema))


def test_splits_are_kept_and_audio_files_are_embedded(tmp_path):
    source = DatasetDict({"train": _by_path_split(tmp_path, "tr", 3), "test": _by_path_split(tmp_path, "te", 2)})
    folder = stage_dataset({"uas": source}, tmp_path / "repo", repo_id=REPO_ID)
    loaded = _load(folder, "uas")
    assert {split: len(ds) for split, ds in loaded.items()} == {"train": 3, "test": 2}
    for split in ("train", "test"):
        for row, original in zip(loaded[split], source[split]):
            assert row["audio"]["bytes"] == (tmp_path / f"{row['id']}.wav").read_bytes()
            assert row["audio"]["path"] == f"{row['id']}.wav"  # only the file name travels
            assert row["uas"] == original["uas"]
    table = pq.read_table(folder / "uas" / "test-00000-of-00001.parquet")
    assert json.loads(table.schema.metadata[b"huggingface"])["info"]["features"]["uas"]


def test_a_missing_audio_file_is_named(tmp_path):
    source = _by_path_split(tmp_path, "x", 2)
    (tmp_path / "x1.wav").unlink()
    with pytest.raises(StagingError, match="uas/train: cannot embed an audio file"):
        stage_dataset({"uas": source}, tmp_path / "repo", repo_id=REPO_ID)


def test_a_uas_dataset_without_its_columns_is_refused(tmp_path):
    with pytest.raises(StagingError, match=r"missing \['uas', 'audio'\]"):
        stage_dataset({"uas": Dataset.from_dict({"id": ["a"]})}, tmp_path / "repo", repo_id=REPO_ID)


class _Recorder:
    def __init__(self, monkeypatch):
        self.calls = []
        monkeypatch.setattr(HfApi, "create_repo", lambda api, repo_id, **kw: self.calls.append(("repo", repo_id, kw)))

        def create_commit(api, repo_id, operations, **kw):
            self.calls.append(("commit", repo_id, {**kw, "operations": list(operations)}))
            return type("Info", (), {"commit_url": f"https://huggingface.co/datasets/{repo_id}/commit/0"})()

        monkeypatch.setattr(HfApi, "create_commit", create_commit)


def test_push_sends_the_staged_files_as_a_dataset_commit(staged, monkeypatch):
    recorder = _Recorder(monkeypatch)
    push_folder(staged, REPO_ID, repo_type="dataset")
    (_, repo, repo_kw), (_, _, commit_kw) = recorder.calls
    assert repo == REPO_ID and repo_kw["repo_type"] == "dataset"
    ops = commit_kw["operations"]
    assert all(isinstance(op, CommitOperationAdd) for op in ops)
    assert [op.path_in_repo for op in ops] == ["README.md", "uas/train-00000-of-00001.parquet",
                                               "uas_qa/train-00000-of-00001.parquet"]


def test_cli_stage_only_writes_the_folder_and_pushes_nothing(outputs, tmp_path, monkeypatch, capsys):
    recorder = _Recorder(monkeypatch)
    out = tmp_path / "staged"
    code = main(["push", str(outputs / "annotated"), "--repo-id", REPO_ID, "--dataset", "--qa", str(outputs / "qa"),
                 "--stage-only", str(out)])
    assert code == 0 and recorder.calls == []
    assert (out / "uas_qa" / "train-00000-of-00001.parquet").is_file()
    assert "nothing pushed" in capsys.readouterr().out


def test_cli_push_creates_a_private_dataset_repo(outputs, monkeypatch, capsys):
    recorder = _Recorder(monkeypatch)
    code = main(["push", str(outputs / "qa"), "--repo-id", REPO_ID, "--dataset", "--private"])
    assert code == 0
    (_, repo, repo_kw), (_, _, commit_kw) = recorder.calls
    assert repo_kw == {"repo_type": "dataset", "private": True, "exist_ok": True}
    assert [op.path_in_repo for op in commit_kw["operations"]] == ["README.md", "uas_qa/train-00000-of-00001.parquet"]
    assert f"pushed dataset {REPO_ID}" in capsys.readouterr().out


def test_cli_rejects_dataset_options_for_a_model(tmp_path, capsys):
    (tmp_path / "config.json").write_text("{}")
    assert main(["push", str(tmp_path), "--repo-id", REPO_ID, "--review-report", "r.json"]) == 2
    assert "apply to datasets" in capsys.readouterr().err


def test_rows_filtered_out_of_the_source_are_not_staged(tmp_path):
    source = _by_path_split(tmp_path, "f", 3)
    (tmp_path / "f0.wav").unlink()  # its row is filtered out: nothing to embed, nothing to complain about
    kept = source.filter(lambda row_id: row_id != "f0", input_columns="id")
    folder = stage_dataset({"uas": kept}, tmp_path / "repo", repo_id=REPO_ID)
    assert _load(folder, "uas")["train"]["id"] == ["f1", "f2"]


def test_cli_push_offline_fails_with_a_clear_error_and_no_token(outputs, monkeypatch, capsys):
    # No interception: the real client meets HF_HUB_OFFLINE=1 (set for every test) at its HTTP layer.
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_TOKEN", "hf_never_shown")
    code = main(["push", str(outputs / "qa"), "--repo-id", REPO_ID, "--dataset"])
    captured = capsys.readouterr()
    assert code == 2
    assert f"cannot push to {REPO_ID} on the Hub: OfflineModeIsEnabled" in captured.err
    assert "hf_never_shown" not in captured.out + captured.err


def test_large_splits_are_cut_into_ordered_shards(tmp_path):
    source = _by_path_split(tmp_path, "s", 3)
    folder = stage_dataset({"uas": source}, tmp_path / "repo", repo_id=REPO_ID, max_shard_bytes=1)
    assert sorted(p.name for p in (folder / "uas").iterdir()) == [f"train-0000{i}-of-00003.parquet" for i in range(3)]
    assert _load(folder, "uas")["train"]["id"] == ["s0", "s1", "s2"]


def test_a_saved_dataset_directory_is_detected_and_staged_with_its_splits(tmp_path):
    saved = tmp_path / "saved"
    DatasetDict({"train": _by_path_split(tmp_path, "a", 2), "validation": _by_path_split(tmp_path, "b", 1)}).save_to_disk(
        str(saved))
    assert detect_kind(saved) == "uas"
    folder = stage_dataset({"uas": saved}, tmp_path / "repo", repo_id=REPO_ID)
    loaded = _load(folder, "uas")
    assert {split: ds["id"] for split, ds in loaded.items()} == {"train": ["a0", "a1"], "validation": ["b0"]}
    with pytest.raises(StagingError, match="not an annotation output"):
        detect_kind(tmp_path)
