"""Rule evaluate (and the reference rows): decode dev and test, score with the fixed conventions.

Every number in the report goes through `sign2gpt.evaluation.conventions.score`, and
`metrics.json` records the conventions, the sacreBLEU signature and the package versions, so
figures are comparable across papers.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Mapping
from typing import Any

import torch

from sign2gpt.core.errors import DataError
from sign2gpt.core.io import write_json, write_text
from sign2gpt.core.settings import EvaluateSettings, FrameSettings, ScoringSettings
from sign2gpt.data.loaders import make_split_loader
from sign2gpt.data.manifest import read_manifest
from sign2gpt.evaluation.beam_search import beam_search
from sign2gpt.evaluation.conventions import normalise, score, score_final_period_form
from sign2gpt.evaluation.hypotheses import hypotheses_tsv
from sign2gpt.evaluation.metrics import output_health
from sign2gpt.evaluation.significance import describe
from sign2gpt.evaluation.translate_eval import beam_translate
from sign2gpt.lm.loading import load_causal_lm
from sign2gpt.lm.targets import decode_sentence, start_token_id
from sign2gpt.models.build import build_translator
from sign2gpt.models.gated_lm import SignConditionedLM
from sign2gpt.runtime.checkpoint import load_checkpoint
from sign2gpt.runtime.device import reserve_for_workers, resolve_device, seed_everything
from sign2gpt.runtime.precision import select_precision

log = logging.getLogger(__name__)
SPLITS = ("dev", "test")


def score_splits(
    name: str, hyps_by_split: Mapping[str, Mapping[str, str]], manifests: Mapping[str, str], *, language: str,
    evaluate: Mapping[str, Any] | ScoringSettings, out_hyps: Mapping[str, str] | None = None,
    extra: Mapping | None = None,
) -> dict[str, Any]:
    """Score each split's hypotheses against the manifest texts; optionally write them side by side.

    The videos scored are the manifest's that have a hypothesis (decode may have left some out: the
    report counts them); a hypothesis for a video the manifest lacks is a DataError."""
    result: dict[str, Any] = {"variant": name, **(extra or {}), "splits": {}}
    for split, hyps in hyps_by_split.items():
        samples = read_manifest(manifests[split])
        refs = {s.id: s.text for s in samples}
        foreign = [i for i in hyps if i not in refs]
        if foreign:
            raise DataError(f"{name} {split}: {foreign[0]!r}", f"has a hypothesis but is not in {manifests[split]}")
        ids = [s.id for s in samples if s.id in hyps]
        conv = ScoringSettings.from_config(evaluate).conventions()
        hyp_list, ref_list = [hyps[i] for i in ids], [refs[i] for i in ids]
        s = result["splits"][split] = score(hyp_list, ref_list, language, **conv)
        # the other final-period choice beside it: the official code scores the text as it is
        other = {**conv, "strip_final_period": not conv["strip_final_period"]}
        alt = score(hyp_list, ref_list, language, **other, intervals=False)
        s["alternative"] = {"strip_final_period": other["strip_final_period"],
                            **{k: alt[k] for k in ("bleu1", "bleu2", "bleu3", "bleu4", "rouge_l")}}
        # and as papers that append " ." to both sides score it, so a number compares with either camp
        s["final_period"] = score_final_period_form(hyp_list, ref_list, language, lowercase=conv["lowercase"])
        log.info("%s %s: BLEU-4 %.2f %s ROUGE-L %.2f %s (n=%d, 95%% bootstrap intervals)", name, split, s["bleu4"],
                 describe(s["intervals"], "bleu4"), s["rouge_l"], describe(s["intervals"], "rouge_l"), s["n"])
        if not extra or not extra.get("reference"):  # a reference row repeats one sentence by design
            s["health"] = output_health([normalise(h, language, **conv) for h in hyp_list])
            for w in s["health"]["warnings"]:
                log.warning("%s %s: %s: the model may have learned nothing from the video", name, split, w)
        if out_hyps:
            write_text(out_hyps[split], hypotheses_tsv(ids, refs, hyps))
    return result


def run_evaluate(
    *,
    variant: str,
    checkpoint: str,
    manifests: Mapping[str, str],
    lm: str,
    spatial: Mapping[str, Any],
    encoder: Mapping[str, Any],
    frames_cfg: Mapping[str, Any] | FrameSettings | None,
    train: Mapping[str, Any],
    evaluate: Mapping[str, Any] | EvaluateSettings,
    language: str,
    out_metrics: str,
    out_hyps: Mapping[str, str],
    seed: int,
    frames: Mapping[str, list[str]] | None = None,
    features: Mapping[str, str] | None = None,
    pretrained: str | None = None,
    device: str = "auto",
    precision: str = "auto",
) -> dict[str, Any]:
    """Beam search (width `evaluate.beam`) on dev and test with the selected checkpoint, in the
    precision training's dev evaluation used.

    train: what evaluation reads of `translate:` (the adapters' `lora` and `memory_pe`, `micro_batch_size`
    or else `batch_size` as its batch, `num_workers`);
    frames_cfg: the `frames:` section (None for z); evaluate: the `evaluate:` section."""
    settings = EvaluateSettings.from_config(evaluate)
    seed_everything(seed)
    dev = resolve_device(device)
    prec = select_precision(dev, precision)
    model, tokenizer = build_translator(variant, lm=lm, spatial=spatial, encoder=encoder, lora=train["lora"],
                                       device=dev, pretrained=pretrained, freeze_sign=False,  # nothing trains here
                                       lm_dtype=prec.lm_dtype, memory_pe=train["memory_pe"])
    state = load_checkpoint(checkpoint, model, restore_rng=False)
    start_id = start_token_id(model.lm.lm, tokenizer)
    beam, max_tokens = settings.beam, settings.max_tokens
    workers = int(train["num_workers"]) if variant != "z" else 0  # cached features: read here
    reserve_for_workers(workers)
    log.info("evaluate %s on %s, %d loader workers", variant, dev, workers)
    hyps = {}
    for split in SPLITS:
        batch = train["micro_batch_size"] or train["batch_size"]  # one GPU's pass, as in training
        loader = make_split_loader(variant, manifests[split], train=False, batch_size=int(batch),
                                   seed=seed,
                                   frames=(frames or {}).get(split), features=(features or {}).get(split),
                                   pretrained=pretrained, spatial=spatial, frames_cfg=frames_cfg,
                                   num_workers=workers, device=dev,
                                   spatial_model=model.sign_model.spatial if model.sign_model is not None else None)
        with prec.autocast():
            hyps[split] = beam_translate(model, loader, tokenizer, start_id=start_id, beam=beam, max_tokens=max_tokens,
                                         desc=f"{split} beam search")
        unanswered = [s.id for s in loader.dataset.samples if s.id not in hyps[split]]
        if unanswered:
            raise DataError(f"{split}: {unanswered[0]!r}", f"no hypothesis for {len(unanswered)} videos")
    extra = {"seed": seed, "checkpoint_epoch": state["epoch"],
             "selected_on": state["extra"]["trainer"]["select_metric"],
             "selected_value": state["best_metric"], "beam": beam, "max_tokens": max_tokens,
             "gates": model.lm.gate_values().tolist(), "precision": prec.name,
             "train_precision": state["extra"]["trainer"].get("precision", "not recorded")}
    result = score_splits(variant, hyps, manifests, language=language, evaluate=settings, out_hyps=out_hyps,
                          extra=extra)
    write_json(out_metrics, result)
    return result


@torch.no_grad()
def run_baselines(
    *, manifests: Mapping[str, str], lm: str, language: str, evaluate: Mapping[str, Any] | EvaluateSettings,
    out_metrics: str,
    device: str = "auto", precision: str = "auto",
) -> dict[str, Any]:
    """Two reference rows that show whether a model learned from the video at all.

    `text-only baseline`: the most frequent training sentence for every video.
    `gates shut (no sign input)`: the frozen LM with fresh adapters (all gates 0), beam search.
    """
    evaluate = EvaluateSettings.from_config(evaluate)
    train_texts = [s.text for s in read_manifest(manifests["train"])]
    most_common, count = collections.Counter(train_texts).most_common(1)[0]
    log.info("most frequent training sentence (%d×): %s", count, most_common)
    split_ids = {split: [s.id for s in read_manifest(manifests[split])] for split in SPLITS}
    text_only = {split: {i: most_common for i in ids} for split, ids in split_ids.items()}

    dev = resolve_device(device)
    lm_model, tokenizer = load_causal_lm(lm, device=dev, dtype=select_precision(dev, precision).lm_dtype)
    shut = SignConditionedLM(lm_model, 2)  # any (even) memory width: the gates are shut
    start_id = start_token_id(lm_model, tokenizer)
    memory, memory_mask = torch.zeros(1, 1, 2, device=dev), torch.ones(1, 1, dtype=torch.bool, device=dev)
    seq = beam_search(shut, memory, memory_mask, bos_id=start_id, eos_id=int(tokenizer.eos_token_id),
                      pad_id=int(tokenizer.pad_token_id), beam=evaluate.beam,
                      max_len=evaluate.max_tokens)[0]
    lm_sentence = decode_sentence(tokenizer, seq)
    log.info("frozen LM with gates shut says: %s", lm_sentence)
    gates_shut = {split: {i: lm_sentence for i in ids} for split, ids in split_ids.items()}

    results = {name: score_splits(name, hyps, manifests, language=language, evaluate=evaluate,
                                  extra={"reference": True})
               for name, hyps in (("text-only baseline", text_only), ("gates shut (no sign input)", gates_shut))}
    out = {"reference_rows": results, "text_only_sentence": most_common, "gates_shut_sentence": lm_sentence}
    write_json(out_metrics, out)
    return out
