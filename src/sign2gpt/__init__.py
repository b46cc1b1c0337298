"""sign2gpt: a reproducible implementation of Sign2GPT (Wong, Camgoz, Bowden, ICLR 2024).

Nothing is downloaded at run time. Importing the package puts the Hugging Face hub client in its
offline mode (`HF_HUB_OFFLINE=1`) unless `SIGN2GPT_ALLOW_DOWNLOAD=1` is set or the variable
already has a value: GPU compute nodes often have no network, and without the offline mode the
client retries for about 23 s per model before it reports a missing one, and probes the network
for optional files even when the weights are in the local cache. The variable is read once, when
`huggingface_hub` is first imported, so it is set here, before any module of the package imports
it; every workflow job imports this package first and inherits it from Snakemake as well.
"""

import os as _os

if _os.environ.get("SIGN2GPT_ALLOW_DOWNLOAD") != "1":
    _os.environ.setdefault("HF_HUB_OFFLINE", "1")

__version__ = "0.1.0"
