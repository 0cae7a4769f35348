"""The documentation's Python snippets run as written.

Every ```` ```python ```` block of a document runs, in order, in one namespace, in an empty temporary folder
(a document's later blocks use what its earlier ones made). Blocks that cannot run on a test machine (a
server, the Hub, a model download, a placeholder variable) are written ```` ```python-norun ```` instead and
are not run; ``test_every_document_with_python_blocks_is_run`` makes sure no document's runnable blocks are
forgotten.
"""

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)

#: Documents run by the default suite (tiny sizes, seconds).
FAST = ["guide.md", "bring-your-own-model.md"]
#: Chains run by the slow suite: the documents run one after the other in one folder and namespace (the
#: annotation snippet reads the corpus the synthetic-corpus snippet writes, at its documented size of 500 clips).
SLOW = [["synthetic-corpus.md", "annotation.md"]]


def python_blocks(path: Path) -> list[str]:
    """The runnable Python blocks of a Markdown file, in order (``python-norun`` blocks are left out)."""
    return _BLOCK.findall(path.read_text(encoding="utf-8"))


def _run(names: list[str], folder: Path, monkeypatch) -> dict:
    import torch

    monkeypatch.chdir(folder)
    namespace: dict = {"__name__": "__doc_snippets__"}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models; spinning OpenMP threads are slow on the shared test machine
    try:
        for name in names:
            blocks = python_blocks(DOCS / name)
            assert blocks, f"{name} has no runnable python block"
            for index, code in enumerate(blocks, 1):
                exec(compile(code, f"docs/{name} (python block {index})", "exec"), namespace)
    finally:
        torch.set_num_threads(threads)
    return namespace


def test_block_extraction_skips_norun_blocks(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text("text\n```python\nx = 1\n```\n```python-norun\nimport nothing\n```\n```bash\nls\n```\n"
                   "```python\ny = x + 1\n```\n")
    assert python_blocks(doc) == ["x = 1\n", "y = x + 1\n"]


def test_every_document_with_python_blocks_is_run():
    with_blocks = {p.name for p in DOCS.glob("*.md") if python_blocks(p)}
    covered = set(FAST) | {name for chain in SLOW for name in chain}
    assert with_blocks <= covered, f"documents with runnable python blocks not run by this test: " \
                                   f"{sorted(with_blocks - covered)} (add them, or mark blocks python-norun)"


def test_guide_links_the_label_cue_table():
    guide = (DOCS / "guide.md").read_text(encoding="utf-8")
    assert "synthetic-corpus.md#labels-and-the-cues-that-carry-them" in guide
    corpus_doc = (DOCS / "synthetic-corpus.md").read_text(encoding="utf-8")
    assert "\n## Labels and the cues that carry them\n" in corpus_doc
    assert "| field | label | acoustic cue put into the audio |" in corpus_doc


def test_guide_links_point_to_existing_docs():
    guide = (DOCS / "guide.md").read_text(encoding="utf-8")
    targets = set(re.findall(r"\]\(([\w-]+\.md)", guide))
    assert {"synthetic-corpus.md", "annotation.md", "training.md", "evaluation.md", "review.md", "hub.md"} <= targets
    assert all((DOCS / t).is_file() for t in targets)


@pytest.mark.parametrize("name", FAST)
def test_document_snippets_run(name, tmp_path, monkeypatch):
    namespace = _run([name], tmp_path, monkeypatch)
    if name == "guide.md":  # what the guide's snippets claim, checked on what they made
        assert namespace["result"]["valid"] is True
        assert namespace["answer"]["choice"] in ("Child", "Adult", "Elderly")
        assert 0.0 <= namespace["scores"]["perception"] <= 1.0
        assert (tmp_path / "figures" / "perception.png").stat().st_size > 0
        assert (tmp_path / "ckpt" / "stage3" / "config.json").is_file()


@pytest.mark.slow
@pytest.mark.parametrize("chain", SLOW, ids=lambda chain: "+".join(chain))
def test_document_chain_snippets_run(chain, tmp_path, monkeypatch):
    _run(chain, tmp_path, monkeypatch)
