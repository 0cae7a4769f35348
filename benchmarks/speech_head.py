"""Speech head benchmark: synthesis speed (codes → waveform), and resynthesis quality and intelligibility
(wav → mel → wav, wav → codes → mel → wav).

Speed: real-time factor of ``UASSpeechHead.codes_to_waveform`` (flow decoder with its default sampler — 10 Euler steps
with classifier-free guidance — then the vocoder) on one CPU thread, for the ``tiny`` preset (iSTFT-head vocoder), the
same with the HiFi-GAN vocoder, and the ~100M-parameter ``base`` preset (HiFi-GAN), random weights (speed does not
depend on them).

Quality: the tiny codec (speech tokenizer + flow decoder), the tiny iSTFT vocoder and, as the peer the issue started
from, the tiny HiFi-GAN vocoder are trained for a fixed budget on espeak-ng speech (``uas_audio.synth.espeak``,
8 sentences × 4 voices), then held-out sentences (other sentences; one voice seen in training, one not) and, when the
real-audio set is cached, its two CMU ARCTIC recordings (real speech, speakers slt and awb) are resynthesised.
Scores against the ground-truth log-mel: mel L1 (feature units) and a mel-cepstral distortion (dB; cepstra c1–c24
from the DCT of the natural-log mel power). Intelligibility: word error rate of PocketSphinx (the annotation ASR
expert, ``uas_audio.annotate.experts.pocketsphinx_asr``; its wheel's en-us model) against the sentence text, corpus
WER = (substitutions + deletions + insertions) / reference words, with the original clips' WER as the reference
line. Peers measured in the same run: Griffin-Lim (32 iterations) from the ground-truth mel, and each trained
vocoder on the ground-truth mel (copy synthesis).

TTS from the quickstart's trained model (``--quickstart DIR``; by default the repository's ``quickstart-report/``
when ``make quickstart`` has written it, never in ``--quick`` unless given): its stage-3 UAS model is given each
held-out sentence as a TTS prompt (greedy, at most twice the clip's number of codes) and its codes go through the
quickstart's own decoder (its speech tokenizer's flow decoder, its vocoder); the same decoder's resynthesis of each
clip is the row above it. Both rows stand in the same tables, against the same references and the original clips'
WER, with how many speech spans the model closed itself.

    make quickstart                                  # optional: the trained model for the TTS rows
    python benchmarks/speech_head.py [--quick] [--quickstart DIR]
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import tempfile
import time
from pathlib import Path

import jiwer
import numpy as np
import soundfile as sf
import torch

from uas_audio.audio import load_audio
from uas_audio.modeling.speech import (UASFlowDecoder, UASSpeechHead, UASSpeechHeadConfig, UASSpeechTokenizer,
                                       speech_configs)
from uas_audio.modeling.speech.mel import speech_log_mel
from uas_audio.evaluation.speech_quality import griffin_lim, mel_cepstral_distortion, mel_scores, recognise
from uas_audio.evaluation.tts import seed_tts_normalize
from uas_audio.modeling.speech.training import SpeechTrainingConfig, train_codec, train_vocoder

TRAIN_SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "She sells sea shells by the sea shore.",
    "A journey of a thousand miles begins with a single step.",
    "Please call me back when you get this message.",
    "The weather will be sunny with a light breeze tomorrow.",
    "We need to finish the report before the meeting.",
    "My grandmother bakes bread every Sunday morning.",
    "The train to the city leaves at half past nine.",
]
HELD_OUT_SENTENCES = [
    "Turn left at the next corner and keep going.",
    "Music filled the room as the lights went down.",
    "The children played in the park until it was dark.",
    "Could you bring me a glass of water please.",
    "He found an old photograph under the kitchen table.",
    "The market opens early on Saturday morning.",
]
TRAIN_VOICES = ["en-us", "en-gb-x-rp", "en-gb-scotland", "en-029"]
HELD_OUT_VOICES = ["en-us", "en-us-nyc"]  # one voice seen in training, one not
#: the iSTFT vocoder's training budget in the full run
ISTFT_STEPS, ISTFT_BATCH, ISTFT_SEGMENT_S = 3000, 8, 0.64


# --- speed ----------------------------------------------------------------------------------------------------


def _head(preset: str, vocoder_type: str | None = None) -> UASSpeechHead:
    torch.manual_seed(0)
    configs = speech_configs(preset, vocoder_type=vocoder_type)
    return UASSpeechHead(
        UASSpeechHeadConfig(flow_config=configs["flow"].to_dict(), vocoder_config=configs["vocoder"].to_dict())
    ).eval()


def synthesis_rtf(preset: str, seconds: float, repeats: int, vocoder_type: str | None = None) -> dict:
    """Audio seconds per second of codes → waveform on one thread (best of ``repeats`` after a warm-up), by the
    process's CPU time (one core's work, independent of other load on a shared machine) and by wall clock."""
    head = _head(preset, vocoder_type)
    num_codes = int(seconds * 25)
    codes = torch.randint(0, head.config.codebook_size, (num_codes,), generator=torch.Generator().manual_seed(0))
    head.codes_to_waveform(codes[:5])  # warm-up
    best_mel = best_cpu = best_wall = math.inf
    for _ in range(repeats):
        start = time.process_time()
        head.codes_to_mel(codes[None])
        best_mel = min(best_mel, time.process_time() - start)
        start, wall = time.process_time(), time.perf_counter()
        wav, rate = head.codes_to_waveform(codes)
        best_cpu = min(best_cpu, time.process_time() - start)
        best_wall = min(best_wall, time.perf_counter() - wall)
    audio_seconds = wav.shape[-1] / rate
    params = sum(p.numel() for p in head.parameters())
    name = preset if vocoder_type is None else f"{preset}-{vocoder_type}"
    return {"preset": name, "vocoder": head.config.vocoder_config.vocoder_type, "params_m": params / 1e6, "audio_s": audio_seconds, "flow_rtf": audio_seconds / best_mel,
            "rtf": audio_seconds / best_cpu, "wall_rtf": audio_seconds / best_wall}


# --- quality --------------------------------------------------------------------------------------------------


def _espeak_clips(sentences: list[str], voices: list[str]) -> list[np.ndarray]:
    """16 kHz espeak-ng speech, every sentence in every voice."""
    from uas_audio.synth.espeak import EspeakEngine, EspeakVoice

    clips = []
    with EspeakEngine() as engine:
        for voice in voices:
            for text in sentences:
                pcm = engine.synthesize(text, EspeakVoice(voice))
                clips.append(load_audio((pcm.astype(np.float32) / 32768.0, engine.sampling_rate), 16_000))
    return clips


def _arctic_clips() -> list[tuple[np.ndarray, str, str]]:
    """(16 kHz audio, transcript, id) of the CMU ARCTIC recordings of the cached real-audio set (none if not built:
    ``python benchmarks/datasets/real_audio_devset.py`` builds it)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent / "datasets"))
    try:
        from real_audio_devset import DEFAULT_DIR, load_manifest
    finally:
        sys.path.pop(0)
    if not (DEFAULT_DIR / "manifest.jsonl").is_file():
        return []
    return [(load_audio(DEFAULT_DIR / row["path"], 16_000), row["transcript"], row["id"])
            for row in load_manifest(DEFAULT_DIR) if row["id"].startswith("arctic-")]


def _train_codec_alone(config: SpeechTrainingConfig) -> float:
    """The codec's training in a process of its own (one torch thread): seconds taken. It saves the tokenizer and
    the flow decoder under ``config.output_dir``, where the benchmark loads them from."""
    torch.set_num_threads(1)
    start = time.perf_counter()
    train_codec(config)
    return time.perf_counter() - start


def _train(quick: bool, codec_steps: int, vocoder_steps: int, hifigan_steps: int, workdir: Path,
           jobs: int = 1) -> tuple[dict, dict]:
    """Train the codec, the iSTFT vocoder and the HiFi-GAN peer on the same clips. With ``jobs`` 2 the codec trains
    in a second process while this one trains the vocoders (they share nothing but the clips), so the training's
    wall clock is the longer of the two instead of their sum; the weights are the same either way (each part seeds
    itself)."""
    voices = TRAIN_VOICES[:2] if quick else TRAIN_VOICES
    train = _espeak_clips(TRAIN_SENTENCES[:3] if quick else TRAIN_SENTENCES, voices)
    data = workdir / "train"
    data.mkdir()
    for i, clip in enumerate(train):
        sf.write(data / f"{i:03d}.wav", clip, 16_000, subtype="FLOAT")
    common = dict(data=str(data), preset="tiny", save_every=10**9, log_every=10**9, seed=0)
    timings = {"train_clips": len(train), "codec_steps": codec_steps, "vocoder_steps": vocoder_steps,
               "hifigan_steps": hifigan_steps}
    codec_config = SpeechTrainingConfig(part="codec", output_dir=str(workdir / "codec"), max_steps=codec_steps,
                                        batch_size=4 if quick else 8, warmup_steps=min(100, codec_steps // 5 + 1),
                                        **common)
    began = time.perf_counter()
    pool = codec_job = None
    if jobs > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        codec_job = pool.submit(_train_codec_alone, codec_config)
    else:
        timings["codec_train_s"] = _train_codec_alone(codec_config)
    start = time.perf_counter()
    istft = train_vocoder(SpeechTrainingConfig(part="vocoder", vocoder_type="istft", output_dir=str(workdir / "istft"),
                                               max_steps=vocoder_steps, batch_size=2 if quick else ISTFT_BATCH,
                                               segment_seconds=0.16 if quick else ISTFT_SEGMENT_S, cosine_decay=True,
                                               warmup_steps=min(50, vocoder_steps // 5 + 1), **common))
    timings["vocoder_train_s"] = time.perf_counter() - start
    start = time.perf_counter()
    hifigan = train_vocoder(SpeechTrainingConfig(part="vocoder", vocoder_type="hifigan", output_dir=str(workdir / "hifigan"),
                                                 max_steps=hifigan_steps, batch_size=2 if quick else 4,
                                                 segment_seconds=0.16 if quick else 0.64, learning_rate=1e-3,
                                                 warmup_steps=min(50, hifigan_steps // 5 + 1), **common))
    timings["hifigan_train_s"] = time.perf_counter() - start
    if codec_job is not None:
        timings["codec_train_s"] = codec_job.result()
        pool.shutdown()
    timings["train_wall_s"] = time.perf_counter() - began
    timings["jobs"] = jobs
    tokenizer = UASSpeechTokenizer.from_pretrained(workdir / "codec" / "speech_tokenizer").eval()
    flow_decoder = UASFlowDecoder.from_pretrained(workdir / "codec" / "flow_decoder").eval()
    parts = {"tokenizer": tokenizer, "head": UASSpeechHead.from_parts(flow_decoder, istft["vocoder"]).eval(),
             "hifigan": hifigan["vocoder"].eval()}
    return parts, timings


SYSTEMS = ("original clip", "Griffin-Lim (ground-truth mel)", "iSTFT vocoder (ground-truth mel)",
           "HiFi-GAN vocoder (ground-truth mel)", "flow mel (no vocoder)", "resynthesis wav→codes→mel→wav")


def evaluate(parts: dict, clips: list[tuple[np.ndarray, str]]) -> list[dict]:
    """Per system: mean mel L1 and MCD against each clip's own log-mel, and corpus WER of PocketSphinx."""
    head, tokenizer = parts["head"], parts["tokenizer"]
    scores = {name: [] for name in SYSTEMS}
    hypotheses = {name: [] for name in SYSTEMS if name != "flow mel (no vocoder)"}
    rng = np.random.default_rng(0)
    for clip, _ in clips:
        wav = torch.from_numpy(clip)
        mel = speech_log_mel(wav[None])[0][0]
        codes, _ = tokenizer.encode(wav)
        flow_mel, _ = head.codes_to_mel(codes, generator=torch.Generator().manual_seed(0))
        flow_mel = flow_mel[0, :, : mel.shape[-1]]
        scores["flow mel (no vocoder)"].append((float((flow_mel - mel).abs().mean()), mel_cepstral_distortion(mel, flow_mel)))
        with torch.no_grad():
            waves = {
                "original clip": wav,
                "Griffin-Lim (ground-truth mel)": griffin_lim(mel),
                "iSTFT vocoder (ground-truth mel)": head.vocoder(mel[None])[0],
                "HiFi-GAN vocoder (ground-truth mel)": parts["hifigan"](mel[None])[0],
                "resynthesis wav→codes→mel→wav": head.codes_to_waveform(codes[0], generator=torch.Generator().manual_seed(0))[0],
            }
        for name, out in waves.items():
            if name != "original clip":
                scores[name].append(mel_scores(mel, out))
            hypotheses[name].append(normalise(recognise(out.numpy(), rng)))
    references = [normalise(text) for _, text in clips]
    table = []
    for name in SYSTEMS:
        row = {"system": name, "mel_l1": None, "mcd_db": None, "wer": None, "errors": None, "words": None}
        if scores[name]:
            row["mel_l1"] = float(np.mean([s[0] for s in scores[name]]))
            row["mcd_db"] = float(np.mean([s[1] for s in scores[name]]))
        if name in hypotheses:
            measured = jiwer.process_words(references, hypotheses[name])
            row["errors"] = measured.substitutions + measured.deletions + measured.insertions
            row["words"] = measured.substitutions + measured.deletions + measured.hits
            row["wer"] = 100.0 * row["errors"] / row["words"]
        table.append(row)
    return table


def normalise(text: str) -> str:
    return seed_tts_normalize(text, "en")


def _print_table(title: str, table: list[dict]) -> None:
    print(title)
    print(f"{'system':<38}{'mel L1':>8}{'MCD dB':>8}{'WER %':>8}{'errors / words':>16}")
    for row in table:
        l1 = "—" if row["mel_l1"] is None else f"{row['mel_l1']:.3f}"
        mcd = "—" if row["mcd_db"] is None else f"{row['mcd_db']:.2f}"
        wer = "—" if row["wer"] is None else f"{row['wer']:.1f}"
        counts = "—" if row["words"] is None else f"{row['errors']} / {row['words']}"
        print(f"{row['system']:<38}{l1:>8}{mcd:>8}{wer:>8}{counts:>16}")


#: Where ``make quickstart`` writes its run (the repository root's ``quickstart-report/``).
DEFAULT_QUICKSTART = Path(__file__).resolve().parents[1] / "quickstart-report"


#: The quickstart run's rows in the held-out tables: its decoder's resynthesis and its stage-3 model's TTS.
QUICKSTART_SYSTEMS = {"resynthesis wav → codes → mel → wav": "quickstart decoder: resynthesis",
                      "TTS: the stage-3 model speaks the transcript": "quickstart model: TTS of the text"}


def quickstart_rows(run_dir: Path, clips: list[tuple[np.ndarray, str]], name: str) -> tuple[list[dict], str]:
    """The quickstart run's stage-3 model speaks each clip's text, and its own decoder (speech tokenizer → flow →
    vocoder) resynthesizes the clip (``uas_audio.quickstart.speak_heldout``): table rows (WER only: the TTS is not
    time-aligned with the clip) and a line on the TTS spans."""
    from uas_audio.quickstart import speak_heldout

    start = time.perf_counter()
    result = speak_heldout(run_dir, clips=[{"id": f"{name}-{i}", "wav": wav, "transcript": text}
                                           for i, (wav, text) in enumerate(clips)])
    rows = [{"system": label, "mel_l1": None, "mcd_db": None, "wer": result["systems"][system]["wer"],
             "errors": result["systems"][system]["errors"], "words": result["words"]}
            for system, label in QUICKSTART_SYSTEMS.items()]
    tts = result["tts"]
    note = (f"quickstart run {run_dir} (model {Path(result['model']).name}, its own speech tokenizer, flow decoder "
            f"and vocoder; {time.perf_counter() - start:.0f} s): the model closed {tts['closed']} of "
            f"{result['clips']} speech spans (the rest stopped at twice the clip's codes), {tts['codes']} codes "
            f"written of at most {tts['limit']}")
    return rows, note


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="seconds: short audio, a few training steps")
    parser.add_argument("--codec-steps", type=int, default=None)
    parser.add_argument("--vocoder-steps", type=int, default=None, help="iSTFT vocoder steps")
    parser.add_argument("--hifigan-steps", type=int, default=None, help="HiFi-GAN vocoder steps (the peer)")
    parser.add_argument("--jobs", type=int, choices=(1, 2), default=None,
                        help="2: the codec trains in a second process beside the vocoders (default; 1 with --quick)")
    parser.add_argument("--quickstart", default=None, metavar="DIR",
                        help="a finished quickstart run whose stage-3 model speaks the held-out sentences "
                        f"(default: {DEFAULT_QUICKSTART.name}/ in the repository when it holds one; not with --quick "
                        "unless given)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(1)

    seconds, repeats = (1.0, 2) if args.quick else (5.0, 3)
    speed = [synthesis_rtf("tiny", seconds, repeats), synthesis_rtf("tiny", seconds, repeats, vocoder_type="hifigan"),
             synthesis_rtf("base", 0.2 if args.quick else 2.0, 1)]
    print("\nSynthesis speed, codes → waveform, one CPU thread (10 Euler steps, CFG 0.5, random weights);")
    print("x real time = audio seconds per CPU second (per wall second in the last column)")
    print(f"{'preset':<14}{'vocoder':>9}{'params':>9}{'audio':>8}{'flow only':>12}{'flow+vocoder':>15}{'wall clock':>13}")
    for row in speed:
        print(f"{row['preset']:<14}{row['vocoder']:>9}{row['params_m']:>8.1f}M{row['audio_s']:>7.1f}s{row['flow_rtf']:>11.2f}x"
              f"{row['rtf']:>14.2f}x{row['wall_rtf']:>12.2f}x")

    codec_steps = args.codec_steps or (10 if args.quick else 5000)
    vocoder_steps = args.vocoder_steps or (2 if args.quick else ISTFT_STEPS)
    hifigan_steps = args.hifigan_steps or (1 if args.quick else 60)
    held_out_sentences = HELD_OUT_SENTENCES[:1] if args.quick else HELD_OUT_SENTENCES
    held_out_voices = HELD_OUT_VOICES[:1] if args.quick else HELD_OUT_VOICES
    held_out = list(zip(_espeak_clips(held_out_sentences, held_out_voices), held_out_sentences * len(held_out_voices)))
    arctic = [] if args.quick else _arctic_clips()
    with tempfile.TemporaryDirectory() as tmp:
        parts, budget = _train(args.quick, codec_steps, vocoder_steps, hifigan_steps, Path(tmp),
                               jobs=args.jobs or (1 if args.quick else 2))
    espeak_table = evaluate(parts, held_out)
    quickstart = Path(args.quickstart) if args.quickstart else None if args.quick else DEFAULT_QUICKSTART
    has_quickstart = quickstart is not None and (quickstart / ".steps").is_dir()
    if has_quickstart:
        rows, espeak_note = quickstart_rows(quickstart, held_out, "espeak")
        espeak_table += rows
    print(f"\nTraining on {budget['train_clips']} espeak-ng clips: tiny codec {codec_steps} steps "
          f"({budget['codec_train_s']:.0f} s), iSTFT vocoder {vocoder_steps} steps ({budget['vocoder_train_s']:.0f} s), "
          f"HiFi-GAN vocoder {hifigan_steps} steps ({budget['hifigan_train_s']:.0f} s); wall clock, one thread each; "
          f"all training {budget['train_wall_s']:.0f} s wall clock in {budget['jobs']} process(es) (the codec "
          f"{'beside' if budget['jobs'] > 1 else 'before'} the vocoders)")
    _print_table(f"\nHeld-out espeak-ng speech: {len(held_out_sentences)} sentence(s) not trained on × voices "
                 f"{', '.join(held_out_voices)} = {len(held_out)} clips; WER by PocketSphinx en-us", espeak_table)
    if has_quickstart:
        print(f"The last two rows: the {espeak_note}")
    else:
        print("\nTTS from the quickstart model: not measured ("
              + ("--quick" if quickstart is None else f"no quickstart run in {quickstart}: make quickstart") + ")")
    if arctic:
        arctic_clips = [(a, t) for a, t, _ in arctic]
        arctic_table = evaluate(parts, arctic_clips)
        if has_quickstart:
            rows, arctic_note = quickstart_rows(quickstart, arctic_clips, "arctic")
            arctic_table += rows
        _print_table(f"\nReal speech, CMU ARCTIC ({', '.join(i for _, _, i in arctic)}; real-audio set): "
                     f"{len(arctic)} clips, models trained on espeak-ng only", arctic_table)
        if has_quickstart:
            print(f"The last two rows: the {arctic_note}")
    else:
        print("\nReal speech (CMU ARCTIC): not measured" + (" in --quick" if args.quick else
              " (real-audio set not cached: python benchmarks/datasets/real_audio_devset.py)"))

    by_name = {row["system"]: row for row in espeak_table}
    mcd_gap = by_name["iSTFT vocoder (ground-truth mel)"]["mcd_db"] - by_name["Griffin-Lim (ground-truth mel)"]["mcd_db"]
    wer_gap = by_name["resynthesis wav→codes→mel→wav"]["wer"] - by_name["original clip"]["wer"]
    print()
    from uas_audio.evaluation.result_lines import result_line
    print(result_line("speech_head_rtf_tiny", speed[0]["rtf"], "x real time", ">=", 10))
    # iSTFT vocoder's MCD minus Griffin-Lim's, and resynthesis WER minus the original clips', held-out espeak-ng
    print(result_line("vocoder_mcd_vs_griffin_lim", mcd_gap, "dB", "<", 0, digits=2))
    print(result_line("resynthesis_wer_gap", wer_gap, "points", "<=", 10))
    # the codec, the iSTFT vocoder and the HiFi-GAN peer, wall clock of the whole training (two processes by default)
    print(result_line("speech_training_wall", budget["train_wall_s"] / 60, "minutes", "<=", 10))


if __name__ == "__main__":
    main()
