"""pipeline("audio-to-uas") on the random tiny model: constrained holistic output, targeted and choice modes,
batching, long audio, bad inputs in a dataset, and loading from a saved folder."""

import json

import numpy as np
import pytest
import torch
from transformers import pipeline
from transformers.pipelines.pt_utils import KeyDataset

import uas_audio
from uas_audio.audio import AudioDecodeError, encode_wav
from uas_audio.pipelines.audio_to_uas import AudioToUASPipeline
from uas_audio.pipelines.constrained import BudgetTooSmallError
from uas_audio.pipelines.grammar import GrammarLimits
from uas_audio.pipelines.merge import drop_repeated_labels, merge_records
from uas_audio.schema import ONTOLOGY, UAS

SR = 16_000
# Short strings and lists keep a random model's (always maximal) outputs near 100 tokens.
SMALL = GrammarLimits(transcription=10, accent=4, prosody=4, timbre=4, description=10, label=4,
                      characteristic=4, max_events=1)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _pipe(seed=0):
    return pipeline("audio-to-uas", model=uas_audio.tiny_model(seed=seed), processor=uas_audio.tiny_processor(),
                    device="cpu")


@pytest.fixture(scope="module")
def pipe():
    return _pipe()


def _clips(n, seed=0, min_s=0.3, max_s=1.2):
    rng = np.random.default_rng(seed)
    clips = []
    for _ in range(n):
        length = int(rng.uniform(min_s, max_s) * SR)
        t = np.arange(length) / SR
        tone = 0.3 * np.sin(2 * np.pi * rng.uniform(100, 800) * t)
        clips.append(((tone + 0.05 * rng.standard_normal(length)).astype(np.float32), SR))
    return clips


def _schema_valid(result):
    assert "error" not in result, result
    assert result["uas"] == drop_repeated_labels(json.loads(result["text"]))
    UAS.model_validate(result["uas"])
    assert ONTOLOGY not in {r["code"] for r in result["reasons"]}, result["reasons"]


def test_importing_the_package_registers_the_task(pipe):
    assert isinstance(pipe, AudioToUASPipeline)


def test_the_task_loads_model_and_processor_from_a_saved_folder(pipe, tmp_path):
    pipe.model.save_pretrained(tmp_path)
    pipe.processor.save_pretrained(tmp_path)
    loaded = pipeline("audio-to-uas", model=str(tmp_path), device="cpu")
    assert type(loaded.processor) is type(pipe.processor)
    clip = _clips(1, seed=21)[0]
    assert loaded(clip, limits=SMALL)["text"] == pipe(clip, limits=SMALL)["text"]


@pytest.mark.parametrize("model_seed, do_sample, gen_seed", [
    (0, False, 0), (1, True, 1), pytest.param(2, True, 2, marks=pytest.mark.slow), pytest.param(3, False, 3, marks=pytest.mark.slow)])
def test_fifty_random_clips_give_schema_valid_uas(model_seed, do_sample, gen_seed):
    pipe = _pipe(model_seed)
    torch.manual_seed(gen_seed)
    results = pipe(_clips(50, seed=gen_seed), batch_size=10, limits=SMALL, do_sample=do_sample)
    assert len(results) == 50
    for result in results:
        _schema_valid(result)


def test_a_path_bytes_and_datasets_dict_give_the_same_output(pipe, tmp_path):
    array, _ = _clips(1, seed=3)[0]
    data = encode_wav(array, SR, subtype="FLOAT")
    path = tmp_path / "clip.wav"
    path.write_bytes(data)
    outputs = [pipe(x, limits=SMALL)["text"] for x in
               (str(path), data, {"bytes": data, "path": "clip.wav"}, {"array": array, "sampling_rate": SR})]
    assert len(set(outputs)) == 1


def test_targeted_fields_return_exactly_those_fields(pipe):
    result = pipe(_clips(1)[0], fields=["paralinguistics.gender", "nonLinguisticEvents.description"],
                  limits=SMALL, do_sample=True)
    assert result["uas"].keys() == {"paralinguistics", "nonLinguisticEvents"}
    assert result["uas"]["paralinguistics"].keys() == {"gender"}
    assert result["uas"]["nonLinguisticEvents"].keys() == {"description"}
    assert result["valid"] and result["reasons"] == []


def test_choices_constrain_the_answer_to_an_option_letter(pipe):
    options = ["Child", "Adult", "Elderly"]
    for clip in _clips(4, seed=5):
        result = pipe(clip, question="What is the speaker's age group?", choices=options, do_sample=True)
        assert result["answer"] in {"A", "B", "C"}
        assert result["choice"] == options["ABC".index(result["answer"])]
        assert result["text"].strip() == result["answer"]


def test_batched_equals_unbatched_under_greedy_decoding(pipe):
    clips = _clips(5, seed=7, min_s=0.2, max_s=2.0)  # different lengths: padding in tokens and features
    one_by_one = [r["text"] for r in pipe(clips, batch_size=1, limits=SMALL)]
    batched = [r["text"] for r in pipe(clips, batch_size=4, limits=SMALL)]
    assert batched == one_by_one


def test_a_70_s_clip_is_windowed_and_merged(pipe):
    rng = np.random.default_rng(11)
    clip = (0.1 * rng.standard_normal(70 * SR)).astype(np.float32)
    result = pipe((clip, SR), limits=SMALL, do_sample=True, batch_size=3)
    assert [(w["start_s"], w["end_s"]) for w in result["windows"]] == [(0.0, 30.0), (25.0, 55.0), (50.0, 70.0)]
    per_window = [json.loads(w["text"]) for w in result["windows"]]
    assert result["uas"] == merge_records(per_window, [30.0, 30.0, 20.0])
    UAS.model_validate(result["uas"])


def test_a_dataset_with_one_corrupt_row_yields_one_error_row_and_the_rest():
    datasets = pytest.importorskip("datasets")
    rows = [{"id": f"clip-{i}", "audio": {"bytes": encode_wav(a, SR), "path": f"clip-{i}.wav"}}
            for i, (a, _) in enumerate(_clips(4, seed=13))]
    rows[2]["audio"] = {"bytes": b"not audio at all", "path": "clip-2.wav"}
    ds = datasets.Dataset.from_list(rows).cast_column("audio", datasets.Audio(decode=False))
    pipe = _pipe()
    results = list(pipe(ds, batch_size=2, limits=SMALL))
    assert [r["id"] for r in results] == ["clip-0", "clip-1", "clip-2", "clip-3"]
    errors = [r for r in results if "error" in r]
    assert len(errors) == 1 and errors[0]["id"] == "clip-2"
    assert "clip-2.wav" in errors[0]["error"] and "cannot decode audio" in errors[0]["error"]
    for result in results[:2] + results[3:]:
        _schema_valid(result)


def test_key_dataset_and_generator_inputs_stream_results(pipe):
    datasets = pytest.importorskip("datasets")
    rows = [{"audio": {"bytes": encode_wav(a, SR), "path": None}} for a, _ in _clips(2, seed=17)]
    ds = datasets.Dataset.from_list(rows)
    streamed = list(pipe(KeyDataset(ds, "audio"), limits=SMALL))
    generated = list(pipe((r["audio"] for r in rows), limits=SMALL))
    assert [r["text"] for r in streamed] == [r["text"] for r in generated]
    assert len(streamed) == 2


def test_an_unreadable_single_input_raises_naming_it(pipe, tmp_path):
    missing = tmp_path / "missing.wav"
    with pytest.raises(AudioDecodeError, match="missing.wav"):
        pipe(str(missing))


def test_generation_parameters_pass_through(pipe):
    clip = _clips(1)[0]
    free = pipe(clip, constrained=False, max_new_tokens=4)
    via_kwargs = pipe(clip, constrained=False, generate_kwargs={"max_new_tokens": 4})
    assert free["text"] == via_kwargs["text"]
    assert len(pipe.tokenizer(free["text"], add_special_tokens=False).input_ids) <= 5


def test_unconstrained_output_is_returned_with_its_validation(pipe):
    result = pipe(_clips(1)[0], constrained=False, max_new_tokens=6)
    assert result["uas"] is None
    assert result["valid"] is False
    assert result["reasons"][0]["code"] == ONTOLOGY


def test_a_budget_below_the_shortest_record_is_refused_before_generating(pipe):
    with pytest.raises(BudgetTooSmallError, match=r"max_new_tokens=5 .* pass max_new_tokens >= \d+"):
        pipe(_clips(1)[0], limits=SMALL, max_new_tokens=5)


def test_records_close_within_the_budget_and_pass_the_duration_checks(pipe):
    # Default limits: a random greedy model fills strings to their limits, so only the budget and the clip's
    # duration bound the record (tests/test_constrained_fuzz.py covers samplers, tokenizers and budget bands).
    clips = _clips(3, seed=5, min_s=0.5, max_s=2.0)
    for budget in (70, 400):
        for result in pipe(clips, batch_size=3, max_new_tokens=budget):
            assert result["uas"] is not None and result["valid"], (budget, result["text"], result["reasons"])


def test_transcribe_and_free_question_modes_return_text(pipe):
    clip = _clips(1)[0]
    transcribed = pipe(clip, task="transcribe", max_new_tokens=6)
    assert transcribed["transcription"] == transcribed["text"].strip()
    answered = pipe(clip, question="What do you hear?", max_new_tokens=6)
    assert answered["answer"] == answered["text"].strip()


def test_bad_arguments_are_refused(pipe):
    with pytest.raises(ValueError, match="unknown UAS field"):
        pipe(_clips(1)[0], fields=["paralinguistics.mood"])
    with pytest.raises(ValueError, match="choices= needs the question"):
        pipe(_clips(1)[0], choices=["a", "b"])
    with pytest.raises(TypeError, match="unexpected argument"):
        pipe(_clips(1)[0], colour="red")
    with pytest.raises(TypeError, match="needs its rate"):
        pipe(np.zeros(SR, dtype=np.float32))
