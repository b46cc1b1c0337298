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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sign2gpt.core.io import read_json
from sign2gpt.data.manifest import read_manifest
from sign2gpt.evaluation.hypotheses import read_hypotheses
from sign2gpt.report.comparisons import compare, tests_table
from sign2gpt.report.coverage import coverage_note, split_coverage, split_note
from sign2gpt.report.plots import plot_localization, plot_signer_scores, plot_training_curves
from sign2gpt.report.run_card import collect_run_card, write_run_card
from sign2gpt.report.signers import signer_table
from sign2gpt.report.tables import aggregate, headline_table, render_examples_md, signer_sections, write_report_tables

log = logging.getLogger(__name__)
METRICS = ("bleu1", "bleu2", "bleu3", "bleu4", "rouge_l")
REFERENCE_SENTENCES = {"text-only baseline": "text_only_sentence", "gates shut (no sign input)": "gates_shut_sentence"}

Run = tuple[str, int]  # (variant, seed)


@dataclass(frozen=True)
class ReportInputs:
    """A finished run's files, keyed by what they are (variant and seed), so nothing is parsed out
    of a path. Keys in the run's order: seeds, then variants."""

    evaluations: Mapping[Run, str]  # evaluate's metrics.json
    hypotheses: Mapping[Run, str]  # evaluate's test.hyp.tsv
    dev_hypotheses: Mapping[Run, str]  # evaluate's dev.hyp.tsv
    translate_metrics: Mapping[Run, str]  # translate's metrics.csv
    pretrain_metrics: Mapping[int, str]  # pretrain's metrics.csv per seed
    localization: Mapping[int, str]  # pretrain's localization.json per seed
    baselines: str
    pseudo_gloss_stats: str
    benchmarks_dirs: Sequence[str]  # Snakemake's benchmark files: the dataset's stages', the experiment's
    manifests: Mapping[str, str]  # prepare's train, dev and test manifests
    prepare_skipped: str  # prepare's skipped.tsv
    split: str  # prepare's split.json: which split the manifests hold
    frames: Mapping[str, Sequence[str]]  # the dev and test frame stores' shards


@dataclass(frozen=True)
class ReportOutputs:
    md: str
    json: str
    csv: str
    html: str | None
    card: str
    figures: str


def build_report(inputs: ReportInputs, out: ReportOutputs, *, config: Mapping[str, Any], variants: Sequence[str],
                 examples: int) -> None:
    """Rule report: the variants table with intervals and paired tests, curves, Figure-4 maps,
    example translations, run card."""
    figures = Path(out.figures)
    figures.mkdir(parents=True, exist_ok=True)
    evaluations = {run: read_json(path) for run, path in inputs.evaluations.items()}  # evaluate's metrics.json
    rows = result_rows(evaluations, inputs.baselines)
    loc_notes, loc_summary = localization_figures(inputs.localization, figures)
    training_curves(inputs, figures)
    first_test = next(iter(evaluations.values()))["splits"]["test"] if evaluations else None
    conventions = first_test["conventions"] if first_test else None  # every score of a run shares them
    hyps = {split: {run: read_hypotheses(path) for run, path in runs.items()}  # {split: {(variant, seed): {id: …}}}
            for split, runs in (("dev", inputs.dev_hypotheses), ("test", inputs.hypotheses))}
    significance = paired_comparisons(hyps["test"], inputs.baselines, conventions) if conventions and hyps["test"] \
        else None
    warnings = significance["warnings"] if significance else []
    for w in warnings:
        log.warning("%s", w)
    sections, findings = [], significance["findings"] if significance else []
    if significance:
        header, test_rows = tests_table(significance["tests"])
        sections.append((f"Paired bootstrap tests (test split; p < {significance['alpha']} and Δ > 0 = beats)",
                         header, test_rows))
    choices = checkpoint_choices(evaluations)
    pseudo_glosses = read_json(inputs.pseudo_gloss_stats)
    notes = [*(["Findings (test split):\n\n" + "\n".join(f"- {f}" for f in findings)] if findings else []),
             *loc_notes, checkpoint_note(choices, config), pseudo_gloss_note(pseudo_glosses),
             *([conventions_note(evaluations, conventions)] if conventions else []),
             f"BLEU: sacreBLEU, tokenize=none on {tokens_note(conventions)}, cumulative BLEU-n; ROUGE-L: "
             "sentence-level F (β=1.2) averaged; conventions and signature in metrics.json."]
    coverage, signers = who_was_scored(inputs, hyps, conventions, variants, figures)
    header, head_rows = headline_table(aggregate(rows, variant_order=list(variants)))
    test_first = {split: signers[split] for split in ("test", "dev") if split in signers}
    lead = [("Test scores", header, head_rows), *signer_sections(test_first)]
    split = read_json(inputs.split)
    meta = {"dataset": config["dataset"]["name"], "experiment": config["experiment"], "seeds": list(config["seeds"]),
            "variants": list(variants), "split": split, "coverage": coverage, "localization": loc_summary,
            "pseudo_glosses": pseudo_glosses, "conventions": conventions,
            "signature": first_test["signature"] if first_test else None,
            "bootstrap": first_test.get("bootstrap") if first_test else None, "checkpoints": choices}
    write_report_tables(rows, md_path=out.md, csv_path=out.csv, json_path=out.json, html_path=out.html,
                        variant_order=list(variants), meta=meta, notes=notes, warnings=warnings, sections=sections,
                        extra={"significance": significance, "signers": signers},
                        appendix=example_translations(hyps["test"], examples),
                        front=[coverage_note(coverage), split_note(split)], lead=lead,
                        figures=sorted(figures.glob("*.png"), key=lambda p: (not p.name.startswith("signers"), p.name)))
    write_run_card(run_card(inputs, evaluations, config), out.card)
    log.info("report: %d result rows, %d figures", len(rows), len(list(figures.glob("*.png"))))


def result_rows(evaluations: Mapping[Run, Mapping[str, Any]], baselines: str) -> list[dict[str, Any]]:
    """One row per variant, seed and split, then the reference rows (`baselines`: their metrics.json)."""
    rows = []
    for (_, seed), result in evaluations.items():
        for split, s in result["splits"].items():
            rows.append({"variant": result["variant"], "seed": str(result.get("seed", seed)), "split": split,
                         **{m: s[m] for m in METRICS}, "intervals": s.get("intervals")})
    for name, result in read_json(baselines)["reference_rows"].items():
        for split, s in result["splits"].items():
            rows.append({"variant": name, "seed": "-", "split": split, "reference": True, **{m: s[m] for m in METRICS},
                         "intervals": s.get("intervals")})
    return rows


def tokens_note(conventions: Mapping[str, Any] | None) -> str:
    """What the scored tokens are: characters (zh), sacreBLEU's 13a tokens (en), the text's own words."""
    if conventions and conventions.get("level") == "character":
        return "characters"
    tokenizer = (conventions or {}).get("tokenizer", "")
    return f"sacreBLEU {tokenizer} tokens" if tokenizer == "13a" else "the text's own words"


def who_was_scored(inputs: ReportInputs, hyps: Mapping[str, Mapping[Run, Mapping[str, tuple[str, str]]]],
                   conventions: Mapping[str, Any] | None, variants: Sequence[str],
                   figures: Path) -> tuple[dict[str, dict], dict[str, dict | None]]:
    """Which dev and test videos were scored (`sign2gpt.report.coverage`) and the per-signer tables
    (with the test split's figure); `hyps`: {split: {run: {id: (reference, hypothesis)}}}."""
    coverage = {split: split_coverage(split, inputs.manifests[split], inputs.prepare_skipped, inputs.frames[split],
                                      scored=len(next(iter(by_run.values()), {})))
                for split, by_run in hyps.items()}
    signers = per_signer(hyps, inputs.manifests, conventions, variants) if conventions else {}
    if signers.get("test"):
        plot_signer_scores(signers["test"], figures / "signers_test.png", title="Test scores per signer")
    return coverage, signers


def per_signer(hyps: Mapping[str, Mapping[Run, Mapping[str, tuple[str, str]]]], manifests: Mapping[str, str],
               conventions: Mapping[str, Any], variants: Sequence[str]) -> dict[str, dict | None]:
    """Each split's per-signer table (`sign2gpt.report.signers`), None where its manifest names no
    signer; seen signers are those of the training manifest."""
    seen = {s.signer for s in read_manifest(manifests["train"]) if s.signer}
    out = {}
    for split, by_run in hyps.items():
        signers = {s.id: s.signer for s in read_manifest(manifests[split])}
        out[split] = signer_table(by_run, signers, seen, language=conventions["language"], conventions=conventions,
                                  variant_order=[v for v in variants if any(r[0] == v for r in by_run)])
    return out


def checkpoint_choices(evaluations: Mapping[Run, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Which epoch each evaluated checkpoint is, and the dev score that chose it (evaluate's metrics.json)."""
    out = []
    for (variant, seed), m in evaluations.items():
        out.append({"variant": variant, "seed": str(m.get("seed", seed)), "epoch": m.get("checkpoint_epoch"),
                    "selected_on": m.get("selected_on"), "value": m.get("selected_value")})
    return out


def checkpoint_note(choices: Sequence[Mapping[str, Any]], config: Mapping[str, Any]) -> str:
    """The rule that chose the checkpoints, and the epoch each one is (the official code chooses on
    teacher-forced dev BLEU-4 every epoch, which runs about 5 BLEU above beam search)."""
    t = config["translate"]
    rule = (f"dev beam-search BLEU-4 (beam {t['select_beam']}), every {t['select_every']} epochs"
            if t["select_on"] == "beam_bleu4" else "dev teacher-forced BLEU-4 (the official code's rule), every epoch")
    picked = "; ".join(f"{c['variant']} seed {c['seed']}: epoch {c['epoch']}"
                       + (f" ({c['selected_on']} {c['value']:.2f})" if isinstance(c["value"], (int, float)) else "")
                       for c in choices)
    return f"Checkpoints: the best on {rule}. {picked or 'none evaluated'}."


def pseudo_gloss_note(stats: Mapping[str, Any]) -> str:
    """V and where the vocabulary came from (the spaCy pipeline and its version, or the authors' file)."""
    pipeline = stats["pipeline"]
    return (f"Pseudo-glosses: V = {stats['vocab_size']:,} ({stats['num_targets']:,} targets after the cut), "
            f"from {pipeline['name']} {pipeline['version']} (vocabulary from {stats['vocab_from']}).")


def conventions_note(evaluations: Mapping[Run, Mapping[str, Any]], conventions: Mapping[str, Any]) -> str:
    """Test BLEU-4 of each variant (mean over seeds) as scored, with the other final-period choice,
    and with a final ' .' on both sides, so a figure compares with papers of either convention."""
    forms: dict[str, dict[str, list[float]]] = {}
    for (variant, _), evaluation in evaluations.items():
        test = evaluation["splits"]["test"]
        row = forms.setdefault(variant, {"as scored": [], "other": [], "final": []})
        row["as scored"].append(test["bleu4"])
        row["other"].append(test["alternative"]["bleu4"])
        if "final_period" in test:  # evaluations written before it was recorded have no such entry
            row["final"].append(test["final_period"]["bleu4"])
    stripped = conventions["strip_final_period"]
    mean = lambda xs: f"{sum(xs) / len(xs):.2f}" if xs else "not recorded"  # noqa: E731
    cells = "; ".join(f"{v} {mean(f['as scored'])} / {mean(f['other'])} / {mean(f['final'])}"
                      for v, f in forms.items())
    return (f"Test BLEU-4 by final-period convention (mean over seeds), as scored (final period "
            f"{'stripped' if stripped else 'kept'}) / {'kept' if stripped else 'stripped'} / a final ' .' on both "
            f"sides: {cells}. Each with its signature in the evaluations' metrics.json.")


def localization_figures(localization: Mapping[int, str], figures: Path) -> tuple[list[str], dict[str, Any]]:
    """The Figure-4 maps and the localization scores of the pretrained encoder, per seed."""
    notes, summary = [], {}
    for seed, path in localization.items():
        loc = read_json(path)
        if loc.get("scores"):
            s = loc["scores"]
            summary[str(seed)] = {k: s[k] for k in ("precision", "recall", "f1")}
            notes.append(f"Pseudo-gloss localization (seed {seed}, threshold {loc['threshold']} on E, "
                         f"{loc['videos_scored']} dev videos): P {s['precision']:.2f} / R {s['recall']:.2f} "
                         f"/ F1 {s['f1']:.2f}.")
        for ex in loc.get("examples", []):
            safe = re.sub(r"[^A-Za-z0-9_.-]", "_", ex["id"])
            plot_localization(np.asarray(ex["E"]), ex["labels"], figures / f"localization_seed{seed}_{safe}.png",
                              frame_scale=ex["frame_scale"], true_segments=[tuple(t) for t in ex["segments"]] or None,
                              title=ex["text"])
    return notes, summary


def training_curves(inputs: ReportInputs, figures: Path) -> None:
    plot_training_curves({("pretrain", str(seed)): p for seed, p in inputs.pretrain_metrics.items()},
                         figures / "pretrain_curves.png", title="Pseudo-gloss pretraining")
    plot_training_curves({(variant, str(seed)): p for (variant, seed), p in inputs.translate_metrics.items()},
                         figures / "translate_curves.png", title="Translation")


def paired_comparisons(test_hyps: Mapping[Run, Mapping[str, tuple[str, str]]], baselines: str,
                       conventions: Mapping[str, Any]) -> dict:
    """`sign2gpt.report.comparisons.compare` on the test hypotheses of every variant and seed
    (`baselines`: the reference rows' metrics.json)."""
    by_variant: dict[str, dict[str, Mapping]] = {}
    for (variant, seed), table in test_hyps.items():
        by_variant.setdefault(variant, {})[str(seed)] = table
    base = read_json(baselines)
    sentences = {name: base[key] for name, key in REFERENCE_SENTENCES.items() if name in base["reference_rows"]}
    scores = {name: base["reference_rows"][name]["splits"]["test"] for name in sentences}
    return compare(by_variant, sentences, scores, language=conventions["language"],
                   lowercase=conventions["lowercase"], strip_final_period=conventions["strip_final_period"])


def example_translations(test_hyps: Mapping[Run, Mapping[str, tuple[str, str]]], n: int) -> str:
    """A few test translations of each variant's first seed beside their references (Markdown)."""
    first: dict[str, Mapping] = {}
    for (variant, _), table in test_hyps.items():
        if variant not in first:
            first[variant] = table
    if not first:
        return ""
    refs = {vid: ref for table in first.values() for vid, (ref, _) in table.items()}
    hyps = {variant: {vid: h for vid, (_, h) in table.items()} for variant, table in first.items()}
    return render_examples_md(refs, hyps, n=n)


def run_card(
    inputs: ReportInputs, evaluations: Mapping[Run, Mapping[str, Any]], config: Mapping[str, Any]
) -> dict[str, Any]:
    """The run card: versions, machine, stage times (Snakemake's benchmark files) and precision."""
    # each folder's files and its subfolders' (decode/, text/, seed1/, ...), not deeper: an ablation
    # set's rows keep their own text stages' files further down
    bench = {os.path.relpath(p, folder).removesuffix(".tsv"): p for folder in inputs.benchmarks_dirs
             for pattern in ("*.tsv", os.path.join("*", "*.tsv"))
             for p in sorted(glob.glob(os.path.join(folder, pattern)))}
    used = {(m.get("train_precision", "not recorded"), m.get("precision", "not recorded"))
            for m in evaluations.values()}
    precision = "; ".join(f"training {t}, evaluation {e}" for t, e in sorted(used)) or None
    return collect_run_card(bench, config=config, extra={"precision": precision})
