"""The frozen causal LM conditioned on sign features: LoRA + zero-gated cross-attention (spec §8).

Every LM parameter is frozen. In every decoder layer the self-attention module is replaced by
`GatedLoRAAttention`, which keeps the layer's frozen q/k/v/out projections and adds:

- LoRA (rank 4) on the masked self-attention's q, k, v (dropout, scale alpha/r) and on the
  out-projection (no dropout, no scale), A ~ N(0, 0.2^2), B = 0 (spec §8.3);
- a cross-attention to the sign memory that reuses the same frozen projections with its own
  rank-4 LoRAs (query: B = 0; key/value: PyTorch's default init), keys/values from this layer's
  frozen pre-attention norm applied to the memory, no causal mask, and one gate per head
  clamped to [0, 1] with a straight-through gradient, initialised to 0. Its output is added to
  the self-attention output *per head, before* the shared out-projection (spec §8.4).

With the gates at 0 and the self-attention LoRA B = 0 the model is exactly the unmodified LM.

How the LM is run, and why: we keep each HF decoder layer's own `forward` (norms, residuals,
FFN, dropouts stay transformers' code) and replace only its `self_attn`; the model-level loop
(token + position embeddings, the layers, final norm, lm_head) is ours. That keeps the sign
memory and the KV cache explicit, plain tensors passed to each attention module through the
layer's `**kwargs`, instead of threading them through transformers' Cache classes and mask
builders, whose formats change between versions. Decoding caches the self-attention K/V per
step and the cross-attention K/V of the memory once (`DecodingCache`).

Supported: XGLM (`q_proj/k_proj/v_proj/out_proj`, `self_attn_layer_norm`, sinusoidal positions),
Llama-family models (`o_proj`, `input_layernorm`, RoPE, grouped-query attention) and Gemma 3
(`gemma3_text`), which differs from Llama in four ways that the adapter follows:
- q/k norms: a frozen per-head RMSNorm on q and k after the projection. The LoRA updates are added
  before it (it normalises what the projection + LoRA give), and the cross path uses the same norms
  on its queries and on the memory keys, as it reuses the same projections;
- two kinds of layers: sliding-window layers (keys at most `sliding_window - 1` positions back, RoPE
  base 10k) and global ones (full causal attention, RoPE base 1M), by `config.layer_types`;
- extra norms around the sublayers (post-attention, pre/post-feed-forward): kept in the layer's own
  forward. The gated cross-attention's output enters per head before `o_proj`, like the other
  families', so it then goes through `o_proj` and the post-attention norm before the residual;
- the token embedding is scaled by sqrt(d) (its own module does it), the scores by
  `query_pre_attn_scalar ** -0.5` (the attention module's `scaling`), and the output matrix is the
  tied embedding (frozen, so never in a checkpoint: checkpoints hold only what trains).
The cross path has no RoPE on either side: the memory carries its own sinusoidal PE (FC_m).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from sign2gpt.core.errors import ConfigError
from sign2gpt.models.memory_projection import MemoryProjection
from sign2gpt.models.positional import rotate_half

log = logging.getLogger(__name__)

LORA_A_STD = 0.2  # spec §8.3: std 0.2, not 0.02


# ----------------------------------------------------------------------------------------------
# building blocks


class LoRA(nn.Module):
    """Low-rank update `x -> scale * B(A(dropout(x)))` (A = `down`, B = `up`, no biases).

    `zero_init`: A ~ N(0, 0.2^2), B = 0, so the update starts at exactly 0. Otherwise both keep
    PyTorch's default `nn.Linear` (Kaiming-uniform) init, as the official cross key/value LoRAs do.
    """

    def __init__(self, in_features: int, out_features: int, rank: int, *, scale: float = 1.0,
                 dropout: float = 0.0, zero_init: bool = True, device: torch.device | None = None):
        super().__init__()
        self.down = nn.Linear(in_features, rank, bias=False, device=device)
        self.up = nn.Linear(rank, out_features, bias=False, device=device)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.scale = scale
        if zero_init:
            nn.init.normal_(self.down.weight, std=LORA_A_STD)
            nn.init.zeros_(self.up.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.up(self.down(self.dropout(x)))
        return out if self.scale == 1.0 else out * self.scale


class _StraightThroughClamp(torch.autograd.Function):
    """clamp(x, 0, 1) forward, identity backward: a closed gate (0, or below 0) still learns."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        return x.clamp(0.0, 1.0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return grad


def gate_value(gate: torch.Tensor) -> torch.Tensor:
    """The gate used in the forward pass: clamp to [0, 1] with a straight-through gradient."""
    return _StraightThroughClamp.apply(gate)


@dataclass
class _LayerInputs:
    """What one attention module needs beyond the hidden states (built by `SignConditionedLM`)."""

    self_mask: torch.Tensor | None  # bool [B, 1, L, P+L] (True = may attend), or None
    is_causal: bool                 # SDPA's own causal mask (no past, no padding)
    past: tuple[torch.Tensor, torch.Tensor] | None  # self K/V of earlier steps [B, Hkv, P, Dh]
    cross: tuple[torch.Tensor, torch.Tensor]        # memory K/V [B, Hkv, S, Dh]
    cross_mask: torch.Tensor                        # bool [B, 1, 1, S]
    present: tuple[torch.Tensor, torch.Tensor] | None = None  # written: self K/V incl. this step


class GatedLoRAAttention(nn.Module):
    """A decoder layer's self-attention with LoRA and a zero-gated cross-attention to the memory.

    Holds the original (frozen) projections under their original names, so the LM's frozen
    weights keep their checkpoint names, plus the trainable adapters and gates.
    """

    def __init__(self, attention: nn.Module, *, out_proj_name: str, num_heads: int, num_kv_heads: int,
                 dropout: float, rope: bool, lora_r: int, lora_alpha: float, lora_dropout: float):
        super().__init__()
        self.q_proj, self.k_proj, self.v_proj = attention.q_proj, attention.k_proj, attention.v_proj
        self.out_proj_name = out_proj_name
        self.add_module(out_proj_name, getattr(attention, out_proj_name))
        # Gemma 3: frozen per-head RMSNorms on q and k (None elsewhere)
        self.q_norm, self.k_norm = getattr(attention, "q_norm", None), getattr(attention, "k_norm", None)
        self.num_heads, self.num_kv_heads = num_heads, num_kv_heads
        self.head_dim = self.q_proj.out_features // num_heads
        self.scaling = float(attention.scaling)  # XGLM, Llama: head_dim ** -0.5; Gemma 3: query_pre_attn_scalar ** -0.5
        self.dropout = float(dropout)
        self.rope = rope

        d_in, q_out, kv_out = self.q_proj.in_features, self.q_proj.out_features, self.k_proj.out_features
        d_out = self.out_projection.out_features
        dev, scale = self.q_proj.weight.device, lora_alpha / lora_r
        lora = dict(scale=scale, dropout=lora_dropout, device=dev)
        # masked self-attention LoRA (spec §8.3)
        self.lora_q = LoRA(d_in, q_out, lora_r, **lora)
        self.lora_k = LoRA(d_in, kv_out, lora_r, **lora)
        self.lora_v = LoRA(d_in, kv_out, lora_r, **lora)
        self.lora_o = LoRA(q_out, d_out, lora_r, scale=1.0, dropout=0.0, device=dev)
        # cross-attention LoRA (spec §8.4): only the query one starts at zero
        self.cross_lora_q = LoRA(d_in, q_out, lora_r, **lora)
        self.cross_lora_k = LoRA(d_in, kv_out, lora_r, zero_init=False, **lora)
        self.cross_lora_v = LoRA(d_in, kv_out, lora_r, zero_init=False, **lora)
        self.gate = nn.Parameter(torch.zeros(num_heads, device=dev))

    ADAPTERS = ("lora_q", "lora_k", "lora_v", "lora_o", "cross_lora_q", "cross_lora_k", "cross_lora_v")

    def adapter_parameters(self) -> list[nn.Parameter]:
        """The new (trainable) parameters: LoRAs and gates, not the frozen projections."""
        return [p for name in self.ADAPTERS for p in getattr(self, name).parameters()] + [self.gate]

    @property
    def out_projection(self) -> nn.Linear:
        return getattr(self, self.out_proj_name)

    def _heads(self, x: torch.Tensor, heads: int) -> torch.Tensor:
        """[B, T, heads * Dh] -> [B, heads, T, Dh]."""
        return x.view(x.shape[0], x.shape[1], heads, self.head_dim).transpose(1, 2)

    def _queries(self, x: torch.Tensor) -> torch.Tensor:
        """Projected (+ LoRA) queries [B, T, H*Dh] -> [B, H, T, Dh], q-normed where the LM has it."""
        q = self._heads(x, self.num_heads)
        return q if self.q_norm is None else self.q_norm(q)

    def _keys(self, x: torch.Tensor) -> torch.Tensor:
        """Projected (+ LoRA) keys [B, T, Hkv*Dh] -> [B, Hkv, T, Dh], k-normed where the LM has it."""
        k = self._heads(x, self.num_kv_heads)
        return k if self.k_norm is None else self.k_norm(k)

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None,
                is_causal: bool = False) -> torch.Tensor:
        return F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, is_causal=is_causal, scale=self.scaling,
            dropout_p=self.dropout if self.training else 0.0,
            enable_gqa=self.num_kv_heads != self.num_heads,
        )

    def _attend_memory(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Cross-attention of q [N, H, L, Dh] to memory K/V [M, Hkv, S, Dh]. With M < N (beam search:
        the K/V of each video once, its N / M beams in consecutive rows) a video's beams attend as
        extra query positions of that video, so the memory K/V are never copied per beam."""
        n, m = q.shape[0], k.shape[0]
        if n == m:
            return self._attend(q, k, v, mask)
        if n % m:
            raise ValueError(f"{n} query rows cannot share the memory of {m} videos")
        _, heads, length, dh = q.shape
        group = n // m
        q = q.view(m, group, heads, length, dh).transpose(1, 2).reshape(m, heads, group * length, dh)
        a = self._attend(q, k, v, mask)                                    # [M, H, G*L, Dh]
        return a.view(m, heads, group, length, dh).transpose(1, 2).reshape(n, heads, length, dh)

    def memory_keys_values(self, memory: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Cross K/V of the (already layer-normed) memory `[B, S, d]` -> 2 x `[B, Hkv, S, Dh]`."""
        k = self.k_proj(memory) + self.cross_lora_k(memory)
        v = self.v_proj(memory) + self.cross_lora_v(memory)
        return self._keys(k), self._heads(v, self.num_kv_heads)

    def forward(self, hidden_states: torch.Tensor, position_embeddings=None, *,
                sign: _LayerInputs | None = None, **_hf_kwargs) -> tuple[torch.Tensor, None]:
        """`hidden_states` [B, L, d] (already normed by the layer) -> ([B, L, d], None).

        The HF decoder layer passes its own `attention_mask` / `cache` arguments; they are
        unused (always None here): masks and cache come in `sign`.
        """
        if sign is None:
            raise RuntimeError("this LM was adapted in place by SignConditionedLM: call the "
                               "SignConditionedLM, not the LM's own forward/generate")
        h = hidden_states
        q_base = self.q_proj(h)                                             # [B, L, H*Dh]
        q = self._queries(q_base + self.lora_q(h))                          # [B, H, L, Dh]
        k = self._keys(self.k_proj(h) + self.lora_k(h))                     # [B, Hkv, L, Dh]
        v = self._heads(self.v_proj(h) + self.lora_v(h), self.num_kv_heads)
        if self.rope:
            cos, sin = position_embeddings  # [1 or B, L, Dh] from the LM's own rotary embedding
            q, k = _apply_rope(q, cos, sin), _apply_rope(k, cos, sin)
        if sign.past is not None:
            k = torch.cat((sign.past[0], k), dim=2)                       # [B, Hkv, P+L, Dh]
            v = torch.cat((sign.past[1], v), dim=2)
        sign.present = (k, v)
        a_self = self._attend(q, k, v, sign.self_mask, sign.is_causal)     # [B, H, L, Dh]

        q_cross = self._queries(q_base + self.cross_lora_q(h))
        a_cross = self._attend_memory(q_cross, *sign.cross, sign.cross_mask)  # [B, H, L, Dh]
        gate = gate_value(self.gate).to(a_cross.dtype).view(1, -1, 1, 1)
        a = a_self + gate * a_cross                                        # per head, before W_o

        a = a.transpose(1, 2).reshape(h.shape[0], h.shape[1], -1)          # [B, L, H*Dh]
        return self.out_projection(a) + self.lora_o(a), None


def _apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate-half RoPE as in transformers' Llama (same dtype handling, so the adapted model at
    init matches the LM bit for bit); `cos`/`sin` [B, L, Dh] broadcast over the heads."""
    return x * cos.unsqueeze(1) + rotate_half(x) * sin.unsqueeze(1)


# ----------------------------------------------------------------------------------------------
# model families


@dataclass(frozen=True)
class _Family:
    out_proj: str    # attribute of the attention module
    attn_norm: str   # attribute of the decoder layer: the pre-attention norm
    final_norm: str  # attribute of the base model
    rope: bool
    qk_norm: bool = False      # Gemma 3: the attention module has q_norm and k_norm
    layer_types: bool = False  # Gemma 3: config.layer_types picks each layer's RoPE table and window


_XGLM = _Family(out_proj="out_proj", attn_norm="self_attn_layer_norm", final_norm="layer_norm", rope=False)
_LLAMA = _Family(out_proj="o_proj", attn_norm="input_layernorm", final_norm="norm", rope=True)
_GEMMA3 = _Family(out_proj="o_proj", attn_norm="input_layernorm", final_norm="norm", rope=True,
                  qk_norm=True, layer_types=True)
# Llama-family models whose decoder layer, attention projections, RoPE and embeddings follow
# Llama exactly (Mistral's and Qwen2's sliding windows are not applied: target sequences are short).
_FAMILIES = {"xglm": _XGLM, "llama": _LLAMA, "mistral": _LLAMA, "qwen2": _LLAMA, "gemma3_text": _GEMMA3}


def _family_of(lm: nn.Module) -> _Family:
    model_type = getattr(lm.config, "model_type", "?")
    if model_type not in _FAMILIES:
        raise ConfigError(f"lm: unsupported causal LM type {model_type!r}; supported: {sorted(_FAMILIES)}")
    family = _FAMILIES[model_type]
    config = lm.config
    if getattr(config, "attn_logit_softcapping", None) or getattr(config, "use_bidirectional_attention", False):
        raise ConfigError(f"lm: {model_type!r} with attention logit soft-capping or bidirectional attention "
                          "is not supported (Gemma 3's causal LMs have neither)")
    expected = {"q_proj", "k_proj", "v_proj", family.out_proj} | ({"q_norm", "k_norm"} if family.qk_norm else set())
    for i, layer in enumerate(lm.base_model.layers):
        attn = layer.self_attn
        if isinstance(attn, GatedLoRAAttention):
            raise ValueError(f"layer {i} is already adapted: build SignConditionedLM once per LM")
        children = {name for name, _ in attn.named_children()}
        if children != expected or not hasattr(layer, family.attn_norm):
            raise ConfigError(f"lm: layer {i} of {model_type!r} has attention submodules {sorted(children)}; "
                              f"expected {sorted(expected)} and a {family.attn_norm}")
    return family


# ----------------------------------------------------------------------------------------------
# the conditioned LM


@dataclass
class DecodingCache:
    """Incremental-decoding state: memory K/V per layer (computed once), self K/V per step.

    The memory rows may be fewer than the decoding rows: M videos, N = M x beams rows, each
    video's beams consecutive (beam search computes and keeps the memory K/V once per video)."""

    cross: list[tuple[torch.Tensor, torch.Tensor]]  # per layer, [M, Hkv, S, Dh]
    memory_mask: torch.Tensor                       # bool [M, S]
    past: list[tuple[torch.Tensor, torch.Tensor]] = field(default_factory=list)  # per layer, [N, Hkv, T, Dh]
    length: int = 0                                 # T: tokens seen so far

    def reorder(self, rows: torch.Tensor) -> None:
        """Keep self-attention rows `rows` [N] (beam search: the beams that survive a step).

        The memory K/V are not reordered: beam search only moves rows among the beams of one
        video, which share the same memory.
        """
        self.past = [(k.index_select(0, rows), v.index_select(0, rows)) for k, v in self.past]


def _self_attention_mask(attention_mask: torch.Tensor | None, past_len: int, length: int,
                         device: torch.device, right_padded: bool = False,
                         window: int | None = None) -> tuple[torch.Tensor | None, bool]:
    """Causal + key-padding mask for `length` new queries after `past_len` cached positions.

    Returns (bool mask [B or 1, 1, L, P+L] or None, is_causal). A query may always attend to its
    own position, so a padded query never has an empty row (NaN) under left padding. Right-padded
    rows without a cache need no key-padding mask: a real query never sees a later (padding) key, and
    what the padding queries compute is not used; the causal kernel then serves them (a flash kernel
    on a GPU), with no look at the mask's values (a host wait). `window` (a sliding-window layer):
    a query sees only its `window` latest positions, itself included, as transformers' sliding masks;
    it changes nothing while the sequence is no longer than the window.
    """
    total = past_len + length
    if attention_mask is not None and attention_mask.shape[1] != total:
        raise ValueError(f"attention_mask covers {attention_mask.shape[1]} positions, expected {total}")
    if (right_padded and past_len == 0) or (attention_mask is not None and bool(attention_mask.all())):
        attention_mask = None  # (right padding: the mask's values are not read)
    banded = window is not None and total > window
    if attention_mask is None and not banded:
        if length == 1:
            return None, False
        if past_len == 0:
            return None, True
    query_pos = torch.arange(past_len, total, device=device)[:, None]  # [L, 1]
    key_pos = torch.arange(total, device=device)[None, :]              # [1, P+L]
    allowed = key_pos <= query_pos                                      # [L, P+L]
    if banded:
        allowed = allowed & (key_pos > query_pos - window)
    if attention_mask is None:
        return allowed[None, None], False
    allowed = (allowed[None] & attention_mask.bool()[:, None, :]) | (key_pos == query_pos)[None]
    return allowed[:, None], False


class SignConditionedLM(nn.Module):
    """FC_m + a frozen causal LM adapted in place (LoRA + zero-gated cross-attention in every layer).

    `forward(input_ids [B, L], attention_mask [B, L] | None, memory [B, S, memory_dim],
    memory_mask [B, S]) -> logits [B, L, V]` (float32). For decoding: `start_decoding` then
    `decode_step`. The compute dtype follows the frozen LM: bf16 autocast when it was loaded in
    bf16 (CUDA), plain float32 otherwise. Adapters, gates and FC_m are float32.
    """

    def __init__(self, lm: nn.Module, memory_dim: int, *, lora_r: int = 4, lora_alpha: float = 4,
                 lora_dropout: float = 0.1, memory_pe: str = "sinusoidal"):
        super().__init__()
        self.family = _family_of(lm)
        lm.requires_grad_(False)
        self.lm = lm
        config = lm.config
        num_heads = config.num_attention_heads
        num_kv_heads = getattr(config, "num_key_value_heads", None) or num_heads
        for layer in self._layers:
            layer.self_attn = GatedLoRAAttention(
                layer.self_attn, out_proj_name=self.family.out_proj, num_heads=num_heads,
                num_kv_heads=num_kv_heads, dropout=float(getattr(config, "attention_dropout", 0.0)),
                rope=self.family.rope, lora_r=lora_r, lora_alpha=lora_alpha, lora_dropout=lora_dropout,
            )
        # per layer: its type (Gemma 3: sliding_attention | full_attention) and self-attention window
        self._layer_types = list(config.layer_types) if self.family.layer_types else [None] * len(self._layers)
        self._windows = [config.sliding_window if t == "sliding_attention" else None for t in self._layer_types]
        device = lm.get_input_embeddings().weight.device
        self.memory_projection = MemoryProjection(memory_dim, config.hidden_size, positional=memory_pe).to(device)
        log.info("adapted %s: %d layers, %d trainable parameters", config.model_type, len(self._layers),
                 sum(p.numel() for p in self.trainable_parameters()))

    # -- structure -------------------------------------------------------------------------------

    @property
    def _layers(self) -> nn.ModuleList:
        return self.lm.base_model.layers

    @property
    def device(self) -> torch.device:
        return self.lm.get_input_embeddings().weight.device

    def trainable_parameters(self) -> list[nn.Parameter]:
        """Adapters, gates and FC_m (everything that is not part of the frozen LM)."""
        return [p for _, p in self.trainable_named_parameters()]

    def trainable_named_parameters(self) -> list[tuple[str, nn.Parameter]]:
        """(name, parameter) of the adapters, gates and FC_m."""
        # by structure, not by requires_grad, so freezing FC_m by hand would not drop it from checkpoints
        ours = {id(p) for layer in self._layers for p in layer.self_attn.adapter_parameters()}
        ours |= {id(p) for p in self.memory_projection.parameters()}
        return [(n, p) for n, p in self.named_parameters() if id(p) in ours]

    def param_groups(self, weight_decay: float) -> list[dict]:
        """AdamW groups: weight decay on adapters and FC_m, none on the gates (spec §9)."""
        named = self.trainable_named_parameters()
        return [
            {"params": [p for n, p in named if not n.endswith(".gate")], "weight_decay": weight_decay},
            {"params": [p for n, p in named if n.endswith(".gate")], "weight_decay": 0.0},
        ]

    def gate_values(self) -> torch.Tensor:
        """Clamped gates, float32 `[layers, heads]` (how far each head has opened)."""
        return torch.stack([layer.self_attn.gate.detach().float().clamp(0, 1) for layer in self._layers])

    # -- running the LM --------------------------------------------------------------------------

    def _autocast(self) -> torch.autocast:
        dtype = self.lm.get_input_embeddings().weight.dtype
        return torch.autocast(self.device.type, dtype=dtype, enabled=dtype in (torch.bfloat16, torch.float16))

    def _check_memory(self, memory: torch.Tensor, memory_mask: torch.Tensor) -> torch.Tensor:
        if memory.dim() != 3 or memory_mask.shape != memory.shape[:2]:
            raise ValueError(f"memory [B, S, D] and memory_mask [B, S] expected, got {tuple(memory.shape)} "
                             f"and {tuple(memory_mask.shape)}")
        memory_mask = memory_mask.bool()
        # checked on the device: a RuntimeError on a CPU, a device-side assert on a GPU (no host wait)
        torch._assert_async(memory_mask.any(dim=1).all(), "every memory_mask row needs at least one valid position")
        return memory_mask

    def _memory_keys_values(self, memory: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """FC_m once, then per layer: this layer's frozen pre-attention norm, then its cross K/V."""
        projected = self.memory_projection(memory)  # [B, S, d]
        return [layer.self_attn.memory_keys_values(getattr(layer, self.family.attn_norm)(projected))
                for layer in self._layers]

    def _embed(self, input_ids: torch.Tensor, past_len: int) -> tuple[torch.Tensor, list[dict]]:
        """Token (+ position) embeddings as the LM's own forward does, and per layer the keyword
        arguments of its forward: the RoPE tables (Llama: one for every layer; Gemma 3: one per layer
        type, each with its own base)."""
        base = self.lm.base_model
        positions = torch.arange(past_len, past_len + input_ids.shape[1], device=input_ids.device)[None]  # [1, L]
        hidden = base.embed_tokens(input_ids)  # XGLM, Gemma 3: the module scales by sqrt(d) itself
        if not self.family.rope:
            hidden = hidden + base.embed_positions(positions, past_len).to(hidden.device)
            return F.dropout(hidden, p=float(base.dropout), training=base.training), [{}] * len(self._layers)
        if self.family.layer_types:
            tables = {t: base.rotary_emb(hidden, positions, t) for t in set(self._layer_types)}
            return hidden, [{"position_embeddings": tables[t]} for t in self._layer_types]
        return hidden, [{"position_embeddings": base.rotary_emb(hidden, positions)}] * len(self._layers)

    def _run(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None,
             cross: list[tuple[torch.Tensor, torch.Tensor]], memory_mask: torch.Tensor,
             past: list[tuple[torch.Tensor, torch.Tensor]], past_len: int, right_padded: bool = False):
        hidden, layer_kwargs = self._embed(input_ids, past_len)
        # a window no shorter than the sequence changes nothing: such layers share the full mask
        total = past_len + input_ids.shape[1]
        windows = [w if w is not None and total > w else None for w in self._windows]
        masks = {window: _self_attention_mask(attention_mask, past_len, input_ids.shape[1], input_ids.device,
                                              right_padded, window) for window in set(windows)}
        cross_mask = memory_mask[:, None, None, :]
        presents = []
        for i, layer in enumerate(self._layers):
            inputs = _LayerInputs(*masks[windows[i]], past[i] if past else None, cross[i], cross_mask)
            hidden = layer(hidden, sign=inputs, **layer_kwargs[i])
            hidden = hidden[0] if isinstance(hidden, tuple) else hidden
            presents.append(inputs.present)
        hidden = getattr(self.lm.base_model, self.family.final_norm)(hidden)
        logits = self.lm.get_output_embeddings()(hidden)
        cap = getattr(self.lm.config, "final_logit_softcapping", None)  # Gemma 2's; None in Gemma 3
        if cap:
            logits = torch.tanh(logits / cap) * cap
        return logits.float(), presents

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None,
                memory: torch.Tensor, memory_mask: torch.Tensor, *, right_padded: bool = False) -> torch.Tensor:
        """Teacher-forced logits `[B, L, V]` float32 (the whole prefix, no cache). `right_padded`: the
        rows are right-padded (training targets), so the logits at padding positions are not used."""
        memory_mask = self._check_memory(memory, memory_mask)
        with self._autocast():
            cross = self._memory_keys_values(memory)
            logits, _ = self._run(input_ids, attention_mask, cross, memory_mask, [], 0, right_padded)
        return logits

    def start_decoding(self, memory: torch.Tensor, memory_mask: torch.Tensor) -> DecodingCache:
        """Project the memory and compute every layer's cross K/V once."""
        memory_mask = self._check_memory(memory, memory_mask)
        with self._autocast():
            return DecodingCache(cross=self._memory_keys_values(memory), memory_mask=memory_mask)

    def decode_step(self, input_ids: torch.Tensor, cache: DecodingCache,
                    attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Logits `[N, L, V]` for `L` new tokens after the cached ones; the cache grows by L.

        `attention_mask` (optional) covers cached + new positions, as in transformers.
        """
        with self._autocast():
            logits, presents = self._run(input_ids, attention_mask, cache.cross, cache.memory_mask,
                                         cache.past, cache.length)
        cache.past, cache.length = presents, cache.length + input_ids.shape[1]
        return logits
