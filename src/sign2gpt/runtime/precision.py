"""Numeric precision of a job, chosen by one function for every stage.

`precision: auto` (the default) gives:
- bf16 autocast on CUDA GPUs that support bf16 (compute capability 8.0 and newer: A100, H100,
  L4, RTX 30xx/40xx): the spec's setting; no loss scaling is needed;
- fp16 autocast with a GradScaler on older CUDA GPUs (V100, T4: compute capability 7.x), where
  bf16 is missing or emulated; the scaler keeps small gradients from flushing to zero;
- fp32 on the CPU.
`bf16`, `fp16` and `fp32` force a choice; one the device cannot run is a ConfigError. The frozen
LM is loaded in the autocast dtype (`lm_dtype`), the trainable parameters stay fp32.

TF32 on CUDA (the choice is applied when it is made, for the whole process): under bf16 and fp16 the
matmuls and convolutions autocast leaves in fp32 may use TF32 (no less exact than the bf16 around
them, and faster); under `fp32` they may not (torch's own default lets cuDNN convolutions use it), so
`precision: fp32` is exact fp32 on any device: the choice for comparing with a CPU run or ruling out
precision as the cause of a problem.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from sign2gpt.core.errors import ConfigError

CHOICES = ("auto", "bf16", "fp16", "fp32")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": None}


@dataclass(frozen=True)
class Precision:
    name: str  # bf16 | fp16 | fp32
    device_type: str  # cuda | cpu | ...
    reason: str  # why this choice, for the log and the run card

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        return _DTYPES[self.name]

    @property
    def grad_scaler(self) -> bool:
        """fp16 needs loss scaling; bf16 has fp32's exponent range and does not."""
        return self.name == "fp16"

    @property
    def lm_dtype(self) -> torch.dtype:
        """The dtype the frozen LM is loaded in."""
        return self.autocast_dtype or torch.float32

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device_type, dtype=self.autocast_dtype)

    def make_scaler(self) -> torch.amp.GradScaler | None:
        return torch.amp.GradScaler(self.device_type) if self.grad_scaler else None


def _bf16_supported(device: torch.device) -> bool:
    # torch.cuda.is_bf16_supported() also says True on pre-Ampere GPUs where bf16 is emulated
    # (slowly); the hardware check is compute capability >= 8.0.
    return torch.cuda.get_device_capability(device)[0] >= 8


def select_precision(device: torch.device | str, requested: str = "auto") -> Precision:
    """The precision a job on `device` runs in (see the module doc); on CUDA it also sets whether
    fp32 matmuls and convolutions may use TF32."""
    chosen = _choose(torch.device(device), requested)
    if chosen.device_type == "cuda":
        tf32 = chosen.name != "fp32"
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
    return chosen


def _choose(device: torch.device, requested: str) -> Precision:
    if requested not in CHOICES:
        raise ConfigError(f"precision: one of {', '.join(CHOICES)}, got {requested!r}")
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        major, minor = torch.cuda.get_device_capability(device)
        if requested == "auto":
            if _bf16_supported(device):
                return Precision("bf16", "cuda", f"{name} (compute {major}.{minor}) supports bf16")
            return Precision("fp16", "cuda", f"{name} (compute {major}.{minor}) has no bf16: fp16 with loss scaling")
        if requested == "bf16" and not _bf16_supported(device):
            raise ConfigError(f"precision: bf16 needs compute capability >= 8.0; {name} has {major}.{minor} "
                              "(use auto or fp16)")
        return Precision(requested, "cuda", f"precision: {requested} on {name}")
    if requested == "fp16":
        raise ConfigError(f"precision: fp16 autocast needs a CUDA GPU (device is {device.type}); "
                          "use auto, bf16 or fp32")
    if requested == "bf16":
        return Precision("bf16", device.type, f"precision: bf16 requested on {device.type} (CPU autocast)")
    return Precision("fp32", device.type, f"{device.type}: fp32")
