"""StyleGAN2 networks in plain PyTorch; parameter names follow NVIDIA's module tree."""

from .discriminator import Discriminator
from .generator import Generator
from .mapping import MappingNetwork
from .synthesis import SynthesisNetwork

__all__ = ["Discriminator", "Generator", "MappingNetwork", "SynthesisNetwork"]
