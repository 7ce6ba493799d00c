"""Fused bias + activation + gain + clamp (reference path), as NVIDIA's ``bias_act``."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F


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


def bias_act(x: torch.Tensor, b: torch.Tensor | None = None, dim: int = 1, act: str = "linear",
             gain: float | None = None, clamp: float | None = None) -> torch.Tensor:
    """Add bias ``b`` along ``dim``, apply ``act``, multiply by ``gain``, clamp to [-clamp, clamp].

    ``gain=None`` uses the activation's default gain (sqrt(2) for lrelu, which keeps unit variance).
    """
    spec = ACTIVATIONS[act]
    if b is not None:
        shape = [-1 if i == dim else 1 for i in range(x.ndim)]
        x = x + b.reshape(shape)
    x = spec.func(x)
    g = spec.default_gain if gain is None else float(gain)
    if g != 1:
        x = x * g
    if clamp is not None and clamp >= 0:
        x = x.clamp(-clamp, clamp)
    return x
