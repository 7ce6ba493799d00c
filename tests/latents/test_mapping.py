"""z -> ws through the mapping network: class labels, seeds, batches."""

import pytest
import torch

from styleblend.errors import InvalidArgumentError
from styleblend.latents.mapping import class_vector, map_z, seeds_to_ws
from styleblend.latents.seeds import z_from_seeds

from ..conftest import tiny_checkpoint


def test_class_vector_is_one_hot_and_checked():
    assert class_vector(0, None, 3) is None
    c = class_vector(4, 2, 3)
    assert c.shape == (3, 4) and c.sum().item() == 3 and c[:, 2].tolist() == [1, 1, 1]
    for c_dim, idx in ((0, 1), (4, None), (4, 4), (4, -1)):
        with pytest.raises(InvalidArgumentError):
            class_vector(c_dim, idx, 1)


def test_seeds_are_z_from_seeds_mapped_in_any_batch_size():
    G = tiny_checkpoint().generator()
    z = z_from_seeds([3, 4, 5], G.z_dim)
    ws = seeds_to_ws(G, [3, 4, 5], truncation_psi=0.5, truncation_cutoff=2)
    assert ws.shape == (3, G.num_ws, G.w_dim)
    assert torch.allclose(ws, map_z(G, z, truncation_psi=0.5, truncation_cutoff=2, batch_size=2), atol=1e-6)
    assert torch.allclose(ws[:, 2:], seeds_to_ws(G, [3, 4, 5])[:, 2:], atol=1e-6)  # cutoff: layers 2+ untouched
    assert map_z(G, z[:0]).shape == (0, G.num_ws, G.w_dim)


def test_a_conditional_model_needs_its_class():
    G = tiny_checkpoint(c_dim=3).generator()
    with pytest.raises(InvalidArgumentError, match="conditional"):
        seeds_to_ws(G, [0])
    assert not torch.allclose(seeds_to_ws(G, [0], class_idx=0), seeds_to_ws(G, [0], class_idx=1))
