"""Models: spatial backbone, sign encoder, pseudo-gloss head (stage 1) and, on the LM side,
the sign-conditioned language model (stage 2). See docs/architecture.md "Models"."""

from .local_attention import LocalSelfAttention, dense_band_attention, global_attention, local_attention
from .pgp_head import PseudoGlossHead
from .positional import apply_rope, rope_cos_sin, sinusoidal_embedding
from .sign_encoder import SignEncoder
from .sign_model import SignModel, build_sign_model
from .spatial import SpatialModel, build_backbone

__all__ = [
    "LocalSelfAttention",
    "PseudoGlossHead",
    "SignEncoder",
    "SignModel",
    "SpatialModel",
    "apply_rope",
    "build_backbone",
    "build_sign_model",
    "dense_band_attention",
    "global_attention",
    "local_attention",
    "rope_cos_sin",
    "sinusoidal_embedding",
]
