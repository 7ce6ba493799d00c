"""Fused bias + activation + gain + clamp (reference path), as NVIDIA's ``bias_act``."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .half import keep, round_fp16


@dataclass(frozen=True)
class Activation:
    func: Callable[[torch.Tensor], torch.Tensor]
    default_gain: float


ACTIVATIONS: dict[str, Activation] = {
    "linear": Activation(lambda x: x, 1.0),
    "relu": Activation(F.relu, math.sqrt(2)),
    "lrelu": Activation(lambda x: F.leaky_relu(x, 0.2), math.sqrt(2)),
    "tanh": Activation(torch.tanh, 1.0),
    "sigmoid": Activation(torch.sigmoid, 1.0),
    "elu": Activation(F.elu, 1.0),
    "selu": Activation(F.selu, 1.0),
    "softplus": Activation(F.softplus, 1.0),
    "swish": Activation(lambda x: torch.sigmoid(x) * x, math.sqrt(2)),
}


# Activations with an in-place form: the same kernel writing into its input, so the same values.
_INPLACE: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "linear": lambda x: x,
    "relu": F.relu_,
    "lrelu": lambda x: F.leaky_relu_(x, 0.2),
}


def bias_act(x: torch.Tensor, b: torch.Tensor | None = None, dim: int = 1, act: str = "linear",
             gain: float | None = None, clamp: float | None = None, emulate_fp16: bool = False,
             inplace: bool = False) -> torch.Tensor:
    """Add bias ``b`` along ``dim``, apply ``act``, multiply by ``gain``, clamp to [-clamp, clamp].

    ``gain=None`` uses the activation's default gain (sqrt(2) for lrelu, which keeps unit variance).
    emulate_fp16: ``x`` is float32 holding float16 values; round ``b`` and every step's result to float16
        as the float16 path does (:mod:`styleblend.ops.half`), so the result equals it exactly.
    inplace: ``x`` is a float32 intermediate the caller owns: overwrite it with the result (the same values,
        bit for bit) when no gradient is being recorded for it. Why: on the CPU each fresh output of a large
        element-wise step costs more in allocation and first-touch page faults than the arithmetic (measured
        5-7x the in-place steps at 32 x 1024^2, docs/benchmarks.md). Otherwise (autograd, float16, emulation,
        other activations) the reference path runs.
    """
    spec = ACTIVATIONS[act]
    if (inplace and x.dtype == torch.float32 and not emulate_fp16 and act in _INPLACE
            and not (x.requires_grad and torch.is_grad_enabled())):
        if b is not None:
            x.add_(b.reshape([-1 if i == dim else 1 for i in range(x.ndim)]))
        x = _INPLACE[act](x)
        g = spec.default_gain if gain is None else float(gain)
        if g != 1:
            x.mul_(g)
        if clamp is not None and clamp >= 0:
            x.clamp_(-clamp, clamp)
        return x
    q = round_fp16 if emulate_fp16 else keep
    if b is not None:
        shape = [-1 if i == dim else 1 for i in range(x.ndim)]
        x = q(x + q(b).reshape(shape))
    if act != "linear":
        x = q(spec.func(x))
    g = spec.default_gain if gain is None else float(gain)
    if g != 1:
        x = q(x * g)
    if clamp is not None and clamp >= 0:
        # Clamping float16 values to +-c gives the value or float16(c): no value lies between c and its rounding.
        c = q(torch.tensor(float(clamp))).item() if emulate_fp16 else clamp
        x = x.clamp(-c, c)
    return x
