"""The embedded synthetic signing corpus: grammar → gloss motions → rendered signer → mp4.

Real sign language corpora cannot be shipped, so the default run renders a miniature of
PHOENIX-2014T (German weather forecasts) or CSL-Daily (Chinese daily life) in the same layout.
"""

from sign2gpt.data.synthetic.corpus import TINY_CORPUS, generate_corpus, read_phoenix_csv
from sign2gpt.data.synthetic.grammar import generate_pairs, gloss_vocabulary
from sign2gpt.data.synthetic.render import render_video
from sign2gpt.data.synthetic.signers import Signer, make_signers
from sign2gpt.data.synthetic.signs import Sign, sign_for

__all__ = [
    "TINY_CORPUS",
    "Sign",
    "Signer",
    "generate_corpus",
    "generate_pairs",
    "gloss_vocabulary",
    "make_signers",
    "read_phoenix_csv",
    "render_video",
    "sign_for",
]
