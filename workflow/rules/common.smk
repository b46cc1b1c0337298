# Configuration check and the path helpers every rule file uses.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from sign2gpt.config import validate_config  # noqa: E402
from sign2gpt.errors import ConfigError  # noqa: E402

try:
    validate_config(config)
except ConfigError as exc:
    raise WorkflowError(str(exc))


DS = config["dataset"]["name"]
DATA = f"results/{DS}"
EXP_DIR = f"{DATA}/{config['experiment']}"
RUN = EXP_DIR + "/seed{seed}"
LOGS = f"logs/{DS}"
BENCH = f"{DATA}/benchmarks"
SPLITS = ["train", "dev", "test"]
SHARDS = list(range(config["decode"]["shards"]))
SEEDS = config["seeds"]
VARIANTS = config["translate"]["variants"]
ENVS = str(Path(workflow.basedir) / "envs")


wildcard_constraints:
    seed=r"\d+",
    split="train|dev|test",
    shard=r"\d+",
    variant="scratch|pgp|z",


def frame_shards(split):
    return expand(f"{DATA}/frames/{split}/shard{{shard}}.h5", shard=SHARDS)


def all_frame_shards():
    return {split: frame_shards(split) for split in SPLITS}


def manifests():
    return {split: f"{DATA}/manifest/{split}.tsv" for split in SPLITS}


def fasttext_bin():
    """The configured pretrained fastText .bin, or the one the workflow trains."""
    path = config["prototypes"]["fasttext"]
    return path if path else f"{DATA}/text/fasttext.bin"


def lm_source():
    """A hub name / directory for a pretrained LM, or the workflow-trained LM directory."""
    name = config["lm"]["pretrained"]
    return name if name else f"{DATA}/lm"


def lm_input():
    """Snakemake input for the LM: the trained dir, a local pretrained dir, or nothing (hub name)."""
    name = config["lm"]["pretrained"]
    if not name:
        return [f"{DATA}/lm"]
    return [name] if Path(name).exists() else []


def report_targets():
    return [f"{EXP_DIR}/metrics.md", f"{EXP_DIR}/metrics.json", f"{EXP_DIR}/run_card.md"]
