"""Throughput of the stage-3 UAS validator against the `jsonschema` package on the same records.

Generates a seeded, varied mix of valid and invalid records (about half valid; the rest carry one of
many kinds of defect: out-of-vocabulary categories, missing/extra keys, wrong types, transcript
mismatches, null-speech contradictions, gender/timbre contradictions, repeated labels, too many words
for the duration), then times, in the same run:

- ``validate(record, transcript, duration_s)``: every check (ontology, transcription integrity, logical
  consistency, duration alignment), all reasons collected;
- jsonschema's ``Draft202012Validator`` (compiled once) collecting all errors with ``iter_errors`` against
  ``uas_json_schema()`` — ontology only — and, for reference, its short-circuiting ``is_valid``.

Usage: python benchmarks/validate_throughput.py [--records N] [--seed S] [--quick]
"""

from __future__ import annotations

import argparse
import copy
import random
import time

from jsonschema import Draft202012Validator

from uas_audio.evaluation.result_lines import result_line
from uas_audio.schema import (
    AGES,
    EMOTIONS,
    GENDERS,
    NON_LINGUISTIC_EVENTS,
    ONTOLOGY,
    PARALINGUISTIC_KEYS,
    PARALINGUISTICS,
    TRANSCRIPTION,
    uas_json_schema,
    validate,
)

_WORDS = ("the", "quiet", "river", "runs", "past", "old", "mill", "and", "we", "listen", "to", "morning",
          "birds", "while", "coffee", "cools", "on", "a", "wooden", "table", "near", "window")
_ACCENTS = ("Scottish English", "General American English", "Received Pronunciation", "Indian English",
            "Australian English")
_PROSODY = ("fast, high-pitched, animated", "slow and steady", "measured, falling intonation")
_TIMBRES = ("warm", "breathy", "hoarse", "slightly muffled", "bright and clear")
_EVENTS = ("beep", "click", "knock", "door slam", "chime", "clap", "hiss", "hum", "rumble", "rain", "music")
_DEFECTS = ("oov_emotion", "synonym_emotion", "missing_key", "extra_key", "wrong_type", "transcript_mismatch",
            "speech_fields_without_speech", "gender_timbre", "duplicate_label", "too_many_words",
            "too_many_events", "not_object")


def _valid_record(rng: random.Random) -> tuple[dict, str | None, float]:
    duration = round(rng.uniform(1.0, 12.0), 2)
    labels = rng.sample(_EVENTS, rng.randint(0, 4))
    split = rng.randint(0, len(labels))
    events = {
        "description": "A speaker talks over " + (" and ".join(labels) or "silence") + ".",
        "discreteEvents": [{"label": lab, "characteristic": "short, sharp"} for lab in labels[:split]],
        "continuousEvents": [{"label": lab, "characteristic": "steady, low"} for lab in labels[split:]],
    }
    if rng.random() < 0.2:  # no human voice
        record = {TRANSCRIPTION: None, PARALINGUISTICS: dict.fromkeys(PARALINGUISTIC_KEYS),
                  NON_LINGUISTIC_EVENTS: events}
        return record, None, duration
    text = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(1, int(3 * duration) + 1)))
    para = {"age": rng.choice(AGES), "gender": rng.choice(GENDERS), "emotion": rng.choice(EMOTIONS),
            "accent": rng.choice(_ACCENTS), "prosody": rng.choice(_PROSODY), "timbre": rng.choice(_TIMBRES)}
    return {TRANSCRIPTION: text, PARALINGUISTICS: para, NON_LINGUISTIC_EVENTS: events}, text, duration


def _break(record: dict, transcript: str | None, duration: float, defect: str,
           rng: random.Random) -> tuple[object, str | None, float]:
    record = copy.deepcopy(record)
    para, events = record[PARALINGUISTICS], record[NON_LINGUISTIC_EVENTS]
    if defect == "oov_emotion":
        para["emotion"] = rng.choice(("Boredom", "Contemplative", "Mixed", "neutral-ish"))
    elif defect == "synonym_emotion":
        para["emotion"] = rng.choice(("Excited", "calm", "Frustration", "scared"))
    elif defect == "missing_key":
        section = rng.choice((record, para, events))
        del section[rng.choice(list(section))]
    elif defect == "extra_key":
        rng.choice((record, para, events))["confidence"] = 0.9
    elif defect == "wrong_type":
        target = rng.randrange(3)
        if target == 0:
            record[TRANSCRIPTION] = 42
        elif target == 1:
            para["accent"] = ["Scottish", "English"]
        else:
            events["discreteEvents"] = "a beep"
    elif defect == "transcript_mismatch":
        transcript = (transcript or "") + " indeed"
    elif defect == "speech_fields_without_speech":
        record[TRANSCRIPTION] = None
        para["gender"] = para["gender"] or "Female"
    elif defect == "gender_timbre":
        para["gender"] = rng.choice(GENDERS)
        para["timbre"] = "high-pitched feminine" if para["gender"] == "Male" else "deep masculine baritone"
    elif defect == "duplicate_label":
        events["discreteEvents"] = [{"label": "beep", "characteristic": "short"}] * 2
    elif defect == "too_many_words":
        record[TRANSCRIPTION] = transcript = " ".join(["word"] * int(10 * duration + 10))
    elif defect == "too_many_events":
        events["continuousEvents"] = [{"label": f"hum {i}", "characteristic": "low"}
                                      for i in range(int(3 * duration) + 5)]
    elif defect == "not_object":
        return [record], transcript, duration
    return record, transcript, duration


def make_records(n: int, seed: int) -> list[tuple[object, str | None, float]]:
    """``n`` records (record, ground-truth transcript, duration) — about half valid, the rest one defect each."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        record, transcript, duration = _valid_record(rng)
        if rng.random() < 0.5:
            record, transcript, duration = _break(record, transcript, duration, rng.choice(_DEFECTS), rng)
        out.append((record, transcript, duration))
    return out


def _time(fn) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds of this process (less sensitive to other load on the machine), result."""
    wall, cpu = time.perf_counter(), time.process_time()
    rejected = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, rejected


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="about 2,000 records: runs in seconds")
    args = parser.parse_args(argv)
    n = 2_000 if args.quick else args.records
    records = make_records(n, args.seed)
    checker = Draft202012Validator(uas_json_schema())
    checker.is_valid(records[0][0])  # warm up both sides once
    validate(records[0][0], records[0][1], records[0][2])

    ontology_rejects = 0

    def run_validate() -> int:
        nonlocal ontology_rejects
        rejected = 0
        for record, transcript, duration in records:
            result = validate(record, transcript, duration)
            if not result.valid:
                rejected += 1
                ontology_rejects += any(r.code == ONTOLOGY for r in result.reasons)
        return rejected

    def run_iter_errors() -> int:
        return sum(1 for record, _, _ in records if any(True for _ in checker.iter_errors(record)))

    def run_is_valid() -> int:
        return sum(1 for record, _, _ in records if not checker.is_valid(record))

    rows = [
        ("uas_audio validate (all 4 checks, all reasons)", *_time(run_validate)),
        ("jsonschema Draft202012 iter_errors (ontology only)", *_time(run_iter_errors)),
        ("jsonschema Draft202012 is_valid (first error only)", *_time(run_is_valid)),
    ]
    print(f"{n:,} records (seed {args.seed})")
    print(f"{'method':<52} {'wall s':>8} {'records/s':>11} {'CPU s':>8} {'records/CPU s':>14} {'rejected':>9}")
    for name, wall, cpu, rejected in rows:
        print(f"{name:<52} {wall:>8.3f} {n / wall:>11,.0f} {cpu:>8.3f} {n / cpu:>14,.0f} {rejected:>9,}")
    schema_rejects = rows[1][3]
    print(f"ontology rejections: validate {ontology_rejects:,} vs jsonschema {schema_rejects:,} "
          f"({'agree' if ontology_rejects == schema_rejects else 'DISAGREE'})")
    ours = n / rows[0][1]
    peer = n / rows[1][1]
    print(result_line("validate_throughput", ours, "records/s", ">=", 50000, digits=0))
    print(result_line("validate_vs_jsonschema", ours / peer, "x", ">=", 3))


if __name__ == "__main__":
    main()
