"""The ``uas-audio`` command line: build UAS data, train audio LLMs on it, evaluate, review and share them.

Each sub-command lives in the module that does the work; this file declares the arguments, dispatches, and turns
a user's mistake (a missing file, a bad value) into one line on stderr and exit status 2, never a traceback.
Heavy modules are imported lazily so ``uas-audio --help`` stays fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

DESCRIPTION = ("uas-audio: build Unified Audio Schema (UAS) data from audio, train audio LLMs on it with TRL, "
               "evaluate, review and share them.")


def _build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(prog="uas-audio", description=DESCRIPTION,
                                     epilog="`uas-audio COMMAND --help` lists the options of one command.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    # --- quickstart -------------------------------------------------------------------------------
    p = sub.add_parser("quickstart", help="the main job on the embedded default, offline, on CPU")
    p.add_argument("--out", default="quickstart-report", help="report directory")
    p.add_argument("--fast", action="store_true",
                   help="the smoke run the tests use: tiny sizes, under a minute on 2 idle CPU cores; it checks that "
                        "the loop runs, its accuracies mean nothing")
    p.add_argument("--seed", type=int, default=0, help="seed of the corpus, the splits and training")
    p.set_defaults(func=_quickstart)

    # --- synth ------------------------------------------------------------------------------------
    p = sub.add_parser("synth", help="synthesize a labelled corpus (espeak-ng speech, sound events, music)")
    p.add_argument("--out", required=True, help="output directory (dataset/ and audiofolder/)")
    p.add_argument("--num-clips", type=int, default=500, help="clips to synthesize (speech, music, environment)")
    p.add_argument("--seed", type=int, default=0, help="seed of voices, sentences, events and mixing")
    p.add_argument("--no-audiofolder", action="store_true", help="write only the datasets copy")
    p.set_defaults(func=_synth)

    # --- annotate ---------------------------------------------------------------------------------
    p = sub.add_parser("annotate", help="stages 1-3: experts, synthesis and validation into a UAS dataset")
    p.add_argument("source", help="saved dataset directory, audio folder, parquet file(s) or a parquet URL (hf://...)")
    p.add_argument("--out", required=True, help="output directory (parquet shards, manifest, report)")
    p.add_argument("--config", help="YAML file (experts, synthesizer, batch/shard sizes)")
    llm = p.add_mutually_exclusive_group()
    llm.add_argument("--llm", help="local transformers causal LM (name or path) for stage 2")
    llm.add_argument("--endpoint", help="OpenAI-compatible server URL for stage 2")
    p.add_argument("--model", help="model name served at --endpoint")
    p.add_argument("--api-key-env", help="environment variable holding the endpoint's API key")
    p.add_argument("--num-proc", type=int, help="worker processes per shard")
    p.add_argument("--shard-size", type=int, help="rows per output shard (the unit of resumption)")
    p.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="local: this process (or each process of accelerate launch / torchrun); ray: a Ray Data "
                        "pipeline on a Ray cluster (pip install 'uas-audio[ray]'); same output either way")
    p.add_argument("--ray-address", help="Ray cluster to join (default: RAY_ADDRESS, else a local cluster)")
    p.add_argument("--workers", type=int, help="Ray engine: workers per stage (actors per expert, tasks)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (they show only on a terminal anyway)")
    p.set_defaults(func=_annotate)

    # --- qa -----------------------------------------------------------------------------------------
    p = sub.add_parser("qa", help="UAS-QA (direct, multiple-choice, yes/no) from an annotation output")
    p.add_argument("source", help="annotation output directory (or a saved dataset with id, uas, audio)")
    p.add_argument("--out", required=True, help="output directory (qa.parquet, qa_stats.json)")
    p.add_argument("--kinds", default="direct,mc,yesno", help="comma-separated: direct, mc, yesno")
    p.add_argument("--seed", type=int, default=0, help="seed of question choice and option order")
    qllm = p.add_mutually_exclusive_group()
    qllm.add_argument("--llm", help="local causal LM that rewrites the questions")
    qllm.add_argument("--endpoint", help="OpenAI-compatible server URL that rewrites the questions")
    p.add_argument("--model", help="model name served at --endpoint")
    p.add_argument("--api-key-env", help="environment variable holding the endpoint's API key")
    p.set_defaults(func=_qa)

    # --- train-speech -----------------------------------------------------------------------------
    p = sub.add_parser("train-speech", help="train the speech head: codec (tokenizer + flow decoder) or vocoder")
    p.add_argument("--part", choices=["codec", "vocoder"], required=True,
                   help="codec: speech tokenizer + flow decoder; vocoder: mel to waveform")
    p.add_argument("--vocoder-type", choices=["hifigan", "istft"], default=None,
                   help="vocoder family (default: the preset's; tiny istft, base hifigan)")
    p.add_argument("--adversarial", action=argparse.BooleanOptionalAction, default=None,
                   help="vocoder: train against discriminators (default: yes for hifigan, no for istft)")
    p.add_argument("--data", required=True, help="a folder of audio files or a datasets folder with an 'audio' column")
    p.add_argument("--output-dir", required=True, help="checkpoints and the trained part")
    p.add_argument("--max-steps", type=int, required=True, help="optimizer steps to train")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --output-dir")
    p.add_argument("--preset", choices=["tiny", "base"], default="tiny", help="model sizes")
    p.add_argument("--batch-size", type=int, default=8, help="clips per optimizer step and process")
    p.add_argument("--learning-rate", type=float, default=None, help="peak learning rate (default: the part's own)")
    p.add_argument("--gradient-accumulation-steps", type=int, default=1, help="batches summed per optimizer step")
    p.add_argument("--mixed-precision", choices=["no", "fp16", "bf16"], default="no",
                   help="autocast dtype on GPU (accelerate)")
    p.add_argument("--save-every", type=int, default=500, help="write a checkpoint every N steps")
    p.add_argument("--seed", type=int, default=0, help="seed of initialisation and data order")
    p.set_defaults(func=_train_speech)

    # --- train ------------------------------------------------------------------------------------
    p = sub.add_parser("train", help="train one stage (1-4) of UAS-Audio on TRL (SFT stages 1-3, GRPO stage 4)")
    p.add_argument("--stage", type=int, choices=[1, 2, 3, 4], required=True,
                   help="1 discrete-token alignment (audio codes), 2 audio-LLM adaptation (projector), 3 instruction "
                        "tuning (ASR, TTS, UAS JSON, UAS-QA), 4 GRPO")
    p.add_argument("--config", help="recipe YAML (fields of the stage's config); the packaged recipe is the base")
    p.add_argument("--model", help="saved model directory (default: the embedded tiny model)")
    p.add_argument("--data", nargs="+", required=True,
                   help="annotation outputs (accepted rows), QA outputs, synth outputs or saved datasets")
    p.add_argument("--skip-bad-rows", action="store_true",
                   help="leave out rows whose audio does not decode (listed in OUTPUT_DIR/bad_rows.jsonl) "
                        "instead of stopping before training")
    p.add_argument("--lora", action="store_true", help="LoRA adapters on the LLM projections (stages 3 and 4)")
    p.add_argument("--output-dir", help="checkpoints and the final model (default: the recipe's output_dir)")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint in the output directory")
    p.add_argument("--max-steps", type=int, help="stop after this many optimizer steps")
    p.add_argument("--report-to", choices=["none", "tensorboard", "wandb"], help="metrics sink (console always)")
    p.set_defaults(func=_train)

    # --- eval ---------------------------------------------------------------------------------------
    p = sub.add_parser("eval", help="evaluate a model: MMSU/MMAU/MMAR, ASR WER, Seed-TTS WER, UAS field accuracy")
    p.add_argument("--model", required=True, help="model directory or Hub id (for --bench tts: the ASR model)")
    p.add_argument("--bench", required=True, choices=["mmsu", "mmau", "mmar", "asr", "tts", "uas"],
                   help="multiple-choice benchmark, ASR WER, Seed-TTS WER, or UAS field accuracy")
    p.add_argument("--data", required=True, help="benchmark file (JSON/JSONL) or saved datasets directory")
    p.add_argument("--audio-root", help="directory that relative audio paths resolve against")
    p.add_argument("--scorer", choices=["official", "strict"], default="official", help="headline MCQ scorer")
    p.add_argument("--out", default="eval-out", help="output directory (predictions JSONL, report.json, figures)")
    p.add_argument("--batch-size", type=int, default=8, help="items per generation batch")
    p.add_argument("--language", choices=["en", "zh", "other"], default="en", help="ASR/TTS text normalisation")
    p.add_argument("--limit", type=int, help="evaluate only the first N items")
    p.add_argument("--device", help="torch device for the model (cpu, cuda, ...)")
    p.add_argument("--max-new-tokens", type=int, help="generation budget (default: 32 MCQ, 256 ASR, 768 UAS)")
    p.set_defaults(func=_eval)

    # --- review / review-report -------------------------------------------------------------------
    p = sub.add_parser("review", help="human verification web app: mark each UAS field Correct/Incorrect/Unsure")
    p.add_argument("dataset", help="saved dataset directory or annotation output directory")
    p.add_argument("--db", default="review.sqlite", help="SQLite file shared by all annotators")
    p.add_argument("--annotator", required=True, help="your name, as stored with every vote")
    p.add_argument("--sample", type=int, default=400, help="items to review (stratified by audio type)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sample draw")
    p.add_argument("--host", default="127.0.0.1", help="bind address; non-loopback needs UAS_REVIEW_USER/PASSWORD")
    p.add_argument("--port", type=int, default=7860, help="port of the web app")
    p.add_argument("--share", action="store_true", help="public Gradio link; needs UAS_REVIEW_USER/PASSWORD")
    p.set_defaults(func=_review)

    p = sub.add_parser("review-report", help="per-field accuracy (Wilson 95 %%) and Fleiss' kappa from a review db")
    p.add_argument("--db", required=True, help="the review SQLite file")
    p.add_argument("--out", default="review-report", help="output directory (report.md, report.json, PNG)")
    p.add_argument("--unresolved", choices=["exclude", "incorrect"], default="exclude",
                   help="ties and Unsure majorities: left out of N, or counted as not correct")
    p.set_defaults(func=_review_report)

    # --- push ---------------------------------------------------------------------------------------
    p = sub.add_parser("push", help="publish a model folder or a UAS / UAS-QA dataset on the Hugging Face Hub")
    p.add_argument("dir", help="saved model folder, annotation output, QA output or saved dataset directory")
    p.add_argument("--repo-id", required=True, help="Hub repository, e.g. user/uas-audio-7b")
    p.add_argument("--dataset", action="store_true", help="DIR is a dataset (its kind is detected)")
    p.add_argument("--qa", help="with --dataset: a UAS-QA output to publish as the uas_qa config beside DIR")
    p.add_argument("--private", action="store_true", help="create the repository as private")
    p.add_argument("--stage-only", metavar="OUT", help="write the repository folder to OUT and push nothing")
    p.add_argument("--license", help="card license (default apache-2.0 for models, cc-by-4.0 for datasets)")
    p.add_argument("--eval-report", action="append", default=[], help="uas-audio eval report.json (repeatable)")
    p.add_argument("--recipe", help="training recipe YAML/JSON of the run (one stage or {stages: [...]})")
    p.add_argument("--base-model", action="append", help="Hub id the model was built from (repeatable)")
    p.add_argument("--train-dataset", action="append", help="Hub id of a training dataset (repeatable)")
    p.add_argument("--annotation-config", help="the annotation run's YAML configuration (dataset card)")
    p.add_argument("--review-report", help="the human-verification report JSON (dataset card)")
    p.set_defaults(func=_push)

    # --- merge ---------------------------------------------------------------------------------------
    p = sub.add_parser("merge", help="merge the LoRA adapters of a `train --lora` output into a plain model")
    p.add_argument("dir", help="a `train --lora` output folder (adapter_config.json)")
    p.add_argument("out", help="folder for the merged model and its processor (safetensors)")
    p.set_defaults(func=_merge)

    # --- convert -------------------------------------------------------------------------------------
    p = sub.add_parser("convert", help="convert a saved audio LLM (Qwen2-Audio, Qwen3-ASR) into UAS-Audio + processor")
    p.add_argument("src", help="a saved transformers audio LLM folder (config.json, safetensors, tokenizer)")
    p.add_argument("out", help="folder for the converted model and its processor (safetensors)")
    p.add_argument("--key-map", default=None,
                   help="JSON list of [regex, replacement|null] pairs renaming SRC's safetensors tensors to "
                   "UAS-Audio's (any layout, e.g. a released checkpoint whose code is not in transformers); "
                   "needs --config")
    p.add_argument("--config", default=None, help="with --key-map: the UAS-Audio config.json the tensors load into")
    p.add_argument("--processor", default=None, help="with --key-map: a saved UASAudioProcessor folder to save beside")
    p.set_defaults(func=_convert)

    for name, sub_parser in sub.choices.items():  # `uas-audio CMD --help` opens with the command's line
        sub_parser.description = next(a.help for a in sub._choices_actions if a.dest == name)
    for action in _all_actions(parser):
        if action.required and action.option_strings and "(required)" not in (action.help or ""):
            action.help = f"{action.help} (required)"
    return parser


def _all_actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """Every action of ``parser`` and of its sub-commands."""
    actions = list(parser._actions)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                actions += _all_actions(sub)
    return actions


def _llm_spec(args: argparse.Namespace) -> dict | None:
    if getattr(args, "endpoint", None):
        if not args.model:
            raise SystemExit("--endpoint needs --model (the served model name)")
        spec = {"endpoint": args.endpoint, "model": args.model}
        if args.api_key_env:
            spec["api_key_env"] = args.api_key_env
        return spec
    if getattr(args, "llm", None):
        return {"model": args.llm}
    return None


def _synth(args: argparse.Namespace) -> int:
    from .synth import SynthConfig, synthesize_corpus

    if args.num_clips < 1:
        print("uas-audio synth: error: --num-clips must be >= 1", file=sys.stderr)
        return 2
    ds = synthesize_corpus(args.out, args.num_clips, seed=args.seed,
                           config=SynthConfig(audiofolder=not args.no_audiofolder), progress=True)
    counts = {kind: ds["audio_type"].count(kind) for kind in ("speech", "music", "environment")}
    hours = sum(ds["duration_s"]) / 3600
    print(f"{len(ds)} clips ({', '.join(f'{k} {v}' for k, v in counts.items())}), {hours:.2f} h "
          f"written to {args.out}/dataset")
    return 0


def _annotate(args: argparse.Namespace) -> int:
    from .annotate import AnnotateConfig, annotate
    from .annotate.pipeline import failed_rows

    try:
        config = AnnotateConfig.from_yaml(args.config) if args.config else AnnotateConfig()
        spec = _llm_spec(args)
        if spec:
            config.synthesizer = {"type": "llm", **spec}
        if args.num_proc:
            config.num_proc = args.num_proc
        if args.shard_size:
            config.shard_size = args.shard_size
        if args.engine != "ray" and (args.ray_address or args.workers):
            raise ValueError("--ray-address and --workers go with --engine ray")
        if args.ray_address:
            config.ray = {**config.ray, "address": args.ray_address}
        if args.workers is not None:
            if args.workers < 1:
                raise ValueError(f"--workers must be a positive integer, got {args.workers}")
            config.ray = {**config.ray, "workers": args.workers}
        config.__post_init__()
        if args.engine == "local":
            _check_launcher_processes()
        summary = annotate(args.source, args.out, config, progress=not args.no_progress, engine=args.engine)
    except (FileNotFoundError, ValueError, TypeError, OSError, RuntimeError) as err:
        print(f"uas-audio annotate: error: {err}", file=sys.stderr)
        return 2
    if summary is None:
        return 0
    print(f"{summary['total']} rows: " + ", ".join(f"{k} {v}" for k, v in sorted(summary["status"].items())))
    shown = 20
    failed = failed_rows(args.out, limit=shown + 1)
    if failed:
        print("not accepted:", file=sys.stderr)
        for row in failed[:shown]:
            reasons = "; ".join(f"{r['code']}" + (f" ({r['field']})" if r["field"] else "") + f": {r['message']}"
                                for r in row["reasons"][:3]) or "no reason recorded"
            print(f"  {row['id']}: {row['status']}: {reasons[:300]}", file=sys.stderr)
        not_accepted = summary["total"] - summary["status"].get("accepted", 0)
        if not_accepted > shown:
            print(f"  ... and {not_accepted - shown} more (see {args.out}/report.md)", file=sys.stderr)
    print(f"report: {args.out}/report.md")
    if summary["total"] and not summary["status"].get("accepted"):
        print("uas-audio annotate: error: no row was accepted", file=sys.stderr)
        return 1
    return 0


def _launcher_processes_asked() -> int | None:
    """The ``--num_processes`` of the ``accelerate launch`` that started this process, if it did."""
    if "ACCELERATE_USE_CPU" not in os.environ:  # set by accelerate's launchers only
        return None
    try:
        import psutil

        argv = psutil.Process(os.getppid()).cmdline()
    except Exception:  # noqa: BLE001 - no parent to read: nothing to say
        return None
    if not any("accelerate" in os.path.basename(part) for part in argv[:2]):
        return None
    for i, part in enumerate(argv):
        for flag in ("--num_processes", "--num-processes"):
            if part == flag and i + 1 < len(argv) and argv[i + 1].isdigit():
                return int(argv[i + 1])
            if part.startswith(flag + "=") and part.split("=", 1)[1].isdigit():
                return int(part.split("=", 1)[1])
    return None


def _gpu_count() -> int:
    import torch

    return torch.cuda.device_count()


def _check_launcher_processes() -> None:
    """``accelerate launch --num_processes N`` on a machine with fewer than 2 GPUs starts one process (its plain
    launcher: found GPUs decide multi-process, CPU runs spread only through mpirun); say so instead of running 1 of N."""
    asked = _launcher_processes_asked()
    if asked and asked > 1 and int(os.environ.get("WORLD_SIZE", "1")) == 1:
        raise ValueError(
            f"accelerate launch was asked for {asked} processes but started 1: without --multi_gpu it starts "
            f"several only when it finds several GPUs (here {_gpu_count()}), and on CPUs only through an mpirun "
            f"hostfile. Run `accelerate launch --multi_gpu --num_processes {asked} -m uas_audio.cli annotate ...` "
            f"or `torchrun --nproc_per_node {asked} -m uas_audio.cli annotate ...` (CPU processes join over gloo), "
            f"or use --engine ray")


def _qa(args: argparse.Namespace) -> int:
    from .qa import build_qa

    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    try:
        stats = build_qa(args.source, args.out, kinds=kinds, seed=args.seed, llm=_llm_spec(args))
    except (FileNotFoundError, ValueError) as err:
        print(f"uas-audio qa: error: {err}", file=sys.stderr)
        return 2
    total = sum(stats["questions"].values())
    if total == 0:
        print(f"uas-audio qa: warning: 0 questions: {args.source} has no accepted rows to ask about "
              f"(an empty {args.out}/qa.parquet was written)", file=sys.stderr)
        return 1
    print(f"{total} questions written to {args.out}/qa.parquet")
    return 0


def _train_speech(args: argparse.Namespace) -> int:
    import logging

    from .modeling.speech.training import SpeechTrainingConfig, train_speech

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    try:
        result = train_speech(
            SpeechTrainingConfig(
                part=args.part, data=args.data, output_dir=args.output_dir, max_steps=args.max_steps,
                resume=args.resume, preset=args.preset, batch_size=args.batch_size, learning_rate=args.learning_rate,
                gradient_accumulation_steps=args.gradient_accumulation_steps, mixed_precision=args.mixed_precision,
                save_every=args.save_every, seed=args.seed, vocoder_type=args.vocoder_type, adversarial=args.adversarial,
            )
        )
    except (FileNotFoundError, ValueError) as err:
        print(f"uas-audio train-speech: error: {err}", file=sys.stderr)
        return 2
    print(f"trained {args.part} to step {result['step']}; saved in {args.output_dir}")
    return 0


def _train(args: argparse.Namespace) -> int:
    import logging

    from .trainers.train import train

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    try:
        trainer = train(args.stage, config=args.config, model=args.model, data=args.data, lora=args.lora,
                        output_dir=args.output_dir, resume=args.resume, max_steps=args.max_steps,
                        report_to=args.report_to, skip_bad_rows=args.skip_bad_rows, refuse_finished=True)
    except (FileNotFoundError, ValueError) as err:
        print(f"uas-audio train: error: {err}", file=sys.stderr)
        return 2
    print(f"stage {args.stage}: {trainer.state.global_step} steps; model saved in {trainer.args.output_dir}")
    # a launched run leaves its process group cleanly: torch's collective threads torn down at interpreter exit can
    # abort a rank ("terminate called without an active exception") after a successful run
    trainer.accelerator.end_training()
    return 0


def _eval(args: argparse.Namespace) -> int:
    from .evaluation.eval_command import run_eval

    try:
        run_eval(args.model, args.bench, args.data, audio_root=args.audio_root, scorer=args.scorer, out=args.out,
                 batch_size=args.batch_size, language=args.language, limit=args.limit, device=args.device,
                 max_new_tokens=args.max_new_tokens)
    except (FileNotFoundError, ValueError) as err:
        print(f"uas-audio eval: error: {err}", file=sys.stderr)
        return 2
    print(f"report: {args.out}/report.json")
    return 0


def _review(args: argparse.Namespace) -> int:
    from .review import ReviewDatasetError, ReviewSecurityError, ReviewStoreError, run_review

    if args.sample < 1:
        print("uas-audio review: error: --sample must be >= 1", file=sys.stderr)
        return 2
    try:
        run_review(args.dataset, args.db, args.annotator, sample=args.sample, seed=args.seed, host=args.host,
                   port=args.port, share=args.share)
    except (ReviewSecurityError, ReviewDatasetError, ReviewStoreError, ImportError, ValueError) as err:
        print(f"uas-audio review: error: {err}", file=sys.stderr)
        return 2
    return 0


def _review_report(args: argparse.Namespace) -> int:
    from .review import ReviewStoreError, write_report

    try:
        report = write_report(args.db, args.out, unresolved=args.unresolved)
    except (FileNotFoundError, ValueError, ReviewStoreError) as err:
        print(f"uas-audio review-report: error: {err}", file=sys.stderr)
        return 2
    print(f"{report.items} items, {len(report.annotators)} annotator(s); report: {args.out}/report.md")
    return 0


def _quickstart(args: argparse.Namespace) -> int:
    from .quickstart import run_quickstart

    return run_quickstart(out=args.out, fast=args.fast, seed=args.seed)


def _push(args: argparse.Namespace) -> int:
    from .hub_cards.push_command import run_push

    try:
        return run_push(args)
    except (FileNotFoundError, ValueError) as err:
        print(f"uas-audio push: error: {err}", file=sys.stderr)
        return 2


def _merge(args: argparse.Namespace) -> int:
    from .trainers.lora import is_lora_folder, merge_lora_folder

    if not is_lora_folder(args.dir):
        print(f"uas-audio merge: error: {args.dir}: no adapter_config.json (not a `train --lora` output)",
              file=sys.stderr)
        return 2
    out = merge_lora_folder(args.dir, args.out)  # a file or value error is reported by main() as one line
    print(f"merged model written to {out}")
    return 0


def _convert(args: argparse.Namespace) -> int:
    from .modeling.conversion import convert_audio_llm

    if Path(args.out).exists() and any(Path(args.out).iterdir()):
        print(f"uas-audio convert: error: {args.out}: exists and is not empty; choose a new folder", file=sys.stderr)
        return 2
    if args.key_map or args.config or args.processor:
        return _convert_with_key_map(args)
    model, _ = convert_audio_llm(args.src, args.out)  # a file or value error is reported by main() as one line
    family = model.model.audio_family
    print(f"converted {model.config.get_text_config().model_type} LM + {family} encoder to {args.out}")
    return 0


def _convert_with_key_map(args: argparse.Namespace) -> int:
    from .modeling import UASAudioConfig
    from .modeling.conversion import convert_with_key_map, read_key_map

    if not (args.key_map and args.config):
        print("uas-audio convert: error: --key-map and --config go together (--processor is optional)", file=sys.stderr)
        return 2
    config = UASAudioConfig.from_json_file(args.config)
    processor = None
    if args.processor:
        from .processing import UASAudioProcessor

        processor = UASAudioProcessor.from_pretrained(args.processor)
    model = convert_with_key_map(args.src, args.out, config, read_key_map(args.key_map), processor)
    count = sum(p.numel() for p in model.parameters())
    print(f"loaded {count:,} parameters from {args.src} through {args.key_map} into {args.out}")
    return 0


def _quiet_when_not_a_terminal() -> None:
    """Progress bars belong on a terminal: in a log file they are thousands of carriage-return lines. When stderr
    is not a TTY, turn off tqdm (ours, transformers' Trainer, datasets', huggingface_hub's) through the variables
    each library reads at import; a variable the user set is kept."""
    if sys.stderr.isatty():
        return
    for name in ("TQDM_DISABLE", "HF_DATASETS_DISABLE_PROGRESS_BARS", "HF_HUB_DISABLE_PROGRESS_BARS"):
        os.environ.setdefault(name, "1")


def _user_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean bad input (a path, a value, a file's content), reported as one line (the traceback
    with ``UAS_AUDIO_TRACEBACK=1``). Anything else is a bug in uas-audio and keeps its traceback."""
    errors: list[type[BaseException]] = [OSError, ValueError]
    yaml = sys.modules.get("yaml")
    if yaml is not None:
        errors.append(yaml.YAMLError)
    return tuple(errors)


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    if argv is None:  # the process's own command line: its environment is ours to set (not an in-process caller's)
        _quiet_when_not_a_terminal()
    if os.environ.get("UAS_AUDIO_TRACEBACK"):  # a developer's switch: let every exception through
        return int(args.func(args) or 0)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"uas-audio {args.command}: interrupted", file=sys.stderr)
        return 130
    except _user_errors() as err:
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        message = "; ".join(lines) or type(err).__name__
        mark = getattr(err, "problem_mark", None)
        if type(err).__module__.startswith("yaml") and mark is not None:  # a YAML syntax error, without the carets
            message = f"not valid YAML: {err.problem} at line {mark.line + 1}, column {mark.column + 1}"
        print(f"uas-audio {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
