"""Task builders: UAS datasets → ASR / UAS JSON / caption / TTS / QA training rows, and the seeded mixture.

Also holds ``make_uas_dataset`` / ``make_qa_dataset``, the tiny synthetic data the other training tests use.
"""

import json

import numpy as np
import pytest
from datasets import Audio, Dataset

from uas_audio.audio import encode_wav
from uas_audio.schema import ASR_PROMPT, CAPTION_PROMPT, HOLISTIC_PROMPT, UAS, mcq_prompt, tts_prompt
from uas_audio.trainers import tasks as T

SR = 16_000


def _uas(text, gender="Female", emotion="Neutral", description="A quiet room.", discrete=()):
    voice = text is not None
    return {
        "transcription": text,
        "paralinguistics": {
            "age": "Adult" if voice else None, "gender": gender if voice else None,
            "emotion": emotion if voice else None, "accent": "General American English" if voice else None,
            "prosody": "steady pace" if voice else None, "timbre": "warm" if voice else None,
        },
        "nonLinguisticEvents": {
            "description": description,
            "discreteEvents": [{"label": label, "characteristic": "short"} for label in discrete],
            "continuousEvents": [],
        },
    }


def _clip(seconds: float, freq: float) -> bytes:
    t = np.arange(int(seconds * SR)) / SR
    return encode_wav((0.2 * np.sin(2 * np.pi * freq * t)).astype(np.float32), SR)


def make_uas_dataset(num_rows: int = 4, seconds: float = 0.5) -> Dataset:
    """``num_rows`` short tone clips with UAS records; every fourth clip has no speech."""
    texts = ["hello there", "good morning", "see you soon", None, "thank you", "all right", "not today", None]
    rows = []
    for i in range(num_rows):
        text = texts[i % len(texts)]
        rows.append({
            "id": f"clip{i}",
            "audio": {"bytes": _clip(seconds, 200 + 40 * i), "path": f"clip{i}.wav"},
            "uas": _uas(text, gender="Male" if i % 2 else "Female", discrete=("beep",) if i % 3 == 0 else ()),
            "transcript": text,
            "duration_s": seconds,
        })
    return Dataset.from_list(rows).cast_column("audio", Audio(decode=False))


def make_qa_dataset(uas_ds: Dataset) -> Dataset:
    """One multiple-choice and one yes/no question per clip, in the UAS-QA row layout."""
    rows = []
    for row in uas_ds:
        audio = {"type": "audio", "audio": row["audio"], "text": None}
        gender = row["uas"]["paralinguistics"]["gender"] or "None"
        options = ["Male", "Female", "None"]
        letter = "ABC"[options.index(gender)]
        for kind, question, answer_text, answer, choices in (
            ("mc", mcq_prompt("What is the speaker's gender?", options), f"{letter}. {gender}", letter, options),
            ("yesno", "Is there human speech in this audio?",
             "Yes" if row["transcript"] else "No", "Yes" if row["transcript"] else "No", []),
        ):
            rows.append({
                "id": f"{row['id']}:{kind}", "source_id": row["id"], "kind": kind, "field": "paralinguistics.gender",
                "messages": [
                    {"role": "user", "content": [audio, {"type": "text", "audio": None, "text": question}]},
                    {"role": "assistant", "content": [{"type": "text", "audio": None, "text": answer_text}]},
                ],
                "answer": answer, "choices": choices,
            })
    return Dataset.from_list(rows)


@pytest.fixture(scope="module")
def uas_ds():
    return make_uas_dataset(4)


def _user_text(row):
    return [p["text"] for p in row["messages"][0]["content"] if p["type"] == "text"][0]


def _answer(row):
    return row["messages"][1]["content"][0]["text"]


def test_asr_rows_pair_audio_and_asr_prompt_with_the_transcript_and_skip_non_speech(uas_ds):
    rows = T.asr_rows(uas_ds)
    assert [r["id"] for r in rows] == ["clip0/asr", "clip1/asr", "clip2/asr"]  # clip3 has no speech
    assert rows[0]["messages"][0]["content"][0]["type"] == "audio"
    assert rows[0]["messages"][0]["content"][0]["audio"]["bytes"] == uas_ds[0]["audio"]["bytes"]
    assert _user_text(rows[0]) == ASR_PROMPT
    assert _answer(rows[1]) == "good morning"


def test_uas_rows_answer_with_compact_json_of_the_record(uas_ds):
    rows = T.uas_rows(uas_ds)
    assert len(rows) == 4 and _user_text(rows[3]) == HOLISTIC_PROMPT
    answer = _answer(rows[0])
    assert " " not in answer.split('"transcription"')[0] and '": ' not in answer  # compact
    assert UAS.model_validate(json.loads(answer)).to_dict() == UAS.model_validate(uas_ds[0]["uas"]).to_dict()


def test_caption_is_one_free_text_answer_with_description_and_traits(uas_ds):
    rows = T.caption_rows(uas_ds)
    assert _user_text(rows[0]) == CAPTION_PROMPT
    assert _answer(rows[0]) == ("A quiet room. The speaker is an adult female, sounding neutral, with a General "
                                "American English accent, a warm voice, steady pace delivery.")
    assert _answer(rows[3]) == "A quiet room."  # no voice: description only
    assert "{" not in _answer(rows[0])


def test_tts_rows_are_text_only_with_speech_code_tokens():
    ds = make_uas_dataset(2)
    rows = T.tts_rows(ds, encode=lambda wav: [len(wav) % 7, 3, 0])
    assert [p["type"] for p in rows[0]["messages"][0]["content"]] == ["text"]
    assert _user_text(rows[0]) == tts_prompt("hello there")
    assert _answer(rows[0]) == f"<|speech_bos|><|code_{8000 % 7}|><|code_3|><|code_0|><|speech_eos|>"


def test_qa_rows_pass_through_with_task_name(uas_ds):
    qa = make_qa_dataset(uas_ds)
    rows = T.qa_rows(qa)
    assert rows.column_names == ["id", "task", "messages"] and set(rows["task"]) == {"qa"}
    assert rows[0]["messages"] == qa[0]["messages"]


def test_mixture_follows_ratios_is_seeded_and_keeps_every_row(uas_ds):
    parts = {"asr": T.asr_rows(uas_ds), "uas": T.uas_rows(uas_ds)}
    mixed = T.mixture(parts, {"asr": 0.25, "uas": 0.75}, seed=3)
    again = T.mixture(parts, {"asr": 0.25, "uas": 0.75}, seed=3)
    assert mixed["id"] == again["id"]
    assert set(mixed["id"]) == set(parts["asr"]["id"]) | set(parts["uas"]["id"])  # all_exhausted: nothing dropped
    big = T.mixture({"asr": T.asr_rows(make_uas_dataset(40)), "uas": T.uas_rows(make_uas_dataset(40))},
                    {"asr": 0.2, "uas": 0.8}, seed=0, stopping_strategy="first_exhausted")
    share = big["task"].count("uas") / len(big)
    assert 0.65 < share < 0.95


def test_mixture_refuses_a_task_with_a_ratio_but_no_rows(uas_ds):
    with pytest.raises(ValueError, match=r"\['qa'\] have a ratio but no rows"):
        T.mixture({"asr": T.asr_rows(uas_ds)}, {"asr": 0.5, "qa": 0.5})


def test_audio_column_without_bytes_or_path_is_a_clear_error():
    ds = Dataset.from_list([{"id": "x", "audio": {"bytes": None, "path": None}, "uas": _uas("hi"), "transcript": "hi"}])
    with pytest.raises(ValueError, match="row x: the audio column"):
        T.asr_rows(ds)


def test_prompt_rows_drop_the_answer_turn_and_keep_reward_columns(uas_ds):
    prompts = T.prompt_rows(make_qa_dataset(uas_ds))
    assert "messages" not in prompts.column_names and {"prompt", "answer", "choices"} <= set(prompts.column_names)
    assert [m["role"] for m in prompts[0]["prompt"]] == ["user"]
    assert prompts[0]["answer"] == "B" and prompts[0]["choices"] == ["Male", "Female", "None"]  # clip0: Female


def test_holistic_prompt_rows_carry_the_reference_uas(uas_ds):
    prompts = T.holistic_prompt_rows(uas_ds)
    assert prompts[1]["prompt"][0]["content"][1]["text"] == HOLISTIC_PROMPT
    assert prompts[1]["uas"]["paralinguistics"]["gender"] == "Male" and prompts[1]["transcript"] == "good morning"


def test_training_data_sources_are_sorted_by_columns(uas_ds, tmp_path):
    from uas_audio.trainers.train import build_grpo_dataset, load_training_data
    from uas_audio.trainers.stage_config import load_recipe

    uas_ds.save_to_disk(str(tmp_path / "uas"))
    make_qa_dataset(uas_ds).to_parquet(str(tmp_path / "qa.parquet"))
    found = load_training_data([tmp_path / "uas", tmp_path / "qa.parquet"])
    assert len(found.uas) == 1 and len(found.qa) == 1
    recipe = load_recipe(4, output_dir=str(tmp_path / "out"))
    assert len(build_grpo_dataset(recipe, found)) == 2 * len(uas_ds)
    with pytest.raises(ValueError, match="exactly one of"):
        build_grpo_dataset(load_recipe(4, output_dir="x", mixture={"qa": 0.5, "uas": 0.5}), found)


def test_tts_targets_from_the_speech_tokenizer_are_deterministic_codes_in_range():
    import re

    from uas_audio.trainers.stage_config import load_recipe
    from uas_audio.trainers.train import speech_encoder

    recipe = load_recipe(1, output_dir="unused")
    encoder = speech_encoder(recipe)
    ds = make_uas_dataset(1, seconds=0.4)
    first = _answer(T.tts_rows(ds, encode=encoder.encode_for_processor)[0])
    again = _answer(T.tts_rows(ds, encode=speech_encoder(recipe).encode_for_processor)[0])
    codes = [int(c) for c in re.findall(r"<\|code_(\d+)\|>", first)]
    assert first == again and first.startswith("<|speech_bos|>") and first.endswith("<|speech_eos|>")
    assert len(codes) == -(-(6400 // 160) // 4)  # 25 Hz codes: ceil((samples // 160) / 4)
    assert all(0 <= c < encoder.codebook_size for c in codes)


def test_asr_rows_with_a_speech_tokenizer_give_the_audio_as_code_tokens():
    rows = T.asr_rows(make_uas_dataset(1), encode=lambda wav: [4, 0, 9])
    assert [p["type"] for p in rows[0]["messages"][0]["content"]] == ["text", "text"]
    assert _user_text(rows[0]) == "<|audio_bos|><|code_4|><|code_0|><|code_9|><|audio_eos|>"
    assert _answer(rows[0]) == "hello there"


def test_targeted_rows_answer_only_the_asked_fields(uas_ds):
    import json

    from uas_audio.schema import targeted_prompt
    from uas_audio.trainers.tasks import TARGETED_PATHS, targeted_json, targeted_rows

    rows = targeted_rows(uas_ds, per_record=4, max_fields=2, seed=3)
    assert len(rows) == 4 * len(uas_ds) and set(rows["task"]) == {"targeted"}
    records = {r["id"]: r["uas"] for r in uas_ds}
    for row in rows:
        answer = json.loads(row["messages"][1]["content"][0]["text"])
        paths = [f"{top}.{key}" if isinstance(value, dict) else top
                 for top, value in answer.items() for key in (value if isinstance(value, dict) else [None])]
        assert 1 <= len(paths) <= 2 and set(paths) <= set(TARGETED_PATHS)
        assert _user_text(row) == targeted_prompt(paths)
        assert row["messages"][1]["content"][0]["text"] == targeted_json(records[row["id"].rsplit("/", 1)[0]], paths)
    assert targeted_rows(uas_ds, seed=3)["messages"] == targeted_rows(uas_ds, seed=3)["messages"]
    with pytest.raises(ValueError, match="max_fields"):
        targeted_rows(uas_ds, max_fields=0)


def test_field_rows_ask_one_field_each_and_skip_the_voice_of_clips_without_speech(uas_ds):
    import json

    from uas_audio.schema import targeted_prompt
    from uas_audio.trainers.tasks import PERCEPTION_PATHS, field_rows, targeted_json

    rows = field_rows(uas_ds)
    speech = [r["id"] for r in uas_ds if r["uas"]["transcription"] is not None]
    events = [p for p in PERCEPTION_PATHS if p.startswith("nonLinguisticEvents")]
    assert len(rows) == len(speech) * len(PERCEPTION_PATHS) + (len(uas_ds) - len(speech)) * len(events)
    assert "transcription" not in PERCEPTION_PATHS and set(rows["task"]) == {"fields"}
    records = {r["id"]: r["uas"] for r in uas_ds}
    for row in rows:
        clip, path = row["id"].split("/field-")
        answer = json.loads(_answer(row))
        assert len(answer) == 1 and len(next(iter(answer.values()))) == 1  # one field
        assert _user_text(row) == targeted_prompt([path]) and _answer(row) == targeted_json(records[clip], [path])
        assert clip in speech or path in events
    assert len(T.build_task("fields", uas_ds)) == len(rows)
    assert len(field_rows(uas_ds, paths=["paralinguistics.gender"])) == len(speech)
    with pytest.raises(ValueError, match="paths"):
        field_rows(uas_ds, paths=["paralinguistics.colour"])
