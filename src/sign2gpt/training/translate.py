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
from dataclasses import dataclass
from typing import Any

import torch

from sign2gpt.core.batching import BatchPlan, batch_plan
from sign2gpt.core.io import file_sha256
from sign2gpt.core.record import Decoding, Preprocessing, TranslatorRecord
from sign2gpt.core.settings import DecodingSettings, FrameSettings, TranslateSettings
from sign2gpt.data.loaders import make_split_loader
from sign2gpt.data.manifest import read_manifest
from sign2gpt.evaluation.conventions import score
from sign2gpt.evaluation.translate_eval import beam_translate, teacher_forced_translate
from sign2gpt.lm.targets import encode_targets, start_token_id
from sign2gpt.models.build import build_translator
from sign2gpt.models.translator import SignTranslator
from sign2gpt.runtime.device import reserve_for_workers
from sign2gpt.training.distributed import DistInfo, is_main, merge_dicts, wrap_model
from sign2gpt.training.loop import Trainer
from sign2gpt.training.optim import build_optimizer, build_scheduler
from sign2gpt.training.run_context import training_run

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TranslateJob:
    """One variant's training: its inputs and its typed settings (`frames:`, `translate:` of the
    variant, `evaluate:`'s decoding); `decode` (the decode stage's section) is recorded for new videos."""

    variant: str
    seed: int
    language: str
    lm: str
    train_manifest: str
    dev_manifest: str
    out_dir: str
    spatial: Mapping[str, Any]
    encoder: Mapping[str, Any]
    decode: Mapping[str, Any]
    frames_cfg: FrameSettings
    train: TranslateSettings
    evaluate: DecodingSettings
    frames: list[str] | None = None  # frame stores (scratch, pgp)
    features: Mapping[str, str] | None = None  # cached Z per split (z)
    pretrained: str | None = None  # the pseudo-gloss-pretrained checkpoint (pgp, z)
    device: str = "auto"
    precision: str = "auto"

    @classmethod
    def from_kwargs(cls, kwargs: Mapping[str, Any]) -> TranslateJob:
        """From the rule's keyword arguments (JSON, as torchrun hands them to every rank)."""
        kw = dict(kwargs)
        kw["frames_cfg"] = FrameSettings.from_config(kw["frames_cfg"])
        kw["train"] = TranslateSettings.for_variant(kw["train"], kw["variant"])
        kw["evaluate"] = DecodingSettings.from_config(kw["evaluate"])
        return cls(**kw)

    def fingerprint(self) -> dict[str, Any]:
        """What a resumed run must share with its checkpoint."""
        return {"variant": self.variant, "lm": self.lm, "spatial": self.spatial, "encoder": self.encoder,
                "frames": dataclasses.asdict(self.frames_cfg), "train": self.train.fingerprint(), "seed": self.seed,
                "pretrained": file_sha256(self.pretrained) if self.pretrained else None}

    def record(self, precision: str) -> TranslatorRecord:
        """What `sign2gpt translate` and `export` need to run the best checkpoint on a new video."""
        return TranslatorRecord(
            variant=self.variant, language=self.language, seed=self.seed, lm=self.lm,
            backbone=self.spatial.get("pretrained"), pretrained=self.pretrained,
            spatial={k: v for k, v in self.spatial.items() if k != "pretrained"}, encoder=dict(self.encoder),
            lora=dict(self.train.lora), freeze_sign=bool(self.train.freeze_sign), memory_pe=self.train.memory_pe,
            preprocessing=Preprocessing(decode_stride=int(self.decode["stride"]), decode_size=self.decode["size"],
                                        frame_stride=self.frames_cfg.frame_stride,
                                        max_frames=self.frames_cfg.max_frames,
                                        image_size=int(self.spatial["image_size"])),
            decoding=Decoding(beam=self.train.select_beam, max_tokens=self.evaluate.max_tokens,
                              lowercase=self.evaluate.lowercase, strip_final_period=self.evaluate.strip_final_period),
            precision=precision,
        )

    def batches(self, dist: DistInfo) -> BatchPlan:
        """The global batch over this run's processes and micro-batches."""
        return batch_plan(self.train.batch_size, self.train.micro_batch_size, dist.world_size, section="translate")

    def loader(self, split: str, dist: DistInfo, *, train: bool, spatial_model: Any = None):
        """The loader of one split, in micro-batches: frames (or a frozen backbone's features of them,
        checked against `spatial_model`), or cached features for z (under DDP: the rank's share of
        the training items, or of the dev batches)."""
        plan = self.batches(dist)
        return make_split_loader(
            self.variant, self.train_manifest if split == "train" else self.dev_manifest, train=train,
            batch_size=plan.micro_batch, frames=self.frames, features=(self.features or {}).get(split),
            distributed=dist.distributed, seed=self.seed, pretrained=self.pretrained, spatial=self.spatial,
            frames_cfg=self.frames_cfg, num_workers=self.train.num_workers, device=dist.device,
            step_items=plan.per_process if train else None, spatial_model=spatial_model)


def run_translate(**kwargs: Any) -> dict[str, Any]:
    """Rule translate's function (and torchrun's target): `train_variant` of the rule's arguments."""
    return train_variant(TranslateJob.from_kwargs(kwargs))


def train_variant(job: TranslateJob) -> dict[str, Any]:
    """Train one variant; writes best/last checkpoints, metrics.csv/json and inference.json (its
    `TranslatorRecord`) in the job's out_dir."""
    train = job.train
    with training_run(job.out_dir, seed=job.seed, device=job.device, precision=job.precision,
                      fingerprint=job.fingerprint()) as run:
        model, tokenizer = build_translator(job.variant, lm=job.lm, spatial=job.spatial, encoder=job.encoder,
                                           lora=train.lora, device=run.dist.device, pretrained=job.pretrained,
                                           freeze_sign=train.freeze_sign, lm_dtype=run.precision.lm_dtype,
                                           memory_pe=train.memory_pe)
        start_id = start_token_id(model.lm.lm, tokenizer)
        ddp = (wrap_model(model, run.dist, find_unused_parameters=False, constant_buffers="lm.lm.")
               if run.dist.distributed else model)  # the frozen LM's buffers are the same on every rank
        if job.variant != "z":  # the z variant reads cached features in this process
            reserve_for_workers(train.num_workers)
        spatial = model.sign_model.spatial if model.sign_model is not None else None
        train_loader = job.loader("train", run.dist, train=True, spatial_model=spatial)
        dev_loader = job.loader("dev", run.dist, train=False, spatial_model=spatial)
        optimizer = build_optimizer(model, train.lr, train.weight_decay,
                                    lr_scales={".gate": float(train.gate_lr_scale)})
        plan = job.batches(run.dist)
        scheduler = build_scheduler(optimizer, epochs=train.epochs, steps_per_epoch=plan.steps(len(train_loader)),
                                    warmup_epochs=train.warmup_epochs, min_lr_ratio=train.min_lr_ratio)

        def train_step(batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
            ids, mask = encode_targets(tokenizer, batch["texts"], start_id=start_id, max_tokens=train.max_tokens)
            out = ddp(batch, ids, mask, label_smoothing=train.label_smoothing)  # DDP wraps forward
            return out.loss, out.tokens  # the mean over the target tokens

        references = {s.id: s.text for s in read_manifest(job.dev_manifest)}

        def evaluate() -> dict[str, float]:
            return dev_scores(job, model, dev_loader, tokenizer, start_id, references)

        trainer = Trainer(ddp, optimizer, scheduler, train_loader, train_step, evaluate, out_dir=run.out,
                          epochs=train.epochs, select_metric=f"dev_{train.select_on}",
                          eval_every=train.select_every if train.select_on == "beam_bleu4" else 1,
                          clip_value=train.clip_value, clip_norm=train.clip_norm, only_trainable=True,
                          extra={"fingerprint": run.fingerprint, "variant": job.variant, "lm": job.lm,
                                 "start_id": start_id},
                          device=run.dist.device, precision=run.precision, seed=job.seed,
                          accumulation=plan.accumulation)
        summary = trainer.fit()
        if is_main():
            job.record(run.precision.name).write_run(run.out)
    return summary


def dev_scores(job: TranslateJob, model: SignTranslator, dev_loader: Any, tokenizer: Any, start_id: int,
               references: Mapping[str, str]) -> dict[str, float]:
    """Dev BLEU-4 / ROUGE-L of teacher-forced argmax every epoch and, when the checkpoint is chosen on
    it (`select_on: beam_bleu4`), of beam search (`select_beam`: its own key, so `evaluate.beam`
    retrains nothing); the mean gate. `references`: {dev video id: sentence}."""
    ids, conv, train = list(references), job.evaluate.conventions(), job.train
    refs = [references[i] for i in ids]
    # under DDP each rank translates its share of the dev batches (the loader) and every rank gets all
    tf = merge_dicts(teacher_forced_translate(model, dev_loader, tokenizer, start_id=start_id,
                                              max_tokens=train.max_tokens))
    tf_scores = score([tf[i] for i in ids], refs, job.language, **conv, intervals=False)
    metrics = {"dev_tf_bleu4": tf_scores["bleu4"], "dev_tf_rouge_l": tf_scores["rouge_l"]}
    if train.select_on == "beam_bleu4":
        hyps = merge_dicts(beam_translate(model, dev_loader, tokenizer, start_id=start_id, beam=train.select_beam,
                                          max_tokens=job.evaluate.max_tokens, desc="dev beam search"))
        s = score([hyps[i] for i in ids], refs, job.language, **conv, intervals=False)
        metrics.update({"dev_beam_bleu4": s["bleu4"], "dev_beam_rouge_l": s["rouge_l"]})
    metrics["gate_mean"] = float(model.lm.gate_values().mean())
    return metrics
