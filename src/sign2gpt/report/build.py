"""Rule report: the variants table (mean ± std over seeds), curves, Figure-4 maps, examples, run card.

`metrics.json` holds only results (no wall times or dates), so two runs with the same seed give
byte-identical files on CPU; timings live in the run card.
"""

from __future__ import annotations

import glob
import logging
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sign2gpt.core.io import read_json, write_text
from sign2gpt.evaluation.hypotheses import read_hypotheses
from sign2gpt.report.comparisons import compare, tests_table
from sign2gpt.report.plots import plot_localization, plot_training_curves
from sign2gpt.report.run_card import collect_run_card, write_run_card
from sign2gpt.report.tables import render_examples_md, write_report_tables

log = logging.getLogger(__name__)
METRICS = ("bleu1", "bleu2", "bleu3", "bleu4", "rouge_l")
_SEED = re.compile(r"seed(\d+)")


def _seed_of(path: str) -> str:
    m = _SEED.search(path)
    return m.group(1) if m else "-"


def result_rows(evaluations: Sequence[str], baselines: str) -> list[dict[str, Any]]:
    rows = []
    for path in evaluations:
        result = read_json(path)
        for split, s in result["splits"].items():
            rows.append({"variant": result["variant"], "seed": str(result.get("seed", _seed_of(path))), "split": split,
                         **{m: s[m] for m in METRICS}, "intervals": s.get("intervals")})
    for name, result in read_json(baselines)["reference_rows"].items():
        for split, s in result["splits"].items():
            rows.append({"variant": name, "seed": "-", "split": split, "reference": True, **{m: s[m] for m in METRICS},
                         "intervals": s.get("intervals")})
    return rows


REFERENCE_SENTENCES = {"text-only baseline": "text_only_sentence", "gates shut (no sign input)": "gates_shut_sentence"}


def paired_comparisons(hypotheses: Sequence[str], baselines: str, conventions: Mapping[str, Any]) -> dict:
    """`sign2gpt.report.comparisons.compare` on the test hypotheses of every variant and seed."""
    by_variant: dict[str, dict[str, dict]] = {}
    for path in hypotheses:
        variant = Path(path).parent.name.removeprefix("eval-")
        by_variant.setdefault(variant, {})[_seed_of(path)] = read_hypotheses(path)
    base = read_json(baselines)
    sentences = {name: base[key] for name, key in REFERENCE_SENTENCES.items() if name in base["reference_rows"]}
    scores = {name: base["reference_rows"][name]["splits"]["test"] for name in sentences}
    return compare(by_variant, sentences, scores, language=conventions["language"],
                   lowercase=conventions["lowercase"], strip_final_period=conventions["strip_final_period"])


def build_report(
    *,
    evaluations: Sequence[str],
    hypotheses: Sequence[str],
    baselines: str,
    pretrain_metrics: Sequence[str],
    localization: Sequence[str],
    translate_metrics: Sequence[str],
    pseudo_gloss_stats: str,
    benchmarks_dir: str,
    config: Mapping[str, Any],
    variants: Sequence[str],
    out_md: str,
    out_json: str,
    out_csv: str,
    out_card: str,
    figures_dir: str,
    out_html: str | None = None,
    examples: int = 5,
) -> None:
    figures = Path(figures_dir)
    figures.mkdir(parents=True, exist_ok=True)
    rows = result_rows(evaluations, baselines)

    # Figure 4 maps and localization scores of the pretrained encoder, per seed
    loc_notes, loc_summary = [], {}
    for path in localization:
        seed = _seed_of(path)
        loc = read_json(path)
        if loc.get("scores"):
            s = loc["scores"]
            loc_summary[seed] = {k: s[k] for k in ("precision", "recall", "f1")}
            loc_notes.append(f"Pseudo-gloss localization (seed {seed}, threshold {loc['threshold']} on E, "
                             f"{loc['videos_scored']} dev videos): P {s['precision']:.2f} / R {s['recall']:.2f} "
                             f"/ F1 {s['f1']:.2f}.")
        for ex in loc.get("examples", []):
            safe = re.sub(r"[^A-Za-z0-9_.-]", "_", ex["id"])
            plot_localization(np.asarray(ex["E"]), ex["labels"], figures / f"localization_seed{seed}_{safe}.png",
                              frame_scale=ex["frame_scale"], true_segments=[tuple(t) for t in ex["segments"]] or None,
                              title=ex["text"])
    plot_training_curves({("pretrain", _seed_of(p)): p for p in pretrain_metrics}, figures / "pretrain_curves.png",
                         title="Pseudo-gloss pretraining")
    plot_training_curves({(Path(p).parent.name.removeprefix("translate-"), _seed_of(p)): p for p in translate_metrics},
                         figures / "translate_curves.png", title="Translation")

    stats = read_json(pseudo_gloss_stats)
    first_test = read_json(evaluations[0])["splits"]["test"] if evaluations else None  # conventions are shared
    conventions = first_test["conventions"] if first_test else None
    significance = paired_comparisons(hypotheses, baselines, conventions) if conventions and hypotheses else None
    warnings = significance["warnings"] if significance else []
    for w in warnings:
        log.warning("%s", w)
    sections = []
    if significance:
        header, test_rows = tests_table(significance["tests"])
        sections.append((f"Paired bootstrap tests (test split; p < {significance['alpha']} and Δ > 0 = beats)",
                         header, test_rows))
    findings = "\n".join(f"- {f}" for f in significance["findings"]) if significance else ""
    notes = [*([f"Findings (test split):\n\n{findings}"] if findings else []), *loc_notes,
             "BLEU: sacreBLEU, tokenize=none, cumulative BLEU-n; ROUGE-L: sentence-level F (β=1.2) averaged; "
             "conventions and signature in metrics.json."]
    meta = {"dataset": config["dataset"]["name"], "experiment": config["experiment"], "seeds": list(config["seeds"]),
            "variants": list(variants), "localization": loc_summary, "pseudo_glosses": stats,
            "conventions": conventions,
            "signature": first_test["signature"] if first_test else None,
            "bootstrap": first_test.get("bootstrap") if first_test else None}
    write_report_tables(rows, md_path=out_md, csv_path=out_csv, json_path=out_json, html_path=out_html,
                        variant_order=list(variants), meta=meta, notes=notes, warnings=warnings, sections=sections,
                        extra={"significance": significance})

    # a few example translations (first seed) appended to the Markdown table
    first = {}
    for path in hypotheses:
        variant = Path(path).parent.name.removeprefix("eval-")
        first.setdefault(variant, read_hypotheses(path))
    if first:
        refs = {vid: ref for table in first.values() for vid, (ref, _) in table.items()}
        hyps = {variant: {vid: h for vid, (_, h) in table.items()} for variant, table in first.items()}
        md = Path(out_md).read_text(encoding="utf-8")
        write_text(out_md, md + "\n" + render_examples_md(refs, hyps, n=examples) + "\n")

    bench = {os.path.relpath(p, benchmarks_dir).removesuffix(".tsv"): p
             for p in sorted(glob.glob(os.path.join(benchmarks_dir, "**", "*.tsv"), recursive=True))}
    used = {(m.get("train_precision", "not recorded"), m.get("precision", "not recorded"))
            for m in map(read_json, evaluations)}
    precision = "; ".join(f"training {t}, evaluation {e}" for t, e in sorted(used)) or None
    card = collect_run_card(bench, config=config, extra={"precision": precision})
    write_run_card(card, out_card)
    log.info("report: %d result rows, %d figures", len(rows), len(list(figures.glob("*.png"))))
