# Configuration check and the path helpers every rule file uses.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from sign2gpt.core import job_resources  # noqa: E402
from sign2gpt.core.config import coerce_config, validate_config  # noqa: E402
from sign2gpt.core.errors import ConfigError  # noqa: E402
from sign2gpt.core import ablation  # noqa: E402
from sign2gpt.core.settings import RUN_ONLY  # noqa: E402

try:
    coerce_config(config)  # --config values arrive as strings below the top level
    validate_config(config)
    # every experiment of the run: `experiment:`, or the rows of an `ablation:` set (core/ablation.py)
    EXPERIMENTS = ablation.experiments(config)
except ConfigError as exc:
    raise WorkflowError(str(exc))


DS = config["dataset"]["name"]
DATA = f"results/{DS}"
EXP_DIR = f"{DATA}/{config['experiment']}"  # the report's experiment (a run without an ablation set)
# An experiment's stages write under results/<dataset>/<experiment>/seed<seed>/, their logs and
# benchmark files under logs/<dataset>/<experiment>/ and results/<dataset>/<experiment>/benchmarks/.
RUN = f"{DATA}/{{experiment}}/seed{{seed}}"
EXP_LOGS = f"logs/{DS}/{{experiment}}/seed{{seed}}"
EXP_BENCH = f"{DATA}/{{experiment}}/benchmarks/seed{{seed}}"
LOGS = f"logs/{DS}"
BENCH = f"{DATA}/benchmarks"  # the dataset's stages
SPLITS = ["train", "dev", "test"]
SHARDS = list(range(config["decode"]["shards"]))
SEEDS = config["seeds"]
VARIANTS = config["translate"]["variants"]
TEXT_CONFIGS = ablation.text_configs(EXPERIMENTS, config)
ENVS = str(Path(workflow.basedir) / "envs")


wildcard_constraints:
    seed=r"\d+",
    split="train|dev|test",
    shard=r"\d+",
    variant="scratch|pgp|z",
    experiment=ablation.one_of(EXPERIMENTS),  # exactly the run's experiments
    text=ablation.one_of(TEXT_CONFIGS),


def xconfig(wc):
    """The configuration of the job's experiment (`{experiment}` wildcard)."""
    return EXPERIMENTS[wc.experiment].config


def xsection(section):
    """Param of a rule, the job's experiment's `section:`."""
    return lambda wc: xconfig(wc)[section]


def declared_gpus():
    """The GPUs the run declared (`--resources gpu=N`; profiles/local declares 1), or None."""
    value = getattr(workflow.global_resources.get("gpu"), "value", None)
    return int(value) if value is not None else None


def one_machine():
    """The main process of a run on one machine. Only known once jobs are created: while this file
    is read, Snakemake has not chosen its executor yet and says local for a cluster run too."""
    return workflow.local_exec and workflow.is_main_process


def gpu_request(stage):
    """The `gpu` resource of a job of `stage`, decided when the job is created."""
    return lambda wc: job_resources.gpu_request(config, stage, one_machine=one_machine(), declared=declared_gpus())


def job_memory_and_time(rule):
    """mem_mb and runtime (minutes) of a rule's jobs, from the config's `resources:` section."""
    return job_resources.stage_resources(config, rule)


def job_threads(section=None, distributed=True):
    """CPUs a torch job asks for: `threads`, or a stage's loader workers + its processes."""
    return job_resources.job_threads(config, section, distributed=distributed)


onstart:
    # a local run that will run GPU jobs must declare its GPUs (only for real runs, once the
    # executor and the jobs to run are known)
    if one_machine():
        planned = {job.rule.name for job in workflow.dag.needrun_jobs()}
        try:
            job_resources.check_declared_gpus(config, declared_gpus(), planned)
        except ConfigError as exc:
            raise WorkflowError(str(exc))


def manifests():
    """prepare's outputs, by split (the other rules name them as rules.prepare.output[split])."""
    return {split: f"{DATA}/manifest/{split}.tsv" for split in SPLITS}


def frame_shards(split):
    """The decoded frame stores of one split: every shard of rules.decode's output."""
    return expand(rules.decode.output.frames, split=split, shard=SHARDS)


def frame_inputs(wc, split):
    """A split's frames as a stage of the job's experiment reads them: the frame stores, or (a frozen
    backbone without augmentation) the backbone's frame-feature cache."""
    home = EXPERIMENTS[wc.experiment].frame_features_home
    if home is None:
        return frame_shards(split)
    return [rules.frame_features.output[0].format(experiment=home, split=split)]


def job_config(wc):
    """The configuration a job reads: its experiment's, its text home's, or the run's."""
    if "experiment" in wc.keys():
        return xconfig(wc)
    if "text" in wc.keys():
        return TEXT_CONFIGS[wc.text]
    return config


def authors_pseudo_gloss_file(wc):
    """The authors' pseudo-gloss file as rule pseudo_glosses' input `file`, when configured."""
    path = job_config(wc)["pseudo_glosses"]["file"]
    return {"file": path} if path else {}


def fasttext_bin():
    """The configured pretrained fastText .bin, or the one the workflow trains."""
    path = config["prototypes"]["fasttext"]
    return path if path else rules.fasttext.output[0]


def lm_param(wildcards, input):
    """The LM to load: the rule's LM input (trained or local dir), else the configured hub name."""
    return input.lm[0] if input.lm else job_config(wildcards)["lm"]["pretrained"]


def corpus_root(wildcards, input):
    """The synthetic corpus the workflow rendered, or the configured dataset root."""
    return input[0] if input else config["dataset"]["root"]


def model_input(name, made_by_workflow):
    """Snakemake input for a pretrained model: a local dir, nothing for a hub name, and with no
    name the dir the workflow makes (`made_by_workflow`, or None: nothing)."""
    if not name:
        return [made_by_workflow] if made_by_workflow else []
    return [name] if Path(name).exists() else []


def lm_input(cfg=config):
    """The LM: the dir lm_pretrain makes, a local pretrained dir, or nothing (hub name)."""
    name = cfg["lm"]["pretrained"]
    return model_input(name, None if name else rules.lm_pretrain.output[0])


def spatial_input(cfg=config):
    """The backbone: the dir spatial_pretrain makes, a local pretrained dir, or nothing (a hub
    name, or a backbone built from spatial.config with random weights)."""
    sp = cfg["spatial"]
    made = not sp["pretrained"] and sp.get("pretrain")
    return model_input(sp["pretrained"], rules.spatial_pretrain.output[0] if made else None)


def spatial_param(wildcards, input):
    """The `spatial:` section with `pretrained` pointing at the backbone the rule was given."""
    spatial = job_config(wildcards)["spatial"]
    return {**spatial, "pretrained": input.spatial[0]} if input.spatial else spatial


# Each rule's params hold what it reads, and only what can change its outputs: the keys of
# sign2gpt.core.settings.RUN_ONLY (loader workers, kept maps, ...) are read from the config by the
# rules' functions instead (sign2gpt.stages, with settings.run_only), so changing them reruns nothing.
FRAME_SAMPLING = ("frame_stride", "max_frames")  # how a video's frames are chosen (every stage that reads frames)
AUGMENTATION = ("augment", "hflip")  # only the training stages draw augmentations
SCORING = ("max_tokens", "lowercase", "strip_final_period")  # of `evaluate:`, what dev selection also uses


def section_params(section, *drop):
    """Param of a rule, the job's config[section] less the keys that change no output (RUN_ONLY) and `drop`."""
    return lambda wc: {k: v for k, v in job_config(wc)[section].items() if k not in RUN_ONLY.get(section, ()) + drop}


def frame_params(training):
    """Param of a rule, the `frames:` settings a stage reads, the sampling, and for training the
    augmentation. A stage that draws no augmentation gets it switched off, so changing it reruns no
    such stage."""

    def params(wc):
        frames = job_config(wc)["frames"]
        return {k: frames[k] if training or k in FRAME_SAMPLING else False for k in FRAME_SAMPLING + AUGMENTATION}

    return params


def translate_train_params(wildcards):
    """translate: without the epoch count the variant does not read."""
    return section_params("translate", "epochs" if wildcards.variant == "z" else "z_epochs")(wildcards)


def evaluate_train_params(wildcards):
    """What evaluate reads of `translate:`: the adapters' shape (LoRA, FC_m's PE) and the batch size."""
    return {k: xconfig(wildcards)["translate"][k] for k in ("lora", "memory_pe", "batch_size")}


def variant_frame_params(training):
    """Frame settings for a variant's rule; z reads cached features, so no augmentation (its
    sampling is what cache_features used, recorded for `sign2gpt translate`)."""
    return lambda wildcards: frame_params(training and wildcards.variant != "z")(wildcards)


def report_targets():
    """The run's targets: the experiment's report, or an ablation set's tables."""
    if config.get("ablation"):
        return list(rules.ablation_table.output)
    return [rules.report.output[key] for key in ("md", "html", "json", "card")]


def text_file(name, experiment):
    """A text stage's file (`name`: pseudo_glosses.json, ...) as `experiment` reads it (its text home)."""
    return f"{DATA}/{EXPERIMENTS[experiment].text_home}/{name}"


def pretrain_file(pattern, wc):
    """A pretraining output (one of rules.pretrain.output) of the job's experiment and seed, in the
    folder of the experiment that trains it (its pretraining home)."""
    return pattern.format(experiment=EXPERIMENTS[wc.experiment].pretrain_home, seed=wc.seed)


def variant_inputs(wc, splits):
    """What a job of translation variant `wc.variant` reads for `splits`: each split's manifest and
    its frames (for z, its cached features), the models, and for pgp and z the pretrained encoder.
    translate reads train and dev, evaluate dev and test."""
    inputs = {split: rules.prepare.output[split] for split in splits}
    for split in splits:
        if wc.variant == "z":
            inputs[f"features_{split}"] = rules.cache_features.output[0].format(
                experiment=EXPERIMENTS[wc.experiment].pretrain_home, seed=wc.seed, split=split
            )
        else:
            inputs[f"frames_{split}"] = frame_inputs(wc, split)
    inputs.update(lm=lm_input(xconfig(wc)), spatial=spatial_input(xconfig(wc)))
    if wc.variant in ("pgp", "z"):
        inputs["pretrained"] = pretrain_file(rules.pretrain.output.best, wc)
    return inputs


def translate_inputs(wc):
    return variant_inputs(wc, ("train", "dev"))


def evaluate_inputs(wc):
    return {
        "checkpoint": rules.translate.output.best.format(experiment=wc.experiment, seed=wc.seed, variant=wc.variant),
        **variant_inputs(wc, ("dev", "test")),
    }


def ablation_files():
    """The files the ablation table reads, by row: {"translation": {row: {variant: {seed: {"metrics",
    "dev", "test"}}}}, "localization": {row: {seed: localization.json}}} (seeds as strings)."""
    files = {"translation": {}, "localization": {}}
    for row in config["ablation"]["experiments"]:
        exp = EXPERIMENTS[ablation.experiment_name(config["ablation"]["name"], row)]
        files["translation"][row] = {
            v: {
                str(s): {
                    k: rules.evaluate.output[k].format(experiment=exp.name, seed=s, variant=v)
                    for k in ("metrics", "dev", "test")
                }
                for s in SEEDS
            }
            for v in exp.variants
        }
        if exp.localization:
            files["localization"][row] = {
                str(s): rules.pretrain.output.localization.format(experiment=exp.pretrain_home, seed=s) for s in SEEDS
            }
    return files


def ablation_inputs():
    """Every file of ablation_files(), as one list."""
    files = ablation_files()
    paths = [
        p
        for variants in files["translation"].values()
        for seeds in variants.values()
        for run in seeds.values()
        for p in run.values()
    ]
    return paths + [p for seeds in files["localization"].values() for p in seeds.values()]
