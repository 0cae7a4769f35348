"""The review store: WAL, upserts, concurrent writers and killed writers lose nothing, stored samples, resume."""

import multiprocessing
import os
import signal
import sqlite3

import pytest

from uas_audio.review.store import ReviewStore, ReviewStoreError

FIELDS = ("transcription", "paralinguistics.age")


def test_database_runs_in_wal_mode(tmp_path):
    ReviewStore(tmp_path / "r.sqlite")
    conn = sqlite3.connect(tmp_path / "r.sqlite")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def _sampled_store(path, item_ids):
    """A store with a sample of ``item_ids`` drawn: votes go to sampled items only."""
    store = ReviewStore(path)
    store.save_sample(0, len(item_ids), item_ids)
    return store


def test_a_second_vote_replaces_the_first_and_keeps_its_creation_time(tmp_path):
    store = _sampled_store(tmp_path / "r.sqlite", ["a"])
    store.record_vote("a", "paralinguistics.age", "alice", "correct")
    first = store.votes()[0]
    store.record_vote("a", "paralinguistics.age", "alice", "Incorrect")
    (vote,) = store.votes()
    assert (vote.item_id, vote.field, vote.annotator, vote.verdict) == ("a", "paralinguistics.age", "alice",
                                                                        "incorrect")
    assert vote.created_at == first.created_at
    assert vote.updated_at >= first.updated_at


def test_each_annotator_has_their_own_vote(tmp_path):
    store = _sampled_store(tmp_path / "r.sqlite", ["a"])
    store.record_vote("a", "transcription", "alice", "correct")
    store.record_vote("a", "transcription", "bob", "unsure")
    assert store.verdicts_for("a", "alice") == {"transcription": "correct"}
    assert store.verdicts_for("a", "bob") == {"transcription": "unsure"}
    assert store.annotators() == ["alice", "bob"]


def test_unknown_verdict_is_refused(tmp_path):
    store = ReviewStore(tmp_path / "r.sqlite")
    with pytest.raises(ReviewStoreError, match="unknown verdict 'maybe'"):
        store.record_vote("a", "transcription", "alice", "maybe")
    assert store.votes() == []


def test_a_vote_on_a_clip_outside_the_samples_or_on_an_unknown_field_is_refused(tmp_path):
    store = _sampled_store(tmp_path / "r.sqlite", ["a"])
    with pytest.raises(ReviewStoreError, match="unknown clip 'zz': not in any sample"):
        store.record_vote("zz", "transcription", "alice", "correct")
    with pytest.raises(ReviewStoreError, match="unknown field 'paralinguistics.shoe_size'"):
        store.record_vote("a", "paralinguistics.shoe_size", "alice", "correct")
    assert store.votes() == []


def test_a_file_that_is_not_sqlite_is_refused(tmp_path):
    path = tmp_path / "notes.sqlite"
    path.write_text("these are my notes, not a database" * 100)
    with pytest.raises(ReviewStoreError, match="notes.sqlite: not a usable review database"):
        ReviewStore(path)


def _write_votes(path, annotator, n):
    store = ReviewStore(path)
    for i in range(n):
        store.record_vote(f"item-{i:04d}", FIELDS[i % 2], annotator, ("correct", "incorrect", "unsure")[i % 3])


def test_four_processes_writing_at_once_lose_no_vote(tmp_path):
    path = tmp_path / "r.sqlite"
    _sampled_store(path, [f"item-{i:04d}" for i in range(200)])
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_write_votes, args=(path, f"annotator-{k}", 200)) for k in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    votes = ReviewStore(path).votes()
    assert len(votes) == 800
    for k in range(4):
        mine = {(v.item_id, v.field): v.verdict for v in votes if v.annotator == f"annotator-{k}"}
        assert len(mine) == 200
        assert mine[("item-0005", FIELDS[1])] == "unsure"


def _vote_and_confirm(path, conn):
    store = ReviewStore(path)
    i = 0
    while True:
        store.record_vote(f"item-{i}", "transcription", "alice", "correct")
        conn.send(i)  # only after record_vote returned, i.e. after the commit
        i += 1


def test_votes_confirmed_before_a_kill_survive_it(tmp_path):
    path = tmp_path / "r.sqlite"
    _sampled_store(path, [f"item-{i}" for i in range(50_000)])
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_vote_and_confirm, args=(path, child))
    proc.start()
    confirmed = -1
    while confirmed < 30:
        confirmed = parent.recv()
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(timeout=30)
    while parent.poll():
        confirmed = parent.recv()
    stored = {v.item_id for v in ReviewStore(path).votes()}
    assert {f"item-{i}" for i in range(confirmed + 1)} <= stored
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


def test_the_first_stored_sample_wins(tmp_path):
    store = ReviewStore(tmp_path / "r.sqlite")
    assert store.sample(0, 3) is None
    assert store.save_sample(0, 3, ["c", "a", "b"]) == ["c", "a", "b"]
    assert store.save_sample(0, 3, ["x", "y", "z"]) == ["c", "a", "b"]
    assert ReviewStore(tmp_path / "r.sqlite").sample(0, 3) == ["c", "a", "b"]
    assert store.sample(1, 3) is None


def test_a_database_bound_to_one_dataset_refuses_another(tmp_path):
    store = ReviewStore(tmp_path / "r.sqlite")
    store.bind_dataset("a" * 64)
    store.bind_dataset("a" * 64)
    with pytest.raises(ReviewStoreError, match="reviews another dataset"):
        store.bind_dataset("b" * 64)


def test_resume_points_at_the_first_item_with_an_unjudged_field(tmp_path):
    items = ["a", "b", "c"]
    store = _sampled_store(tmp_path / "r.sqlite", items)
    assert store.first_unanswered(items, "alice", FIELDS) == 0
    for field in FIELDS:
        store.record_vote("a", field, "alice", "correct")
    store.record_vote("b", FIELDS[0], "alice", "correct")
    assert store.first_unanswered(items, "alice", FIELDS) == 1
    assert store.completed(items, "alice", FIELDS) == 1
    assert store.first_unanswered(items, "bob", FIELDS) == 0
    for item in items:
        for field in FIELDS:
            store.record_vote(item, field, "alice", "unsure")
    assert store.first_unanswered(items, "alice", FIELDS) == 3
