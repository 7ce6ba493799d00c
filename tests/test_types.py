"""styleblend.types: the generator interface both families answer."""

import typing

import torch

from styleblend.io.checkpoint import Checkpoint
from styleblend.nn import Generator as StyleGAN2Generator
from styleblend.types import Generator, MappingNet, SynthesisNet

from .conftest import tiny_checkpoint


def test_stylegan2_generator_answers_the_interface():
    G = tiny_checkpoint().generator()
    assert isinstance(G, StyleGAN2Generator)
    assert isinstance(G, Generator)
    assert isinstance(G.mapping, MappingNet) and isinstance(G.synthesis, SynthesisNet)
    assert (G.num_ws, G.w_dim, G.img_resolution) == (G.synthesis.num_ws, G.synthesis.w_dim, G.synthesis.img_resolution)


def test_other_modules_do_not():
    assert not isinstance(torch.nn.Linear(2, 2), Generator)
    assert not isinstance(tiny_checkpoint().generator().synthesis, Generator)  # no mapping, no z_dim


def test_checkpoint_generator_is_typed_with_the_interface():
    hints = typing.get_type_hints(Checkpoint.generator)
    assert hints["return"] is Generator


def test_generator_call_matches_mapping_then_synthesis():
    G = tiny_checkpoint().generator()
    z = torch.randn(2, G.z_dim, generator=torch.Generator().manual_seed(0))
    assert torch.equal(G(z, None, truncation_psi=0.5), G.synthesis(G.mapping(z, None, truncation_psi=0.5)))
