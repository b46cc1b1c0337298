"""Pseudo-gloss localization scores: how well the pretraining head's map E finds each sign in
time, the numbers behind the paper's Figure 4 (P 0.52 / R 0.39 / F1 0.44 on PHOENIX-2014T at
threshold 0.2), measured against the true gloss segments the synthetic corpus records.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from sign2gpt.core.errors import DataError

Segment = tuple[str, int, int]  # (gloss, start frame, end frame exclusive) in source frames


def check_map(E: np.ndarray, labels: Sequence[str]) -> np.ndarray:
    E = np.asarray(E, dtype=np.float64)
    if E.ndim != 2:
        raise DataError("localization map E", f"expected shape [T', K], got {E.shape}")
    if E.shape[1] != len(labels):
        raise DataError("localization map E", f"{E.shape[1]} columns but {len(labels)} labels")
    if len(set(labels)) != len(labels):
        raise DataError("localization labels", f"duplicate pseudo-glosses in {list(labels)}")
    if not np.isfinite(E).all() or (E < 0).any():
        raise DataError("localization map E", "values must be finite and non-negative")
    return E


def max_normalise(E: np.ndarray) -> np.ndarray:
    """Each pseudo-gloss column divided by its maximum over time (all-zero columns stay zero)."""
    peak = E.max(axis=0, keepdims=True) if E.shape[0] else np.zeros((1, E.shape[1]))
    return np.divide(E, peak, out=np.zeros_like(E, dtype=np.float64), where=peak > 0)


def match_segments(
    labels: Sequence[str],
    true_segments: Iterable[Segment],
    gloss_to_pseudo: Mapping[str, str] | None = None,
) -> tuple[dict[int, list[tuple[int, int]]], list[str]]:
    """Map each true gloss segment to the column k of its pseudo-gloss.

    With `gloss_to_pseudo`, a gloss matches the label it maps to (a gloss missing from the
    mapping is unmatched); without it, a gloss matches the label equal to it after lower-casing
    both (gloss "REGEN" ~ lemma "regen"). Returns ({k: [(start, end), ...]}, unmatched glosses).
    """
    index = {label.lower(): k for k, label in enumerate(labels)}
    exact = {label: k for k, label in enumerate(labels)}
    matched: dict[int, list[tuple[int, int]]] = {}
    unmatched: list[str] = []
    for gloss, start, end in true_segments:
        if end <= start:
            raise DataError(f"segment {gloss} {start}-{end}", "end must be after start")
        if gloss_to_pseudo is not None:
            k = exact.get(gloss_to_pseudo[gloss]) if gloss in gloss_to_pseudo else None
        else:
            k = index.get(gloss.lower())
        if k is None:
            unmatched.append(gloss)
        else:
            matched.setdefault(k, []).append((int(start), int(end)))
    return matched, unmatched


def localization_scores(
    E: np.ndarray,
    labels: Sequence[str],
    true_segments: Iterable[Segment],
    *,
    frame_scale: float,
    threshold: float = 0.2,
    gloss_to_pseudo: Mapping[str, str] | None = None,
) -> dict:
    """Precision / recall / F1 of pseudo-gloss localization in one video.

    Definition (over (time step, pseudo-gloss) pairs):
    * E is [T', K]: the localization map of one video for its K pseudo-glosses `labels`.
    * Predicted: step t is positive for pseudo-gloss k when E[t, k] / max_t' E[t', k] >=
      `threshold` (per-pseudo-gloss max-normalisation; an all-zero column predicts nothing).
    * True: step t covers source frames [t * frame_scale, (t + 1) * frame_scale); it is inside
      a segment [start, end) when its centre (t + 0.5) * frame_scale lies in it. (t, k) is a
      true positive pair when t is inside a segment of a gloss matched to k (`match_segments`).
    * Only pseudo-glosses with at least one matched gloss are scored; the others (lemmas with
      no sign of the same name in this video) are listed in "unscored_labels", and glosses
      without a pseudo-gloss in "unmatched_glosses".
    * precision = TP / predicted, recall = TP / true, F1 their harmonic mean; 0 when undefined.
    Counts are returned too, so `combine_localization` can micro-average over videos.
    """
    if not frame_scale > 0:
        raise ValueError(f"frame_scale must be positive, got {frame_scale}")
    E = check_map(E, labels)
    matched, unmatched = match_segments(labels, true_segments, gloss_to_pseudo)
    centres = (np.arange(E.shape[0]) + 0.5) * frame_scale  # [T'] in source frames
    pred = max_normalise(E) >= threshold  # [T', K]
    tp = n_pred = n_true = 0
    for k, segments in matched.items():
        truth = np.zeros(E.shape[0], dtype=bool)
        for start, end in segments:
            truth |= (centres >= start) & (centres < end)
        tp += int((pred[:, k] & truth).sum())
        n_pred += int(pred[:, k].sum())
        n_true += int(truth.sum())
    return {
        **_prf(tp, n_pred, n_true),
        "threshold": threshold,
        "scored_labels": [labels[k] for k in sorted(matched)],
        "unscored_labels": [lab for k, lab in enumerate(labels) if k not in matched],
        "unmatched_glosses": unmatched,
    }


def _prf(tp: int, n_pred: int, n_true: int) -> dict:
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_true if n_true else 0.0
    f1 = 2 * p * r / (p + r) if p + r > 0 else 0.0
    return {"precision": p, "recall": r, "f1": f1, "tp": tp, "predicted": n_pred, "true": n_true}


def combine_localization(scores: Iterable[Mapping]) -> dict:
    """Micro-average several videos' `localization_scores` (sums of the counts)."""
    scores = list(scores)
    total = _prf(sum(s["tp"] for s in scores), sum(s["predicted"] for s in scores),
                 sum(s["true"] for s in scores))
    return {**total, "videos": len(scores)}


def resampled_localization(per_video: Sequence[Mapping], idx: np.ndarray) -> dict[str, np.ndarray]:
    """P/R/F1 of every resample of the videos (`idx`: [resamples, n] video indices, as
    `significance.resample_indices` draws them), micro-averaged like `combine_localization`."""
    counts = np.array([[v["tp"], v["predicted"], v["true"]] for v in per_video], dtype=float)  # [n, 3]
    tp, pred, true = counts[idx].sum(axis=1).T  # each [resamples]
    p = np.divide(tp, pred, out=np.zeros_like(tp), where=pred > 0)
    r = np.divide(tp, true, out=np.zeros_like(tp), where=true > 0)
    f1 = np.divide(2 * p * r, p + r, out=np.zeros_like(tp), where=p + r > 0)
    return {"precision": p, "recall": r, "f1": f1}
