"""End to end: the tiny UAS-Audio model on a tiny MCQ set built from the synthetic corpus, through
`uas-audio eval`, including resume; and the UAS / ASR benches on the same clips."""

import json

import pytest

import uas_audio
from uas_audio.cli import main
from uas_audio.synth import synthesize_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    ds = synthesize_corpus(root, num_clips=4, seed=3)
    return root, ds


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny-model")
    uas_audio.tiny_model(seed=0).save_pretrained(path)
    uas_audio.tiny_processor().save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def mcq_file(corpus):
    """An MMAU-format test set: "does this clip contain speech?", answered by the corpus ground truth."""
    root, ds = corpus
    records = [{"id": row["id"], "audio_id": f"./{row['audio']['path']}", "question": "Does this audio contain speech?",
                "choices": ["Yes", "No"], "answer": "Yes" if row["transcript"] else "No", "task": row["audio_type"],
                "difficulty": "easy", "category": "Perception", "sub-category": "speech detection"}
               for row in ds]
    path = root / "mcq.json"
    path.write_text(json.dumps(records))
    return path


def lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_mcq_eval_resumes_without_duplicates_and_matches_a_fresh_run(corpus, model_dir, mcq_file, tmp_path):
    root, _ = corpus
    common = ["eval", "--model", str(model_dir), "--bench", "mmau", "--data", str(mcq_file),
              "--audio-root", str(root / "audiofolder"), "--batch-size", "2"]
    assert main(common + ["--out", str(tmp_path / "run"), "--limit", "2"]) == 0
    first = lines(tmp_path / "run/predictions.jsonl")
    assert len(first) == 2
    assert main(common + ["--out", str(tmp_path / "run")]) == 0
    resumed = lines(tmp_path / "run/predictions.jsonl")
    assert resumed[:2] == first and len({r["id"] for r in resumed}) == len(resumed) == 4

    assert main(common + ["--out", str(tmp_path / "fresh")]) == 0
    report = json.loads((tmp_path / "run/report.json").read_text())
    fresh = json.loads((tmp_path / "fresh/report.json").read_text())
    assert report["results"] == fresh["results"]
    assert report["results"]["official"]["overall"]["counted"] == 4
    by_task = report["results"]["official"]["by"]["task"]
    assert sum(g["counted"] for g in by_task.values()) == 4


def test_uas_bench_scores_every_field_of_holistic_output(corpus, model_dir, tmp_path):
    root, _ = corpus
    assert main(["eval", "--model", str(model_dir), "--bench", "uas", "--data", str(root / "dataset"),
                 "--out", str(tmp_path), "--limit", "2", "--max-new-tokens", "72"]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert len(lines(tmp_path / "uas_holistic.jsonl")) == 2
    assert set(report["fields"]) == set(uas_audio.schema.FIELD_PATHS)
    assert all(f["n"] == 2 for f in report["fields"].values())
    assert (tmp_path / "field_accuracy.png").stat().st_size > 0


def test_asr_bench_compares_targeted_and_holistic(corpus, model_dir, tmp_path):
    root, ds = corpus
    speech = [row for row in ds if row["transcript"]]
    assert main(["eval", "--model", str(model_dir), "--bench", "asr", "--data", str(root / "dataset"),
                 "--out", str(tmp_path), "--max-new-tokens", "72"]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["items"] == len(speech)  # clips without speech have no ASR reference
    assert report["metric"] == "wer" and report["targeted"] >= 0 and report["holistic"] >= 0
    assert len(lines(tmp_path / "asr_targeted.jsonl")) == len(lines(tmp_path / "asr_holistic.jsonl")) == len(speech)


def test_a_holistic_budget_below_the_shortest_record_is_refused_before_generation(corpus, model_dir, tmp_path,
                                                                                 capsys):
    root, _ = corpus
    assert main(["eval", "--model", str(model_dir), "--bench", "uas", "--data", str(root / "dataset"),
                 "--out", str(tmp_path), "--limit", "2", "--max-new-tokens", "16"]) == 2
    assert "max_new_tokens=16 cannot hold a complete constrained output" in capsys.readouterr().err


def test_mmsu_eval_draws_perception_vs_reasoning(corpus, model_dir, tmp_path):
    root, ds = corpus
    records = [{"id": row["id"], "audio_path": f"audiofolder/{row['audio']['path']}",
                "question": "Does this audio contain speech?", "choice_a": "yes", "choice_b": "no",
                "choice_c": "only music", "choice_d": "only noise", "answer_gt": "yes" if row["transcript"] else "no",
                "category": "Perception" if i % 2 else "Reasoning", "sub-category": "Paralinguistics",
                "task_name": "speech_detection"}
               for i, row in enumerate(ds)]
    data = tmp_path / "mmsu.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in records))
    assert main(["eval", "--model", str(model_dir), "--bench", "mmsu", "--data", str(data), "--audio-root", str(root),
                 "--out", str(tmp_path / "out"), "--scorer", "strict", "--max-new-tokens", "4"]) == 0
    report = json.loads((tmp_path / "out/report.json").read_text())
    assert report["scorer"] == "strict" and set(report["results"]["strict"]["by"]["split"]) == {"perception",
                                                                                               "reasoning"}
    assert (tmp_path / "out/perception_reasoning.png").read_bytes()[:4] == b"\x89PNG"


def test_tts_bench_transcribes_generated_audio_with_the_model(corpus, model_dir, tmp_path):
    root, ds = corpus
    rows = [{"id": row["id"], "audio_path": str(root / "audiofolder" / row["audio"]["path"]), "text": row["transcript"]}
            for row in ds if row["transcript"]][:2]
    data = tmp_path / "tts.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows))
    assert main(["eval", "--model", str(model_dir), "--bench", "tts", "--data", str(data),
                 "--out", str(tmp_path / "out"), "--max-new-tokens", "8"]) == 0
    report = json.loads((tmp_path / "out/report.json").read_text())
    assert set(report["utterances"]) == {r["id"] for r in rows}
    assert report["wer"] == pytest.approx(100 * sum(report["utterances"].values()) / len(rows))


def test_chat_model_predictor_batches_any_audio_chat_model(corpus, model_dir):
    from uas_audio.evaluation.benchmarks import load_reference_items
    from uas_audio.evaluation.runner import ChatModelPredictor, load_predictor

    root, _ = corpus
    predictor = load_predictor(model_dir, "asr", prefer_pipeline=False, max_new_tokens=6)
    assert isinstance(predictor, ChatModelPredictor)
    items = load_reference_items("uas", root / "dataset")[:3]
    outputs = predictor.predict(items)
    assert len(outputs) == 3 and all(isinstance(o, str) for o in outputs)
    # batched generation with left padding gives each clip the answer it gets alone
    assert predictor.predict(items[1:2]) == outputs[1:2]


@pytest.fixture(scope="module")
def ctc_asr_dir(tmp_path_factory):
    """A random tiny wav2vec2 CTC model with a character vocabulary: any transformers ASR model."""
    from transformers import (Wav2Vec2Config, Wav2Vec2CTCTokenizer, Wav2Vec2FeatureExtractor, Wav2Vec2ForCTC,
                              Wav2Vec2Processor)

    path = tmp_path_factory.mktemp("ctc")
    vocab = {"<pad>": 0, "|": 1, "<unk>": 2, **{c: i + 3 for i, c in enumerate("abcdefghijklmnopqrstuvwxyz'")}}
    (path / "vocab.json").write_text(json.dumps(vocab))
    tokenizer = Wav2Vec2CTCTokenizer(str(path / "vocab.json"), unk_token="<unk>", pad_token="<pad>",
                                     word_delimiter_token="|")
    extractor = Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True,
                                         return_attention_mask=True)
    config = Wav2Vec2Config(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                            intermediate_size=32, conv_dim=(16, 16), conv_stride=(5, 4), conv_kernel=(10, 4),
                            num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=2, pad_token_id=0)
    Wav2Vec2ForCTC(config).save_pretrained(path)
    Wav2Vec2Processor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(path)
    return path


def test_tts_bench_with_any_transformers_asr_model(corpus, ctc_asr_dir, tmp_path):
    root, ds = corpus
    rows = [{"id": row["id"], "audio_path": str(root / "audiofolder" / row["audio"]["path"]), "text": row["transcript"]}
            for row in ds if row["transcript"]]
    data = tmp_path / "tts.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows))
    # batch size 1: a padded batch changes a random wav2vec2's output, and the check below runs clip by clip
    assert main(["eval", "--model", str(ctc_asr_dir), "--bench", "tts", "--data", str(data), "--batch-size", "1",
                 "--out", str(tmp_path / "out"), "--max-new-tokens", "8"]) == 0
    transcripts = lines(tmp_path / "out/tts_transcripts.jsonl")
    assert [t["id"] for t in transcripts] == [r["id"] for r in rows]
    # the transcripts are the ASR pipeline's own output for each clip
    from transformers import pipeline

    from uas_audio.audio import load_audio

    asr = pipeline("automatic-speech-recognition", model=str(ctc_asr_dir))
    expected = [asr({"raw": load_audio(r["audio_path"]), "sampling_rate": 16000})["text"].strip() for r in rows]
    assert [t["prediction"] for t in transcripts] == expected
    report = json.loads((tmp_path / "out/report.json").read_text())
    assert report["wer"] == pytest.approx(100 * sum(report["utterances"].values()) / len(rows))
