# sign2gpt: Sign2GPT (Wong, Camgoz, Bowden, ICLR 2024) as a Snakemake workflow.
# `snakemake --cores all` runs the embedded default (config.yaml) to the report;
# `--configfile configs/<preset>.yaml` overlays a preset; `--profile profiles/slurm` submits to SLURM.
import os

from snakemake.utils import min_version

min_version("9.0")


configfile: os.path.join(workflow.basedir, "config.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/text.smk"
include: "workflow/rules/lm.smk"
include: "workflow/rules/pretrain.smk"
include: "workflow/rules/translate.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        report_targets(),
