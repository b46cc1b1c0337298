"""Report: aggregation over seeds, table files, run card, plots, localization scores."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from sign2gpt.core.errors import DataError
from sign2gpt.evaluation import localization
from sign2gpt.report import plots, run_card, tables

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _row(variant, seed, split, value, **kw):
    return {"variant": variant, "seed": seed, "split": split,
            **{m: value + i for i, m in enumerate(tables.METRICS)}, **kw}


def _rows():
    return [
        _row("gates shut (no sign input)", 1, "dev", 1.0),
        _row("pgp", 1, "test", 10.0), _row("pgp", 2, "test", 20.0),
        _row("pgp", 1, "dev", 12.0), _row("pgp", 2, "dev", 14.0),
        _row("scratch", 1, "dev", 5.0),
        _row("text-only baseline", 1, "test", 2.0),
    ]


# ----------------------------------------------------------------------------- tables


def test_aggregate_mean_and_sample_std_over_two_seeds():
    table = tables.aggregate(_rows())
    pgp = next(v for v in table["variants"] if v["variant"] == "pgp")
    cell = pgp["cells"]["test"]["bleu1"]
    assert cell["mean"] == pytest.approx(15.0)
    assert cell["std"] == pytest.approx(7.0710678)  # sample std of (10, 20), ddof = 1
    assert cell["values"] == {"1": 10.0, "2": 20.0}
    assert tables.format_cell(cell) == "15.00 ± 7.07"
    one = next(v for v in table["variants"] if v["variant"] == "scratch")["cells"]["dev"]["bleu1"]
    assert one["std"] is None and tables.format_cell(one) == "5.00"


def test_one_seed_cells_carry_their_bootstrap_interval_in_md_csv_json_and_html(tmp_path):
    iv = {m: {"low": 3.0 + i, "high": 7.5 + i, "mean": 5.1 + i, "ci": 2.25} for i, m in enumerate(tables.METRICS)}
    rows = [_row("pgp", 1, "test", 5.0, intervals=iv), _row("pgp", 2, "test", 9.0, intervals=iv),
            _row("scratch", 1, "test", 5.0, intervals=iv)]
    paths = tables.write_report_tables(rows, tmp_path, html_path=tmp_path / "metrics.html",
                                       warnings=["scratch (seed 1), test: 80% of the hypotheses are empty"],
                                       sections=[("Paired tests", ["System", "p"], [["pgp", "0.001"]])])
    table = json.loads(paths["json"].read_text())
    scratch = next(v for v in table["variants"] if v["variant"] == "scratch")["cells"]["test"]["bleu1"]
    assert scratch["intervals"] == {"1": [3.0, 7.5]} and tables.format_cell(scratch) == "5.00 [3.00, 7.50]"
    pgp = next(v for v in table["variants"] if v["variant"] == "pgp")["cells"]["test"]["bleu4"]
    assert pgp["intervals"] == {"1": [6.0, 10.5], "2": [6.0, 10.5]} and tables.format_cell(pgp) == "10.00 ± 2.83"
    md = paths["md"].read_text()
    assert md.index("> **Warning:** scratch (seed 1), test") < md.index("| Variant |")  # warnings come first
    assert "| scratch | 1 | 5.00 [3.00, 7.50] |" in md and "### Paired tests" in md and "| pgp | 0.001 |" in md
    csv_rows = {r["variant"]: r for r in csv.DictReader(io.StringIO(paths["csv"].read_text()))}
    assert (csv_rows["scratch"]["bleu1_low"], csv_rows["scratch"]["bleu1_high"]) == ("3.0000", "7.5000")
    assert csv_rows["pgp"]["bleu1_low"] == ""  # two seeds: per-seed intervals live in the JSON
    html = paths["html"].read_text()
    assert html.index("80% of the hypotheses are empty") < html.index("<table>")
    assert "<td>5.00 [3.00, 7.50]</td>" in html and "<td>pgp</td><td>0.001</td>" in html
    assert table["warnings"] == ["scratch (seed 1), test: 80% of the hypotheses are empty"]


def test_aggregate_order_references_last_and_splits():
    table = tables.aggregate(_rows())
    names = [v["variant"] for v in table["variants"]]
    assert names == ["pgp", "scratch", "gates shut (no sign input)", "text-only baseline"]
    assert table["splits"] == ["dev", "test"]
    ordered = tables.aggregate(_rows(), variant_order=["scratch", "pgp"])
    assert [v["variant"] for v in ordered["variants"]][:2] == ["scratch", "pgp"]
    flagged = tables.aggregate([_row("my check", 1, "dev", 1.0, reference=True), _row("pgp", 1, "dev", 2.0)])
    assert [v["variant"] for v in flagged["variants"]] == ["pgp", "my check"]


def test_aggregate_rejects_bad_rows():
    with pytest.raises(DataError, match="duplicate"):
        tables.aggregate([_row("pgp", 1, "dev", 1.0), _row("pgp", 1, "dev", 2.0)])
    bad = _row("pgp", 1, "dev", 1.0)
    del bad["rouge_l"]
    with pytest.raises(DataError, match="rouge_l"):
        tables.aggregate([bad])
    with pytest.raises(DataError, match="not finite"):
        tables.aggregate([_row("pgp", 1, "dev", float("nan"))])
    with pytest.raises(DataError):
        tables.aggregate([])


def test_write_report_tables_md_csv_json(tmp_path):
    paths = tables.write_report_tables(_rows(), tmp_path, meta={"signature": "tok:none"},
                                       notes=["Scored without the final period."])
    assert set(paths) == {"md", "csv", "json"}  # HTML only when asked for
    md = (tmp_path / "metrics.md").read_text(encoding="utf-8")
    assert "| pgp | 2 | 13.00 ± 1.41 |" in md  # dev BLEU-1 of seeds (12, 14)
    assert "test BLEU-1" in md and "dev ROUGE-L" in md
    assert "15.00 ± 7.07" in md
    assert "gates shut (no sign input) *(reference)*" in md
    assert md.index("| scratch") < md.index("| text-only baseline")
    assert "Scored without the final period." in md

    rows = list(csv.DictReader(io.StringIO((tmp_path / "metrics.csv").read_text(encoding="utf-8"))))
    pgp_test = next(r for r in rows if r["variant"] == "pgp" and r["split"] == "test")
    assert float(pgp_test["bleu1_mean"]) == pytest.approx(15.0)
    assert float(pgp_test["bleu1_std"]) == pytest.approx(7.0711, abs=1e-4)
    assert pgp_test["n_seeds"] == "2" and pgp_test["seeds"] == "1 2"
    scratch = next(r for r in rows if r["variant"] == "scratch")
    assert scratch["bleu1_std"] == "" and scratch["reference"] == "false"
    assert not any(r["variant"] == "scratch" and r["split"] == "test" for r in rows)

    data = json.loads((tmp_path / "metrics.json").read_text(encoding="utf-8"))
    assert data["meta"] == {"signature": "tok:none"}
    assert len(data["rows"]) == len(_rows())
    pgp = next(v for v in data["variants"] if v["variant"] == "pgp")
    assert pgp["cells"]["test"]["bleu1"]["values"] == {"1": 10.0, "2": 20.0}
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temporaries


def test_write_report_tables_explicit_path_only(tmp_path):
    paths = tables.write_report_tables(_rows(), csv_path=tmp_path / "x.csv")
    assert list(paths) == ["csv"] and (tmp_path / "x.csv").exists()
    assert not (tmp_path / "metrics.md").exists()


def test_render_examples_md():
    refs = {"v2": "es regnet .", "v1": "sonne | wind ."}
    hyps = {"pgp": {"v1": "sonne .", "v2": "regen ."}, "scratch": {"v1": ""}}
    md = tables.render_examples_md(refs, hyps, n=5)
    assert md.index("### v1") < md.index("### v2")  # sorted ids
    assert "| reference | sonne \\| wind . |" in md
    assert "| pgp | regen . |" in md
    assert "| scratch | *(empty)* |" in md and "| scratch | – |" in md
    with pytest.raises(DataError, match="v9"):
        tables.render_examples_md(refs, hyps, ids=["v9"])


# ----------------------------------------------------------------------------- run card

BENCH_HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def test_run_card_reads_benchmarks(tmp_path):
    (tmp_path / "pretrain.tsv").write_text(
        BENCH_HEADER + "120.5\t0:02:00\t812.3\t2000.1\t700.0\t710.0\t1.0\t2.0\t95.0\t230.0\n")
    (tmp_path / "decode.tsv").write_text(  # two repeats; one without memory data
        BENCH_HEADER + "10.0\t0:00:10\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\n"
        + "20.0\t0:00:20\t100.0\t1.0\t1.0\t1.0\t1.0\t1.0\t1.0\t4.0\n")
    config = {"experiment": "default", "seeds": [1, 2], "device": "cpu", "gpus": 2, "precision": "auto",
              "dataset": {"name": "synthetic-de", "kind": "synthetic", "language": "de"},
              "pretrain": {"batch_size": 8}, "translate": {"batch_size": 4}}
    card = run_card.collect_run_card(
        {"pretrain seed1": tmp_path / "pretrain.tsv", "decode": tmp_path / "decode.tsv"},
        config=config, extra={"precision": "fp32", "note": "test"}, repo_dir=tmp_path)
    assert card["stages"]["pretrain seed1"]["wall_s"] == pytest.approx(120.5)
    assert card["stages"]["pretrain seed1"]["max_rss_mib"] == pytest.approx(812.3)
    assert card["stages"]["pretrain seed1"]["wall_hms"] == "0:02:00"
    assert card["stages"]["decode"]["wall_s"] == pytest.approx(15.0)  # mean over repeats
    assert card["stages"]["decode"]["max_rss_mib"] == pytest.approx(100.0)
    assert card["total_wall_s"] == pytest.approx(135.5)
    assert card["effective_batch_size"]["pretrain"]["effective"] == 16
    assert card["effective_batch_size"]["translate"]["effective"] == 8  # 4 per process x 2 GPUs
    assert card["precision"] == "fp32" and card["seeds"] == [1, 2]
    assert card["git"] == {"commit": None, "dirty": None}  # tmp_path is not a git checkout
    assert card["versions"]["sacrebleu"] and card["versions"]["sign2gpt"]
    assert card["hardware"]["cpu_cores"] >= 1
    json.dumps(card)  # serialisable

    md = run_card.render_run_card_md(card)
    assert "| pretrain seed1 | 0:02:00 | 120.50 | 812.30 | 230.00 |" in md
    assert "Effective batch size, translate: 8 (4 per process × 2 process(es))" in md
    assert "| sacrebleu |" in md and "not a git checkout" in md

    run_card.write_run_card(card, tmp_path / "run_card.md", tmp_path / "run_card.json")
    assert (tmp_path / "run_card.md").read_text(encoding="utf-8") == md
    assert json.loads((tmp_path / "run_card.json").read_text())["total_wall_s"] == pytest.approx(135.5)


def test_run_card_bad_benchmark(tmp_path):
    with pytest.raises(DataError, match="not found"):
        run_card.read_benchmark(tmp_path / "missing.tsv")
    (tmp_path / "bad.tsv").write_text("seconds\n1.0\n")
    with pytest.raises(DataError, match="'s'"):
        run_card.read_benchmark(tmp_path / "bad.tsv")


# ----------------------------------------------------------------------------- plots


def _assert_png(path):
    data = path.read_bytes()
    assert len(data) > 1000 and data[:8] == PNG_MAGIC


def test_plot_training_curves(tmp_path):
    csv_text = "epoch,train_loss,dev_loss,dev_bleu4,lr,note\n1,2.0,2.1,,1e-3,a\n2,1.5,1.9,3.0,9e-4,b\n"
    (tmp_path / "a.csv").write_text(csv_text)
    (tmp_path / "b.csv").write_text(csv_text)
    cols = plots.read_curves(tmp_path / "a.csv")
    assert set(cols) == {"epoch", "train_loss", "dev_loss", "dev_bleu4", "lr"}  # text column skipped
    assert np.isnan(cols["dev_bleu4"][0])
    out = plots.plot_training_curves({("pretrain", "1"): tmp_path / "a.csv", ("pretrain", "2"): tmp_path / "b.csv"},
                                     tmp_path / "fig" / "curves.png", title="pretrain")
    _assert_png(out)
    with pytest.raises(DataError, match="not found"):
        plots.plot_training_curves({("x", "1"): tmp_path / "nope.csv"}, tmp_path / "n.png")


def test_training_curves_one_quantity_per_labelled_panel_colour_per_variant(tmp_path):
    header = "epoch,train_loss,lr,dev_tf_bleu4,dev_beam_bleu4,gate_mean,seconds,dev_selection"
    for name in ("scratch", "pgp"):
        (tmp_path / f"{name}.csv").write_text(f"{header}\n1,3.0,1e-4,1.0,,0.0,2.0,0\n2,2.0,2e-4,2.0,4.0,0.1,2.1,0\n")
    runs = {(v, seed): tmp_path / f"{v}.csv" for v in ("scratch", "pgp") for seed in ("1", "2")}
    fig = plots.training_curves_figure(runs, title="Translation")
    axes = [ax for ax in fig.axes if ax.get_visible()]
    titles = [ax.get_title() for ax in axes]
    assert titles == ["train loss", "dev BLEU-4, beam search", "dev BLEU-4, teacher-forced", "mean gate value",
                      "learning rate", "seconds per epoch"]  # beam and teacher-forced apart; no selection score
    for ax in axes:
        assert ax.get_ylabel() == ax.get_title() and ax.get_xlabel() == "epoch"
        lines = ax.get_lines()
        assert len(lines) == 4  # 2 variants x 2 seeds, nothing else on the axis
        colour = {line.get_label().split(",")[0]: line.get_color() for line in lines}
        assert len(set(colour.values())) == 2  # one colour per variant ...
        styles = {line.get_label(): line.get_linestyle() for line in lines}
        assert styles["pgp, seed 1"] != styles["pgp, seed 2"]  # ... a line style per seed
    beam = axes[1].get_lines()[0]
    assert list(beam.get_xdata()) == [2.0]  # drawn only at the epochs it was computed
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [
        "scratch, seed 1", "scratch, seed 2", "pgp, seed 1", "pgp, seed 2"]


def test_plot_localization(tmp_path):
    E = np.random.default_rng(0).random((12, 3))
    segs = [("REGEN", 0, 16), ("SONNE", 16, 40), ("WIND", 40, 48)]
    out = plots.plot_localization(E, ["regen", "sonne", "morgen"], tmp_path / "loc.png",
                                  frame_scale=4, true_segments=segs, title="dev 1")
    _assert_png(out)
    _assert_png(plots.plot_localization(E, ["a", "b", "c"], tmp_path / "plain.png", frame_scale=4))
    with pytest.raises(DataError, match="columns"):
        plots.plot_localization(E, ["a"], tmp_path / "x.png", frame_scale=4)


# ----------------------------------------------------------------------------- localization


def _hand_case():
    # 8 time steps x 2 pseudo-glosses, 1 step = 2 source frames; step t has centre 2t + 1
    E = np.zeros((8, 2))
    E[:, 0] = [1.0, 0.5, 0.1, 0.0, 0.3, 0.0, 0.0, 0.0]  # regen: positives (>= 0.2) at t = 0, 1, 4
    E[:, 1] = [0.0, 0.0, 0.0, 0.0, 0.5, 0.05, 0.5, 0.2]  # /0.5 -> 1, .1, 1, .4: positives t = 4, 6, 7
    segs = [("REGEN", 0, 8), ("SONNE", 8, 16), ("WIND", 16, 20)]  # REGEN: t 0-3, SONNE: t 4-7
    return E, ["regen", "sonne"], segs


def test_localization_scores_hand_made():
    E, labels, segs = _hand_case()
    s = localization.localization_scores(E, labels, segs, frame_scale=2, threshold=0.2)
    # TP: regen t0, t1; sonne t4, t6, t7 = 5; predicted 6; true 4 + 4 = 8
    assert (s["tp"], s["predicted"], s["true"]) == (5, 6, 8)
    assert s["precision"] == pytest.approx(5 / 6)
    assert s["recall"] == pytest.approx(5 / 8)
    assert s["f1"] == pytest.approx(2 * (5 / 6) * (5 / 8) / (5 / 6 + 5 / 8))
    assert s["unmatched_glosses"] == ["WIND"] and s["unscored_labels"] == []
    # a higher threshold drops regen t4 (0.3) and sonne t7 (0.4)
    s5 = localization.localization_scores(E, labels, segs, frame_scale=2, threshold=0.5)
    assert (s5["tp"], s5["predicted"]) == (4, 4)


def test_localization_mapping_and_unscored_labels():
    E, _, segs = _hand_case()
    labels = ["nass", "sonne"]
    s = localization.localization_scores(E, labels, segs, frame_scale=2)
    assert s["scored_labels"] == ["sonne"] and s["unscored_labels"] == ["nass"]
    assert (s["tp"], s["predicted"], s["true"]) == (3, 3, 4)
    mapped = localization.localization_scores(E, labels, segs, frame_scale=2,
                                       gloss_to_pseudo={"REGEN": "nass", "SONNE": "sonne"})
    assert (mapped["tp"], mapped["predicted"], mapped["true"]) == (5, 6, 8)
    both = localization.combine_localization([s, mapped])
    assert (both["tp"], both["predicted"], both["true"], both["videos"]) == (8, 9, 12, 2)
    assert both["precision"] == pytest.approx(8 / 9)


def test_localization_rejects_bad_input():
    E, labels, segs = _hand_case()
    with pytest.raises(DataError, match="non-negative"):
        localization.localization_scores(-E - 1, labels, segs, frame_scale=2)
    with pytest.raises(DataError, match="end must be after start"):
        localization.localization_scores(E, labels, [("REGEN", 5, 5)], frame_scale=2)
    with pytest.raises(ValueError):
        localization.localization_scores(E, labels, segs, frame_scale=0)


# --- who was scored, and per signer ----------------------------------------------------------


def test_signer_table_scores_each_signer_and_the_seen_and_unseen_groups(tmp_path):
    from sign2gpt.report.signers import SEEN, UNSEEN, signer_table

    refs = {f"v{i}": ("morgen regnet es im norden" if i % 2 else "heute scheint die sonne") for i in range(9)}
    signers = {f"v{i}": ("A" if i < 4 else "B" if i < 7 else "C") for i in range(9)}
    right = {vid: (ref, ref) for vid, ref in refs.items()}
    wrong_for_c = {vid: (ref, ref if signers[vid] != "C" else "xyz") for vid, ref in refs.items()}
    conv = {"lowercase": True, "strip_final_period": True}
    table = signer_table({("pgp", 1): right, ("pgp", 2): wrong_for_c, ("scratch", 1): wrong_for_c}, signers, {"A", "B"},
                         language="de", conventions=conv, variant_order=["pgp", "scratch"])
    assert table["splits"] == ["A", "B", "C", SEEN, UNSEEN]
    assert table["videos"] == {"A": 4, "B": 3, "C": 2, SEEN: 7, UNSEEN: 2} and table["unseen"] == ["C"]
    pgp, scratch = table["variants"]
    assert pgp["cells"]["A"]["bleu4"]["mean"] == pytest.approx(100)
    assert pgp["cells"]["C"]["bleu4"]["values"] == pytest.approx({"1": 100, "2": 0})
    assert pgp["cells"][UNSEEN]["rouge_l"]["std"] > 0 and scratch["cells"][SEEN]["bleu4"]["mean"] == pytest.approx(100)
    assert scratch["cells"][UNSEEN]["bleu4"]["mean"] == 0
    low, high = scratch["cells"]["A"]["bleu4"]["intervals"]["1"]
    assert low <= 100 + 1e-9 and high >= 100 - 1e-9
    png = plots.plot_signer_scores(table, tmp_path / "signers.png", title="per signer")
    assert png.stat().st_size > 0
    # a split whose signers all appear in training has no groups; a manifest without signers, no table
    assert signer_table({("pgp", 1): right}, signers, {"A", "B", "C"}, language="de", conventions=conv,
                        variant_order=["pgp"])["splits"] == ["A", "B", "C"]
    assert signer_table({("pgp", 1): right}, dict.fromkeys(refs, ""), set(), language="de", conventions=conv,
                        variant_order=["pgp"]) is None


def test_coverage_counts_videos_left_out_and_repaired(tmp_path):
    from sign2gpt.data.frame_store import FrameStoreWriter
    from sign2gpt.data.manifest import Sample, write_manifest
    from sign2gpt.report.coverage import altered, coverage_note, split_coverage

    samples = [Sample(f"t{i}", "/v", 3, "A", "text") for i in range(4)]
    write_manifest(tmp_path / "test.tsv", samples)
    (tmp_path / "skipped.tsv").write_text("split\tid\tsource\treason\ntest\tgone\tcsv:9\t92 of 92 frames are damaged\n"
                                          "train\ttr\tcsv:2\tempty text\n")
    frames = np.zeros((3, 4, 4, 3), np.uint8)
    with FrameStoreWriter(tmp_path / "s.h5", stride=1, size=4, storage="raw") as w:
        w.add("t0", frames)
        w.add("t1", frames, repaired=2)
        w.add("t2", frames)
        w.leave_out("t3", "no frame could be read")
    c = split_coverage("test", str(tmp_path / "test.tsv"), str(tmp_path / "skipped.tsv"), [str(tmp_path / "s.h5")],
                       scored=3)
    assert c == {"videos": 5, "scored": 3, "repaired": {"t1": 2},
                 "left_out": {"gone": "prepare: 92 of 92 frames are damaged", "t3": "decode: no frame could be read"}}
    note = coverage_note({"test": c})
    assert note.startswith("Videos: test: 3 of 5 videos scored, 1 with repaired frames (2 frames replaced")
    assert "gone (prepare: 92 of 92" in note and "do not compare with papers" in note and altered(c)
    whole = {"videos": 4, "scored": 4, "repaired": {}, "left_out": {}}
    assert coverage_note({"test": whole}) == "Videos: test: 4 of 4 videos scored, none with repaired frames."


def test_results_page_leads_with_coverage_headline_and_signers_and_reads_on_a_laptop(tmp_path):
    from sign2gpt.report.tables import headline_table, render_html, signer_sections

    rows = [{"variant": v, "seed": "1", "split": split, "bleu1": 50.0, "bleu2": 40.0, "bleu3": 30.0, "bleu4": b4,
             "rouge_l": 45.0, "intervals": {m: {"low": 1.0, "high": 99.0} for m in tables.METRICS}}
            for v, b4 in (("pgp", 20.0), ("scratch", 10.0)) for split in ("dev", "test")]
    table = tables.aggregate(rows)
    signer_table = tables.aggregate([{**r, "split": "Signer01"} for r in rows if r["split"] == "test"])
    signer_table |= {"videos": {"Signer01": 7}, "unseen": ["Signer01"]}
    png = tmp_path / "signers_test.png"
    png.write_bytes(b"\x89PNG fake")
    page = render_html(table, front=["Videos: test: 7 of 7 videos scored, none with repaired frames."],
                       lead=[("Test scores", *headline_table(table)), *signer_sections({"test": signer_table,
                                                                                       "dev": None})],
                       notes=["Findings (test split):\n\n- pgp beats scratch\n- z beats pgp"], figures=[png])
    order = [page.index(x) for x in ("Videos: test: 7 of 7", "<h3>Test scores</h3>", "test BLEU-4 per signer",
                                     "Signer01 (not in training)", "the manifest names no signer",
                                     "All scores: dev", "All scores: test", "<li>pgp beats scratch</li>",
                                     "data:image/png;base64,")]
    assert order == sorted(order)
    assert "20.00 [1.00, 99.00]" in page.split("All scores")[0]  # the headline has the interval
    widest = max(chunk.count("<th>") for chunk in page.split("<table>")[1:])
    assert widest <= 7  # the full table comes one split at a time: no 12-column table


def test_the_bleu_note_says_what_the_tokens_are():
    from sign2gpt.evaluation.conventions import conventions_for
    from sign2gpt.report.build import tokens_note

    assert tokens_note(conventions_for("en", lowercase=False, strip_final_period=False)) == "sacreBLEU 13a tokens"
    assert tokens_note(conventions_for("zh", lowercase=False, strip_final_period=True)) == "characters"
    assert tokens_note(conventions_for("de", lowercase=False, strip_final_period=True)) == "the text's own words"
