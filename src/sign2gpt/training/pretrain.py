"""Stage 1: pseudo-gloss pretraining (spec §4–§7).

frames → SignModel (DINOv2 + Linear/BN + local-attention encoder) → PseudoGlossHead → Ê ∈ [0,1]^V,
trained with 10 × BCE against the multi-hot pseudo-gloss targets; the best epoch on dev macro-F1
is kept. After training, the localization map E of the best model is scored against the true
gloss segments (synthetic data) and a few dev videos are exported for the Figure-4 heat maps.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from sign2gpt.core.batching import batch_plan
from sign2gpt.core.io import file_sha256, write_json
from sign2gpt.core.settings import FrameSettings, PretrainSettings
from sign2gpt.data.dataset import SignDataset, batch_frames, make_loader, multi_hot
from sign2gpt.data.frame_features import FrameFeatureStore, open_frames
from sign2gpt.data.frame_store import FrameStore
from sign2gpt.data.manifest import Sample, read_manifest
from sign2gpt.evaluation.localization import combine_localization, localization_scores
from sign2gpt.evaluation.multilabel import f1_scores
from sign2gpt.models.pgp_head import PseudoGlossHead
from sign2gpt.models.sign_model import SignModel, build_sign_model
from sign2gpt.runtime.checkpoint import load_weights
from sign2gpt.runtime.device import reserve_for_workers, to_device
from sign2gpt.text.prototypes import load_prototypes
from sign2gpt.text.vocab_file import PseudoGlossVocab
from sign2gpt.training.distributed import DistInfo, is_main, merge_shards, wrap_model
from sign2gpt.training.loop import Trainer
from sign2gpt.training.optim import build_optimizer, build_scheduler
from sign2gpt.training.run_context import training_run

log = logging.getLogger(__name__)


class PretrainModel(nn.Module):
    """SignModel + pseudo-gloss head; parameter names `sign_model.*` are what stage 2 loads."""

    def __init__(self, sign_model: SignModel, head: PseudoGlossHead):
        super().__init__()
        self.sign_model = sign_model
        self.head = head

    def forward(self, frames: torch.Tensor, lengths: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        z, mask = self.sign_model(frames, lengths)  # [B, T', D], [B, T']
        scores, E = self.head(z, mask)  # [B, V], [B, T', V]
        return scores, E, mask


def _frame_scale(frames_cfg: FrameSettings, store: FrameStore, sign_model: SignModel) -> float:
    """Source frames per encoder output step (eval sampling stride × store stride × down-sampling)."""
    store_stride = int(store.meta.get("stride", 1))  # stores written before the stride was recorded: 1
    stride = max(int(frames_cfg.frame_stride), store_stride)
    return float(stride * sign_model.encoder.downsample_factor)


@torch.no_grad()
def localization(
    model: PretrainModel,
    loader: Any,
    samples: dict[str, Sample],
    vocab: PseudoGlossVocab,
    frame_scale: float,
    *,
    examples: int,
    device: torch.device,
    threshold: float = 0.2,
) -> dict[str, Any]:
    """Score E against the true gloss segments (when the manifest has them) and keep a few maps.

    A corpus without gloss segments (PHOENIX-2014T, CSL-Daily) has nothing to score: then only the
    first `examples` maps are computed, not a pass over the whole dev set.
    """
    model.eval()
    per_video, kept = [], []
    scorable = any(s.segments for s in samples.values())
    if not scorable:
        log.info("dev manifest has no gloss segments: localization is not scored, %d map(s) kept", examples)
    for batch in loader if scorable or examples > 0 else ():
        _, E, mask = model(batch_frames(batch, device), batch["lengths"])
        for b, vid in enumerate(batch["ids"]):
            ids = sorted(set(batch["targets"][b]))
            if not ids:
                continue
            steps = int(mask[b].sum())
            e = E[b, :steps][:, ids].float().cpu().numpy()  # [T', K]
            labels = [vocab.vocab[i] for i in ids]
            sample = samples[vid]
            segments = [(g, s, t) for g, (s, t) in zip(sample.glosses, sample.segments)]
            if segments:
                per_video.append({"id": vid, **localization_scores(e, labels, segments, frame_scale=frame_scale,
                                                                   threshold=threshold)})
            if len(kept) < examples:
                kept.append({"id": vid, "text": sample.text, "labels": labels, "E": e.round(5).tolist(),
                             "segments": segments, "frame_scale": frame_scale})
        if not scorable and len(kept) >= examples:
            break
    scores = combine_localization(per_video) if per_video else None
    counts = [{k: v[k] for k in ("id", "tp", "predicted", "true")} for v in per_video]  # for intervals and tests
    return {"threshold": threshold, "scores": scores, "videos_scored": len(per_video), "per_video": counts,
            "examples": kept}


@torch.no_grad()
def dev_metrics(model: PretrainModel, loader: Any, num_classes: int, dist: DistInfo) -> dict[str, float]:
    """Dev macro/micro F1 and loss of the pseudo-gloss head; under DDP each rank scores its share of
    the batches (`make_loader`) and every rank gets the scores one process would compute."""
    parts = []
    for k, batch in enumerate(loader):
        scores, _, _ = model(batch_frames(batch, dist.device), batch["lengths"])
        targets = multi_hot(batch["targets"], num_classes).to(dist.device)
        loss = model.head.loss(scores.float(), targets).item()
        parts.append((dist.rank + k * dist.world_size, (scores.float().cpu(), targets.cpu(), loss)))
    all_scores, all_targets, losses = zip(*merge_shards(parts))
    metrics = f1_scores(torch.cat(all_scores), torch.cat(all_targets))
    metrics["dev_loss"] = float(np.mean(losses))
    # the selection metric: macro-F1 (spec §7), ties (e.g. all 0 early on) broken by the dev loss
    metrics["dev_selection"] = metrics["dev_macro_f1"] - 1e-5 * metrics["dev_loss"]
    return metrics


def run_pretrain(
    *,
    train_manifest: str,
    dev_manifest: str,
    frames: list[str],
    pseudo_glosses: str,
    prototypes: str,
    out_dir: str,
    spatial: Mapping[str, Any],
    encoder: Mapping[str, Any],
    head: Mapping[str, Any],
    frames_cfg: Mapping[str, Any] | FrameSettings,
    train: Mapping[str, Any] | PretrainSettings,
    seed: int,
    device: str = "auto",
    precision: str = "auto",
) -> dict[str, Any]:
    """Train stage 1; writes best/last checkpoints, metrics.csv/json and localization.json in out_dir.

    frames_cfg: the `frames:` section; train: the `pretrain:` section (or their settings objects)."""
    frames_cfg, train = FrameSettings.from_config(frames_cfg), PretrainSettings.from_config(train)
    fingerprint = {"spatial": spatial, "encoder": encoder, "head": head, "train": train.fingerprint(),
                   "frames": dataclasses.asdict(frames_cfg), "seed": seed,
                   # by content: a file rewritten in place (another pseudo_glosses setting) is another run
                   "inputs": [file_sha256(p) for p in (train_manifest, dev_manifest, pseudo_glosses, prototypes)]}
    with training_run(out_dir, seed=seed, device=device, precision=precision, fingerprint=fingerprint) as run:
        dist, out = run.dist, run.out
        vocab = PseudoGlossVocab.load(pseudo_glosses)
        protos, _ = load_prototypes(prototypes, expected_vocab=list(vocab.vocab))
        store = open_frames(frames)  # the frames, or a frozen backbone's features of them
        train_samples, dev_samples = store.held(read_manifest(train_manifest)), store.held(read_manifest(dev_manifest))

        sign_model = build_sign_model(spatial, encoder)
        if isinstance(store, FrameFeatureStore):
            store.check(sign_model.spatial, spatial["image_size"])
        pgp_head = PseudoGlossHead.from_config(sign_model.dim, protos, head)
        model = wrap_model(PretrainModel(sign_model, pgp_head), dist)
        core: PretrainModel = model.module if hasattr(model, "module") else model
        num_classes = len(vocab.vocab)
        log.info("pretrain: %d train / %d dev videos, %d pseudo-glosses (%d targets after the cut), "
                 "%d trainable parameters",
                 len(train_samples), len(dev_samples), num_classes, len(vocab.targets),
                 sum(p.numel() for p in model.parameters() if p.requires_grad))

        data_kw = dict(image_size=spatial["image_size"], stride=frames_cfg.frame_stride,
                       max_frames=frames_cfg.max_frames, targets_fn=vocab.targets_for, seed=seed)
        train_ds = SignDataset(train_samples, store, train=True, augment_cfg=frames_cfg.augment_config(), **data_kw)
        dev_ds = SignDataset(dev_samples, store, train=False, **data_kw)
        workers = train.num_workers
        reserve_for_workers(workers)
        plan = batch_plan(train.batch_size, train.micro_batch_size, dist.world_size, section="pretrain")
        train_loader = make_loader(train_ds, plan.micro_batch, True, workers, dist.distributed, seed=seed,
                                   device=dist.device, step_items=plan.per_process)
        dev_loader = make_loader(dev_ds, plan.micro_batch, False, workers, dist.distributed, seed=seed,
                                 device=dist.device)  # under DDP each rank scores its share of the batches

        optimizer = build_optimizer(model, train.lr, train.weight_decay)
        scheduler = build_scheduler(optimizer, epochs=train.epochs, steps_per_epoch=plan.steps(len(train_loader)),
                                    warmup_epochs=train.warmup_epochs, min_lr_ratio=train.min_lr_ratio)

        def train_step(batch: dict[str, Any]) -> tuple[torch.Tensor, int]:
            scores, _, _ = model(batch_frames(batch, dist.device), batch["lengths"])
            targets = to_device(multi_hot(batch["targets"], num_classes), dist.device)
            return core.head.loss(scores.float(), targets), len(batch["lengths"])  # the mean over the clips

        def evaluate() -> dict[str, float]:
            return dev_metrics(core, dev_loader, num_classes, dist)

        trainer = Trainer(model, optimizer, scheduler, train_loader, train_step, evaluate, out_dir=out,
                          epochs=train.epochs, select_metric="dev_selection", clip_value=train.clip_value,
                          clip_norm=train.clip_norm,
                          extra={"fingerprint": run.fingerprint}, device=dist.device, precision=run.precision,
                          seed=seed, accumulation=plan.accumulation)
        summary = trainer.fit()

        if is_main():
            load_weights(out / "best.safetensors", core)
            by_id = {s.id: s for s in dev_samples}
            if dist.distributed:  # rank 0 alone, over the whole dev set
                dev_loader = make_loader(dev_ds, plan.micro_batch, False, 0, seed=seed, device=dist.device)
            loc = localization(core, dev_loader, by_id, vocab, _frame_scale(frames_cfg, store, core.sign_model),
                               examples=train.localization_examples, device=dist.device)
            loc["summary"] = summary
            write_json(out / "localization.json", loc)
            if loc["scores"]:
                s = loc["scores"]
                log.info("localization at threshold 0.2: P %.3f R %.3f F1 %.3f over %d dev videos",
                         s["precision"], s["recall"], s["f1"], loc["videos_scored"])
        store.close()
    return summary
