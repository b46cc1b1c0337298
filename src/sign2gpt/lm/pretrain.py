"""Stage `lm_pretrain` (embedded default only): a small XGLM pretrained on the corpus text.

A real run freezes `facebook/xglm-1.7B`. The embedded default cannot download it, so the
workflow trains the same architecture (`XGLMForCausalLM`) from a small config on the training
sentences and saves it with `save_pretrained`; the translation stage then loads the directory
exactly as it would load the hub model. The "frozen GPT" is therefore a real, if tiny,
pretrained language model, not random weights.

Training text follows XGLM pretraining and the stage-2 format (spec §9): each sentence is
`</s> sentence </s>`, the model predicts every token after the first. Plain causal-LM
cross-entropy, AdamW, linear warm-up then cosine decay, CPU float32, fixed seed.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from tqdm import tqdm
from transformers import XGLMConfig, XGLMForCausalLM

from sign2gpt.core.errors import ConfigError, DataError
from sign2gpt.core.io import atomic_path, write_json
from sign2gpt.lm.targets import pad_right
from sign2gpt.lm.tokenizer import train_xglm_tokenizer
from sign2gpt.runtime.device import seed_everything, set_threads
from sign2gpt.runtime.tensorboard_log import write_epoch_events

log = logging.getLogger(__name__)

CONFIG_KEYS = ("d_model", "num_layers", "attention_heads", "ffn_dim", "max_position_embeddings",
               "dropout", "attention_dropout")
STATS_FILE = "train_stats.json"
WARMUP_FRACTION = 0.05
WEIGHT_DECAY = 0.01
CLIP_NORM = 1.0


def _check_config(config: dict) -> None:
    missing = [k for k in CONFIG_KEYS if k not in config]
    unknown = [k for k in config if k not in CONFIG_KEYS]
    if missing or unknown:
        raise ConfigError(f"lm.config: missing keys {missing}, unknown keys {unknown} (expected {list(CONFIG_KEYS)})")
    if config["d_model"] % config["attention_heads"]:
        raise ConfigError(f"lm.config: d_model {config['d_model']} is not divisible by "
                          f"attention_heads {config['attention_heads']}")


def _xglm_config(config: dict, vocab_size: int) -> XGLMConfig:
    return XGLMConfig(
        vocab_size=vocab_size,
        d_model=int(config["d_model"]),
        num_layers=int(config["num_layers"]),
        attention_heads=int(config["attention_heads"]),
        ffn_dim=int(config["ffn_dim"]),
        max_position_embeddings=int(config["max_position_embeddings"]),
        dropout=float(config["dropout"]),
        attention_dropout=float(config["attention_dropout"]),
        activation_dropout=0.0,
        pad_token_id=1, bos_token_id=0, eos_token_id=2, decoder_start_token_id=2,
    )


def _encode(tokenizer, texts: Sequence[str], max_len: int) -> list[list[int]]:
    """`</s> sentence </s>` ids (the tokenizer prepends the first `</s>`), cut to `max_len`."""
    eos = tokenizer.eos_token_id
    sequences, truncated = [], 0
    for text in texts:
        ids = tokenizer(text)["input_ids"] + [eos]
        if len(ids) > max_len:
            ids, truncated = ids[:max_len], truncated + 1
        sequences.append(ids)
    if truncated:
        log.warning("%d of %d sentences cut to %d tokens (max_position_embeddings)", truncated, len(texts), max_len)
    return sequences


def _batch(sequences: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded (inputs, attention_mask, targets); pad targets are -100 (ignored)."""
    ids, mask = pad_right(sequences, pad_id)
    targets = ids[:, 1:].masked_fill(mask[:, 1:] == 0, -100)
    return ids[:, :-1], mask[:, :-1], targets


def _loss_sum(model: XGLMForCausalLM, batch: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, int]:
    inputs, mask, targets = batch
    logits = model(input_ids=inputs, attention_mask=mask).logits  # [B, L, V]
    loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-100, reduction="sum")
    return loss, int((targets != -100).sum())


def _lr_factor(step: int, total: int) -> float:
    warmup = max(1, int(WARMUP_FRACTION * total))
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


@torch.no_grad()
def _evaluate(model: XGLMForCausalLM, sequences: list[list[int]], pad_id: int, batch_size: int) -> float:
    """Mean token loss over `sequences` without dropout."""
    model.eval()
    total, count = 0.0, 0
    for start in range(0, len(sequences), batch_size):
        loss, n = _loss_sum(model, _batch(sequences[start: start + batch_size], pad_id))
        total, count = total + float(loss), count + n
    model.train()
    return total / max(1, count)


def pretrain_lm(
    texts: list[str],
    out_dir: str | os.PathLike,
    *,
    vocab_size: int,
    config: dict,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    threads: int | None = None,
) -> None:
    """Train tokenizer + small XGLM on `texts`; write a `save_pretrained` directory atomically.

    `out_dir` gets `config.json`, `model.safetensors`, `generation_config.json`, the tokenizer
    files and `train_stats.json` (final loss and perplexity). `vocab_size` is the SentencePiece
    size (specials included); the model's vocabulary is `len(tokenizer)`.
    """
    _check_config(config)
    if epochs < 1 or batch_size < 1:
        raise ConfigError(f"lm.pretrain: epochs ({epochs}) and batch_size ({batch_size}) must be >= 1")
    set_threads(threads)
    seed_everything(seed)
    max_len = int(config["max_position_embeddings"])
    tokenizer = train_xglm_tokenizer(texts, vocab_size, model_max_length=max_len)
    model_config = _xglm_config(config, len(tokenizer))
    sequences = _encode(tokenizer, texts, max_len)
    if all(len(s) < 2 for s in sequences):
        raise DataError("lm pretraining text", "no sentence has a token to predict")

    torch.manual_seed(seed)
    model = XGLMForCausalLM(model_config).train()
    n_params = sum(p.numel() for p in model.parameters())
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.98), weight_decay=WEIGHT_DECAY)
    steps_per_epoch = math.ceil(len(sequences) / batch_size)
    total_steps = epochs * steps_per_epoch
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: _lr_factor(s, total_steps))
    order_rng = torch.Generator().manual_seed(seed)
    log.info("pretraining XGLM (%d parameters, vocab %d) on %d sentences, %d steps",
             n_params, len(tokenizer), len(sequences), total_steps)

    epoch_loss, rows = float("nan"), []
    bar = tqdm(range(epochs), desc="lm_pretrain", unit="epoch")
    for epoch in bar:
        t0 = time.time()
        order = torch.randperm(len(sequences), generator=order_rng).tolist()
        total, count = 0.0, 0
        for start in range(0, len(order), batch_size):
            batch = _batch([sequences[i] for i in order[start: start + batch_size]], tokenizer.pad_token_id)
            loss_sum, n = _loss_sum(model, batch)
            loss = loss_sum / max(1, n)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP_NORM)
            optimizer.step()
            scheduler.step()
            total, count = total + loss_sum.item(), count + n
        epoch_loss = total / max(1, count)
        perplexity, lr = math.exp(min(epoch_loss, 50)), scheduler.get_last_lr()[0]
        rows.append({"epoch": epoch + 1, "train_loss": epoch_loss, "train_perplexity": perplexity, "lr": lr,
                     "seconds": round(time.time() - t0, 3)})
        bar.set_postfix(loss=f"{epoch_loss:.3f}", ppl=f"{perplexity:.1f}")
        log.info("epoch %d/%d: train loss %.4f, perplexity %.2f, lr %.2e",
                 epoch + 1, epochs, epoch_loss, perplexity, lr)

    eval_loss = _evaluate(model, sequences, tokenizer.pad_token_id, batch_size)
    log.info("final train loss (no dropout) %.4f, perplexity %.2f", eval_loss, math.exp(min(eval_loss, 50)))
    stats = {
        "final_train_loss": epoch_loss,
        "final_train_perplexity": math.exp(min(epoch_loss, 50)),
        "train_loss_no_dropout": eval_loss,
        "train_perplexity_no_dropout": math.exp(min(eval_loss, 50)),
        "epochs": epochs,
        "steps": total_steps,
        "sentences": len(sequences),
        "tokens": sum(len(s) - 1 for s in sequences),
        "vocab_size": len(tokenizer),
        "sentencepiece_pieces": tokenizer.vocab_size,
        "parameters": n_params,
        "seed": seed,
    }
    model.eval()
    with atomic_path(out_dir, is_dir=True) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        write_json(tmp / STATS_FILE, stats)
        write_epoch_events(tmp / "tensorboard", rows)
    log.info("wrote %s", out_dir)
