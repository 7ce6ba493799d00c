"""Schedules α(r): values, exact ends, parsing round trips and clear errors."""

import pytest

from styleblend.blend.multi import Bands, WeightTable, parse_multi_schedule
from styleblend.blend.schedules import ByGroup, Constant, LayerTable, Linear, Sigmoid, Swap, Table, parse_schedule
from styleblend.errors import InvalidArgumentError
from styleblend.nn.naming import param_info

from ..conftest import tiny_config


def p(key):
    return param_info(key)


def conv(res, layer="conv1"):
    return p(f"synthesis.b{res}.{layer}.weight")


def test_swap_and_flip():
    s = Swap(16)
    assert [s.alpha(conv(r)) for r in (4, 8, 16, 32, 64)] == [1, 1, 1, 0, 0]
    f = Swap(16, flip=True)
    assert [f.alpha(conv(r)) for r in (4, 16, 32)] == [0, 0, 1]
    assert s.alpha(p("synthesis.b16.torgb.affine.weight")) == 1.0
    assert s.alpha(p("synthesis.b4.const")) == 1.0


def test_linear_is_exact_at_the_ends_and_linear_in_log2():
    s = Linear(8, 32)
    values = [s.alpha(conv(r)) for r in (4, 8, 16, 32, 64)]
    assert values == [1.0, 1.0, 0.5, 0.0, 0.0]
    assert all(type(v) is float for v in values)
    assert Linear(8, 64).alpha(conv(16)) == pytest.approx(2 / 3)
    assert Linear(8, 32, flip=True).alpha(conv(4)) == 0.0


def test_sigmoid_centre_and_monotone():
    s = Sigmoid(16, 1)
    assert s.alpha(conv(16)) == 0.5
    values = [s.alpha(conv(r)) for r in (4, 8, 16, 32, 64)]
    assert values == sorted(values, reverse=True)
    assert s.alpha(conv(8)) == pytest.approx(1 / (1 + 2.718281828459045 ** -1))
    assert Sigmoid(16, 1, flip=True).alpha(conv(8)) == pytest.approx(1 - s.alpha(conv(8)))


def test_table_and_missing_entries():
    t = parse_schedule("table:4:1,8:1,16:0.5,32:0")
    assert [t.alpha(conv(r)) for r in (4, 8, 16, 32)] == [1, 1, 0.5, 0]
    with pytest.raises(InvalidArgumentError, match="not 64.*'\\*:0'"):
        t.alpha(conv(64))
    with pytest.raises(InvalidArgumentError, match="no entry for resolutions \\[\\]|lists resolutions"):
        t.validate(tiny_config(16))
    with pytest.raises(InvalidArgumentError, match="no entry for resolutions \\[64\\]"):
        t.validate(tiny_config(64))
    assert parse_schedule("table:4:1,*:0.25").alpha(conv(64)) == 0.25


def test_layer_table_by_name_and_w_index():
    t = parse_schedule("layers:b8.conv0:0.5,0:1,3:0.25,*:0")
    assert t.alpha(conv(8, "conv0")) == 0.5
    assert t.alpha(conv(4)) == 1.0                       # W+ 0
    assert t.alpha(p("synthesis.b4.const")) == 1.0        # const reads no w: its block's first index
    assert t.alpha(p("synthesis.b8.torgb.weight")) == 0.25
    assert t.alpha(conv(8)) == 0.0                        # W+ 2: default
    with pytest.raises(InvalidArgumentError, match="no entry for layer 'b8.conv1'"):
        LayerTable(((0, 1.0),)).alpha(conv(8))
    with pytest.raises(InvalidArgumentError, match="not in this model"):
        LayerTable((("b64.conv0", 1.0),)).validate(tiny_config(32))


def test_groups_override_the_default():
    s = parse_schedule("swap:16;noise=0;torgb=1")
    assert isinstance(s, ByGroup)
    assert s.alpha(p("synthesis.b8.conv0.noise_strength")) == 0.0
    assert s.alpha(p("synthesis.b8.conv0.weight")) == 1.0
    assert s.alpha(p("synthesis.b32.torgb.weight")) == 1.0
    assert s.alpha(p("synthesis.b32.conv0.bias")) == 0.0
    with pytest.raises(InvalidArgumentError, match="unknown parameter group 'buffer'"):
        parse_schedule("swap:16;buffer=1")
    with pytest.raises(InvalidArgumentError, match="no resolution"):
        Swap(16).alpha(p("mapping.fc0.weight"))


@pytest.mark.parametrize("spec", ["0.25", "swap:16", "swap:8:flip", "linear:8:32", "linear:4:64:flip",
                                  "sigmoid:16:1", "sigmoid:11.3:0.5:flip", "table:4:1,8:0.5,*:0",
                                  "layers:b4.const:1,0:1,b8.conv0:0.5,*:0", "swap:16;noise=0;torgb=table:4:1,*:0"])
def test_spec_round_trip(spec):
    s = parse_schedule(spec)
    assert parse_schedule(s.spec()) == s
    assert s.spec() == spec


@pytest.mark.parametrize("spec,match", [
    ("swap", "needs 1 argument"), ("swap:12", "power of two"), ("linear:32:8", "larger than from-res"),
    ("sigmoid:16:0", "width"), ("table:4:2", "in \\[0, 1\\]"), ("table:4:1,4:0", "twice"), ("magic:3", "unknown"),
    ("table:4", "KEY:VALUE"), ("1.5", "in \\[0, 1\\]"), ("swap:16;noise", "GROUP=SPEC"),
])
def test_bad_specs(spec, match):
    with pytest.raises(InvalidArgumentError, match=match):
        parse_schedule(spec)


def test_constant():
    assert Constant(0.3).alpha(p("mapping.fc0.weight")) == 0.3


def test_bands_and_weight_tables():
    b = parse_multi_schedule("bands:8,16")
    assert isinstance(b, Bands) and b.num_models == 3
    assert b.weights(conv(4)) == (0, 1, 0) and b.weights(conv(8)) == (0, 1, 0)
    assert b.weights(conv(16)) == (0, 0, 1) and b.weights(conv(32)) == (1, 0, 0)
    assert Bands((16,)).weights(conv(16)) == (0.0, 1.0)   # one edge = swap
    w = parse_multi_schedule("weights:4:0/1/0,8:0.2/0.3/0.5,*:1/0/0")
    assert isinstance(w, WeightTable) and w.num_models == 3
    assert w.weights(conv(8)) == (0.2, 0.3, 0.5) and w.weights(conv(64)) == (1, 0, 0)
    assert parse_multi_schedule(w.spec()) == w and parse_multi_schedule(b.spec()) == b
    with pytest.raises(InvalidArgumentError, match="sums to 0.9"):
        parse_multi_schedule("weights:4:0.5/0.4")
    with pytest.raises(InvalidArgumentError, match="different lengths"):
        parse_multi_schedule("weights:4:0.5/0.5,8:1/0/0")
    with pytest.raises(InvalidArgumentError, match="increase"):
        Bands((16, 8))
    with pytest.raises(InvalidArgumentError, match="no row for resolution 16"):
        w2 = WeightTable(((4, (1.0, 0.0)),))
        w2.weights(conv(16))
    assert isinstance(Table(((4, 1.0),), 0.0), Table)


def test_tables_accept_dicts():
    assert Table({4: 1, 8: 0.5}, default=0) == Table(((4, 1), (8, 0.5)), 0)
    assert LayerTable({"b4.const": 1}).alpha(p("synthesis.b4.const")) == 1
    assert WeightTable({4: [0, 1]}).weights(conv(4)) == (0, 1)
    assert ByGroup(Swap(8), {"noise": Constant(0)}).alpha(p("synthesis.b4.conv1.noise_strength")) == 0
