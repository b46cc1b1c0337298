"""The table of an ablation set (`ablation:` in the configuration, sign2gpt.core.ablation).

One section per table of the set, in the paper's shape: a row per experiment with the paper's
number beside ours; each of our cells is the score with its 95% bootstrap interval (one seed) or
mean ± std over seeds with every seed's interval; and each row has the paired bootstrap test of its
difference from the table's reference row (the full method), seed by seed, with whether the
difference goes the paper's way beyond chance (p < 0.05).

Translation tables read rule evaluate's metrics.json and hypotheses (BLEU and ROUGE-L as the report
scores them, sacreBLEU's resampling); localization tables read pretraining's localization.json (P/R/F1
of E at threshold 0.2 over the dev videos with gloss segments, the videos resampled the same way).
"""

from __future__ import annotations

import csv
import io
import statistics
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from sign2gpt.core.errors import DataError
from sign2gpt.core.io import read_json, write_json, write_text
from sign2gpt.evaluation.conventions import normalise
from sign2gpt.evaluation.hypotheses import read_hypotheses
from sign2gpt.evaluation.localization import resampled_localization
from sign2gpt.evaluation.significance import METHOD, interval, paired_result, paired_test, resample_indices
from sign2gpt.report.tables import METRIC_NAMES, _md_table, html_page, html_table

ALPHA = 0.05  # a difference "beyond chance": paired bootstrap p below this
NAMES = {**METRIC_NAMES, "precision": "P", "recall": "R", "f1": "F1"}
SPLIT_NOTE = {
    None: "The paper does not name the split of this table: ours are given on dev and test.",
    "dev": "The paper's figures are on dev; ours beside them are too.",
    "test": "The paper's figures are on test; ours beside them are too.",
}
LOCALIZATION_NOTE = ("Localization: P/R/F1 of the pretraining head's map E at threshold 0.2 against the dev videos' "
                     "true gloss segments (micro-averaged over (time step, pseudo-gloss) pairs; the intervals and "
                     "tests resample the videos). The paper does not name its split.")


# ----------------------------------------------------------------------------- reading one result
def translation_result(metrics_path: str, hyps_path: str, split: str) -> dict[str, Any]:
    """A translation run's scores, intervals and normalised texts on `split`."""
    entry = read_json(metrics_path)["splits"][split]
    opts = {k: entry["conventions"][k] for k in ("lowercase", "strip_final_period")}
    language = entry["conventions"]["language"]
    pairs = read_hypotheses(hyps_path)
    ids = sorted(pairs)
    return {"scores": {m: entry[m] for m in entry["intervals"]}, "intervals": entry["intervals"], "ids": ids,
            "refs": [normalise(pairs[i][0], language, **opts) for i in ids],
            "hyps": [normalise(pairs[i][1], language, **opts) for i in ids]}


def localization_result(path: str) -> dict[str, Any] | None:
    """A pretraining's localization P/R/F1 with intervals over its dev videos (None: not scored, the
    corpus has no gloss segments)."""
    loc = read_json(path)
    if not loc.get("scores"):
        return None
    if "per_video" not in loc:
        raise DataError(path, "has no per-video counts (written before they were kept): rerun its pretraining")
    videos = sorted(loc["per_video"], key=lambda v: v["id"])
    samples = resampled_localization(videos, resample_indices(len(videos)))
    return {"scores": {m: loc["scores"][m] for m in samples}, "intervals": {m: interval(s) for m, s in samples.items()},
            "ids": [v["id"] for v in videos], "videos": videos}


def localization_test(system: Mapping[str, Any], baseline: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """Paired bootstrap of two pretrainings' localization on the same dev videos."""
    if system["ids"] != baseline["ids"]:
        raise DataError("localization.json", "the two pretrainings scored different dev videos")
    idx = resample_indices(len(system["ids"]))
    s, b = resampled_localization(system["videos"], idx), resampled_localization(baseline["videos"], idx)
    return {m: paired_result(system["scores"][m], baseline["scores"][m], s[m], b[m]) for m in s}


# ----------------------------------------------------------------------------- the tables
def _cell(per_seed: Mapping[str, Mapping[str, Any] | None], metric: str, digits: int) -> dict[str, Any]:
    """Our cell of one metric: every seed's score and interval, mean and std over the seeds."""
    seeds = {seed: None if r is None else {"score": round(r["scores"][metric], digits),
                                           "low": round(r["intervals"][metric]["low"], digits),
                                           "high": round(r["intervals"][metric]["high"], digits)}
             for seed, r in per_seed.items()}
    values = [c["score"] for c in seeds.values() if c is not None]
    return {"seeds": seeds, "mean": round(statistics.fmean(values), digits) if values else None,
            "std": round(statistics.stdev(values), digits) if len(values) > 1 else None}


def _versus(row: str, reference: str, tests: Mapping[str, Mapping], metric: str, paper: Mapping) -> dict:
    """A row's paired tests against the reference on one metric, and how they sit with the paper's
    direction (row − reference in the paper): on how many seeds the difference is beyond chance
    its way, and the other way."""
    both = metric in paper.get(row, {}) and metric in paper.get(reference, {})
    paper_delta = paper[row][metric] - paper[reference][metric] if both else None
    seeds = {seed: {"delta": round(t[metric]["delta"], 4), "p": round(t[metric]["p"], 4)} for seed, t in tests.items()}
    beyond = [t[metric]["delta"] for t in tests.values() if t[metric]["p"] < ALPHA and t[metric]["delta"] != 0]
    its_way = None if not paper_delta else sum(1 for d in beyond if (d > 0) == (paper_delta > 0))
    return {"seeds": seeds, "paper_delta": None if paper_delta is None else round(paper_delta, 4),
            "paper_direction_beyond_chance": its_way,
            "opposite_beyond_chance": None if its_way is None else len(beyond) - its_way, "n_seeds": len(seeds)}


def _results(table: Mapping[str, Any], files: Mapping[str, Any], experiment: str, split: str,
             seeds: Sequence[str]) -> dict[str, Any]:
    """A row's result on `split` for each seed (a localization table's are on dev)."""
    if table["kind"] == "translation":
        runs = files["translation"][experiment][table["variant"]]
        return {s: translation_result(runs[s]["metrics"], runs[s][split], split) for s in seeds}
    return {s: localization_result(files["localization"][experiment][s]) for s in seeds}


def _paired_tests(mine: Mapping[str, Any], theirs: Mapping[str, Any], translation: bool, where: str) -> dict:
    """Each seed's paired test of a row (`mine`: {seed: result}) against the reference (`theirs`)."""
    tests = {}
    for seed, result in mine.items():
        if result is None or theirs[seed] is None:
            continue  # not scored (a corpus without gloss segments)
        if result["ids"] != theirs[seed]["ids"]:
            raise DataError(where, f"seed {seed}: the row and the reference row scored different videos")
        tests[seed] = (paired_test(result["hyps"], theirs[seed]["hyps"], result["refs"]) if translation
                       else localization_test(result, theirs[seed]))
    return tests


def build_ablation(spec: Mapping[str, Any], files: Mapping[str, Any], seeds: Sequence[int]) -> dict[str, Any]:
    """The set's tables. `files`: {"translation": {experiment: {variant: {seed: {"metrics", "dev",
    "test"}}}}, "localization": {experiment: {seed: localization.json}}} (experiment: the row's name
    in the set, seeds as strings)."""
    seeds = [str(s) for s in seeds]
    tables = []
    for table in spec["tables"]:
        rows, translation = table["rows"], table["kind"] == "translation"
        paper = {r["experiment"]: r.get("paper") or {} for r in rows}
        splits = ([table["split"]] if table.get("split") else ["dev", "test"]) if translation else ["dev"]
        tested_on = (table.get("split") or "test") if translation else "dev"

        scored = {(r["experiment"], split): _results(table, files, r["experiment"], split, seeds)
                  for r in rows for split in splits}
        digits = 2 if translation else 3
        reference = table.get("reference")
        out_rows = []
        for r in rows:
            name = r["experiment"]
            versus = None
            if reference and name != reference:
                where = f"ablation row {name!r} vs {reference!r} on {tested_on}"
                tests = _paired_tests(scored[name, tested_on], scored[reference, tested_on], translation, where)
                versus = {"split": tested_on,
                          **{m: _versus(name, reference, tests, m, paper) for m in table["metrics"]}}
            out_rows.append({"experiment": name, "label": r.get("label", name), "paper": paper[name],
                             "ours": {split: {m: _cell(scored[name, split], m, digits) for m in table["metrics"]}
                                      for split in splits},
                             "vs_reference": versus})
        tables.append({"title": table["title"], "kind": table["kind"], "variant": table.get("variant"),
                       "paper_split": table.get("split"), "splits": splits, "metrics": list(table["metrics"]),
                       "reference": reference, "note": table.get("note"), "rows": out_rows})
    return {"set": spec["name"], "title": spec.get("title") or spec["name"], "source": spec.get("source"),
            "seeds": [int(s) for s in seeds], "alpha": ALPHA, "method": METHOD, "tables": tables}


# ----------------------------------------------------------------------------- rendering
def format_ours(cell: Mapping[str, Any], digits: int, lines: bool = False) -> str:
    """"23.20 [21.10, 25.30]" (one seed), "22.10 ± 1.30 (21.0 [19.0, 23.0]; …)" (several; `lines`:
    each seed on a line of its own), "not scored"."""
    done = {s: c for s, c in cell["seeds"].items() if c is not None}
    if not done:
        return "not scored"
    each = [f"{c['score']:.{digits}f} [{c['low']:.{digits}f}, {c['high']:.{digits}f}]" for c in done.values()]
    if len(done) == 1:
        return each[0]
    mean = f"{cell['mean']:.{digits}f} ± {cell['std']:.{digits}f}"
    return "\n".join([mean, *each]) if lines else f"{mean} ({'; '.join(each)})"


def format_versus(versus: Mapping[str, Any] | None, metric: str, digits: int, lines: bool = False) -> str:
    """"−2.10 (p 0.002); paper −3.17: its way on 1/1 seeds" for a row's test against the reference
    (`lines`: a line per seed and one for the paper)."""
    if versus is None:
        return "reference"
    v = versus[metric]
    if not v["seeds"]:
        return "not scored"
    parts = [f"{t['delta']:+.{digits}f} (p {t['p']:.3f})" for t in v["seeds"].values()]
    if v["paper_delta"] is not None:
        parts.append(f"paper {v['paper_delta']:+.{digits}f}")
        if v["paper_direction_beyond_chance"] is not None:  # the paper's rows differ
            n = v["n_seeds"]  # the seeds on which the difference is beyond chance, its way and the other way
            its, other = v["paper_direction_beyond_chance"], v["opposite_beyond_chance"]
            parts[-1] += f": its way {its}/{n}, other way {other}/{n}"
    return ("\n" if lines else "; ").join(parts)


def _section(table: Mapping[str, Any], lines: bool = False) -> tuple[list[str], list[list[str]]]:
    digits = 2 if table["kind"] == "translation" else 3
    header = ["Row"]
    for m in table["metrics"]:
        header += [f"Paper {NAMES[m]}"] + [f"Ours {split} {NAMES[m]}" for split in table["splits"]]
        if table["reference"]:
            header.append(f"{NAMES[m]} − {table['reference']} (paired)")
    body = []
    for row in table["rows"]:
        line = [row["label"]]
        for m in table["metrics"]:
            paper = row["paper"].get(m)
            line += ["–" if paper is None else f"{paper:.{digits}f}"]
            line += [format_ours(row["ours"][split][m], digits, lines) for split in table["splits"]]
            if table["reference"]:
                line.append(format_versus(row["vs_reference"], m, digits, lines))
        body.append(line)
    return header, body


def _notes(table: Mapping[str, Any]) -> list[str]:
    notes = [SPLIT_NOTE[table["paper_split"]] if table["kind"] == "translation" else LOCALIZATION_NOTE]
    if table["kind"] == "translation":
        tested = f" Paired tests on {table['paper_split'] or 'test'}." if table["reference"] else ""
        notes.append(f"Translation variant: {table['variant']}.{tested}")
    if table.get("note"):
        notes.append(table["note"])
    return notes


CAPTION = ("Each of our cells: the score and its 95% bootstrap interval [low, high] (one seed), or mean ± "
           "sample std over seeds with every seed's interval. The last column: each seed's paired bootstrap "
           f"difference from the reference row (p two-sided; beyond chance when p < {ALPHA}), and on how many "
           "seeds it is beyond chance the paper's way (the sign of the paper's difference: \"its way k/n\") or "
           "the other way. ")


def render_markdown(result: Mapping[str, Any]) -> str:
    lines = [f"# {result['title']}", ""]
    if result.get("source"):
        lines += [f"Paper: {result['source']}. Seeds: {', '.join(map(str, result['seeds']))}.", ""]
    for table in result["tables"]:
        lines += [f"## {table['title']}", "", *_md_table(*_section(table)), ""]
        lines += [f"- {n}" for n in _notes(table)] + [""]
    lines += [CAPTION + result["method"] + ".", ""]
    return "\n".join(lines)


def render_html(result: Mapping[str, Any]) -> str:
    parts = [f"<h2>{escape(result['title'])}</h2>"]
    if result.get("source"):
        parts.append(f"<p class='front'>Paper: {escape(result['source'])}. Seeds: "
                     f"{escape(', '.join(map(str, result['seeds'])))}.</p>")
    for table in result["tables"]:
        parts += [f"<h3>{escape(table['title'])}</h3>", html_table(*_section(table, lines=True)),
                  "<ul>" + "".join(f"<li>{escape(n)}</li>" for n in _notes(table)) + "</ul>"]
    parts.append(f"<p class='caption'>{escape(CAPTION + result['method'])}.</p>")
    return html_page(result["title"], parts)


def render_csv(result: Mapping[str, Any]) -> str:
    """One line per (table, row, split, metric): the paper's figure, ours (mean, std, every seed's
    score [low, high]) and the paired tests against the reference."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["table", "experiment", "label", "split", "metric", "paper", "mean", "std", "seeds",
                "per_seed", "vs_reference_split", "delta_per_seed", "p_per_seed", "paper_delta",
                "paper_direction_beyond_chance", "opposite_beyond_chance"])
    for table in result["tables"]:
        for row in table["rows"]:
            for split in table["splits"]:
                for m in table["metrics"]:
                    cell = row["ours"][split][m]
                    done = {s: c for s, c in cell["seeds"].items() if c is not None}
                    v = (row["vs_reference"] or {}).get(m) or {"seeds": {}}
                    w.writerow([
                        table["title"], row["experiment"], row["label"], split, m, _blank(row["paper"].get(m)),
                        _blank(cell["mean"]), _blank(cell["std"]), " ".join(done),
                        " ".join(f"{c['score']} [{c['low']}, {c['high']}]" for c in done.values()),
                        row["vs_reference"]["split"] if row["vs_reference"] else "",
                        " ".join(str(t["delta"]) for t in v["seeds"].values()),
                        " ".join(str(t["p"]) for t in v["seeds"].values()),
                        _blank(v.get("paper_delta")), _blank(v.get("paper_direction_beyond_chance")),
                        _blank(v.get("opposite_beyond_chance"))])
    return buf.getvalue()


def _blank(value: Any) -> Any:
    return "" if value is None else value


def write_ablation(result: Mapping[str, Any], *, md: str, csv_path: str, json_path: str, html: str) -> None:
    write_json(json_path, result)
    write_text(md, render_markdown(result))
    write_text(csv_path, render_csv(result))
    write_text(html, render_html(result))
