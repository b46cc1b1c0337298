"""Rule synthetic_corpus: render the embedded synthetic signing corpus."""
# The renderer's worker pool uses the spawn start method, which re-runs this file in each worker
# (without the `snakemake` object): everything stays under the guard.
if __name__ == "__main__":
    import sys

    sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # noqa: F821
    from sign2gpt.data.synthetic.corpus import generate_corpus
    from sign2gpt.app.stage_runner import run_stage

    with run_stage(snakemake) as smk:  # noqa: F821
        cfg = dict(smk.params.synthetic)
        generate_corpus(
            smk.output[0],
            language=cfg["language"],
            splits=dict(cfg["splits"]),
            signers=cfg["signers"],
            test_only_signers=cfg["test_only_signers"],
            image_size=cfg["image_size"],
            fps=cfg["fps"],
            frames_per_gloss=tuple(cfg["frames_per_gloss"]),
            transition_frames=tuple(cfg["transition_frames"]),
            noise=cfg["noise"],
            seed=cfg["seed"],
            from_csv=cfg["from_csv"],
            workers=cfg["workers"],
        )
