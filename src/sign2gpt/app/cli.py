"""The `sign2gpt` command: translate new videos with a trained run or an exported model, export a
model, check a config, score files.

The workflow (`snakemake`) runs the stages; this command is for what users do around it.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence

log = logging.getLogger("sign2gpt")


def _quiet(verbose: bool) -> None:
    """Unless -v: no weight-loading progress bars or transformers warnings, and no FFmpeg/decord
    messages on stderr for a bad video (its one-line error says what is wrong)."""
    if not verbose:
        import decord
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        decord.logging.set_level(decord.logging.QUIET)


def _translate(args: argparse.Namespace) -> int:
    """Check every input first, translate every good one, exit 1 if any input failed."""
    from tqdm import tqdm

    from sign2gpt.core.errors import DataError
    from sign2gpt.core.io import atomic_path
    from sign2gpt.inference.inputs import collect_videos
    from sign2gpt.inference.video_translator import VideoTranslator
    from sign2gpt.runtime.device import resolve_device

    _quiet(args.verbose)
    videos, errors = collect_videos(args.videos)
    for e in errors:
        print(f"sign2gpt translate: {e}", file=sys.stderr)
    rows = [(e.item, "", e.problem) for e in errors]
    if videos:
        resolve_device(args.device)
        if args.model:
            translator = VideoTranslator.from_pretrained(args.model, device=args.device, precision=args.precision)
        else:
            translator = VideoTranslator.from_run(args.run, variant=args.variant, seed=args.seed, device=args.device,
                                                  precision=args.precision)
        for video in tqdm(videos, desc="translate", unit="video", disable=not args.verbose):
            try:
                hypothesis = translator.translate(video, beam=args.beam)
            except DataError as e:
                print(f"sign2gpt translate: {e}", file=sys.stderr)
                rows.append((video, "", e.problem))
                continue
            print(f"{video}\t{hypothesis}", flush=True)
            rows.append((video, hypothesis, ""))
    if args.output:
        with atomic_path(args.output) as tmp:
            tmp.write_text("video\ttranslation\terror\n" + "".join(
                "\t".join(cell.replace("\t", " ").replace("\n", " ") for cell in row) + "\n" for row in rows),
                encoding="utf-8")
    failed = sum(1 for row in rows if row[2])
    if failed:
        print(f"sign2gpt translate: {failed} of {len(rows)} input(s) failed", file=sys.stderr)
    return 1 if failed else 0


def _export(args: argparse.Namespace) -> int:
    from sign2gpt.core.io import read_json
    from sign2gpt.inference.export import export_model
    from sign2gpt.inference.model_folder import CONFIG

    _quiet(args.verbose)
    out = export_model(args.run, args.out, variant=args.variant, seed=args.seed, copy_base=args.copy_base)
    config = read_json(out / CONFIG)
    print(f"exported {config['variant']} (seed {config['seed']}) to {out}: {config['weights']['parameters']:,} "
          "trained parameters in model.safetensors")
    for base, ref in config["base_models"].items():
        print(f"  {base}: {ref['source']} " + (f"(copied into {ref['path']})" if ref["copied"] else
                                               "(named, not copied: --copy-base to include it)"))
    return 0


def _check_config(args: argparse.Namespace) -> int:
    from sign2gpt.core.ablation import describe, experiments
    from sign2gpt.core.config import load_config

    config = load_config(*args.configfiles)
    exps = experiments(config)  # an ablation set's rows: each overlay checked and validated
    if config.get("ablation"):
        print(f"valid: dataset {config['dataset']['name']} ({config['dataset']['kind']}), ablation set "
              f"{config['ablation']['name']}, seeds {config['seeds']}, {len(exps)} experiments:\n{describe(exps)}")
    else:
        print(f"valid: dataset {config['dataset']['name']} ({config['dataset']['kind']}), experiment "
              f"{config['experiment']}, seeds {config['seeds']}, variants {config['translate']['variants']}")
    if not args.preflight:
        return 0
    from sign2gpt.app.preflight import preflight

    # every experiment's external inputs (a row may name another pretrained LM or backbone), each once
    found = (item for exp in exps.values() for item in preflight(exp.config, gpus=not args.no_gpus))
    missing = list(dict.fromkeys(found))
    for item in missing:
        print(item)
    print(f"preflight: {len(missing)} missing input(s)" if missing else "preflight: every external input was found")
    return 1 if missing else 0


def _score(args: argparse.Namespace) -> int:
    from sign2gpt.core.errors import DataError
    from sign2gpt.evaluation.conventions import normalise, score
    from sign2gpt.evaluation.significance import paired_test
    from sign2gpt.text.vocab_file import read_sentences_file

    hyps, refs = read_sentences_file(args.hypotheses), read_sentences_file(args.references)
    opts = {"lowercase": args.lowercase, "strip_final_period": not args.keep_final_period}
    result = score(hyps, refs, args.language, **opts)
    keys = ("bleu1", "bleu2", "bleu3", "bleu4", "rouge_l", "n", "signature", "intervals", "bootstrap")
    out = {k: result[k] for k in keys}
    if args.baseline:
        base = read_sentences_file(args.baseline)
        if len(base) != len(hyps):
            raise DataError(args.baseline, f"{len(base)} sentences, the hypotheses have {len(hyps)}")
        prep = lambda xs: [normalise(x, args.language, **opts) for x in xs]  # noqa: E731
        out["paired_test"] = {"baseline": args.baseline, **paired_test(prep(hyps), prep(base), prep(refs))}
    print(json.dumps(out, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sign2gpt", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("translate", help="translate sign language videos with a trained run or an exported model",
                       description="Checks every input, then decodes, encodes and beam-searches each readable one; "
                                   "prints 'video<TAB>translation' per video and one error line per bad input "
                                   "(stderr); "
                                   "exit status 1 if any input failed.")
    p.add_argument("videos", nargs="+", help="video files (mp4, ...), folders of frame images, folders of videos, or "
                                             ".csv/.tsv/.txt lists of videos (a 'video' column, or the first column)")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--run", help="the experiment folder, e.g. results/synthetic-de/default")
    source.add_argument("--model", help="a model folder written by `sign2gpt export`")
    p.add_argument("--variant", default="pgp", choices=("scratch", "pgp", "z"), help="with --run (default: pgp)")
    p.add_argument("--seed", type=int, default=None,
                   help="with --run: which seed's model (default: the first one found)")
    p.add_argument("--beam", type=int, default=None, help="beam width (default: the one the run's evaluate stage used)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default: cpu)")
    p.add_argument("--precision", default="auto", choices=("auto", "bf16", "fp16", "fp32"),
                   help="as the evaluate stage's `precision` (auto: bf16 on recent GPUs, fp32 on a CPU)")
    p.add_argument("--output", help="also write video, translation, error as a TSV file (written atomically)")
    p.set_defaults(func=_translate)

    p = sub.add_parser("export", help="write one trained variant of a run as a self-contained model folder",
                       description="config.json, model.safetensors (the trained weights), tokenizer, pseudo-gloss "
                                   "vocabulary and a model card README.md; the frozen base models (LM, backbone) are "
                                   "named by hub id or folder, or copied in with --copy-base. "
                                   "`hf upload` publishes it.")
    p.add_argument("run", help="the experiment folder, e.g. results/synthetic-de/default")
    p.add_argument("out", help="the new model folder (must not exist, or be empty)")
    p.add_argument("--variant", default="pgp", choices=("scratch", "pgp", "z"))
    p.add_argument("--seed", type=int, default=None, help="which seed's model (default: the first one found)")
    p.add_argument("--copy-base", action="store_true",
                   help="copy the frozen base models into the folder (from their local folder or the local Hugging "
                        "Face cache; nothing is downloaded), so it needs nothing else")
    p.set_defaults(func=_export)

    p = sub.add_parser("check-config", help="validate config.yaml plus overlays, as the workflow does")
    p.add_argument("configfiles", nargs="*", help="overlays applied on top of config.yaml, in order")
    p.add_argument("--preflight", action="store_true",
                   help="also look for every external input (dataset files, spaCy pipeline, fastText .bin, "
                        "DINOv2 / LM weights, GPUs) and list each missing one; exit 1 if any is")
    p.add_argument("--no-gpus", action="store_true",
                   help="with --preflight: skip the GPU check (a cluster's login node; the jobs get GPUs from SLURM)")
    p.set_defaults(func=_check_config)

    p = sub.add_parser("score", help="BLEU-1..4 and ROUGE-L of a hypothesis file against a reference file, with 95%% "
                                    "bootstrap intervals")
    p.add_argument("hypotheses", help="one sentence per line (UTF-8)")
    p.add_argument("references", help="one sentence per line (UTF-8), aligned with the hypotheses")
    p.add_argument("--language", default="de", help="de (word level) or zh (character level)")
    p.add_argument("--lowercase", action="store_true")
    p.add_argument("--keep-final-period", action="store_true", help="do not strip a final '.' (on by default)")
    p.add_argument("--baseline", help="another system's hypotheses (aligned): adds a paired bootstrap test against it")
    p.set_defaults(func=_score)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from sign2gpt.core.errors import Sign2GPTError
    from sign2gpt.core.logs import setup_logging

    args = build_parser().parse_args(argv)
    setup_logging(level=logging.INFO if args.verbose else logging.WARNING)
    try:
        return int(args.func(args) or 0)
    except Sign2GPTError as exc:
        print(f"sign2gpt {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
