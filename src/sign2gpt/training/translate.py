"""Stage 2: translation with a frozen causal LM (spec §8–§10, §12), three variants.

`scratch` trains the sign model from scratch, `pgp` starts it from pseudo-gloss pretraining, `z`
trains only FC_m and the LM adapters on cached encoder features (rule cache_features). The LM is
frozen; LoRA and the zero-gated cross-attention train. The checkpoint kept is the best on dev:
beam-search BLEU-4 every `select_every` epochs (default) or teacher-forced BLEU-4 every epoch
(`select_on: tf_bleu4`, the official code's choice).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from sign2gpt.core.io import file_sha256
from sign2gpt.core.record import Decoding, Preprocessing, TranslatorRecord
from sign2gpt.core.settings import DecodingSettings, FrameSettings, TranslateSettings
from sign2gpt.data.loaders import make_split_loader
from sign2gpt.data.manifest import read_manifest
from sign2gpt.evaluation.conventions import score
from sign2gpt.evaluation.translate_eval import beam_translate, teacher_forced_translate
from sign2gpt.models.build import build_translator
from sign2gpt.models.translator import SignTranslator, encode_targets, start_token_id
from sign2gpt.runtime.checkpoint import config_fingerprint, discard_stale_checkpoint
from sign2gpt.runtime.device import reserve_for_workers, seed_everything
from sign2gpt.runtime.precision import select_precision
from sign2gpt.training.distributed import cleanup, init_distributed, is_main, wrap_model
from sign2gpt.training.loop import Trainer
from sign2gpt.training.optim import build_optimizer, build_scheduler

log = logging.getLogger(__name__)


def run_translate(
    *,
    variant: str,
    train_manifest: str,
    dev_manifest: str,
    lm: str,
    out_dir: str,
    spatial: Mapping[str, Any],
    encoder: Mapping[str, Any],
    frames_cfg: Mapping[str, Any] | FrameSettings,
    train: Mapping[str, Any] | TranslateSettings,
    evaluate: Mapping[str, Any] | DecodingSettings,
    language: str,
    seed: int,
    decode: Mapping[str, Any],
    frames: list[str] | None = None,
    features: Mapping[str, str] | None = None,
    pretrained: str | None = None,
    device: str = "auto",
    precision: str = "auto",
) -> dict[str, Any]:
    """Train one variant; writes best/last checkpoints, metrics.csv/json and inference.json in out_dir.

    inference.json records everything `sign2gpt translate` needs to run the best checkpoint on a
    new video (model settings, frame decoding, the LM and the pretrained encoder it came from).
    frames_cfg, train, evaluate: the `frames:`, `translate:` and `evaluate:` sections (or their
    settings objects); decode: the `decode:` section, recorded for new videos.
    """
    frames_cfg = FrameSettings.from_config(frames_cfg)
    train, evaluate = TranslateSettings.for_variant(train, variant), DecodingSettings.from_config(evaluate)
    dist = init_distributed(device)
    seed_everything(seed + dist.rank)
    prec = select_precision(dist.device, precision)
    out = Path(out_dir)
    fingerprint = config_fingerprint({"variant": variant, "lm": lm, "spatial": spatial, "encoder": encoder,
                                      "frames": dataclasses.asdict(frames_cfg), "train": train.fingerprint(),
                                      "seed": seed,
                                      "pretrained": file_sha256(pretrained) if pretrained else None})
    if is_main():
        for stale in (out / "last.safetensors", out / "state" / "best.safetensors"):
            discard_stale_checkpoint(stale, fingerprint)
    model, tokenizer = build_translator(variant, lm=lm, spatial=spatial, encoder=encoder, lora=train.lora,
                                       device=dist.device, pretrained=pretrained, freeze_sign=train.freeze_sign,
                                       lm_dtype=prec.lm_dtype)
    start_id = start_token_id(model.lm.lm, tokenizer)
    ddp = wrap_model(model, dist, find_unused_parameters=False) if dist.distributed else model
    core: SignTranslator = model

    loader_kw = dict(seed=seed, pretrained=pretrained, spatial=spatial, frames_cfg=frames_cfg,
                     num_workers=train.num_workers, device=dist.device)
    if variant != "z":  # the z variant reads cached features in this process
        reserve_for_workers(loader_kw["num_workers"])
    features = features or {}
    train_loader = make_split_loader(variant, train_manifest, train=True, batch_size=train.batch_size, frames=frames,
                                     features=features.get("train"), distributed=dist.distributed, **loader_kw)
    dev_loader = make_split_loader(variant, dev_manifest, train=False, batch_size=train.batch_size, frames=frames,
                                   features=features.get("dev"), **loader_kw)
    references = {s.id: s.text for s in read_manifest(dev_manifest)}
    epochs, max_tokens, select_on = train.epochs, train.max_tokens, train.select_on
    select_beam = train.select_beam  # its own key: evaluate.beam retrains nothing
    conv = evaluate.conventions()

    optimizer = build_optimizer(model, train.lr, train.weight_decay, lr_scales={".gate": float(train.gate_lr_scale)})
    scheduler = build_scheduler(optimizer, epochs=epochs, steps_per_epoch=len(train_loader),
                                warmup_epochs=train.warmup_epochs, min_lr_ratio=train.min_lr_ratio)

    def train_step(batch: dict[str, Any]) -> torch.Tensor:
        ids, mask = encode_targets(tokenizer, batch["texts"], start_id=start_id, max_tokens=max_tokens)
        if ddp is not model:  # DDP needs its own forward to synchronise gradients
            ids, mask = ids.to(dist.device), mask.to(dist.device)
            logits = ddp(batch, ids[:, :-1], mask[:, :-1]).float()
            labels = ids[:, 1:].masked_fill(mask[:, 1:] == 0, -100)
            return torch.nn.functional.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100,
                                                     label_smoothing=train.label_smoothing)
        return core.loss(batch, ids, mask, label_smoothing=train.label_smoothing)

    def run_eval() -> dict[str, float]:
        ids = list(references)
        tf = teacher_forced_translate(core, dev_loader, tokenizer, start_id=start_id, max_tokens=max_tokens)
        tf_scores = score([tf[i] for i in ids], [references[i] for i in ids], language, **conv, intervals=False)
        metrics = {"dev_tf_bleu4": tf_scores["bleu4"], "dev_tf_rouge_l": tf_scores["rouge_l"]}
        if select_on == "beam_bleu4":
            hyps = beam_translate(core, dev_loader, tokenizer, start_id=start_id, beam=select_beam,
                                  max_tokens=evaluate.max_tokens, desc="dev beam search")
            s = score([hyps[i] for i in ids], [references[i] for i in ids], language, **conv, intervals=False)
            metrics.update({"dev_beam_bleu4": s["bleu4"], "dev_beam_rouge_l": s["rouge_l"]})
        metrics["gate_mean"] = float(core.lm.gate_values().mean())
        return metrics

    trainer = Trainer(ddp, optimizer, scheduler, train_loader, train_step, run_eval, out_dir=out, epochs=epochs,
                      select_metric=f"dev_{select_on}",
                      eval_every=train.select_every if select_on == "beam_bleu4" else 1,
                      clip_value=train.clip_value, clip_norm=train.clip_norm,
                      only_trainable=True,
                      extra={"fingerprint": fingerprint, "variant": variant, "lm": lm, "start_id": start_id},
                      device=dist.device, precision=prec)
    summary = trainer.fit()
    if is_main():
        TranslatorRecord(
            variant=variant, language=language, seed=seed, lm=lm, backbone=spatial.get("pretrained"),
            pretrained=pretrained, spatial={k: v for k, v in spatial.items() if k != "pretrained"},
            encoder=dict(encoder), lora=dict(train.lora), freeze_sign=bool(train.freeze_sign),
            preprocessing=Preprocessing(decode_stride=int(decode["stride"]), decode_size=decode["size"],
                                        frame_stride=frames_cfg.frame_stride, max_frames=frames_cfg.max_frames,
                                        image_size=int(spatial["image_size"])),
            decoding=Decoding(beam=select_beam, max_tokens=evaluate.max_tokens, lowercase=evaluate.lowercase,
                              strip_final_period=evaluate.strip_final_period),
            precision=prec.name,
        ).write_run(out)
    cleanup()
    return summary
