"""UAS-QA at scale: two streaming passes with bounded distractor pools, balance and no-leak kept, memory flat in
the number of records, and rows that refer to their clip (one audio file per clip) instead of copying it."""

import tracemalloc
from collections import Counter

import datasets
import numpy as np
import pytest

from uas_audio.audio import encode_wav
from uas_audio.qa import QAGenerator, build_qa, leaks
from uas_audio.qa.generate import _ValuePool
from uas_audio.schema import uas_features

WORDS = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa".split()
LABELS = ["click", "knock", "beep", "chime", "clap", "door slam", "whistle", "bark"]


def _record(i: int) -> dict:
    speech = i % 5 != 4
    words = " ".join(WORDS[(i * 3 + j * 7) % len(WORDS)] for j in range(3))
    return {
        "transcription": f"sentence {i} says {words}" if speech else None,
        "paralinguistics": {
            "age": ["Adult", "Child", "Elderly"][i % 3] if speech else None,
            "gender": ["Male", "Female"][i % 2] if speech else None,
            "emotion": ["Neutral", "Happiness", "Sadness", "Anger"][i % 4] if speech else None,
            "accent": f"accent {i % 13} {words}" if speech else None,
            "prosody": f"pace {i % 11} {words}" if speech else None,
            "timbre": f"timbre {i % 7} {words}" if speech else None,
        },
        "nonLinguisticEvents": {
            "description": f"Scene {i} with {words}.",
            "discreteEvents": [{"label": LABELS[(i + k) % 8], "characteristic": "short"} for k in range(i % 3)],
            "continuousEvents": [{"label": ["hiss", "rain", "music"][i % 3], "characteristic": "steady"}] if i % 4 else [],
        },
    }


def _rows(n: int, start: int = 0):
    return ({"id": f"c{i}", "uas": _record(i), "audio": {"bytes": None, "path": f"/data/c{i}.wav"}}
            for i in range(start, start + n))


def test_value_pool_keeps_a_bounded_seeded_sample_whatever_the_order():
    values = [f"value {i}" for i in range(200)]
    forward, backward, other_seed = _ValuePool(16, seed=1), _ValuePool(16, seed=1), _ValuePool(16, seed=2)
    for v in values + values[:50]:  # repeats are ignored
        forward.add(v)
        other_seed.add(v)
    for v in reversed(values):
        backward.add(v)
    kept = forward.values()
    assert len(kept) == 16 and len(set(kept)) == 16 and set(kept) <= set(values)
    assert kept == backward.values()
    assert kept != other_seed.values()
    small = _ValuePool(16, seed=1)
    for v in values[:5]:
        small.add(v)
    assert sorted(small.values()) == sorted(values[:5])


def test_streaming_passes_give_the_same_rows_as_generate():
    listed, stats = QAGenerator(seed=5).generate(list(_rows(60)))
    generator = QAGenerator(seed=5).fit(row["uas"] for row in _rows(60))
    streamed = list(generator.stream(_rows(60)))
    assert streamed == listed and generator.stats == stats
    again, _ = QAGenerator(seed=5).generate(list(_rows(60)))
    assert again == listed


def test_stream_before_fit_is_a_clear_error():
    with pytest.raises(RuntimeError, match="call fit"):
        list(QAGenerator().stream(_rows(1)))


def test_small_pools_keep_balance_distinct_options_and_no_leaks():
    rows, stats = QAGenerator(seed=3, pool_size=4).generate(list(_rows(300)))
    by_id = {f"c{i}": _record(i) for i in range(300)}
    for n in (3, 4):
        letters = Counter(r["answer"] for r in rows if r["kind"] == "mc" and len(r["choices"]) == n)
        if letters:
            assert set(letters) == set("ABCD"[:n]) and max(letters.values()) - min(letters.values()) <= 1
    yesno = Counter(r["answer"] for r in rows if r["kind"] == "yesno")
    assert abs(yesno["Yes"] - yesno["No"]) <= 1
    mc = [r for r in rows if r["kind"] == "mc"]
    assert {r["field"] for r in mc} >= {"transcription", "paralinguistics.accent", "nonLinguisticEvents.description"}
    for row in mc:
        correct = row["choices"]["ABCD".index(row["answer"])]
        assert len(set(row["choices"])) == len(row["choices"]) >= 3
        assert not leaks(row["messages"][0]["content"][1]["text"].split("\n\n")[0], correct)
        value = by_id[row["source_id"]]
        for part in row["field"].split("."):
            value = value[part]
        truth = {e["label"] for e in value} if isinstance(value, list) else {value}
        assert correct in truth and not truth & (set(row["choices"]) - {correct})
    for row in rows:
        if row["kind"] != "mc":
            assert not leaks(row["messages"][0]["content"][1]["text"], row["answer"])


def _peak_bytes(n: int) -> int:
    tracemalloc.start()
    generator = QAGenerator(seed=0, pool_size=32).fit(row["uas"] for row in _rows(n))
    made = sum(1 for _ in generator.stream(_rows(n)))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert made > 20 * n
    return peak


def test_generation_memory_does_not_grow_with_the_number_of_records():
    _peak_bytes(20)  # warm-up: first-use caches (regex, imports) are not part of the comparison
    small, large = _peak_bytes(60), _peak_bytes(600)
    assert large < 1.5 * small, (small, large)


def _wav(i: int) -> bytes:
    t = np.arange(1600) / 16000
    return encode_wav((0.1 * np.sin(2 * np.pi * (200 + 50 * i) * t)).astype(np.float32), 16000)


def _source(tmp_path, n: int, with_bytes: bool):
    audio = [{"bytes": _wav(i), "path": f"c{i}.flac" if i == 0 else f"c{i}.wav"} if with_bytes
             else {"bytes": None, "path": str(tmp_path / f"c{i}.wav")} for i in range(n)]
    if not with_bytes:
        for i in range(n):
            (tmp_path / f"c{i}.wav").write_bytes(_wav(i))
    features = datasets.Features({"id": datasets.Value("string"), "uas": uas_features(),
                                  "status": datasets.Value("string"),
                                  "audio": {"bytes": datasets.Value("binary"), "path": datasets.Value("string")}})
    ds = datasets.Dataset.from_dict({"id": [f"c{i}" for i in range(n)], "uas": [_record(i) for i in range(n)],
                                     "status": ["accepted" if i != 3 else "rejected" for i in range(n)],
                                     "audio": audio}, features=features)
    if with_bytes:  # (save_to_disk would embed the files of path-only Audio values: keep those a plain struct)
        ds = ds.cast_column("audio", datasets.Audio(decode=False))
    ds.save_to_disk(str(tmp_path / "src"))
    return tmp_path / "src"


def _load(path):
    return datasets.load_dataset("parquet", data_files=str(path / "qa.parquet"), split="train",
                                 cache_dir=str(path / ".cache"))


def test_embedded_audio_is_written_once_per_clip_and_rows_refer_to_it(tmp_path):
    from uas_audio.processing.processing_uas_audio import load_audio_part
    from uas_audio.trainers.tasks import qa_rows

    build_qa(_source(tmp_path, 8, with_bytes=True), tmp_path / "qa", seed=2)
    qa = _load(tmp_path / "qa")
    files = sorted((tmp_path / "qa" / "audio").iterdir())
    assert len(files) == 7  # one per accepted clip (c3 is rejected)
    assert "c3" not in set(qa["source_id"]) and len(qa) > 7 * 20
    by_clip = {}
    for row in qa:
        part = row["messages"][0]["content"][0]
        assert part["audio"]["bytes"] is None
        by_clip.setdefault(row["source_id"], set()).add(part["audio"]["path"])
    assert all(len(paths) == 1 for paths in by_clip.values()) and len({p for s in by_clip.values() for p in s}) == 7
    for clip, (path,) in by_clip.items():
        i = int(clip[1:])
        assert open(path, "rb").read() == _wav(i)
        assert path.endswith(".flac" if i == 0 else ".wav")
    # the trainers' QA builder passes the reference through and the processor's audio loader resolves it
    train = qa_rows(qa)
    wave = load_audio_part(train[0]["messages"][0]["content"][0], 16000)
    assert wave.shape == (1600,) and np.abs(wave).max() > 0.05


def test_source_files_are_referenced_in_place_and_output_is_deterministic(tmp_path):
    source = _source(tmp_path, 6, with_bytes=False)
    first = build_qa(source, tmp_path / "qa1", seed=4)
    second = build_qa(source, tmp_path / "qa2", seed=4)
    assert first == second and not (tmp_path / "qa1" / "audio").exists()
    rows1, rows2 = _load(tmp_path / "qa1").to_list(), _load(tmp_path / "qa2").to_list()
    assert rows1 == rows2
    assert {r["messages"][0]["content"][0]["audio"]["path"] for r in rows1} == {
        str(tmp_path / f"c{i}.wav") for i in range(6) if i != 3}
    expected, _ = QAGenerator(seed=4).generate(
        [{"id": f"c{i}", "uas": _record(i), "audio": {"bytes": None, "path": str(tmp_path / f"c{i}.wav")}}
         for i in range(6) if i != 3])
    assert [(r["id"], r["answer"], r["choices"]) for r in rows1] == [(r["id"], r["answer"], r["choices"]) for r in expected]


def test_batches_do_not_change_the_output(tmp_path, monkeypatch):
    from uas_audio.qa import dataset as qa_dataset

    source = _source(tmp_path, 6, with_bytes=False)
    build_qa(source, tmp_path / "big", seed=1)
    monkeypatch.setattr(qa_dataset, "READ_BATCH", 2)
    monkeypatch.setattr(qa_dataset, "WRITE_BATCH", 5)
    build_qa(source, tmp_path / "small", seed=1)
    assert _load(tmp_path / "small").to_list() == _load(tmp_path / "big").to_list()
