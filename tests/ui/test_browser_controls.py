"""Sharing a blend in headless Chromium: a recipe copied from the page rebuilds the same model with
`styleblend blend`, the page's address restores the blend, and a CLI recipe file loads into the page (or is
refused, next to the file input, when the sliders cannot express it). Skips without Playwright or Chromium."""

from __future__ import annotations

import json
import shlex
import shutil

import pytest
import torch

from styleblend.cli.main import main
from styleblend.io import load_checkpoint
from styleblend.ui.service import BlendSession

from .browser import field_error, new_tab, serving

SLIDERS = "Array.from(document.querySelectorAll('#sliders input')).map(s => Number(s.value))"


@pytest.fixture(scope="module")
def server(pair_paths):
    with serving(BlendSession(load_checkpoint(pair_paths[0]), load_checkpoint(pair_paths[1]), embed_steps=3)) as srv:
        yield srv


def downloaded_state(tab, tmp_path) -> dict[str, torch.Tensor]:
    with tab.expect_download() as download:
        tab.click("#download")
    path = tmp_path / download.value.suggested_filename
    download.value.save_as(path)
    return load_checkpoint(path).g_ema


def assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_a_copied_recipe_rebuilds_the_same_model_with_styleblend_blend_and_the_address_keeps_the_blend(
        browser, server, pair_paths, tmp_path, monkeypatch):
    tab = new_tab(browser, server.url)
    before = tab.get_attribute("#preview", "src")
    tab.click("#preset-sigmoid")  # α with many decimals at most resolutions
    tab.wait_for_function("b => document.getElementById('preview').src !== b", arg=before)
    tab.select_option("#mapping", "blend")
    tab.click("#recipe-copy")
    tab.wait_for_function("document.getElementById('recipe-json').value.length > 0")
    recipe = json.loads(tab.input_value("#recipe-json"))
    assert recipe["mapping"] == "blend" and recipe["schedule"].startswith("table:")
    assert [i["role"] for i in recipe["inputs"]] == ["base", "transfer"] and all(i["sha256"] for i in recipe["inputs"])
    page_model = downloaded_state(tab, tmp_path)

    # The recipe's command, run where the two input files are, writes the same tensors.
    work = tmp_path / "cli"
    work.mkdir()
    for path in pair_paths:
        shutil.copy(path, work / path.name)
    monkeypatch.chdir(work)
    argv = shlex.split(recipe["command"])
    assert argv[:2] == ["styleblend", "blend"]
    assert main(argv[1:]) == 0
    assert_same(load_checkpoint(work / argv[argv.index("--out") + 1]).g_ema, page_model)
    cli_recipe = json.loads((work / (argv[argv.index("--out") + 1] + ".recipe.json")).read_text())
    assert cli_recipe["schedule"] == recipe["schedule"] and cli_recipe["mapping"] == "blend"

    # The address keeps the blend: a new tab opened on it shows the same sliders and mapping.
    sliders = tab.evaluate(SLIDERS)
    tab.wait_for_function("location.hash.includes('mapping=blend')")
    other = new_tab(browser, tab.url)
    assert other.evaluate(SLIDERS) == sliders and other.input_value("#mapping") == "blend"
    other.close()
    tab.close()


def test_a_cli_recipe_loads_into_the_page_or_is_refused_next_to_the_file_input(browser, server, pair_paths, tmp_path):
    tab = new_tab(browser, server.url)
    out = tmp_path / "linear.safetensors"
    assert main(["blend", "--base", str(pair_paths[0]), "--transfer", str(pair_paths[1]), "--schedule", "linear",
                 "--from-res", "8", "--to-res", "32", "--out", str(out)]) == 0
    recipe_file = tmp_path / "linear.safetensors.recipe.json"
    tab.set_input_files("#recipe-file", str(recipe_file))
    tab.wait_for_function("document.getElementById('recipe-status').textContent.startsWith('loaded')")
    assert tab.evaluate(SLIDERS) == server.session.preset("linear", from_res=8, to_res=32)
    assert_same(downloaded_state(tab, tmp_path), load_checkpoint(out).g_ema)  # the page rebuilds the CLI's model

    # A recipe the sliders cannot express (the noise of every block from the base) is refused, with the reason.
    grouped = tmp_path / "grouped.safetensors"
    assert main(["blend", "--base", str(pair_paths[0]), "--transfer", str(pair_paths[1]), "--swap-res", "16",
                 "--group", "noise=0", "--out", str(grouped)]) == 0
    tab.set_input_files("#recipe-file", str(tmp_path / "grouped.safetensors.recipe.json"))
    text = field_error(tab, "#recipe-file")
    assert "noise" in text and "styleblend blend" in text
    tab.close()


def test_one_row_shows_the_w_indices_of_each_resolution_and_the_mixing_layers(browser, server):
    from styleblend.nn.naming import generator_layers

    tab = new_tab(browser, server.url)
    cfg = server.session._base.g_config
    layers = [layer for layer in generator_layers(cfg) if layer.ws_index is not None]
    # Each slider says which W+ rows its resolution's layers read.
    for r in cfg.block_resolutions:
        ws = sorted({layer.ws_index for layer in layers if layer.resolution == r})
        label = tab.inner_text(f"label[for=alpha-{r}] .ws")
        assert label == f"W+ {ws[0]}–{ws[-1]}" if len(ws) > 1 else f"W+ {ws[0]}"
    # The row: every index once, under the resolution whose convolution reads it.
    groups = tab.evaluate("""Array.from(document.querySelectorAll('#layer-row .ws-group')).map(g => [
        Number(g.dataset.res), Array.from(g.querySelectorAll('.ws-cell')).map(c => Number(c.textContent))])""")
    assert [i for _, cells in groups for i in cells] == list(range(cfg.num_ws))
    convs = {layer.ws_index: layer.resolution for layer in layers if layer.kind == "conv"}
    assert all(convs.get(i, cfg.img_resolution) == r for r, cells in groups for i in cells)
    # 'layers from B' marks its indices as it is typed.
    tab.fill("#mix-layers", "1-2,5")
    assert tab.evaluate("Array.from(document.querySelectorAll('#layer-row .picked')).map(c => Number(c.textContent))"
                        ) == [1, 2, 5]
    tab.close()


def test_a_preset_off_the_sliders_grid_lands_on_them_exactly(browser, server):
    tab = new_tab(browser, server.url)
    expected = server.session.preset("sigmoid")
    assert any(abs(a * 100 - round(a * 100)) > 1e-6 for a in expected)  # values a 0.01 step would round
    tab.click("#preset-sigmoid")
    tab.wait_for_function(f"{SLIDERS}.some(v => Math.abs(v * 100 - Math.round(v * 100)) > 1e-6)")
    assert tab.evaluate(SLIDERS) == pytest.approx(expected, abs=1e-9)
    tab.close()
