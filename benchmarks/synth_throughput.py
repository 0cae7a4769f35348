"""Real-time factor of synthetic-corpus generation on one core, split by stage, against plain espeak-ng.

Runs ``synthesize_corpus`` end to end (rendering, WAV encoding, dataset + audiofolder writing) pinned to
one CPU with one numeric thread, times its stages, then speaks the same sentences with the same voices
through espeak-ng alone (the ctypes engine, and the ``espeak-ng`` program when installed) as the peer:
the cost of speech without any corpus pipeline around it.

    python benchmarks/synth_throughput.py            # 300 clips
    python benchmarks/synth_throughput.py --quick    # 10 clips, a few seconds
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")

import argparse  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from pathlib import Path  # noqa: E402

TARGET_RTF = 200.0


class _Timers:
    """Wraps module functions so the CPU time they use is summed under a stage name."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    def wrap(self, module, name: str, stage: str) -> None:
        original = getattr(module, name)

        def timed(*args, **kwargs):
            start = time.process_time()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[stage] += time.process_time() - start

        setattr(module, name, timed)


def _pin_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        core = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {core})
        return f"pinned to CPU {core}"
    return "not pinned (no sched_setaffinity)"


def _peer_ctypes(rows) -> tuple[float, float, float]:
    """Seconds of speech, wall seconds and CPU seconds of espeak-ng alone on the corpus's sentences/voices."""
    from uas_audio.synth import EspeakEngine, EspeakVoice

    audio_s = wall = cpu = 0.0
    with EspeakEngine() as engine:
        for row in rows:
            voice = EspeakVoice(row["voice"], rate=row["rate"], pitch=row["pitch"], pitch_range=row["pitch_range"])
            start, start_cpu = time.perf_counter(), time.process_time()
            pcm = engine.synthesize(row["transcript"], voice)
            wall += time.perf_counter() - start
            cpu += time.process_time() - start_cpu
            audio_s += len(pcm) / engine.sampling_rate
    return audio_s, wall, cpu


def _peer_cli(rows, program: str) -> tuple[float, float, float]:
    """The same sentences through the espeak-ng command-line program (one process per sentence, WAV on
    stdout); its CPU time is the children's user + system time."""
    audio_s = wall = 0.0
    before = os.times()
    for row in rows:
        command = [program, "-v", row["voice"], "-s", str(row["rate"]), "-p", str(row["pitch"]), "--stdout",
                   row["transcript"]]
        start = time.perf_counter()
        wav = subprocess.run(command, capture_output=True, check=True).stdout
        wall += time.perf_counter() - start
        audio_s += (len(wav) - 44) / 2 / 22050
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return audio_s, wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="10 clips: a smoke run of a few seconds")
    parser.add_argument("--num-clips", type=int, default=None, help="clips to synthesize (default 300)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    num_clips = args.num_clips or (10 if args.quick else 300)
    pinned = _pin_one_core()

    from uas_audio.synth import clips, corpus, synthesize_corpus  # after the thread settings above

    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # torch is not needed here
        pass

    timers = _Timers()
    timers.wrap(clips, "_speak", "speech synthesis (espeak-ng, resampling, age cues)")
    timers.wrap(clips, "music", "event + music synthesis")
    timers.wrap(clips, "_maybe_bed", "event + music synthesis")
    timers.wrap(clips, "_place_discrete", "event + music synthesis")
    timers.wrap(clips, "median_f0", "F0 measurement (metadata)")
    timers.wrap(corpus, "encode_wav", "WAV encoding")

    out = Path(tempfile.mkdtemp(prefix="synth-bench-"))
    try:
        synthesize_corpus(out, 2, seed=args.seed + 1)  # warm-up: imports, first engine load
        timers.seconds.clear()
        start, start_cpu = time.perf_counter(), time.process_time()
        ds = synthesize_corpus(out, num_clips, seed=args.seed)
        wall, total = time.perf_counter() - start, time.process_time() - start_cpu
    finally:
        shutil.rmtree(out, ignore_errors=True)

    audio_s = float(sum(ds["duration_s"]))
    speech_rows = [row for row in ds.remove_columns(["audio", "uas"]) if row["audio_type"] == "speech"]
    stages = dict(timers.seconds)
    stages["mixing, labels, dataset + audiofolder writing"] = total - sum(stages.values())

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"synthetic corpus: {num_clips} clips, {audio_s:.1f} s of audio, {len(speech_rows)} speech clips; "
          f"{pinned}, 1 numeric thread; machine load average {load:.1f} on {os.cpu_count()} CPUs")
    print("Real-time factors are audio seconds per CPU second of this process (pinned to one core), so")
    print("other load on the machine does not count against them; wall-clock factors are shown beside them.")
    print()
    print(f"{'stage (CPU time)':<52} {'seconds':>8} {'share':>7}")
    for stage, seconds in stages.items():
        print(f"{stage:<52} {seconds:8.2f} {seconds / total:7.1%}")
    print(f"{'corpus total':<52} {total:8.2f} {1:7.1%}")
    print()
    rtf = audio_s / total
    print(f"{'system':<52} {'audio s':>8} {'CPU s':>7} {'x real time':>12} {'wall s':>7} {'x (wall)':>9}")

    def line(name: str, seconds_audio: float, cpu: float, wall_s: float) -> None:
        print(f"{name:<52} {seconds_audio:8.1f} {cpu:7.2f} {seconds_audio / cpu:12.1f} {wall_s:7.2f} "
              f"{seconds_audio / wall_s:9.1f}")

    line("uas-audio synthesize_corpus (all clip types)", audio_s, total, wall)
    if speech_rows:
        peer_audio, peer_wall, peer_cpu = _peer_ctypes(speech_rows)
        line("peer: espeak-ng alone, same sentences (ctypes)", peer_audio, peer_cpu, peer_wall)
        program = shutil.which("espeak-ng")
        if program:
            cli_audio, cli_wall, cli_cpu = _peer_cli(speech_rows, program)
            line("peer: espeak-ng program, same sentences", cli_audio, cli_cpu, cli_wall)
        else:
            print("peer: espeak-ng program not installed (apt-get install espeak-ng to add it)")
    print()
    from uas_audio.evaluation.result_lines import result_line
    print(result_line("synth_rtf", rtf, "x real time", ">=", TARGET_RTF))


if __name__ == "__main__":
    main()
