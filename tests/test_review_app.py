"""The review app: sources, session (values, votes, resume, audio), security, and a real browser run."""

import io
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from uas_audio.cli import main
from uas_audio.review.app import (
    PASSWORD_ENV,
    USER_ENV,
    LoopbackHostOnly,
    ReviewSecurityError,
    field_elem_id,
    host_header_is_loopback,
    format_value,
    launch_app,
    open_session,
    resolve_auth,
)
from uas_audio.review.dataset import ReviewDatasetError, audio_type_of, load_review_dataset
from uas_audio.review.store import ReviewStore, ReviewStoreError
from uas_audio.schema import FIELD_PATHS

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
SPEECH = {
    "transcription": "The farmer is reading by the fire.",
    "paralinguistics": {"age": "Child", "gender": "Female", "emotion": "Happiness", "accent": "Scottish English",
                        "prosody": "fast, high-pitched, animated", "timbre": "light and childlike"},
    "nonLinguisticEvents": {"description": "A girl speaks quickly over a faint rumble.", "discreteEvents": [],
                            "continuousEvents": [{"label": "rumble", "characteristic": "low, engine-like"}]},
}
NO_VOICE = dict.fromkeys(("age", "gender", "emotion", "accent", "prosody", "timbre"))
MUSIC = {"transcription": None, "paralinguistics": NO_VOICE,
         "nonLinguisticEvents": {"description": "A slow organ melody.", "discreteEvents": [
             {"label": "door slam", "characteristic": "a heavy door slamming shut"}],
             "continuousEvents": [{"label": "music", "characteristic": "slow organ-like melody"}]}}
ENVIRONMENT = {"transcription": None, "paralinguistics": NO_VOICE,
               "nonLinguisticEvents": {"description": "Rain with a chime.", "discreteEvents": [
                   {"label": "chime", "characteristic": "a bright chime"}],
                   "continuousEvents": [{"label": "rain", "characteristic": "steady, heavy rain"}]}}


def _wav(freq, seconds=0.5, sr=16000):
    buf = io.BytesIO()
    t = np.arange(int(seconds * sr)) / sr
    sf.write(buf, (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), sr, format="WAV")
    return buf.getvalue()


def _save_dataset(path, n=6, with_type=True):
    """A saved dataset of ``n`` short tone clips cycling speech / music / environment records."""
    from datasets import Audio, Dataset, Features, Value

    from uas_audio.schema import uas_features

    kinds = [("speech", SPEECH), ("music", MUSIC), ("environment", ENVIRONMENT)]
    rows = {"id": [], "audio": [], "uas": [], "audio_type": []}
    for i in range(n):
        kind, uas = kinds[i % 3]
        rows["id"].append(f"clip-{i:03d}")
        rows["audio"].append({"bytes": _wav(220 + 40 * i), "path": f"clip-{i:03d}.wav"})
        rows["uas"].append(uas)
        rows["audio_type"].append(kind)
    # audio goes in as its storage struct, then becomes Audio(decode=False) without re-encoding
    features = {"id": Value("string"), "audio": {"bytes": Value("binary"), "path": Value("string")},
                "uas": uas_features(), "audio_type": Value("string")}
    if not with_type:
        del rows["audio_type"], features["audio_type"]
    ds = Dataset.from_dict(rows, features=Features(features)).cast_column("audio", Audio(decode=False))
    ds.save_to_disk(str(path))
    return path


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory):
    return _save_dataset(tmp_path_factory.mktemp("review") / "ds")


@pytest.fixture
def no_credentials(monkeypatch):
    monkeypatch.delenv(USER_ENV, raising=False)
    monkeypatch.delenv(PASSWORD_ENV, raising=False)


# ------------------------------------------------------------------------------------------------ sources
def test_saved_dataset_is_loaded_with_its_audio_types(dataset_dir):
    data = load_review_dataset(dataset_dir)
    assert len(data) == 6
    assert data.types["clip-001"] == "music"
    audio, suffix = data.audio("clip-004")
    assert (audio, suffix) == (_wav(220 + 40 * 4), ".wav")


def test_audio_type_is_read_off_the_record_without_a_column(tmp_path):
    data = load_review_dataset(_save_dataset(tmp_path / "ds", n=3, with_type=False))
    assert data.types == {"clip-000": "speech", "clip-001": "music", "clip-002": "environment"}
    assert audio_type_of(SPEECH) == "speech"


def test_annotation_output_is_reviewed_on_its_accepted_rows(tmp_path):
    from datasets import Audio, Dataset

    from uas_audio.annotate import annotate

    rows = {"id": ["a", "b", "broken"], "transcript": ["hello there my friend", None, "anything"],
            "audio": [{"bytes": _wav(150, 1.0), "path": None}, {"bytes": _wav(300, 1.0), "path": None},
                      {"bytes": b"RIFF\x00\x00not audio", "path": None}]}
    Dataset.from_dict(rows).cast_column("audio", Audio(decode=False)).save_to_disk(str(tmp_path / "src"))
    # a 150 Hz sine is no voice: the gender gate would reject it (low_confidence); this test is about review
    annotate(tmp_path / "src", tmp_path / "out", {"shard_size": 2, "min_gender_confidence": 0.0}, progress=False)
    data = load_review_dataset(tmp_path / "out")
    assert data.ids == ["a", "b"]  # the undecodable clip is an error row, not reviewed
    assert data.types["a"] == "speech"
    assert data.uas("a")["transcription"] == "hello there my friend"
    assert data.audio("b") == (_wav(300, 1.0), ".wav")


def test_a_folder_that_is_no_dataset_is_refused(tmp_path):
    with pytest.raises(ReviewDatasetError, match="neither a saved dataset"):
        load_review_dataset(tmp_path)
    with pytest.raises(ReviewDatasetError, match="no such directory"):
        load_review_dataset(tmp_path / "missing")


def test_a_dataset_without_uas_is_refused(tmp_path):
    from datasets import Dataset

    Dataset.from_dict({"id": ["a"], "audio": [None]}).save_to_disk(str(tmp_path / "ds"))
    with pytest.raises(ReviewDatasetError, match=r"lacks column\(s\) \['uas'\]"):
        load_review_dataset(tmp_path / "ds")


# ------------------------------------------------------------------------------------------------ session
def test_values_are_shown_as_a_reviewer_reads_them():
    events = SPEECH["nonLinguisticEvents"]["continuousEvents"] + [{"label": "hiss", "characteristic": "dark"}]
    assert format_value("nonLinguisticEvents.continuousEvents", events) == "rumble — low, engine-like\nhiss — dark"
    assert format_value("nonLinguisticEvents.discreteEvents", []) == "(none)"
    assert format_value("paralinguistics.age", None) == "null"
    assert field_elem_id("paralinguistics.age") == "field-paralinguistics-age"


def test_session_shows_one_item_and_stores_votes(dataset_dir, tmp_path):
    session = open_session(dataset_dir, tmp_path / "r.sqlite", "alice", sample=6, seed=0)
    try:
        view = session.view(0)
        expected = {"speech": SPEECH, "music": MUSIC, "environment": ENVIRONMENT}[view.audio_type]
        assert view.values["nonLinguisticEvents.description"] == expected["nonLinguisticEvents"]["description"]
        assert view.progress == "1 / 6 · 0 complete"
        assert Path(view.audio_path).parent == session.audio_dir
        assert Path(view.audio_path).read_bytes() == session.dataset.audio(view.item_id)[0]
        session.vote(0, "paralinguistics.age", "incorrect")
        assert session.view(0).verdicts["paralinguistics.age"] == "incorrect"
        assert session.view(0).verdicts["transcription"] is None
    finally:
        session.close()
    assert not session.audio_dir.exists()


def test_reopening_resumes_at_the_first_unfinished_item(dataset_dir, tmp_path):
    first = open_session(dataset_dir, tmp_path / "r.sqlite", "alice", sample=6, seed=0)
    for field in FIELD_PATHS:
        first.vote(0, field, "correct")
    first.vote(1, "transcription", "correct")
    first.close()
    again = open_session(dataset_dir, tmp_path / "r.sqlite", "alice", sample=6, seed=0)
    bob = open_session(dataset_dir, tmp_path / "r.sqlite", "bob", sample=6, seed=0)
    assert again.item_ids == first.item_ids == bob.item_ids
    assert again.start_index() == 1
    assert again.progress(1) == "2 / 6 · 1 complete"
    assert bob.start_index() == 0
    again.close()
    bob.close()


def test_the_sample_is_drawn_once_per_seed_and_stratified(dataset_dir, tmp_path):
    session = open_session(dataset_dir, tmp_path / "r.sqlite", "alice", sample=3, seed=5)
    assert sorted(session.dataset.types[i] for i in session.item_ids) == ["environment", "music", "speech"]
    assert ReviewStore(tmp_path / "r.sqlite").sample(5, 3) == session.item_ids
    session.close()


def test_a_database_of_another_dataset_is_refused(dataset_dir, tmp_path):
    open_session(dataset_dir, tmp_path / "r.sqlite", "alice", sample=6).close()
    other = _save_dataset(tmp_path / "other", n=4)
    with pytest.raises(ReviewStoreError, match="reviews another dataset"):
        open_session(other, tmp_path / "r.sqlite", "alice", sample=6)


# ----------------------------------------------------------------------------------------------- security
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1"])
def test_loopback_needs_no_credentials(host, no_credentials):
    assert resolve_auth(host, share=False) is None


@pytest.mark.parametrize(("host", "share"), [("0.0.0.0", False), ("192.168.1.20", False), ("127.0.0.1", True)])
def test_exposed_server_without_credentials_is_refused(host, share, no_credentials):
    with pytest.raises(ReviewSecurityError, match=f"set {USER_ENV} and {PASSWORD_ENV}"):
        resolve_auth(host, share=share)


def test_half_the_credentials_are_not_enough(monkeypatch):
    monkeypatch.setenv(USER_ENV, "alice")
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    with pytest.raises(ReviewSecurityError):
        resolve_auth("0.0.0.0", share=False)


def test_credentials_come_from_the_environment(monkeypatch):
    monkeypatch.setenv(USER_ENV, "alice")
    monkeypatch.setenv(PASSWORD_ENV, "s3cret-pass")
    assert resolve_auth("0.0.0.0", share=True) == ("alice", "s3cret-pass")


def test_launch_without_auth_refuses_a_public_host(dataset_dir, tmp_path, no_credentials):
    session = open_session(dataset_dir, tmp_path / "r.sqlite", "alice", sample=6)
    with pytest.raises(ReviewSecurityError):
        launch_app(session, host="0.0.0.0", block=False)
    session.close()


@pytest.mark.parametrize("flags", [["--host", "0.0.0.0"], ["--share"]])
def test_review_command_refuses_exposure_before_touching_anything(flags, dataset_dir, tmp_path, capsys,
                                                                   no_credentials):
    db = tmp_path / "r.sqlite"
    assert main(["review", str(dataset_dir), "--db", str(db), "--annotator", "alice", *flags]) == 2
    assert f"set {USER_ENV} and {PASSWORD_ENV}" in capsys.readouterr().err
    assert not db.exists()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _status(url, data=None, host=None):
    headers = {"Host": host} if host else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data, headers=headers), timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code
    except OSError:
        return None


def test_review_command_with_credentials_serves_only_after_login(dataset_dir, tmp_path):
    port, password = _free_port(), "correct-horse-battery"
    env = {**os.environ, USER_ENV: "alice", PASSWORD_ENV: password, "GRADIO_ANALYTICS_ENABLED": "False"}
    proc = subprocess.Popen([sys.executable, "-m", "uas_audio.cli", "review", str(dataset_dir), "--db",
                             str(tmp_path / "r.sqlite"), "--annotator", "alice", "--port", str(port)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        assert _wait_for(lambda: _status(f"{base}/config"), timeout=120) == 401
        assert _status(f"{base}/gradio_api/login_check") == 401
        wrong = urllib.parse.urlencode({"username": "alice", "password": "guess"}).encode()
        assert _status(f"{base}/login", wrong) == 400
        right = urllib.parse.urlencode({"username": "alice", "password": password}).encode()
        # DNS rebinding: a page of evil.example.com re-pointed at 127.0.0.1 sends its own name as Host
        assert _status(f"{base}/login", right, host="evil.example.com") == 403
        assert _status(f"{base}/config", host=f"evil.example.com:{port}") == 403
        assert _status(f"{base}/login", right) == 200
    finally:
        proc.terminate()
        output, _ = proc.communicate(timeout=60)
    assert "reviewing 6 items" in output
    assert password not in output


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1:7860", True), ("localhost", True), ("LOCALHOST:80", True), ("[::1]:7860", True), ("::1", True),
    ("127.0.0.2", True), ("evil.example.com", False), ("evil.example.com:7860", False),
    ("127.0.0.1.evil.example.com", False), ("localhost.evil.example.com", False), ("", False), (None, False)])
def test_host_header_is_loopback_only_for_names_of_this_machine(host, loopback):
    assert host_header_is_loopback(host) is loopback


def test_a_post_addressed_to_another_host_is_refused_before_any_handler_runs():
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    stored = []

    async def vote(request):
        stored.append(await request.body())
        return PlainTextResponse("stored")

    app = Starlette(routes=[Route("/vote", vote, methods=["POST"])], middleware=[Middleware(LoopbackHostOnly)])
    client = TestClient(app)
    refused = client.post("/vote", content=b"correct", headers={"Host": "evil.example.com"})
    assert refused.status_code == 403 and stored == []
    assert client.post("/vote", content=b"correct", headers={"Host": "127.0.0.1:7860"}).text == "stored"
    assert stored == [b"correct"]


# ------------------------------------------------------------------------------------------------ browser


def _wait_for(predicate, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    return predicate()


@pytest.mark.browser
def test_browser_review_stores_clicked_and_keyed_votes(dataset_dir, tmp_path, no_credentials):
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing on CI (.ci/run installs Debian's chromium)")
        pytest.skip(f"{CHROMIUM} is not installed on this machine (CI installs it)")
    from playwright.sync_api import expect, sync_playwright

    db = tmp_path / "review.sqlite"
    session = open_session(dataset_dir, db, "alice", sample=6, seed=0)
    port = _free_port()
    demo = launch_app(session, port=port, block=False)
    store = ReviewStore(db)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch_persistent_context(
                str(tmp_path / "profile"), executable_path=str(CHROMIUM), headless=True,
                args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
                viewport={"width": 1280, "height": 1100})
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}/")
            expect(page.locator("#review-progress")).to_contain_text("1 / 6", timeout=30_000)
            first = session.item_ids[0]
            expect(page.locator("#review-item")).to_contain_text(first)
            # the player holds the item's audio, served by the app
            # the player (wavesurfer's <audio>, in a shadow root) plays the item's own bytes, served by the app
            audio = page.locator("#review-audio audio[src^='blob:']").first
            expect(audio).to_be_attached(timeout=10_000)
            played = audio.evaluate("async a => Array.from(new Uint8Array(await (await fetch(a.src)).arrayBuffer()))")
            assert bytes(played) == session.dataset.audio(first)[0]
            for path in FIELD_PATHS:
                expect(page.locator(f"#{field_elem_id(path)}")).to_be_visible()
            description = page.locator(f"#{field_elem_id('nonLinguisticEvents.description')} textarea")
            expect(description).to_have_value(session.dataset.uas(first)["nonLinguisticEvents"]["description"])

            # mouse: two fields
            page.locator(f"#{field_elem_id('transcription')} input[value=correct]").click()
            page.locator(f"#{field_elem_id('paralinguistics.age')} input[value=incorrect]").click()
            # keyboard: pick the gender row, 3 = Unsure, then 1 = Correct lands on the next row (emotion)
            page.locator(f"#{field_elem_id('paralinguistics.gender')} code").click()
            page.keyboard.press("3")
            page.keyboard.press("1")
            page.keyboard.press("ArrowDown")  # skip accent
            page.keyboard.press("2")  # prosody
            expected = {"transcription": "correct", "paralinguistics.age": "incorrect",
                        "paralinguistics.gender": "unsure", "paralinguistics.emotion": "correct",
                        "paralinguistics.prosody": "incorrect"}
            assert _wait_for(lambda: store.verdicts_for(first, "alice") == expected), \
                store.verdicts_for(first, "alice")

            page.keyboard.press("j")  # next item
            expect(page.locator("#review-progress")).to_contain_text("2 / 6")
            expect(page.locator("#review-item")).to_contain_text(session.item_ids[1])
            expect(page.locator(f"#{field_elem_id('transcription')} input:checked")).to_have_count(0)
            page.locator(f"#{field_elem_id('nonLinguisticEvents.description')} input[value=unsure]").click()
            assert _wait_for(lambda: store.verdicts_for(session.item_ids[1], "alice") ==
                             {"nonLinguisticEvents.description": "unsure"})

            page.locator("#review-prev").click()  # back: the stored votes are shown
            expect(page.locator("#review-progress")).to_contain_text("1 / 6")
            expect(page.locator(f"#{field_elem_id('paralinguistics.age')} input[value=incorrect]")).to_be_checked()
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "review.png"), full_page=True)
            browser.close()
    finally:
        demo.close()
        session.close()
    assert len(store.votes(annotator="alice")) == 6
