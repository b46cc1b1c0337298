"""Reading what the pseudo_glosses stage wrote, without spaCy: the pseudo-gloss file as training
and evaluation use it, and plain sentence files. (spaCy is imported only to extract the
pseudo-glosses of a sentence the file does not have.)"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

from sign2gpt.core.errors import DataError
from sign2gpt.core.io import read_json

logger = logging.getLogger(__name__)


def read_sentences_file(path: str | os.PathLike) -> list[str]:
    """One sentence per line (UTF-8). Blank lines are kept as empty sentences."""
    sentences = []
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
            except UnicodeDecodeError as err:
                raise DataError(f"{path}:{lineno}", f"not valid UTF-8 ({err.reason} at byte {err.start})") from err
            sentences.append(line.rstrip("\r\n"))
    return sentences


@dataclass
class PseudoGlossVocab:
    """The pseudo-gloss file as training and evaluation use it: ids, targets per sentence."""

    language: str
    pipeline: dict[str, str]
    vocab: list[str]
    counts: dict[str, int]
    num_unique_sentences: int
    max_frequency: float
    targets: frozenset[str]
    sentences: dict[str, list[str]]
    words: str  # pseudo_glosses.words of the extraction (a file written before the key: content)
    index: dict[str, int] = field(init=False, repr=False)
    _nlp: Any = field(default=None, init=False, repr=False)  # the spaCy pipeline, built on first use

    def __post_init__(self) -> None:
        self.index = {item: i for i, item in enumerate(self.vocab)}

    @classmethod
    def load(cls, path: str | os.PathLike) -> PseudoGlossVocab:
        try:
            data = read_json(path)
        except (OSError, ValueError) as err:
            raise DataError(str(path), f"cannot read the pseudo-gloss file: {err}") from err
        required = ("language", "pipeline", "vocab", "counts", "num_unique_sentences", "max_frequency",
                    "targets", "sentences")
        missing = [k for k in required if k not in data]
        if missing:
            raise DataError(str(path), f"not a pseudo-gloss file: missing {', '.join(missing)}")
        vocab = list(data["vocab"])
        if vocab != sorted(set(vocab)):
            raise DataError(str(path), "vocab must be sorted and unique (ids are positions in it)")
        stray = set(data["targets"]) - set(vocab)
        if stray:
            raise DataError(str(path), f"targets not in the vocabulary: {sorted(stray)[:5]}")
        return cls(
            language=data["language"], pipeline=dict(data["pipeline"]), vocab=vocab, counts=dict(data["counts"]),
            num_unique_sentences=int(data["num_unique_sentences"]), max_frequency=float(data["max_frequency"]),
            targets=frozenset(data["targets"]), sentences={k: list(v) for k, v in data["sentences"].items()},
            words=data.get("words", "content"),
        )

    def __len__(self) -> int:
        return len(self.vocab)

    def extract(self, sentence: str) -> list[str]:
        """Pseudo-glosses of a sentence not in the file, with the pipeline that made the file."""
        from sign2gpt.text.pipelines import build_pipeline, pipeline_info  # spaCy, only when a sentence is new
        from sign2gpt.text.pseudo_glosses import items_from_doc

        if self._nlp is None:
            self._nlp = build_pipeline(self.language, self.pipeline["name"])
            current = pipeline_info(self._nlp, self.pipeline["name"])["version"]
            if current != self.pipeline.get("version"):
                logger.warning("pseudo-gloss file made with %s, extracting with %s",
                               self.pipeline.get("version"), current)
        return items_from_doc(self._nlp(sentence if sentence.strip() else ""), self.language, self.words)

    def glosses_for(self, sentence: str) -> list[str]:
        """All pseudo-glosses of a sentence in order (in the vocabulary or not)."""
        glosses = self.sentences.get(sentence)
        return list(glosses) if glosses is not None else self.extract(sentence)

    def targets_for(self, sentence: str) -> list[int]:
        """Sorted unique vocabulary ids of the sentence's items that pass the frequency cut."""
        return sorted({self.index[g] for g in self.glosses_for(sentence) if g in self.targets})
