"""Resolution-dependent model blending (Pinkney & Adler 2020): schedules, the pure core, recipes, diagnostics.

Typical use::

    from styleblend.io import load_checkpoint
    from styleblend.blend import Swap, blend_checkpoints, save_blend

    ckpt, recipe = blend_checkpoints(load_checkpoint("ffhq.pkl"), [load_checkpoint("toon.pkl")], Swap(16))
    save_blend(ckpt, recipe, "toonified.pkl")
"""

from .channels import ChannelMask, parse_channel_mask, read_channel_mask
from .core import (
    apply_plan,
    blend_state_dicts,
    blend_two,
    multi_model_weights,
    plan_weights,
    two_model_weights,
)
from .diff import DiffReport, diff_state_dicts, format_diff
from .model import blend_checkpoints, save_blend, swap_sweep
from .multi import Bands, MultiSchedule, WeightTable, parse_multi_schedule
from .recipe import Recipe, format_alpha_table, layer_weights, recipe_path
from .schedules import (
    ByGroup,
    Constant,
    LayerTable,
    Linear,
    Schedule,
    Sigmoid,
    Swap,
    Table,
    parse_schedule,
)
from .sweep import SweepFrame, iter_sweep, save_sweep, slider_frames, swap_frames

__all__ = [
    "Bands", "ByGroup", "ChannelMask", "Constant", "DiffReport", "LayerTable", "Linear", "MultiSchedule", "Recipe",
    "Schedule", "Sigmoid", "SweepFrame", "Swap", "Table", "WeightTable", "apply_plan", "blend_checkpoints",
    "blend_state_dicts", "blend_two", "diff_state_dicts", "format_alpha_table", "format_diff", "iter_sweep",
    "layer_weights", "multi_model_weights", "parse_channel_mask", "parse_multi_schedule", "parse_schedule",
    "plan_weights", "read_channel_mask", "recipe_path", "save_blend", "save_sweep", "slider_frames", "swap_frames",
    "swap_sweep", "two_model_weights",
]
