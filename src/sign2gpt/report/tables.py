"""The results table: variants x splits x (BLEU-1..4, ROUGE-L), mean ± std over seeds, each seed's
95% bootstrap interval.

Input is one row per evaluation result, ``{variant, seed, split, bleu1..bleu4, rouge_l}`` and
optionally ``intervals: {metric: {"low", "high", ...}}`` (`sign2gpt.evaluation.significance`).
Reference rows (sanity checks such as a text-only language model or the model with its gates
shut) use the same shape; they are recognised by ``"reference": True`` in the row or by the
names in `REFERENCE_VARIANTS`, and are always listed after the trained variants.

Aggregation: for every (variant, split, metric) the mean over seeds and, with two seeds or
more, the sample standard deviation (ddof = 1); with one seed the std is None and the cell
shows the mean and its bootstrap interval, "13.69 [7.09, 20.29]". Variants keep the order given
(`variant_order`) or their first
appearance; splits are dev, test, then any other in alphabetical order.
"""

from __future__ import annotations

import csv
import io
import math
import os
import statistics
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from sign2gpt.core.errors import DataError
from sign2gpt.core.io import write_json, write_text

METRICS = ("bleu1", "bleu2", "bleu3", "bleu4", "rouge_l")
METRIC_NAMES = {"bleu1": "BLEU-1", "bleu2": "BLEU-2", "bleu3": "BLEU-3", "bleu4": "BLEU-4",
                "rouge_l": "ROUGE-L"}
SPLIT_ORDER = ("dev", "test")
REFERENCE_VARIANTS = frozenset({"text-only baseline", "gates shut (no sign input)"})


def _row_name(i: int, row: Mapping) -> str:
    return f"result row {i} ({row.get('variant', '?')}, seed {row.get('seed', '?')}, {row.get('split', '?')})"


def _is_reference(row: Mapping) -> bool:
    if "reference" in row:
        return bool(row["reference"])
    return row["variant"] in REFERENCE_VARIANTS


def _split_key(split: str) -> tuple[int, str]:
    return (SPLIT_ORDER.index(split), "") if split in SPLIT_ORDER else (len(SPLIT_ORDER), split)


def aggregate(rows: Iterable[Mapping], *, variant_order: Sequence[str] | None = None) -> dict:
    """Group result rows into the table; see the module docstring for the rules.

    Returns ``{"metrics", "splits", "variants": [{"variant", "reference", "seeds",
    "cells": {split: {metric: {"mean", "std", "n", "values": {seed: value}}}}}]}``
    (seeds as strings in ``values`` so the structure survives JSON).
    """
    rows = list(rows)
    if not rows:
        raise DataError("results", "no evaluation rows to aggregate")
    seen: set[tuple[str, str, str]] = set()
    groups: dict[str, dict] = {}
    for i, row in enumerate(rows):
        for key in ("variant", "seed", "split", *METRICS):
            if key not in row:
                raise DataError(_row_name(i, row), f"missing field {key!r}")
        variant, seed, split = str(row["variant"]), str(row["seed"]), str(row["split"])
        if (variant, seed, split) in seen:
            raise DataError(_row_name(i, row), "duplicate result for this variant, seed and split")
        seen.add((variant, seed, split))
        group = groups.setdefault(variant, {"reference": _is_reference(row), "values": {}})
        if group["reference"] != _is_reference(row):
            raise DataError(_row_name(i, row), "marked reference in some rows and not in others")
        for m in METRICS:
            try:
                value = float(row[m])
            except (TypeError, ValueError):
                raise DataError(_row_name(i, row), f"{m} is not a number: {row[m]!r}") from None
            if not math.isfinite(value):
                raise DataError(_row_name(i, row), f"{m} is not finite: {value}")
            group["values"].setdefault(split, {}).setdefault(m, {})[seed] = value
            if row.get("intervals"):
                i = row["intervals"][m]
                group.setdefault("intervals", {}).setdefault(split, {}).setdefault(m, {})[seed] = [
                    float(i["low"]), float(i["high"])]

    order = list(variant_order or [])
    unknown = [v for v in order if v not in groups]
    if unknown:
        raise DataError("variant_order", f"names variants without results: {unknown}")
    order += [v for v in groups if v not in order]  # dict keeps first appearance
    order = [v for v in order if not groups[v]["reference"]] + [v for v in order if groups[v]["reference"]]

    splits = sorted({s for g in groups.values() for s in g["values"]}, key=_split_key)
    variants = []
    for v in order:
        cells: dict[str, dict] = {}
        seeds: set[str] = set()
        for split in splits:
            if split not in groups[v]["values"]:
                continue
            cells[split] = {}
            for m in METRICS:
                values = groups[v]["values"][split][m]
                seeds.update(values)
                xs = list(values.values())
                intervals = groups[v].get("intervals", {}).get(split, {}).get(m, {})
                cells[split][m] = {
                    "mean": statistics.fmean(xs),
                    "std": statistics.stdev(xs) if len(xs) > 1 else None,
                    "n": len(xs),
                    "values": dict(sorted(values.items(), key=lambda kv: _seed_key(kv[0]))),
                    "intervals": dict(sorted(intervals.items(), key=lambda kv: _seed_key(kv[0]))),
                }
        variants.append({"variant": v, "reference": groups[v]["reference"],
                         "seeds": sorted(seeds, key=_seed_key), "cells": cells})
    return {"metrics": list(METRICS), "splits": splits, "variants": variants}


def _seed_key(seed: str) -> tuple[int, int | str]:
    return (0, int(seed)) if seed.lstrip("-").isdigit() else (1, seed)


def format_cell(cell: Mapping | None, digits: int = 2) -> str:
    """"15.00 ± 7.07" (s.d.) over several seeds; one seed: "15.00 [9.10, 21.30]" with its bootstrap
    interval, or "15.00" without one; "–" when there is no result."""
    if cell is None:
        return "–"
    if cell["std"] is None:
        (low, high), = cell.get("intervals", {}).values() or [(None, None)]
        if low is None:
            return f"{cell['mean']:.{digits}f}"
        return f"{cell['mean']:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"
    return f"{cell['mean']:.{digits}f} ± {cell['std']:.{digits}f}"


CAPTION = ("One seed: the score and its 95% bootstrap interval [low, high] over the sentences of its split "
           "(sacreBLEU's resampling: 1,000 resamples, seed 12345). Several seeds: mean ± sample standard "
           "deviation (ddof = 1) across seeds; each seed's interval is in metrics.json.")


def _md_escape(text: str) -> str:
    text = str(text).replace("|", "\\|").replace("\n", " ")
    return text if text.strip() else "*(empty)*"


Section = tuple[str, Sequence[str], Sequence[Sequence[str]]]  # heading, header, rows


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    return (["| " + " | ".join(header) + " |", "|" + "|".join([":---"] + ["---:"] * (len(header) - 1)) + "|"]
            + ["| " + " | ".join(_md_escape(c) for c in r) + " |" for r in rows])


def _results_table(table: Mapping, reference_mark: str,
                   splits: Sequence[str] | None = None) -> tuple[list[str], list[list[str]]]:
    """The results as header and rows: a row per variant, a column per split x metric (every
    split of the table, or those given)."""
    splits, metrics = table["splits"] if splits is None else splits, table["metrics"]
    header = ["Variant", "Seeds"] + [f"{s} {METRIC_NAMES[m]}" for s in splits for m in metrics]
    rows = [[v["variant"] + (reference_mark if v["reference"] else ""), str(len(v["seeds"]))]
            + [format_cell(v["cells"].get(s, {}).get(m)) for s in splits for m in metrics] for v in table["variants"]]
    return header, rows


def headline_table(table: Mapping, split: str = "test") -> tuple[list[str], list[list[str]]]:
    """The page's first table: BLEU-4 and ROUGE-L of each variant on one split, with intervals."""
    header = ["Variant", f"{split} BLEU-4", f"{split} ROUGE-L"]
    rows = [[v["variant"] + (" (reference)" if v["reference"] else ""),
             *(format_cell(v["cells"].get(split, {}).get(m)) for m in ("bleu4", "rouge_l"))]
            for v in table["variants"] if split in v["cells"]]
    return header, rows


def signer_sections(signer_tables: Mapping[str, Mapping | None]) -> list[Section]:
    """Per split and metric, a table with a row per signer (then the seen / unseen groups) and a
    column per variant; a split whose manifest names no signer gets a one-row table saying so."""
    sections: list[Section] = []
    for split, st in signer_tables.items():
        if st is None:
            sections.append((f"{split} per signer", ["Signer"], [["the manifest names no signer"]]))
            continue
        for metric in ("bleu4", "rouge_l"):
            header = ["Signer", "Videos", *(v["variant"] for v in st["variants"])]
            rows = [[g + (" (not in training)" if g in st["unseen"] else ""), str(st["videos"][g]),
                     *(format_cell(v["cells"].get(g, {}).get(metric)) for v in st["variants"])]
                    for g in st["splits"]]
            sections.append((f"{split} {METRIC_NAMES[metric]} per signer", header, rows))
    return sections


def render_markdown(table: Mapping, *, title: str | None = "Results", notes: Sequence[str] = (),
                    warnings: Sequence[str] = (), sections: Sequence[Section] = (), front: Sequence[str] = (),
                    lead: Sequence[Section] = ()) -> str:
    """The `front` lines (which videos were scored), the warnings, the `lead` tables (headline,
    per signer), the full table (a row per variant, a column per split x metric), each extra
    section and the notes."""
    lines = [f"## {title}", ""] if title else []
    for f in front:
        lines += [f, ""]
    lines += [f"> **Warning:** {w}" for w in warnings] + ([""] if warnings else [])
    for heading, sec_header, sec_rows in lead:
        lines += [f"### {heading}", "", *_md_table(sec_header, sec_rows), ""]
    lines += (["### All scores", ""] if lead else []) + _md_table(*_results_table(table, " *(reference)*"))
    lines.append("")
    lines.append(CAPTION)
    for heading, sec_header, sec_rows in sections:
        lines += ["", f"### {heading}", "", *_md_table(sec_header, sec_rows)]
    for n in notes:
        lines += ["", str(n)]
    return "\n".join(lines) + "\n"


def _note_html(note: str) -> str:
    """A note as HTML: its lines that begin with "- " as a list, the others as a paragraph."""
    from html import escape

    out, items, text = [], [], []
    for line in str(note).split("\n"):
        if line.startswith("- "):
            items.append(f"<li>{escape(line[2:])}</li>")
        elif line.strip():
            text.append(escape(line))
    if text:
        out.append(f"<p>{'<br>'.join(text)}</p>")
    if items:
        out.append(f"<ul>{''.join(items)}</ul>")
    return "".join(out)


def render_html(table: Mapping, *, title: str = "Results", warnings: Sequence[str] = (),
                sections: Sequence[Section] = (), notes: Sequence[str] = (), front: Sequence[str] = (),
                lead: Sequence[Section] = (), figures: Sequence[str | os.PathLike] = ()) -> str:
    """The results as one self-contained HTML page that reads on a laptop screen (the Snakemake
    report shows it inline): which videos were scored, the warnings, the `lead` tables (headline,
    per signer), the full table one split at a time, each (heading, header, rows) section, the
    notes (lines beginning "- " as lists), and the `figures` (PNG files) embedded."""
    import base64
    from html import escape

    table_html = html_table
    parts = [f"<h2>{escape(title)}</h2>", *(f"<p class='front'>{escape(f)}</p>" for f in front)]
    if warnings:
        parts.append('<div class="warn"><b>Warning</b><ul>' + "".join(f"<li>{escape(w)}</li>" for w in warnings)
                     + "</ul></div>")
    for heading, sec_header, sec_rows in lead:
        parts += [f"<h3>{escape(heading)}</h3>", table_html(sec_header, sec_rows)]
    for split in table["splits"]:  # one split at a time: 7 columns, not 12
        parts += [f"<h3>All scores: {escape(split)}</h3>", table_html(*_results_table(table, " (reference)", [split]))]
    parts.append(f"<p class='caption'>{escape(CAPTION)}</p>")
    for heading, sec_header, sec_rows in sections:
        parts += [f"<h3>{escape(heading)}</h3>", table_html(sec_header, sec_rows)]
    parts += [_note_html(n) for n in notes]
    for path in figures:
        data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
        parts.append(f"<figure><img src='data:image/png;base64,{data}' alt='{escape(Path(path).stem)}'>"
                     f"<figcaption>{escape(Path(path).name)}</figcaption></figure>")
    return html_page(title, parts)


def html_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A table as HTML (cells escaped; a newline in a cell breaks its line), scrolling sideways when
    wider than the page."""
    from html import escape

    head = "".join(f"<th>{escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(c)).replace(chr(10), '<br>')}</td>" for c in r) + "</tr>"
                   for r in rows)
    return f"<div class='wide'><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"


def html_page(title: str, parts: Sequence[str]) -> str:
    """One self-contained HTML page (the report's style) around `parts` (HTML)."""
    from html import escape

    style = ("body{font-family:sans-serif;margin:1.5em;color:#222;max-width:1200px}"
             "table{border-collapse:collapse;margin:.3em 0 1em}.wide{overflow-x:auto}"
             "th,td{border:1px solid #bbb;padding:3px 8px;text-align:right;white-space:nowrap}"
             "th:first-child,td:first-child{text-align:left}thead{background:#eef}"
             ".front{background:#eef6ee;border:1px solid #9c9;padding:.4em 1em}.caption{font-size:90%;color:#555}"
             "img{max-width:100%}figure{margin:1em 0}figcaption{font-size:85%;color:#555}"
             ".warn{background:#fff3cd;border:1px solid #e0b000;padding:.3em 1em;margin-bottom:1em}")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>\n")


def render_csv(table: Mapping) -> str:
    """One CSV row per (variant, split): mean and std of every metric (std empty for one seed), and
    for one seed its bootstrap interval low / high (several seeds: per seed in metrics.json)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["variant", "reference", "split", "n_seeds", "seeds"]
               + [f"{m}_{stat}" for m in table["metrics"] for stat in ("mean", "std", "low", "high")])
    for v in table["variants"]:
        for split in table["splits"]:
            if split not in v["cells"]:
                continue
            cells = v["cells"][split]
            n = max(c["n"] for c in cells.values())
            stats = []
            for m in table["metrics"]:
                one = list(cells[m].get("intervals", {}).values()) if cells[m]["n"] == 1 else []
                stats += [f"{cells[m]['mean']:.4f}",
                          "" if cells[m]["std"] is None else f"{cells[m]['std']:.4f}",
                          *([f"{one[0][0]:.4f}", f"{one[0][1]:.4f}"] if one else ["", ""])]
            w.writerow([v["variant"], str(v["reference"]).lower(), split, n,
                        " ".join(cells[table["metrics"][0]]["values"])] + stats)
    return buf.getvalue()


def write_report_tables(
    rows: Iterable[Mapping],
    out_dir: str | os.PathLike | None = None,
    *,
    md_path: str | os.PathLike | None = None,
    csv_path: str | os.PathLike | None = None,
    json_path: str | os.PathLike | None = None,
    html_path: str | os.PathLike | None = None,
    variant_order: Sequence[str] | None = None,
    meta: Mapping | None = None,
    notes: Sequence[str] = (),
    warnings: Sequence[str] = (),
    sections: Sequence[Section] = (),
    extra: Mapping | None = None,
    appendix: str = "",
    front: Sequence[str] = (),
    lead: Sequence[Section] = (),
    figures: Sequence[str | os.PathLike] = (),
) -> dict[str, Path]:
    """Aggregate and write metrics.{md,csv,json} atomically; returns the paths written.

    Paths default to ``out_dir/metrics.<ext>``; an explicit path overrides its default (HTML only
    when asked for). The JSON holds the aggregated table (with per-seed values and intervals), the
    raw input rows, `meta` (e.g. the scoring conventions and the sacreBLEU signature), the
    warnings and `extra` (e.g. the paired tests). `appendix` is Markdown after the table (example
    translations). `front`, `lead` and `figures`: see `render_html` (figures: HTML only).
    """
    rows = [dict(r) for r in rows]
    table = aggregate(rows, variant_order=variant_order)
    paths: dict[str, Path] = {}
    for ext, explicit in (("md", md_path), ("csv", csv_path), ("json", json_path), ("html", html_path)):
        if explicit is not None:
            paths[ext] = Path(explicit)
        elif out_dir is not None and ext != "html":
            paths[ext] = Path(out_dir) / f"metrics.{ext}"
    if not paths:
        raise ValueError("write_report_tables needs out_dir or at least one explicit path")
    if "md" in paths:
        md = render_markdown(table, notes=notes, warnings=warnings, sections=sections, front=front, lead=lead)
        write_text(paths["md"], md + "\n" + appendix + "\n" if appendix else md)
    if "csv" in paths:
        write_text(paths["csv"], render_csv(table))
    if "json" in paths:
        write_json(paths["json"], {**table, "rows": rows, "meta": dict(meta or {}), "warnings": list(warnings),
                                   **dict(extra or {})})
    if "html" in paths:
        write_text(paths["html"], render_html(table, warnings=warnings, sections=sections, notes=notes, front=front,
                                              lead=lead, figures=figures))
    return paths


def render_examples_md(
    references: Mapping[str, str],
    hypotheses: Mapping[str, Mapping[str, str]],
    *,
    ids: Sequence[str] | None = None,
    n: int = 5,
    title: str = "Example translations",
) -> str:
    """A Markdown section showing a few videos: the reference, then each variant's hypothesis.

    `hypotheses` maps variant -> {id -> text}. Without `ids`, the first `n` ids in sorted
    order are shown (deterministic); a variant without a hypothesis for an id shows "–".
    """
    if ids is None:
        ids = sorted(references)[:n]
    lines = [f"## {title}", ""]
    for vid in ids:
        if vid not in references:
            raise DataError(f"example {vid}", "no reference sentence with this id")
        lines += [f"### {_md_escape(vid)}", "", "| Source | Text |", "|:---|:---|",
                  f"| reference | {_md_escape(references[vid])} |"]
        for variant, hyps in hypotheses.items():
            lines.append(f"| {_md_escape(variant)} | {_md_escape(hyps.get(vid, '–'))} |")
        lines.append("")
    return "\n".join(lines)
