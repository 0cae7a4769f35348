"""Run every benchmark script in this folder and write ``benchmarks/RESULTS.md``.

Each script prints its own comparison table against a peer measured in the same run and ends with
``RESULT <name>: <value> <unit> (target <op> <value>)`` lines; this runner keeps each script's full output,
collects the RESULT lines into one summary table (met / not met) and records the machine it ran on and, per
script, when it ran and the machine's 1-minute load average at its start (speed figures depend on it).

    python benchmarks/run_all.py            # full runs (tens of minutes on 2 cores)
    python benchmarks/run_all.py --quick    # every script's --quick mode
    python benchmarks/run_all.py --only sft_throughput --update   # rerun one, keep the other sections
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def parse_results(output: str) -> list[dict]:
    """The RESULT lines of one script's output, each with whether its target is met (judged from the printed
    numbers, which ``uas_audio.evaluation.result_lines.result_line`` never rounds across the target)."""
    from uas_audio.evaluation.result_lines import parse_result_line

    return [row for row in map(parse_result_line, output.splitlines()) if row is not None]


def _machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    return (f"{platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}, torch {torch.__version__}, GPU: {gpu}")


def _summary_rows(script_name: str, section: str) -> list[tuple[str, ...]]:
    """The summary rows of one section: its RESULT lines, or a failure row."""
    stem = Path(script_name).stem
    header = section.splitlines()[2] if len(section.splitlines()) > 2 else ""
    failed = re.search(r" — exit (\d+)", header)
    results = parse_results(section)
    if (failed and failed.group(1) != "0") or not results:
        return [(stem, "(failed)" if failed and failed.group(1) != "0" else "(no RESULT line)", "", "", "no")]
    return [(stem, row["name"], f"{row['value']} {row['unit']}", f"{row['op']} {row['target']}",
             "yes" if row["met"] else "no") for row in results]


def _existing_sections(path: Path) -> dict[str, str]:
    """The per-script sections of an earlier RESULTS.md (``## name.py`` headers), by script file name."""
    if not path.is_file():
        return {}
    parts = re.split(r"^## (?=\S+\.py\s*$)", path.read_text(), flags=re.M)[1:]
    return {part.splitlines()[0].strip(): "## " + part.rstrip() + "\n" for part in parts}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="run each script's --quick mode")
    parser.add_argument("--out", default=str(HERE / "RESULTS.md"))
    parser.add_argument("--only", nargs="*", help="script names (without .py) to run")
    parser.add_argument("--update", action="store_true",
                        help="keep the sections of scripts not run now from the existing --out file")
    parser.add_argument("--from-log", nargs="*", default=[], metavar="NAME=LOG",
                        help="take script NAME's section from the saved output LOG of a run made apart (a run too "
                        "long to repeat, e.g. perception_ablation); keeps the other sections and runs only the "
                        "scripts --only names")
    args = parser.parse_args(argv)

    logs = {}
    for item in args.from_log:
        name, sep, log = item.partition("=")
        if not sep or not (HERE / f"{name}.py").is_file() or not Path(log).is_file():
            parser.error(f"--from-log {item!r}: expected NAME=LOG with benchmarks/NAME.py and the LOG file existing")
        logs[f"{name}.py"] = Path(log)
    scripts = sorted(p for p in HERE.glob("*.py") if p.name != Path(__file__).name)
    if args.only or logs:
        scripts = [p for p in scripts if p.stem in set(args.only or ()) and p.name not in logs]
    sections: dict[str, str] = _existing_sections(Path(args.out)) if args.update or logs else {}
    for name, log in logs.items():
        written = _dt.datetime.fromtimestamp(log.stat().st_mtime, _dt.timezone.utc)
        sections[name] = (f"## {name}\n\n`python benchmarks/{name}` — output of a run made apart, read from "
                          f"`{log.name}` (written {written:%Y-%m-%d %H:%M} UTC)\n\n"
                          f"```\n{log.read_text().strip()}\n```\n")
    for script in scripts:
        command = [sys.executable, str(script)] + (["--quick"] if args.quick else [])
        load = os.getloadavg()[0]  # other work on the machine: the speed figures of a loaded run are not the code's
        print(f"== {script.name} (load average {load:.2f}) ==", flush=True)
        start = time.perf_counter()
        proc = subprocess.run(command, capture_output=True, text=True, cwd=HERE.parent)
        seconds = time.perf_counter() - start
        output = proc.stdout + (f"\n[stderr]\n{proc.stderr[-3000:]}" if proc.returncode else "")
        print(proc.stdout[-4000:], flush=True)
        sections[script.name] = (
            f"## {script.name}\n\n`{' '.join(['python', 'benchmarks/' + script.name] + command[2:])}`"
            f" — exit {proc.returncode}, {seconds:.0f} s, run {_dt.datetime.now(_dt.timezone.utc):%Y-%m-%d %H:%M} "
            f"UTC, load average {load:.2f} at its start\n\n```\n{output.strip()}\n```\n")

    summary = [row for name in sorted(sections) for row in _summary_rows(name, sections[name])]
    lines = ["# Benchmark results", "",
             f"Written {_dt.datetime.now(_dt.timezone.utc):%Y-%m-%d %H:%M UTC}"
             f"{' (--quick)' if args.quick else ''} on: {_machine()}; each section says when it ran.", "",
             "| script | result | measured | target | met |", "|---|---|---|---|---|"]
    lines += [f"| {' | '.join(row)} |" for row in summary]
    lines += ["", *(sections[name] for name in sorted(sections))]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")
    return 0 if all(row[-1] == "yes" for row in summary) else 1


if __name__ == "__main__":
    sys.exit(main())
