"""PCA of W: orthonormal components sorted by variance; edits and subspace projection."""

import pytest
import torch

from styleblend.errors import InvalidArgumentError
from styleblend.latents.files import load_pca, save_pca
from styleblend.latents.pca import apply_component, fit_pca, project_to_subspace, sample_w


def _anisotropic(n=2000, dim=12, seed=0):
    gen = torch.Generator().manual_seed(seed)
    scales = 3 * 0.6 ** torch.arange(dim, dtype=torch.float32)
    rot, _ = torch.linalg.qr(torch.randn(dim, dim, generator=gen))
    return (torch.randn(n, dim, generator=gen) * scales) @ rot.T + 5, rot, scales


def test_components_orthonormal_sorted_and_explained():
    w, rot, scales = _anisotropic()
    pca = fit_pca(w)
    v = pca.components
    assert torch.allclose(v @ v.T, torch.eye(12), atol=1e-5)
    assert (pca.variance[:-1] >= pca.variance[1:]).all()
    assert pca.explained_ratio.sum().item() == pytest.approx(1.0, abs=1e-5)
    assert abs(float(v[0] @ rot[:, 0])) == pytest.approx(1.0, abs=1e-2)  # the largest axis is found
    assert pca.stdev[0].item() == pytest.approx(3.0, rel=0.1)
    assert torch.allclose(pca.mean, w.mean(0), atol=1e-4)
    top = fit_pca(w, 4)
    assert top.num_components == 4 and torch.allclose(top.components, v[:4], atol=1e-5)
    with pytest.raises(InvalidArgumentError):
        fit_pca(w, 13)


def test_apply_component_on_chosen_layers_and_subspace():
    w, _, _ = _anisotropic()
    pca = fit_pca(w, 6)
    ws = torch.randn(2, 8, 12)
    out = apply_component(ws, pca, 1, 2.0, layers=[0, 1, 2])
    step = out - ws
    assert torch.allclose(step[:, :3], (2.0 * pca.stdev[1] * pca.components[1]).expand(2, 3, 12), atol=1e-6)
    assert torch.equal(step[:, 3:], torch.zeros(2, 5, 12))
    proj = project_to_subspace(ws, pca, 3)
    assert torch.allclose(project_to_subspace(proj, pca, 3), proj, atol=1e-5)  # idempotent
    resid = (ws - proj) @ pca.components[:3].T
    assert resid.abs().max() < 1e-4
    with pytest.raises(InvalidArgumentError):
        apply_component(ws, pca, 6, 1.0)


def test_sample_w_is_seeded_and_pca_file_round_trip(tmp_path):
    mapping = torch.nn.Linear(4, 6)
    a = sample_w(lambda z: mapping(z), 4, 50, seed=3, batch_size=16)
    b = sample_w(lambda z: mapping(z), 4, 50, seed=3, batch_size=50)
    assert a.shape == (50, 6) and torch.allclose(a, b)
    pca = fit_pca(a.detach(), 3)
    path = save_pca(tmp_path / "pca.npz", pca)
    back = load_pca(path, w_dim=6)
    assert torch.equal(back.components, pca.components) and back.num_samples == 50
    with pytest.raises(InvalidArgumentError, match="w_dim"):
        load_pca(path, w_dim=8)
