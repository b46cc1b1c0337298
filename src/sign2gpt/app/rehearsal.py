"""Inputs for rehearsing a preset end to end before its downloads: stand-in weights with the real
architectures and random values, and a synthetic corpus in the release layout.

A PHOENIX-2014T run takes days on a GPU; a wrong path, a missing file or a stage that breaks at
full size should cost minutes, not a day. `make_rehearsal_inputs` writes, under one folder:

```
data/PHOENIX-2014-T/ or data/CSL-Daily/   the corpus in the release layout (synthetic/layouts.py)
weights/dinov2-small/                     Dinov2Model with facebook/dinov2-small's configuration
weights/xglm-564M/                        XGLMForCausalLM with facebook/xglm-564M's configuration
                                          (the real 256,008-token vocabulary; `lm_layers` of its 24
                                          layers) and an XGLM tokenizer trained on the corpus text
weights/cc.{de,zh}.300.bin                a 300-d fastText model trained on the corpus text
weights/spacy-{de,zh}/                    the offline spaCy pipeline saved with `to_disk`
```
Every one is loaded by the preset's own code path (`from_pretrained` of a local folder,
`fasttext.load_model`, `spacy.load` of a folder); `.test/paper-scale.yaml` and
`.test/csldaily-scale.yaml` point the presets at them. The random weights make every score
meaningless: a rehearsal checks that the stages run and what they cost, nothing else.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from transformers import Dinov2Config, Dinov2Model, XGLMConfig, XGLMForCausalLM

from sign2gpt.data.ingest import prepare_dataset
from sign2gpt.data.synthetic.corpus import generate_corpus
from sign2gpt.lm.tokenizer import train_xglm_tokenizer
from sign2gpt.text.fasttext_model import train_fasttext
from sign2gpt.text.pipelines import build_pipeline

log = logging.getLogger(__name__)

# The configurations of the released checkpoints (their config.json), with random weights.
DINOV2_SMALL = dict(hidden_size=384, num_hidden_layers=12, num_attention_heads=6, mlp_ratio=4, patch_size=14,
                    image_size=518, layerscale_value=1.0, layer_norm_eps=1e-6, qkv_bias=True, use_swiglu_ffn=False,
                    drop_path_rate=0.0)
XGLM_564M = dict(vocab_size=256008, d_model=1024, num_layers=24, attention_heads=16, ffn_dim=4096,
                 max_position_embeddings=2048, scale_embedding=True, dropout=0.1, attention_dropout=0.1,
                 activation_dropout=0.0, layerdrop=0.0, activation_function="gelu", init_std=0.02)

PRESETS = {
    "phoenix14t": {"layout": "phoenix14t", "language": "de", "corpus": "data/PHOENIX-2014-T"},
    "csldaily": {"layout": "csldaily", "language": "zh", "corpus": "data/CSL-Daily"},
}


def corpus_texts(corpus_root: Path, kind: str) -> list[str]:
    """Every sentence of the rendered corpus, read back through the preset's own ingestion."""
    with tempfile.TemporaryDirectory() as tmp:
        samples = prepare_dataset(kind, corpus_root, tmp)
    return [s.text for split in samples.values() for s in split]


def make_standin_backbone(out_dir: str | os.PathLike, *, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    Dinov2Model(Dinov2Config(**DINOV2_SMALL)).save_pretrained(out_dir)
    return Path(out_dir)


def make_standin_lm(
    out_dir: str | os.PathLike, texts: list[str], *, layers: int = 24, vocab: int = 400, seed: int = 0
) -> Path:
    """XGLM-564M's architecture with `layers` of its 24 layers, and a tokenizer trained on `texts`
    (its ids fall inside the real 256,008-row embedding)."""
    torch.manual_seed(seed)
    config = XGLMConfig(**{**XGLM_564M, "num_layers": int(layers)})
    XGLMForCausalLM(config).save_pretrained(out_dir)
    train_xglm_tokenizer(texts, vocab, model_max_length=config.max_position_embeddings).save_pretrained(out_dir)
    return Path(out_dir)


def make_rehearsal_inputs(
    root: str | os.PathLike, preset: str, *, corpus: dict[str, Any], lm_layers: int = 24, seed: int = 0
) -> dict[str, Path]:
    """Write the corpus and every stand-in under `root` (see the module doc); returns their paths."""
    if preset not in PRESETS:
        raise ValueError(f"preset {preset!r}: one of {sorted(PRESETS)}")
    spec, root = PRESETS[preset], Path(root)
    language = spec["language"]
    settings = {**corpus, "language": language}
    paths = {"corpus": root / spec["corpus"], "spatial": root / "weights" / "dinov2-small",
             "lm": root / "weights" / "xglm-564M", "fasttext": root / "weights" / f"cc.{language}.300.bin",
             "spacy": root / "weights" / f"spacy-{language}"}
    generate_corpus(paths["corpus"], layout=spec["layout"], **settings)
    texts = corpus_texts(paths["corpus"], preset)
    if not (paths["spatial"] / "config.json").is_file():
        make_standin_backbone(paths["spatial"], seed=seed)
    make_standin_lm(paths["lm"], texts, layers=lm_layers, seed=seed)
    paths["fasttext"].parent.mkdir(parents=True, exist_ok=True)
    train_fasttext(texts, paths["fasttext"], language=language, dim=300, epoch=5, bucket=20_000)
    build_pipeline(language, "offline").to_disk(paths["spacy"])
    log.info("rehearsal inputs for %s under %s", preset, root)
    return paths
