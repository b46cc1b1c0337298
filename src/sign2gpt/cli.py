"""The `sign2gpt` command: translate new videos with a trained run, check a config, score files.

The workflow (`snakemake`) runs the stages; this command is for what users do around it.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Sequence

log = logging.getLogger("sign2gpt")


def _translate(args: argparse.Namespace) -> int:
    from sign2gpt.translate_video import VideoTranslator

    translator = VideoTranslator.from_run(args.run, variant=args.variant, seed=args.seed, device=args.device)
    for video in args.videos:
        hypothesis = translator.translate(video, beam=args.beam)
        print(f"{video}\t{hypothesis}", flush=True)
    return 0


def _check_config(args: argparse.Namespace) -> int:
    from sign2gpt.config import load_config

    config = load_config(*args.configfiles)
    print(f"valid: dataset {config['dataset']['name']} ({config['dataset']['kind']}), "
          f"experiment {config['experiment']}, seeds {config['seeds']}, variants {config['translate']['variants']}")
    if not args.preflight:
        return 0
    from sign2gpt.preflight import preflight

    missing = preflight(config, gpus=not args.no_gpus)
    for item in missing:
        print(item)
    print(f"preflight: {len(missing)} missing input(s)" if missing else "preflight: every external input was found")
    return 1 if missing else 0


def _score(args: argparse.Namespace) -> int:
    from sign2gpt.errors import DataError
    from sign2gpt.evaluation.conventions import normalise, score
    from sign2gpt.evaluation.significance import paired_test
    from sign2gpt.text.pseudo_glosses import read_sentences_file

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

    p = sub.add_parser("translate", help="translate sign language videos with a trained run",
                       description="Decode, encode and beam-search each video; prints 'video<TAB>translation'.")
    p.add_argument("videos", nargs="+", help="video files (mp4, ...) or folders of frame images")
    p.add_argument("--run", required=True, help="the experiment folder, e.g. results/synthetic-de/default")
    p.add_argument("--variant", default="pgp", choices=("scratch", "pgp", "z"))
    p.add_argument("--seed", type=int, default=None, help="which seed's model (default: the first one found)")
    p.add_argument("--beam", type=int, default=None, help="beam width (default: the run's evaluate.beam)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto (default: cpu)")
    p.set_defaults(func=_translate)

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
    p.add_argument("--keep-final-period", action="store_true", help="do not strip PHOENIX's final ' .'")
    p.add_argument("--baseline", help="another system's hypotheses (aligned): adds a paired bootstrap test against it")
    p.set_defaults(func=_score)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from sign2gpt.errors import Sign2GPTError
    from sign2gpt.utils import setup_logging

    args = build_parser().parse_args(argv)
    setup_logging(level=logging.INFO if args.verbose else logging.WARNING)
    try:
        return int(args.func(args) or 0)
    except Sign2GPTError as exc:
        print(f"sign2gpt {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
