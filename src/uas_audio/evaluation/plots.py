"""Evaluation figures (matplotlib, Agg backend), each written as PNG and SVG.

- :func:`plot_perception_reasoning`: MMSU perception vs reasoning accuracy per model (the paper's Figure 1b),
  with the paper's Table 1 models available as reference bars.
- :func:`plot_field_accuracy`: per-field accuracy with 95 % Wilson error bars.
- :func:`plot_listening`: held-out accuracy per model with its Wilson interval, beside the same model with the audio
  shuffled across clips, and the random-choice and majority-label lines.
- :func:`plot_confusion`: a confusion matrix of a categorical UAS field.
- :func:`plot_spectrograms`: log-mel spectrograms stacked on one time axis (a clip beside its resynthesis).
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

from .paper_numbers import PAPER_TABLE1
from .uas_fields import FieldAccuracy


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, out: str | Path) -> list[Path]:
    """Write ``out`` with .png and .svg suffixes; return both paths."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for suffix in (".png", ".svg"):
        path = out.with_suffix(suffix)
        fig.savefig(path, dpi=150, bbox_inches="tight")
        paths.append(path)
    _pyplot().close(fig)
    return paths


def plot_perception_reasoning(models: Mapping[str, tuple[float, float]], out: str | Path,
                              paper_reference: bool | Sequence[str] = True,
                              title: str = "MMSU perception vs reasoning") -> list[Path]:
    """Grouped bars of perception and reasoning accuracy (percent) per model. ``paper_reference`` adds the
    paper's Table 1 rows (all, or the named models), hatched, after the measured ones."""
    rows = [(name, p, r, False) for name, (p, r) in models.items()]
    if paper_reference:
        names = list(PAPER_TABLE1) if paper_reference is True else list(paper_reference)
        unknown = [n for n in names if n not in PAPER_TABLE1]
        if unknown:
            raise KeyError(f"no paper Table 1 row for {unknown}; known: {list(PAPER_TABLE1)}")
        rows += [(f"{n} (paper)", PAPER_TABLE1[n]["mmsu_perception"], PAPER_TABLE1[n]["mmsu_reasoning"], True)
                 for n in names]
    if not rows:
        raise ValueError("nothing to plot: no models and no paper reference rows")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(rows)), 4.0))
    width = 0.38
    for i, (name, p, r, ref) in enumerate(rows):
        hatch = "//" if ref else None
        ax.bar(i - width / 2, p, width, color="tab:blue", hatch=hatch, edgecolor="white" if ref else None,
               label="perception" if i == 0 else None)
        ax.bar(i + width / 2, r, width, color="tab:orange", hatch=hatch, edgecolor="white" if ref else None,
               label="reasoning" if i == 0 else None)
        for x, v in ((i - width / 2, p), (i + width / 2, r)):
            ax.text(x, v + 0.8, f"{v:.1f}", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(rows)), [row[0] for row in rows], rotation=30, ha="right")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title)
    ax.legend(loc="upper left")
    return _save(fig, out)


def plot_listening(models: Mapping[str, tuple[float, float, float]], shuffled: Mapping[str, tuple[float, float, float]],
                   baselines: Mapping[str, float], out: str | Path,
                   title: str = "Held-out accuracy: own audio vs shuffled audio") -> list[Path]:
    """Bars of accuracy (percent) per model with its own audio and with shuffled audio, each ``(value, low, high)``
    with a 95 % interval as error bar; ``baselines`` (name → percent) are drawn as horizontal lines."""
    if not models:
        raise ValueError("nothing to plot: no models")
    plt = _pyplot()
    names = list(models)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(names)), 4.0))
    width = 0.38
    for offset, data, color, label, hatch in ((-width / 2, models, "tab:blue", "own audio", None),
                                              (width / 2, shuffled, "tab:gray", "audio shuffled across clips", "//")):
        xs = [i + offset for i, n in enumerate(names) if n in data]
        vals = [data[n] for n in names if n in data]
        if not vals:
            continue
        err = [[v - lo for v, lo, _ in vals], [hi - v for v, _, hi in vals]]
        ax.bar(xs, [v for v, _, _ in vals], width, yerr=err, capsize=3, color=color, hatch=hatch,
               edgecolor="white" if hatch else None, label=label)
        for x, (v, _, hi) in zip(xs, vals):
            ax.text(x, hi + 0.8, f"{v:.1f}", ha="center", va="bottom", fontsize=7)
    for (name, value), style in zip(baselines.items(), (":", "--", "-.")):
        ax.axhline(value, color="black", linestyle=style, linewidth=1, label=f"{name} ({value:.1f})")
    ax.set_xticks(range(len(names)), names, rotation=15, ha="right")
    ax.set_ylabel("accuracy (%), 95 % Wilson interval")
    ax.set_ylim(0, 100)
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize=7)
    return _save(fig, out)


def plot_field_accuracy(fields: Mapping[str, FieldAccuracy] | Sequence[FieldAccuracy], out: str | Path,
                        title: str = "UAS per-field accuracy (95 % Wilson interval)",
                        label_prefix: str = "") -> list[Path]:
    """Horizontal bars of per-field accuracy (percent) with Wilson-interval error bars."""
    items = list(fields.values()) if isinstance(fields, Mapping) else list(fields)
    if not items:
        raise ValueError("nothing to plot: no fields")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.0, 0.45 * len(items) + 1.2))
    acc = [100 * f.accuracy for f in items]
    # Clipped at 0: for an all-correct field the Wilson upper bound lands a rounding error below 1.0 (10/10),
    # and matplotlib rejects a negative error bar.
    low = [max(0.0, 100 * (f.accuracy - f.interval[0])) for f in items]
    high = [max(0.0, 100 * (f.interval[1] - f.accuracy)) for f in items]
    ys = range(len(items))
    ax.barh(list(ys), acc, xerr=[low, high], color="tab:green", ecolor="black", capsize=3)
    ax.set_yticks(list(ys), [f"{label_prefix}{f.field} (n={f.n})" for f in items])
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("accuracy (%)")
    ax.set_title(title)
    return _save(fig, out)


def plot_confusion(labels: Sequence[str], matrix: Sequence[Sequence[int]], out: str | Path,
                   title: str = "confusion", drop_empty: bool = True) -> list[Path]:
    """A confusion matrix (rows: reference, columns: prediction) with counts in the cells; labels whose row
    and column are both empty are left out when ``drop_empty``."""
    keep = [i for i in range(len(labels))
            if not drop_empty or any(matrix[i]) or any(row[i] for row in matrix)]
    if not keep:
        raise ValueError("nothing to plot: the confusion matrix is empty")
    sub = [[matrix[i][j] for j in keep] for i in keep]
    names = [labels[i] for i in keep]
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(1.0 + 0.7 * len(keep), 1.0 + 0.6 * len(keep)))
    im = ax.imshow(sub, cmap="Blues")
    peak = max(max(row) for row in sub) or 1
    for i, row in enumerate(sub):
        for j, v in enumerate(row):
            ax.text(j, i, str(v), ha="center", va="center", color="white" if v > peak / 2 else "black", fontsize=8)
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("reference")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.046)
    return _save(fig, out)


def plot_spectrograms(panels: Mapping[str, "np.ndarray"], out: str | Path, title: str, frame_rate: float = 100.0,
                      value_label: str = "log-mel (feature units)") -> list[Path]:
    """One log-mel spectrogram (n_mels, frames) per panel, stacked with a shared time axis and one colour scale,
    each titled by its key."""
    import numpy as np

    if not panels:
        raise ValueError("nothing to plot: no spectrograms")
    arrays = {name: np.asarray(mel, dtype=np.float32) for name, mel in panels.items()}
    low = min(float(a.min()) for a in arrays.values())
    high = max(float(a.max()) for a in arrays.values())
    plt = _pyplot()
    fig, axes = plt.subplots(len(arrays), 1, figsize=(8.0, 2.4 * len(arrays) + 0.6), sharex=True, squeeze=False)
    for ax, (name, mel) in zip(axes[:, 0], arrays.items()):
        image = ax.imshow(mel, origin="lower", aspect="auto", vmin=low, vmax=high, cmap="magma",
                          extent=(0.0, mel.shape[1] / frame_rate, 0, mel.shape[0]))
        ax.set_title(name, fontsize=9)
        ax.set_ylabel("mel bin")
        fig.colorbar(image, ax=ax, label=value_label)
    axes[-1, 0].set_xlabel("time (s)")
    fig.suptitle(title, fontsize=10)
    return _save(fig, out)
