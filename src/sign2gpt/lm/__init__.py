"""The language model behind the translation stage (spec §8.2, §9).

- `tokenizer`: an XGLM-style SentencePiece tokenizer trained on corpus text (embedded default);
- `pretrain`: stage `lm_pretrain`, a small XGLM pretrained on the training text and saved with
  `save_pretrained`, so it loads exactly like `facebook/xglm-1.7B`;
- `loading`: `load_causal_lm(name_or_dir)`, frozen, bf16 on CUDA, never downloading.

The adapters that condition the frozen LM on sign features live in `sign2gpt.models.gated_lm`.
"""
