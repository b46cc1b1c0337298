"""Report figures: training curves and the pseudo-gloss localization map (the paper's Figure 4;
its scores are `sign2gpt.evaluation.localization`).

Figures are drawn on a `matplotlib.figure.Figure` with the Agg canvas (no pyplot, so no global
backend state and nothing opens a window) and written atomically as PNG.
"""

from __future__ import annotations

import csv
import logging
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator

from sign2gpt.core.errors import DataError
from sign2gpt.core.io import atomic_path
from sign2gpt.evaluation.localization import Segment, check_map, match_segments, max_normalise

log = logging.getLogger(__name__)



def _save_png(fig: Figure, out_png: str | os.PathLike, dpi: int = 120) -> Path:
    FigureCanvasAgg(fig)
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    log.info("wrote %s", out_png)
    return Path(out_png)


# ----------------------------------------------------------------------------- training curves

def read_curves(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The numeric columns of a per-epoch metrics CSV (empty cells become NaN)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(str(path), "metrics CSV not found")
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise DataError(str(path), "metrics CSV has no rows")
    columns: dict[str, np.ndarray] = {}
    for name in rows[0]:
        values = []
        for row in rows:
            cell = (row.get(name) or "").strip()
            try:
                values.append(float(cell) if cell else math.nan)
            except ValueError:
                break  # a text column (e.g. a checkpoint name): not plotted
        else:
            if not all(math.isnan(v) for v in values):
                columns[name] = np.asarray(values, dtype=np.float64)
    return columns


QUANTITIES = {  # column -> what its panel shows, in panel order; other numeric columns follow by name
    "train_loss": "train loss",
    "dev_loss": "dev loss",
    "dev_macro_f1": "dev macro-F1",
    "dev_micro_f1": "dev micro-F1",
    "dev_accuracy": "dev accuracy",
    "dev_beam_bleu4": "dev BLEU-4, beam search",
    "dev_beam_rouge_l": "dev ROUGE-L, beam search",
    "dev_tf_bleu4": "dev BLEU-4, teacher-forced",
    "dev_tf_rouge_l": "dev ROUGE-L, teacher-forced",
    "gate_mean": "mean gate value",
    "lr": "learning rate",
    "seconds": "seconds per epoch",
    "frames_per_s": "training frames per second",
}
# the x axis; the selection score (macro-F1 with a tie-break); videos/s (frames/s says it, and TensorBoard has it)
HIDDEN = frozenset({"epoch", "dev_selection", "videos_per_s"})
LINESTYLES = ("-", "--", ":", "-.")


def training_curves_figure(
    runs: Mapping[tuple[str, str], str | os.PathLike], *, title: str | None = None, columns: int = 3
) -> Figure:
    """One panel per quantity (y axis labelled with it), one line per run: colour = series (the
    variant), line style = seed. runs: {(series, seed): per-epoch metrics CSV}. The x axis is the
    ``epoch`` column, or the row number when there is none; a dev metric computed only every few
    epochs is drawn at the epochs it has."""
    if not runs:
        raise DataError("training curves", "no metrics CSV given")
    curves = {key: read_curves(path) for key, path in runs.items()}
    names = {c for cols in curves.values() for c in cols} - HIDDEN
    if not names:
        raise DataError(", ".join(map(str, runs.values())), "no numeric column to plot")
    order = [c for c in QUANTITIES if c in names] + sorted(names - set(QUANTITIES))
    series = list(dict.fromkeys(series for series, _ in runs))
    seeds = list(dict.fromkeys(seed for _, seed in runs))
    colours = {name: f"C{i % 10}" for i, name in enumerate(series)}
    styles = {seed: LINESTYLES[i % len(LINESTYLES)] for i, seed in enumerate(seeds)}

    ncols = min(columns, len(order))
    nrows = math.ceil(len(order) / ncols)
    fig = Figure(figsize=(4.2 * ncols, 3.0 * nrows + 0.6), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, column in zip(axes, order):
        label = QUANTITIES.get(column, column)
        for (name, seed), cols in curves.items():
            y = cols.get(column)
            if y is None:
                continue
            x = cols.get("epoch", np.arange(1, len(y) + 1, dtype=np.float64))
            ok = ~np.isnan(y)
            ax.plot(x[ok], y[ok], color=colours[name], linestyle=styles[seed], marker="o" if ok.sum() < 30 else None,
                    markersize=3, label=f"{name}, seed {seed}")
        ax.set_title(label)
        ax.set_ylabel(label)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 4))
        ax.grid(alpha=0.3)
    for ax in axes[len(order):]:
        ax.set_visible(False)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 4), fontsize="small")
    if title:
        fig.suptitle(title)
    return fig


def plot_training_curves(
    runs: Mapping[tuple[str, str], str | os.PathLike],
    out_png: str | os.PathLike,
    *,
    title: str | None = None,
) -> Path:
    """`training_curves_figure` written as a PNG."""
    return _save_png(training_curves_figure(runs, title=title), out_png)


def plot_localization(
    E: np.ndarray,
    labels: Sequence[str],
    out_png: str | os.PathLike,
    *,
    frame_scale: float,
    true_segments: Sequence[Segment] | None = None,
    title: str | None = None,
    gloss_to_pseudo: Mapping[str, str] | None = None,
    normalise: bool = True,
) -> Path:
    """Figure 4: pseudo-glosses (rows) x time steps (columns) heat map of E for one video.

    With `true_segments`, a strip above the map shows each true gloss over its span (frames
    divided by `frame_scale` to land on the time-step axis), and the cell range of a gloss that
    matches a row's pseudo-gloss is outlined on that row. `normalise` max-normalises each row,
    the quantity `localization_scores` thresholds.
    """
    if not frame_scale > 0:
        raise ValueError(f"frame_scale must be positive, got {frame_scale}")
    E = check_map(E, labels)
    shown = max_normalise(E) if normalise else E
    T, K = E.shape
    segments = list(true_segments or [])

    fig = Figure(figsize=(max(6.0, 0.18 * T + 2.5), 1.2 + 0.32 * K + (0.5 if segments else 0)),
                 layout="constrained")
    if segments:
        strip, ax = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [1, max(K, 1)]})
    else:
        strip, ax = None, fig.subplots(1, 1)
    image = ax.imshow(shown.T, aspect="auto", cmap="viridis", interpolation="nearest",
                      extent=(0, T, K, 0), vmin=0.0, vmax=1.0 if normalise else None)
    ax.set_yticks(np.arange(K) + 0.5, labels=list(labels))
    ax.set_xlabel(f"time step (1 step = {frame_scale:g} source frames)")
    ax.set_ylabel("pseudo-gloss")
    fig.colorbar(image, ax=[a for a in (strip, ax) if a is not None], label="E / max over time" if normalise else "E")

    if strip is not None:
        matched, _ = match_segments(labels, segments, gloss_to_pseudo)
        for i, (gloss, start, end) in enumerate(segments):
            x0, x1 = start / frame_scale, end / frame_scale
            strip.axvspan(x0, x1, color="0.75" if i % 2 else "0.9")
            strip.text((x0 + x1) / 2, 0.5, gloss, ha="center", va="center", fontsize=7, rotation=0,
                       clip_on=True)
        for k, spans in matched.items():
            for start, end in spans:
                x0, x1 = start / frame_scale, end / frame_scale
                ax.add_patch(Rectangle((x0, k), x1 - x0, 1, fill=False, edgecolor="red", linewidth=1.5))
        strip.set_yticks([])
        strip.set_ylabel("gloss", rotation=0, ha="right", va="center")
        strip.set_xlim(0, T)
    if title:
        fig.suptitle(title)
    return _save_png(fig, out_png)


# ----------------------------------------------------------------------------- per-signer scores


def plot_signer_scores(table: Mapping, out_png: str | os.PathLike, *, title: str) -> Path:
    """BLEU-4 and ROUGE-L per signer (`sign2gpt.report.signers.signer_table`): a group of bars per
    signer (the seen / unseen groups last, apart), a bar per variant, and its 95% bootstrap
    interval (one seed) or ± the standard deviation over seeds."""
    groups, variants = list(table["splits"]), table["variants"]
    fig = Figure(figsize=(max(6.0, 0.9 * len(groups) * max(1, len(variants)) / 2 + 2), 6.4))
    axes = fig.subplots(2, 1, sharex=True)
    width = 0.8 / max(1, len(variants))
    x = np.arange(len(groups), dtype=float)
    x[[i for i, g in enumerate(groups) if g.endswith("signers")]] += 0.5  # the groups sit apart
    for ax, metric, name in zip(axes, ("bleu4", "rouge_l"), ("BLEU-4", "ROUGE-L")):
        for k, v in enumerate(variants):
            means, low, high = [], [], []
            for g in groups:
                cell = v["cells"].get(g, {}).get(metric)
                mean = cell["mean"] if cell else np.nan
                if cell and cell["std"] is not None:
                    lo, hi = mean - cell["std"], mean + cell["std"]
                elif cell and cell.get("intervals"):
                    (lo, hi), = cell["intervals"].values()
                else:
                    lo = hi = mean
                means.append(mean)
                low.append(max(0.0, mean - lo))  # a bootstrap interval need not contain the score
                high.append(max(0.0, hi - mean))
            ax.bar(x + (k - (len(variants) - 1) / 2) * width, means, width, yerr=[low, high], capsize=2,
                   label=v["variant"])
        ax.set_ylabel(f"{name}")
        ax.set_ylim(bottom=0)
        ax.grid(axis="y", alpha=0.3)
    unseen = set(table.get("unseen", ()))
    count = {g: f"{n} video{'s' if n != 1 else ''}" for g, n in table["videos"].items()}
    axes[-1].set_xticks(x, [f"{g}\n{count[g]}" + ("\nnot in training" if g in unseen else "") for g in groups],
                        rotation=0, fontsize=8)
    axes[0].legend(fontsize=8, ncols=min(4, len(variants)))
    axes[0].set_title(title)
    fig.tight_layout()
    return _save_png(fig, out_png)
