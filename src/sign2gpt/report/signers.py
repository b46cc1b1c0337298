"""Scores per signer: who the model fails.

Gloss-free models are rarely tested on signers they have not seen, and fall far when they are (a
signer-independent re-split of PHOENIX-2014T takes GFSLT-VLP from 21.44 to 3.59 BLEU-4). Every
report therefore breaks dev and test scores down by the manifests' signer column: BLEU-4 and
ROUGE-L per signer with their bootstrap intervals and video counts, and the signers seen in
training against those who are not, as two groups, where a split has both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sign2gpt.evaluation.conventions import score
from sign2gpt.report.tables import aggregate

SEEN, UNSEEN = "seen signers", "unseen signers"


def signer_groups(signers: Mapping[str, str], seen: set[str]) -> dict[str, list[str]]:
    """{signer or group: its video ids}: each signer in name order, then the seen and unseen groups
    when both occur. `signers`: {video id: signer} of one split; `seen`: the training signers."""
    groups: dict[str, list[str]] = {}
    for vid, signer in signers.items():
        groups.setdefault(signer, []).append(vid)
    out = {s: groups[s] for s in sorted(groups)}
    seen_ids = [v for s in out if s in seen for v in out[s]]
    unseen_ids = [v for s in out if s not in seen for v in out[s]]
    if seen_ids and unseen_ids:
        out[SEEN], out[UNSEEN] = seen_ids, unseen_ids
    return out


def signer_table(
    hypotheses: Mapping[tuple[str, int], Mapping[str, tuple[str, str]]],
    signers: Mapping[str, str],
    seen: set[str],
    *,
    language: str,
    conventions: Mapping[str, Any],
    variant_order: Sequence[str],
) -> dict[str, Any] | None:
    """One split's per-signer table, or None when its manifest names no signer.

    hypotheses: {(variant, seed): {id: (reference, hypothesis)}} of the split. Returns
    `tables.aggregate`'s structure with the signers (and groups) as its "splits", plus
    `videos` {signer: count} and `unseen` [signers not in training]."""
    named = {vid: s for vid, s in signers.items() if s}
    if not named:
        return None
    rows = []
    opts = {"lowercase": conventions["lowercase"], "strip_final_period": conventions["strip_final_period"]}
    videos: dict[str, int] = {}
    for (variant, seed), pairs in hypotheses.items():
        scored = {vid: s for vid, s in named.items() if vid in pairs}  # decode may have left some out
        for group, ids in signer_groups(scored, seen).items():
            videos[group] = len(ids)
            s = score([pairs[i][1] for i in ids], [pairs[i][0] for i in ids], language, **opts)
            rows.append({"variant": variant, "seed": str(seed), "split": group,
                         **{m: s[m] for m in ("bleu1", "bleu2", "bleu3", "bleu4", "rouge_l")},
                         "intervals": s["intervals"]})
    table = aggregate(rows, variant_order=list(variant_order))
    order = [g for g in videos if g not in (SEEN, UNSEEN)] + [g for g in (SEEN, UNSEEN) if g in videos]
    table["splits"] = order
    table["videos"] = videos
    table["unseen"] = sorted({s for s in named.values()} - seen)
    return table
