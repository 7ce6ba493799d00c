"""The Regions and Auto α panels' server side (styleblend.ui.regions) on tiny generators, and their HTTP routes."""

from __future__ import annotations

import base64
import io
import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from styleblend.blend.features import feature_blend
from styleblend.blend.regions import assign_parts, layer_activations, plan_region_blend
from styleblend.errors import InvalidArgumentError
from styleblend.io import Checkpoint, load_checkpoint, save_checkpoint
from styleblend.latents.mapping import seeds_to_ws
from styleblend.media.images import to_uint8
from styleblend.media.parts import part_colours
from styleblend.ui.regions import DEFAULTS, MAX_BUDGET_S, NO_CRITIC, RegionTools, parse_mask
from styleblend.ui.service import PAD, BlendSession, png_bytes

from ..conftest import tiny_checkpoint
from .conftest import perturbed
from .test_server import call, error_of

SEEDS = [1, 2]


def pair_with_critic(res: int = 32) -> tuple[Checkpoint, Checkpoint]:
    """A tiny base and a 'fine-tuned' transfer that carries a discriminator (the critic of auto α)."""
    base = tiny_checkpoint(0, res=res, with_d=True)
    plain = Checkpoint(g_config=base.g_config, g_ema=base.g_ema)
    transfer = perturbed(plain)
    return plain, Checkpoint(g_config=transfer.g_config, g_ema=transfer.g_ema, d_config=base.d_config, d=base.d)


@pytest.fixture()
def tools():
    base, transfer = pair_with_critic()
    session = BlendSession(base, transfer, embed_steps=3)
    yield RegionTools(session)
    session.close()


def decode(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)))


def cells(png: bytes, cols: int, size: int) -> np.ndarray:
    """The grid's cells [rows, cols, size, size, 3] (pad between cells, as make_grid lays them out)."""
    grid = decode(png)
    rows = (grid.shape[0] + PAD) // (size + PAD)
    return np.stack([np.stack([grid[r * (size + PAD):r * (size + PAD) + size, c * (size + PAD):c * (size + PAD) + size]
                               for c in range(cols)]) for r in range(rows)])


def test_the_part_map_has_the_numbers_of_styleblend_regions_and_draws_each_label_where_the_page_reads_it(tools):
    out = tools.part_map({"seeds": SEEDS, "psi": 0.7, "parts": 4, "samples": 8})
    G = tools.session.current_pair()[0].generator()
    plan = plan_region_blend(G, 0, parts=4, samples=8, top_k=0)  # what `blend --region` / `regions` cluster
    assert out["layer"] == plan.layer == "b32" and out["res"] == 32
    labels = assign_parts(layer_activations(G, seeds_to_ws(G, SEEDS, 0.7), "b32"), plan.centroids)
    assert out["labels"] == [lab.reshape(-1).tolist() for lab in labels]
    assert sum(out["areas"]) == pytest.approx(1.0, abs=1e-3)
    # The page finds the part under a click from 'cell', 'pad', 'res' and 'labels': the drawn map must agree.
    assert out["cell"] % out["res"] == 0
    png = base64.b64decode(out["png"].split(",", 1)[1])
    grid = cells(png, out["cols"], out["cell"])
    assert grid.shape[:2] == (len(SEEDS), 2)
    f = out["cell"] // out["res"]
    for row, lab in enumerate(labels):
        drawn = grid[row, 1][::f, ::f]  # one pixel per label (the numbers cover a few)
        assert (drawn == part_colours(lab)).all(axis=-1).mean() > 0.9


def test_a_picked_part_renders_the_feature_blend_of_that_part_next_to_the_blend(tools):
    session = tools.session
    alphas = [0.0, 1.0, 0.5, 0.0]
    png = tools.render({"seeds": SEEDS, "psi": 0.7, "parts": 4, "samples": 8, "part": 2, "alpha": 0.8,
                        "feather": 1.5, "alphas": alphas, "mapping": "base"})
    grid = cells(png, 5, 32)
    base, transfer, _ = session.current_pair()
    Gb, Gt = base.generator(), transfer.generator()
    ws = seeds_to_ws(Gb, SEEDS, 0.7)
    plan = plan_region_blend(Gb, 2, parts=4, samples=8, top_k=0)
    region = plan.region_maps(Gb, ws)
    expected = to_uint8(feature_blend(Gb, Gt, ws, region, (32,), 0.8, 1.5))
    assert np.array_equal(grid[:, 3], expected)
    ordinary = session.preview_images(alphas, SEEDS, 0.7, "base")
    assert np.array_equal(grid[:, :3], ordinary)
    assert not np.array_equal(grid[:, 3], grid[:, 0])  # the region changed something
    # α = 0: the region blend is the base bit for bit.
    still = cells(tools.render({"seeds": SEEDS, "parts": 4, "samples": 8, "part": 2, "alpha": 0}), 5, 32)
    assert np.array_equal(still[:, 3], still[:, 0])


def test_a_painted_mask_renders_the_feature_blend_of_the_mask(tools):
    mask = np.zeros((16, 16), dtype=np.uint8)
    mask[2:9, 4:12] = 1
    bits = "".join(map(str, mask.reshape(-1)))
    png = tools.render({"seeds": SEEDS, "mask": {"size": 16, "bits": bits}, "layers": "16-32", "feather": 0})
    base, transfer, _ = tools.session.current_pair()
    Gb, Gt = base.generator(), transfer.generator()
    ws = seeds_to_ws(Gb, SEEDS, 0.7)
    expected = to_uint8(feature_blend(Gb, Gt, ws, torch.from_numpy(mask.astype(bool)), (16, 32), 1.0, 0.0))
    grid = cells(png, 5, 32)
    assert np.array_equal(grid[:, 3], expected)
    # Far from the mask (beyond the convolutions' reach) the region blend is the base's.
    assert np.array_equal(grid[:, 3, 28:, :], grid[:, 0, 28:, :])
    # The region column darkens the outside of the mask.
    assert (grid[:, 4, 28:].astype(int) <= grid[:, 0, 28:].astype(int)).all()


@pytest.mark.parametrize("request_, message", [
    ({"part": 0, "parts": 13}, "parts 13 must be in [2, 12]"),
    ({"part": 0, "samples": 65}, "samples 65 must be in [1, 64]"),
    ({"part": 6, "parts": 6}, "part 6 must be in [0, 5]"),
    ({"part": 0, "seeds": "0-8"}, "at most 8"),
    ({"part": 0, "feather": 65}, "feather 65 must be in [0, 64]"),
    ({"part": 0, "alpha": 1.5}, "region α 1.5 must be in [0, 1]"),
    ({}, "pick a part"),
    ({"part": 0, "mask": {"size": 4, "bits": "1" * 16}}, "not both"),
    ({"mask": {"size": 33, "bits": "1" * 33 * 33}}, "mask size 33 must be one of"),
    ({"mask": {"size": 512, "bits": "1"}}, "mask size 512 must be one of"),
    ({"mask": {"size": 16, "bits": "1" * 255}}, "needs 256 characters"),
    ({"mask": {"size": 4, "bits": "1" * 15 + "2"}}, "only contain"),
    ({"mask": {"size": 4, "bits": "0" * 16}}, "the mask is empty"),
    ({"part": 0, "layers": "7"}, "the 'mix after blocks' field '7'"),
    ({"part": 0, "seeds": 3}, "must be a list"),
    ({"part": 0, "alphas": 0.5}, "alphas must be a list"),
])
def test_sizes_and_values_are_checked_before_any_work(tools, request_, message):
    with pytest.raises(InvalidArgumentError) as err:
        tools.render({"seeds": SEEDS, **request_})
    assert message in str(err.value)
    if "mix after" not in message:  # everything else is refused before the generators are even copied
        assert tools._models is None


def test_parse_mask_reads_rows_top_down():
    mask = parse_mask({"size": 4, "bits": "1000" + "0" * 12}, 32)
    assert mask.dtype == torch.bool and mask.shape == (4, 4) and bool(mask[0, 0]) and int(mask.sum()) == 1


def test_auto_runs_as_a_job_and_its_table_is_the_searchs_choice(tools):
    session = tools.session
    assert tools.info()["auto"] == {"available": True, "reason": None, "critic": "the transfer's own discriminator"}
    # A budget with room for a loaded machine: one score must fit (8 + 7 validation scores) in it. Paired bounds
    # at the default confidence need 2 groups of the critic's 4 latents: 8 samples and 8 validation latents.
    started = tools.start_auto({"budget_s": 8, "samples": 8, "validation": 8})
    with pytest.raises(InvalidArgumentError, match="still running"):  # one job at a time (photos included)
        session.start_embedding(png_bytes(np.zeros((32, 32, 3), np.uint8)), steps=1)
    status = session.jobs.wait(started["job"], 120)
    assert status["state"] == "done" and status["done"] == status["total"] == 8
    assert status["info"]["evaluations"] >= 8  # the two models and the 6 plain swaps at least
    result = tools.auto_result({"id": started["job"]})
    outcome = session.jobs.result(started["job"])
    assert result["alphas"] == list(outcome.result.validation.chosen.alphas)
    assert result["table"] == outcome.result.table_spec() and len(result["alphas"]) == len(session.resolutions)
    assert result["budget_s"] == 8 and result["plot"].startswith("data:image/png;base64,")
    assert tools.info()["auto_job"]["id"] == started["job"]  # a reloaded page finds it
    # As `blend --auto`: the choice is judged beyond chance on the validation latents.
    assert result["confidence"] == outcome.result.settings["confidence"] == DEFAULTS["auto_confidence"] == 0.95
    assert result["confident_swaps"] == list(outcome.result.confident_swaps)
    assert len(outcome.result.validation.margins) == len(outcome.result.validation.swaps) > 0


def test_auto_with_confidence_0_compares_means_and_too_few_latents_for_bounds_are_explained(tools):
    session = tools.session
    job = tools.start_auto({"budget_s": 5, "samples": 4, "validation": 0, "confidence": 0})["job"]
    assert session.jobs.wait(job, 60)["state"] == "done"
    result = tools.auto_result({"id": job})
    assert result["confidence"] is None and result["confident_swaps"] == []
    job = tools.start_auto({"budget_s": 5, "samples": 4, "validation": 0})["job"]
    status = session.jobs.wait(job, 60)
    assert status["state"] == "failed" and "the 'auto samples' field" in status["error"]
    assert "paired confidence bounds need at least 2 groups" in status["error"]


def test_auto_refuses_out_of_range_requests_and_explains_a_missing_critic(tools, pair_paths):
    for body, message in [({"budget_s": 0.5}, "budget (seconds) 0.5 must be in [1, 600]"),
                          ({"budget_s": MAX_BUDGET_S + 1}, "must be in [1, 600]"),
                          ({"budget_s": "nan"}, "must be in"), ({"samples": 65}, "auto samples 65"),
                          ({"validation": -1}, "validation samples -1"),
                          ({"confidence": 0.3}, "confidence 0.3 must be 0 (means only) or in (0.5, 0.999]"),
                          ({"confidence": 1}, "confidence 1 must be in [0, 0.999]")]:
        with pytest.raises(InvalidArgumentError, match=message.replace("(", r"\(").replace(")", r"\)")
                           .replace("[", r"\[").replace("]", r"\]")):
            tools.start_auto(body)
    assert tools.session.jobs.latest("auto") is None
    plain = BlendSession(load_checkpoint(pair_paths[0]), load_checkpoint(pair_paths[1]))
    try:
        no_critic = RegionTools(plain)
        assert no_critic.info()["auto"] == {"available": False, "reason": NO_CRITIC, "critic": None}
        with pytest.raises(InvalidArgumentError, match="--critic"):
            no_critic.start_auto({"budget_s": 5})
        with pytest.raises(InvalidArgumentError, match="has no discriminator"):
            RegionTools(plain, load_checkpoint(pair_paths[0]), "base.safetensors")
        small = tiny_checkpoint(0, res=16, with_d=True)
        wrong = RegionTools(plain, small, "small.safetensors")
        assert "judges 16 px images" in wrong.info()["auto"]["reason"]
        given = RegionTools(plain, tiny_checkpoint(0, res=32, with_d=True), "critic.safetensors")
        assert given.info()["auto"]["critic"] == "critic.safetensors (--critic)"
    finally:
        plain.close()


def test_new_models_stop_the_search_with_the_reason_and_its_table_is_refused_after(tools, pair_paths):
    session = tools.session
    job = tools.start_auto({"budget_s": 60, "samples": 4, "validation": 0, "confidence": 0})["job"]
    session.load_uploaded("transfer", pair_paths[1].read_bytes(), "transfer.safetensors")
    status = session.jobs.wait(job, 60)
    assert status["state"] == "cancelled" and "the models changed" in status["stopped_because"]
    assert not status["has_result"]  # it stopped at a score, before the search could end with a result
    with pytest.raises(InvalidArgumentError, match="has no result"):
        tools.auto_result({"id": job})
    # The Cancel button: stops at the next score, with no reason given.
    base, transfer = pair_with_critic()
    session.load_uploaded("transfer", _checkpoint_bytes(transfer, pair_paths[0].parent), "with-d.safetensors")
    job = tools.start_auto({"budget_s": 60, "samples": 4, "validation": 0, "confidence": 0})["job"]
    session.jobs.cancel(job)
    status = session.jobs.wait(job, 60)
    assert status["state"] == "cancelled" and status["stopped_because"] is None and not status["has_result"]


def test_a_finished_search_is_refused_once_the_models_changed(tools, pair_paths):
    job = tools.start_auto({"budget_s": 5, "samples": 4, "validation": 0, "confidence": 0})["job"]
    assert tools.session.jobs.wait(job, 60)["state"] == "done"
    assert tools.auto_result({"id": job})["alphas"]
    tools.session.load_uploaded("transfer", pair_paths[1].read_bytes(), "transfer.safetensors")
    with pytest.raises(InvalidArgumentError, match="the models changed since this search ran"):
        tools.auto_result({"id": job})


def _checkpoint_bytes(ckpt: Checkpoint, folder) -> bytes:
    path = save_checkpoint(ckpt, folder / "with-d.safetensors")
    return path.read_bytes()


# ------------------------------------------------------------------------------------------
# HTTP routes


def test_the_routes_answer_json_and_png_and_say_what_is_wrong(server):
    status, ctype, _, body = call(server, "/api/regions/info")
    info = json.loads(body)
    assert status == 200 and info["auto"]["available"] is False and "--critic" in info["auto"]["reason"]
    status, ctype, _, body = call(server, "/api/regions/parts", {"seeds": "1,2", "parts": 3, "samples": 4})
    out = json.loads(body)
    assert status == 200 and len(out["labels"]) == 2 and len(out["labels"][0]) == out["res"] ** 2
    assert set(sum(out["labels"], [])) <= {0, 1, 2}
    status, ctype, _, body = call(server, "/api/regions/render", {"seeds": "1", "parts": 3, "samples": 4, "part": 1})
    assert status == 200 and ctype == "image/png" and decode(body).shape == (32, 5 * 32 + 4 * PAD, 3)
    assert "feather inf must be in [0, 64]" in error_of(call(server, "/api/regions/render",
                                                             {"seeds": "1", "part": 1, "feather": math.inf}))
    assert "must be in [1, 600]" in error_of(call(server, "/api/auto/start", {"budget_s": 10**6}))
    assert "--critic" in error_of(call(server, "/api/auto/start", {"budget_s": 5}))
    assert "not an auto α job" in error_of(call(server, "/api/auto/result?id=embed-1"))
    assert "there is no job" in error_of(call(server, "/api/auto/result?id=auto-999"))


def test_styleblend_ui_critic_is_read_at_start_and_must_have_a_discriminator(pair_paths, tmp_path, capsys,
                                                                            monkeypatch):
    import styleblend.ui.server
    from styleblend.cli.main import main

    served = {}
    monkeypatch.setattr(styleblend.ui.server, "serve", lambda session, *a, regions=None, **k: served.update(
        info=regions.info()))
    args = ["ui", "--base", str(pair_paths[0]), "--transfer", str(pair_paths[1]), "--port", "0"]
    assert main([*args, "--critic", str(pair_paths[0])]) == 1
    err = capsys.readouterr().err
    assert "base.safetensors has no discriminator" in err and err.count("\n") == 1
    critic = save_checkpoint(tiny_checkpoint(0, res=32, with_d=True), tmp_path / "critic.safetensors")
    assert main([*args, "--critic", str(critic)]) == 0
    assert served["info"]["auto"] == {"available": True, "reason": None, "critic": "critic.safetensors (--critic)"}
    assert main(args) == 0
    assert served["info"]["auto"]["available"] is False and "--critic" in served["info"]["auto"]["reason"]
