"""The Ray engine (``annotate(..., engine="ray")``, ``uas-audio annotate --engine ray``): on the same input and
config its output equals the local runner's (rows, shard files, manifest, report) whatever the number of
workers; it resumes after the driver or a worker is killed; its resources fit the cluster it runs on.

The default tests run one Ray instance inside the test process (2 CPUs); the slow ones start a head and a worker
node on 127.0.0.1 with ``ray start`` and kill the driver and workers with SIGKILL.
"""

import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
import ray  # in the dev extra: the default suite runs the Ray engine

from uas_audio.annotate import AnnotateConfig, annotate, load_annotations
from uas_audio.annotate.ray_engine import RayOptions, plan_stages
from uas_audio.cli import main

from _fake_llm import FakeChatHandler, chat_payload, quoted_transcript, serve
from test_annotate_models import ctc_model, emotion_model  # noqa: F401 (fixtures)
from test_annotate_pipeline import NUM_CLIPS, _dataset


SHARD = 4
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0"}


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("source") / "ds"
    _dataset().save_to_disk(str(path))
    return path


@pytest.fixture(scope="module")
def reference(source, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("local")
    annotate(source, out, {"shard_size": SHARD}, progress=False)
    return out


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _records(out: Path) -> list[dict]:
    return sorted(load_annotations(out).to_list(), key=lambda r: r["id"])


def _same_files(out: Path, reference: Path) -> None:
    names = sorted(p.name for p in reference.iterdir())
    assert sorted(p.name for p in out.iterdir()) == names
    for name in names:  # shards, manifest and report, byte for byte
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name


def test_two_workers_give_the_local_runners_rows_shards_manifest_and_report(source, reference, local_ray, tmp_path):
    summary = annotate(source, tmp_path, {"shard_size": SHARD, "ray": {"workers": 2}}, progress=False, engine="ray")
    rows = _records(tmp_path)
    assert len(rows) == NUM_CLIPS + 1 and len({r["id"] for r in rows}) == len(rows)
    assert {r["status"] for r in rows} >= {"accepted", "error"}  # the corrupt clip is an error row here too
    assert rows == _records(reference)
    _same_files(tmp_path, reference)
    assert summary == json.loads((reference / "report.json").read_text())


def test_a_run_left_unfinished_by_one_engine_is_finished_by_the_other(source, reference, local_ray, tmp_path):
    annotate(source, tmp_path, {"shard_size": SHARD}, progress=False)  # the local runner, all shards ...
    manifest = json.loads((tmp_path / "manifest-r000-of-001.json").read_text())
    for key in ("00001", "00003"):  # ... then two of them lost, as if killed before they were committed
        (tmp_path / manifest["shards"].pop(key)["file"]).unlink()
    manifest["complete"] = False
    (tmp_path / "manifest-r000-of-001.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    annotate(source, tmp_path, {"shard_size": SHARD, "ray": {"workers": 1}}, progress=False, engine="ray")
    assert _records(tmp_path) == _records(reference)
    _same_files(tmp_path, reference)


def test_parquet_files_by_url_are_read_like_local_ones(reference, tmp_path, monkeypatch):
    """``hf://datasets/...`` is a URL like this ``memory://`` one (both through fsspec; no hub here)."""
    import datasets
    import fsspec

    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)  # memory:// never leaves this process
    url = f"memory://{tmp_path.name}/data"  # a fresh name: datasets caches what it read by URL
    with fsspec.filesystem("memory").open(f"{url}/part-0.parquet", "wb") as f:
        _dataset().to_parquet(f)
    annotate(f"{url}/*.parquet", tmp_path, {"shard_size": SHARD}, progress=False)
    assert _records(tmp_path) == _records(reference)
    with pytest.raises(FileNotFoundError, match="no parquet file found"):
        annotate(f"memory://{tmp_path.name}/nowhere/*.parquet", tmp_path / "none", {"shard_size": SHARD}, progress=False)


def test_stage_resources_fit_the_cluster_and_model_experts_get_gpus_when_there_are_some():
    config = AnnotateConfig(experts=["pitch", "silero_vad", {"type": "audio-classification", "model": "/no/such",
                                                             "field": "emotion"}],
                            ray={"workers": 2, "experts": {"emotion_classifier": {"concurrency": 1}}})
    options = RayOptions.from_dict(config.ray)
    stages = plan_stages(config, options, {"CPU": 2.0})
    assert [s["name"] for s in stages] == ["read", "silero_vad", "emotion_classifier", "signal experts",
                                           "synthesis", "write"]
    assert [s["concurrency"] for s in stages] == [2, 2, 1, 2, 2, 2]
    assert sum(s["num_cpus"] * s["concurrency"] for s in stages) <= 2.0  # all placed at once: nothing stalls
    assert all(s["num_gpus"] == 0 for s in stages)
    big = plan_stages(config, options, {"CPU": 64.0, "GPU": 8.0})
    assert {s["name"]: s["num_gpus"] for s in big if s["num_gpus"]} == {"emotion_classifier": 1.0}  # not silero
    assert all(s["num_cpus"] == 1.0 for s in big)
    config.ray["experts"]["emotion_classifier"]["num_gpus"] = 0.25
    assert [s["num_gpus"] for s in plan_stages(config, RayOptions.from_dict(config.ray), {"CPU": 64.0, "GPU": 8.0})
            if s["name"] == "emotion_classifier"] == [0.25]


@pytest.mark.parametrize("ray_config, message", [
    ({"workers": 0}, "ray.workers must be a positive integer"),
    ({"wokers": 2}, "unknown key"),
    ({"experts": {"pitch": {"num_gpus": 1}}}, "not model experts of this run"),  # a signal expert has no actor
    ({"experts": {"silero_vad": {"gpus": 1}}}, "unknown key"),
    ({"synthesis": {"concurrency": -1}}, "positive integer"),
])
def test_bad_ray_options_are_refused_with_the_key_named(ray_config, message):
    config = AnnotateConfig(experts=["pitch", "silero_vad"], ray=ray_config)
    with pytest.raises(ValueError, match=message):
        plan_stages(config, RayOptions.from_dict(config.ray), {"CPU": 2.0})


def test_the_ray_options_do_not_change_the_fingerprint():
    assert AnnotateConfig(ray={"workers": 8}).fingerprint() == AnnotateConfig().fingerprint()


def test_cli_mistakes_are_one_line_errors(source, tmp_path, capsys):
    assert main(["annotate", str(source), "--out", str(tmp_path), "--workers", "2"]) == 2
    assert "--workers go with --engine ray" in capsys.readouterr().err
    assert main(["annotate", str(source), "--out", str(tmp_path), "--engine", "ray", "--workers", "0"]) == 2
    assert "--workers must be a positive integer" in capsys.readouterr().err
    assert main(["annotate", str(tmp_path / "missing"), "--out", str(tmp_path / "o"), "--engine", "ray"]) == 2
    assert "no such dataset directory" in capsys.readouterr().err


@pytest.mark.slow  # two transformers experts built and saved, then one more Ray run (about 20 s)
def test_transformers_experts_in_actor_pools_give_the_local_rows_and_asr_feeds_the_signal_experts(
        emotion_model, ctc_model, local_ray, tmp_path):
    import datasets

    # no transcript column: the ASR actor transcribes, and the speaking-rate expert (a later, signal stage)
    # counts the syllables of its transcript, as in the local runner where both run in one process
    ds = _dataset().remove_columns("transcript")
    config = {"shard_size": SHARD, "min_gender_confidence": 0.0,
              "experts": ["pitch", "voice_activity", "speaking_rate",
                          {"type": "audio-classification", "model": emotion_model, "field": "emotion"},
                          {"type": "automatic-speech-recognition", "model": ctc_model}]}
    annotate(ds, tmp_path / "local", config, progress=False)
    annotate(ds, tmp_path / "ray", {**config, "ray": {"workers": 2, "experts": {"asr": {"batch_size": 2}}}},
             progress=False, engine="ray")
    rows = _records(tmp_path / "ray")
    assert rows == _records(tmp_path / "local")
    measured = [json.loads(r["measurements"]) for r in rows if r["measurements"]]
    assert measured and all(m["asr_transcript"] == "h" and m["emotion_label"] == "angry" for m in measured)
    assert any(m.get("syllables") for m in measured)  # the ASR transcript reached the speaking-rate expert
    assert isinstance(ds, datasets.Dataset)


class _CountingLLM(FakeChatHandler):
    """An OpenAI-compatible endpoint answering a valid record for the quoted transcript, slowly, counting the
    requests in flight at once."""

    lock = threading.Lock()
    in_flight = 0
    most = 0
    served = 0

    def do_POST(self):
        cls = type(self)
        with cls.lock:
            cls.in_flight += 1
            cls.most = max(cls.most, cls.in_flight)
        try:
            transcript = quoted_transcript(self.read_json())
            voice = {"age": "Adult", "gender": None, "emotion": "Neutral", "accent": None, "prosody": "even",
                     "timbre": "warm"}
            record = {"transcription": transcript,
                      "paralinguistics": voice if transcript is not None else {k: None for k in voice},
                      "nonLinguisticEvents": {"description": "A steady tone.", "discreteEvents": [],
                                              "continuousEvents": []}}
            time.sleep(0.1)
            self.send_json(chat_payload(json.dumps(record)))
        finally:
            with cls.lock:
                cls.in_flight -= 1
                cls.served += 1


@pytest.mark.slow  # a local endpoint and two more runs (about 30 s)
def test_llm_requests_in_flight_stay_within_max_concurrency_across_the_synthesis_actors(source, local_ray, tmp_path):
    with serve(_CountingLLM) as endpoint:
        synthesizer = {"type": "llm", "endpoint": endpoint, "model": "fake", "max_concurrency": 2, "timeout_s": 30}
        config = {"shard_size": SHARD, "min_gender_confidence": 0.0, "synthesizer": synthesizer}
        annotate(source, tmp_path / "local", config, progress=False)
        local_most, _CountingLLM.most, _CountingLLM.served = _CountingLLM.most, 0, 0
        annotate(source, tmp_path / "ray", {**config, "ray": {"workers": 2, "synthesis": {"concurrency": 2}}},
                 progress=False, engine="ray")
    rows = _records(tmp_path / "ray")
    assert rows == _records(tmp_path / "local")
    assert sum(r["status"] == "accepted" for r in rows) >= NUM_CLIPS - 3
    assert _CountingLLM.served == NUM_CLIPS  # one request per decodable clip, the corrupt one has none
    print(f"\nLLM requests in flight at most: local {local_most}, ray (2 synthesis actors) {_CountingLLM.most}; "
          f"max_concurrency 2")
    assert 1 <= _CountingLLM.most <= 2


# --- a head and a worker node on 127.0.0.1, killed drivers and workers (slow) -------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ray_bin() -> str:
    return str(Path(sys.executable).with_name("ray"))


@pytest.fixture
def cluster():
    """``ray start`` a head (1 CPU) and a worker node (1 CPU) on 127.0.0.1, each in a process group of its own,
    stopped by killing those groups (``ray stop`` would stop every Ray on the machine)."""
    port = _free_port()
    address = f"127.0.0.1:{port}"
    tmp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths must fit 107 characters
    # Ray 2.60 turns token authentication on for new clusters: head, worker node and drivers share a fresh token
    env = {**ENV, "RAY_TMPDIR": tmp, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16)}
    common = ["--node-ip-address=127.0.0.1", "--num-cpus=1", "--disable-usage-stats", "--block"]
    groups = [subprocess.Popen([_ray_bin(), "start", "--head", f"--port={port}", "--include-dashboard=false",
                                *common], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)]
    try:
        deadline = time.time() + 120
        while _nodes(address, env) < 1 and time.time() < deadline:
            time.sleep(1)
        groups.append(subprocess.Popen([_ray_bin(), "start", f"--address={address}", *common], env=env,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
        while _nodes(address, env) < 2 and time.time() < deadline:
            time.sleep(1)
        assert _nodes(address, env) == 2
        yield address, env, {g.pid for g in groups}
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for group in reversed(groups):
                try:
                    os.killpg(group.pid, sig)
                except ProcessLookupError:
                    pass
            time.sleep(3)
        shutil.rmtree(tmp, ignore_errors=True)


def _nodes(address: str, env: dict) -> int:
    code = f"import ray; ray.init(address={address!r}, log_to_driver=False); print(len([n for n in ray.nodes() if n['Alive']]))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    return int(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 else 0


def _cli(source: Path, out: Path, address: str, env: dict, workers: int = 2,
         shard_size: int = SHARD) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "uas_audio.cli", "annotate", str(source), "--out", str(out),
                             "--shard-size", str(shard_size), "--engine", "ray", "--ray-address", address,
                             "--workers", str(workers), "--no-progress"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _done_shards(out: Path) -> int:
    try:
        return len(json.loads((out / "manifest-r000-of-001.json").read_text())["shards"])
    except (FileNotFoundError, json.JSONDecodeError):
        return 0


def _worker_pids(env: dict) -> list[int]:
    """Ray's stage workers (pipeline actors and task workers) of the cluster this test started: processes titled
    ``ray::Map...`` whose environment carries this cluster's RAY_TMPDIR."""
    mark = f"RAY_TMPDIR={env['RAY_TMPDIR']}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if (proc.name.isdigit() and (proc / "cmdline").read_bytes().startswith(b"ray::Map")
                    and mark in (proc / "environ").read_bytes().split(b"\0")):
                found.append(int(proc.name))
        except OSError:
            continue
    return found


@pytest.fixture(scope="module")
def reference_small_shards(source, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("local-small-shards")
    annotate(source, out, {"shard_size": 2}, progress=False)
    return out


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_on_a_two_node_cluster_killed_drivers_and_workers_lose_and_duplicate_nothing(
        source, reference_small_shards, cluster, tmp_path):
    address, env, _ = cluster
    reference, out = reference_small_shards, tmp_path / "out"
    total = len(list(reference.glob("shard-*.parquet")))  # 7 shards of 2 rows
    figures = []

    def run_until(shards: int, kill_worker: bool = False, delay: float = 0.0) -> subprocess.Popen:
        proc = _cli(source, out, address, env, shard_size=2)
        deadline = time.time() + 300
        killed = []
        while proc.poll() is None and _done_shards(out) < shards and time.time() < deadline:
            if kill_worker and not killed and (pids := _worker_pids(env)):
                os.kill(pids[0], signal.SIGKILL)  # one of Ray's stage workers: an expert actor or a task worker
                killed.append(pids[0])
            time.sleep(0.02)
        time.sleep(delay)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
        figures.append(f"run {len(figures) + 1}: {'a worker killed, ' if killed else ''}rc {proc.returncode}, "
                       f"{_done_shards(out)}/{total} shards committed")
        assert not kill_worker or killed, "no Ray worker process was seen to kill"
        return proc

    # 1. the driver SIGKILLed right after its first committed shard
    assert run_until(1).returncode == -signal.SIGKILL and _done_shards(out) < total
    # 2. rerun: a Ray worker SIGKILLed as soon as one is up, then the driver after one more shard and a random delay
    run_until(_done_shards(out) + 1, kill_worker=True, delay=random.Random(0).uniform(0.0, 0.3))
    # 3. rerun to the end
    proc = _cli(source, out, address, env, shard_size=2)
    log = proc.communicate(timeout=600)[0].decode()
    figures.append(f"run 3: rc {proc.returncode}")
    assert proc.returncode == 0, log
    rows, expected = _records(out), _records(reference)
    ids = [r["id"] for r in rows]
    lost, duplicated = len({r["id"] for r in expected} - set(ids)), len(ids) - len(set(ids))
    figures.append(f"rows {len(rows)} (uninterrupted {len(expected)}), lost {lost}, duplicated {duplicated}, "
                   f"rows equal {rows == expected}")
    print("\nkill test: " + "; ".join(figures))
    assert lost == 0 and duplicated == 0
    assert rows == expected
    _same_files(out, reference)


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("workers", [1, 2])
def test_on_a_two_node_cluster_the_rows_equal_the_local_runners(source, reference, cluster, tmp_path, workers):
    address, env, _ = cluster
    proc = _cli(source, tmp_path, address, env, workers=workers)
    log = proc.communicate(timeout=600)[0].decode()
    assert proc.returncode == 0, log
    assert _records(tmp_path) == _records(reference)
    _same_files(tmp_path, reference)


@pytest.mark.slow
def test_accelerate_launch_without_gpus_says_why_it_started_one_process(source, tmp_path):
    accelerate = str(Path(sys.executable).with_name("accelerate"))
    proc = subprocess.run([accelerate, "launch", "--num_processes", "2", "-m", "uas_audio.cli", "annotate",
                           str(source), "--out", str(tmp_path), "--no-progress"],
                          env={**ENV, "CUDA_VISIBLE_DEVICES": ""}, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "asked for 2 processes but started 1" in proc.stderr and "--multi_gpu" in proc.stderr
    assert not list(tmp_path.glob("shard-*"))
