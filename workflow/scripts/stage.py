"""Every rule's script: the function sign2gpt.app.rules.RULES names for the rule, run under the
stage runner (its log, threads, and a one-line error naming a bad item)."""
# A stage's worker pool may use the spawn start method, which re-runs this file in each worker
# (without the `snakemake` object): everything stays under the guard.
if __name__ == "__main__":
    import sys

    sys.path.insert(0, f"{snakemake.scriptdir}/../../src")  # noqa: F821
    from sign2gpt.app.rules import stage_function
    from sign2gpt.app.stage_runner import run_stage

    stage = stage_function(snakemake.rule)  # noqa: F821  (its libraries load before the stage starts)
    with run_stage(snakemake) as smk:  # noqa: F821
        stage(smk)
