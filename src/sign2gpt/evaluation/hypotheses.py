"""The `{split}.hyp.tsv` files of rule evaluate (id, reference, hypothesis), written and read.

Apart from `evaluate`, so that the report reads them without importing the models and the LM
(its conda environment has neither torch's model stack nor transformers)."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping


def hypotheses_tsv(ids: list[str], references: Mapping[str, str], hypotheses: Mapping[str, str]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(["id", "reference", "hypothesis"])
    for vid in ids:
        writer.writerow([vid, references[vid], hypotheses[vid]])
    return buf.getvalue()


def read_hypotheses(path: str) -> dict[str, tuple[str, str]]:
    """{id: (reference, hypothesis)} from a `{split}.hyp.tsv` file."""
    with open(path, encoding="utf-8", newline="") as f:
        return {row["id"]: (row["reference"], row["hypothesis"]) for row in csv.DictReader(f, delimiter="\t")}
