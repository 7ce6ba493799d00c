"""styleblend diff: fine-tunes look related, independent models are flagged."""

import math

import torch

from styleblend.blend.diff import diff_state_dicts, format_diff

from .conftest import finetuned, tiny_checkpoint


def test_finetune_is_related_and_changed_resolutions_are_ranked():
    base = tiny_checkpoint(seed=0)
    tuned = finetuned(base, scale=0.05)
    state = dict(tuned.g_ema)
    for key in state:
        if key.startswith("synthesis.b8.") and key.endswith("conv0.weight"):
            state[key] = base.g_ema[key] * 1.3   # b8 changed most
    report = diff_state_dicts(base.g_ema, state)
    assert report.related and not report.warnings
    by_res = {d.resolution: d.relative for d in report.resolutions}
    assert max(by_res, key=by_res.get) == 8
    assert report.conv_median < 0.1 and report.mapping < 0.1
    text = format_diff(report, per_layer=True)
    assert "fine-tuning changed resolutions 8" in text and "b8.conv0" in text and "warning" not in text


def test_unrelated_models_are_flagged():
    report = diff_state_dicts(tiny_checkpoint(seed=0).g_ema, tiny_checkpoint(seed=1).g_ema)
    assert not report.related
    assert math.isclose(report.conv_median, math.sqrt(2), rel_tol=0.2)
    assert any("unrelated models" in w for w in report.warnings)
    assert "blending will give broken images" in format_diff(report)


def test_identical_and_incomparable():
    base = tiny_checkpoint(seed=0)
    same = diff_state_dicts(base.g_ema, base.g_ema)
    assert same.suggestions == ["the generators are identical"] and same.conv_median == 0
    low = tiny_checkpoint(seed=0, res=16)
    report = diff_state_dicts(base.g_ema, low.g_ema)
    assert report.incomparable and "only shared blocks" in report.warnings[0]
    zero = dict(base.g_ema)
    zero["synthesis.b8.conv0.bias"] = torch.zeros_like(zero["synthesis.b8.conv0.bias"])
    rows = {(d.name, d.group): d.relative for d in diff_state_dicts(zero, base.g_ema).layers}
    assert rows[("b8.conv0", "bias")] == math.inf
