"""Text side of Sign2GPT: pseudo-glosses (spec §3) and their fastText prototypes (spec §6).

Modules (imported directly, so that loading prototypes does not import spaCy):
- `pipelines`: the spaCy pipeline (`offline` = HanTa / jieba components, or an installed package)
- `hanta_component`, `jieba_component`: the offline taggers as spaCy components
- `pseudo_glosses`: extraction, vocabulary and the frequency cut, `run_pseudo_glosses`
- `vocab_file`: `PseudoGlossVocab` (the pseudo-gloss file read back) and `read_sentences_file`,
  without spaCy
- `fasttext_model`: `train_fasttext`, `load_fasttext`
- `prototypes`: `run_prototypes`, `load_prototypes`
"""
