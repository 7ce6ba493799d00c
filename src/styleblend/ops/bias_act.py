"""Fused bias + activation + gain + clamp (reference path), as NVIDIA's ``bias_act``."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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
        5-7x the in-place steps at 32 x 1024^2, docs/benchmarks.md). When a gradient is recorded, the same
        in-place steps run inside :class:`_BiasActInplace` (no clamp, positive gain, ``x`` not a view), whose
        backward keeps only the result: the reference's three steps each allocate an output and save a
        tensor, and its backward takes three passes. Otherwise (float16, emulation, other activations, a leaf, a
        clamp under autograd) the reference path runs.
    """
    spec = ACTIVATIONS[act]
    fast = inplace and x.dtype == torch.float32 and not emulate_fp16 and act in _INPLACE
    g = spec.default_gain if gain is None else float(gain)
    if fast and x.requires_grad and torch.is_grad_enabled():
        if (clamp is None or clamp < 0) and g > 0 and x._base is None and not x.is_leaf:
            out: torch.Tensor = _BiasActInplace.apply(x, b, dim, act, g)  # type: ignore[no-untyped-call]
            return out
    elif fast:
        if b is not None:
            x.add_(b.reshape([-1 if i == dim else 1 for i in range(x.ndim)]))
        x = _INPLACE[act](x)
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
    if g != 1:
        x = q(x * g)
    if clamp is not None and clamp >= 0:
        # Clamping float16 values to +-c gives the value or float16(c): no value lies between c and its rounding.
        c = q(torch.tensor(float(clamp))).item() if emulate_fp16 else clamp
        x = x.clamp(-c, c)
    return x


class _BiasActInplace(torch.autograd.Function):
    """``bias_act`` of a float32 ``x`` that the caller owns, in place, under autograd (no clamp, gain > 0).

    Forward: the in-place steps of :func:`bias_act` (bit for bit the reference's values). Backward: the
    reference's gradients from the saved result alone: the gain's, then the activation's mask (the result is
    > 0 exactly where the pre-activation is, since the gain is positive) by the same ATen kernels the
    reference's backward runs, then the bias's sum, so the gradients equal the reference's bit for bit too.
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, b: torch.Tensor | None, dim: int,
                act: str, gain: float) -> torch.Tensor:
        shape = [-1 if i == dim else 1 for i in range(x.ndim)]
        if b is not None:
            x.add_(b.reshape(shape))
        x = _INPLACE[act](x)
        if gain != 1:
            x.mul_(gain)
        ctx.mark_dirty(x)
        ctx.save_for_backward(x)
        b_shape = None if b is None else (b.shape, b.reshape(shape).shape)
        ctx.act, ctx.gain, ctx.b_shape = act, gain, b_shape
        return x

    @staticmethod
    def backward(ctx: Any,
                 grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        (y,) = ctx.saved_tensors
        act, gain, b_shape = ctx.act, ctx.gain, ctx.b_shape
        g = grad * gain if gain != 1 else grad
        if act in ("lrelu", "relu") and torch.is_grad_enabled():
            # A double backward (create_graph=True): out= variants are not differentiable.
            g = (torch.ops.aten.leaky_relu_backward(g, y, 0.2, True) if act == "lrelu"
                 else torch.ops.aten.threshold_backward(g, y, 0))
        elif act in ("lrelu", "relu"):
            # Written into g when g is this backward's own tensor (an element-wise kernel may write its input;
            # the same values, one allocation less), else into a new one: grad belongs to autograd.
            buf = g if gain != 1 else torch.empty_like(g)
            if act == "lrelu":
                g = torch.ops.aten.leaky_relu_backward.grad_input(g, y, 0.2, True, grad_input=buf)
            else:
                g = torch.ops.aten.threshold_backward.grad_input(g, y, 0, grad_input=buf)
        gb = None
        if b_shape is not None and ctx.needs_input_grad[1]:
            gb = g.sum_to_size(b_shape[1]).reshape(b_shape[0])
        return (g if ctx.needs_input_grad[0] else None), gb, None, None, None
