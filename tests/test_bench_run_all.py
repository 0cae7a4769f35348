"""`make bench` runner: RESULT lines parsed, targets judged, RESULTS.md written."""

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def _runner():
    spec = importlib.util.spec_from_file_location("run_all", BENCH / "run_all.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_result_lines_are_parsed_and_judged_against_their_targets():
    rows = _runner().parse_results(
        "table\nRESULT a_speed: 12.5 x (target >= 3)\nRESULT b_overhead: 22 % (target <= 15)\n"
        "RESULT c: -2.2 % (target <= 15)\nnot a RESULT line\n")
    assert [(r["name"], r["value"], r["unit"], r["met"]) for r in rows] == [
        ("a_speed", "12.5", "x", True), ("b_overhead", "22", "%", False), ("c", "-2.2", "%", True)]


def test_every_benchmark_script_has_a_quick_test():
    scripts = {p.stem for p in BENCH.glob("*.py")} - {"run_all"}
    tests = " ".join(p.read_text() for p in Path(__file__).parent.glob("test_bench_*.py"))
    missing = [s for s in sorted(scripts) if f"{s}.py" not in tests]
    assert not missing, f"benchmarks without a --quick test: {missing}"


EARLIER = """# Benchmark results

| script | result | measured | target | met |
|---|---|---|---|---|
| old_bench | old_speed | 2.0 x | >= 3 | no |

## old_bench.py

`python benchmarks/old_bench.py` — exit 0, 5 s, run 2026-01-01 00:00 UTC

```
table
RESULT old_speed: 2.0 x (target >= 3)
```

## broken_bench.py

`python benchmarks/broken_bench.py` — exit 1, 1 s, run 2026-01-01 00:00 UTC

```
[stderr]
Traceback
```
"""


def test_runner_writes_results_md_and_keeps_earlier_sections_with_update(tmp_path):
    out = tmp_path / "RESULTS.md"
    out.write_text(EARLIER)
    proc = subprocess.run([sys.executable, str(BENCH / "run_all.py"), "--quick", "--only", "validate_throughput",
                           "--update", "--out", str(out)], capture_output=True, text=True, timeout=600)
    text = out.read_text()
    assert "| validate_throughput | validate_throughput |" in text
    assert "RESULT validate_vs_jsonschema" in text
    assert re.search(r"`python benchmarks/validate_throughput.py --quick` — exit \d+, \d+ s, run [\d-]+ [\d:]+ UTC, "
                     r"load average \d+\.\d\d at its start", text)
    assert "| old_bench | old_speed | 2.0 x | >= 3 | no |" in text and "## old_bench.py" in text
    assert "| broken_bench | (failed) |  |  | no |" in text
    assert proc.returncode in (0, 1)  # 1 only when a target is not met on this machine


def test_earlier_sections_and_their_summary_rows_are_read_back(tmp_path):
    runner = _runner()
    sections = runner._existing_sections(_write(tmp_path / "R.md", EARLIER))
    assert list(sections) == ["old_bench.py", "broken_bench.py"]
    assert runner._summary_rows("old_bench.py", sections["old_bench.py"]) == [
        ("old_bench", "old_speed", "2.0 x", ">= 3", "no")]
    assert runner._existing_sections(tmp_path / "missing.md") == {}


def _write(path, text):
    path.write_text(text)
    return path


def test_a_section_from_the_log_of_a_run_made_apart(tmp_path):
    """--from-log puts a long run's saved output in its section (and its RESULT lines in the summary), keeps the
    other sections and runs no script."""
    out = tmp_path / "RESULTS.md"
    out.write_text(EARLIER)
    log = _write(tmp_path / "ablation.log", "a table\nRESULT uas_from_audio: 13.7 points (target >= 10)\n")
    proc = subprocess.run([sys.executable, str(BENCH / "run_all.py"), "--from-log", f"perception_ablation={log}",
                           "--out", str(out)], capture_output=True, text=True, timeout=120)
    text = out.read_text()
    assert "| perception_ablation | uas_from_audio | 13.7 points | >= 10 | yes |" in text
    assert "output of a run made apart, read from `ablation.log`" in text and "a table" in text
    assert "## old_bench.py" in text and "== " not in proc.stdout  # nothing was run
    bad = subprocess.run([sys.executable, str(BENCH / "run_all.py"), "--from-log", "no_such_bench=x.log",
                          "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "expected NAME=LOG" in bad.stderr
