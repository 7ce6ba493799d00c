"""2-D convolution combined with FIR up/down-sampling (reference path).

The padding arithmetic reproduces NVIDIA's ``conv2d_resample`` so that weights trained there
give the same images here: up-sampling is a strided transposed convolution followed by the FIR
filter, down-sampling is the FIR filter followed by a strided convolution.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .half import conv2d_fp16, conv_transpose2d_fp16, round_fp16
from .polyphase import conv_transpose2d_polyphase
from .upfirdn2d import filter_size, upfirdn2d


def _conv(x: torch.Tensor, w: torch.Tensor, stride: int = 1, padding: int | list[int] = 0, groups: int = 1,
          transpose: bool = False, flip_weight: bool = True, emulate_fp16: bool = False) -> torch.Tensor:
    # conv2d computes a correlation; flip_weight=False turns it into a true convolution.
    if not flip_weight:
        w = w.flip([2, 3])
    if transpose:
        if emulate_fp16:
            py, px = (padding, padding) if isinstance(padding, int) else padding
            return conv_transpose2d_fp16(x, w, stride=stride, padding=(py, px), groups=groups)
        return F.conv_transpose2d(x, w, stride=stride, padding=padding, groups=groups)
    if emulate_fp16:
        py, px = (padding, padding) if isinstance(padding, int) else padding
        return conv2d_fp16(x, w, stride=stride, padding=(py, px), groups=groups)
    return F.conv2d(x, w, stride=stride, padding=padding, groups=groups)


def conv2d_resample(x: torch.Tensor, w: torch.Tensor, f: torch.Tensor | None = None, up: int = 1,
                    down: int = 1, padding: int = 0, groups: int = 1, flip_weight: bool = True,
                    emulate_fp16: bool = False, polyphase: bool = False) -> torch.Tensor:
    """Convolve ``x`` [N, C, H, W] with ``w`` [O, C/groups, kh, kw], optionally resampling by 2.

    Args:
        f: 2-D FIR filter for resampling (required when up or down > 1).
        up, down: integer resampling factors (not both > 1 here).
        padding: symmetric padding of the convolution at the output resolution.
        flip_weight: False for a true convolution; NVIDIA uses ``up == 1``.
        emulate_fp16: ``x`` is float32 holding float16 values; round ``w`` and every step as the float16
            path rounds (:mod:`styleblend.ops.half`).
        polyphase: up-sample a float32 ``x`` by regular convolutions (:mod:`styleblend.ops.polyphase`) instead
            of the strided transposed convolution: the same sums in another order, faster on CPUs. Ignored
            for float16 (native or emulated), whose roundings only the transposed convolution reproduces.
    """
    if emulate_fp16:
        w = round_fp16(w)
    e = emulate_fp16
    out_channels, in_per_group, kh, kw = w.shape
    fw, fh = filter_size(f)
    px0 = px1 = py0 = py1 = padding
    if up > 1:
        px0 += (fw + up - 1) // 2
        px1 += (fw - up) // 2
        py0 += (fh + up - 1) // 2
        py1 += (fh - up) // 2
    if down > 1:
        px0 += (fw - down + 1) // 2
        px1 += (fw - down) // 2
        py0 += (fh - down + 1) // 2
        py1 += (fh - down) // 2

    if kw == 1 and kh == 1 and down > 1 and up == 1:
        x = upfirdn2d(x, f, down=down, padding=[px0, px1, py0, py1], emulate_fp16=e)
        return _conv(x, w, groups=groups, flip_weight=flip_weight, emulate_fp16=e)
    if kw == 1 and kh == 1 and up > 1 and down == 1:
        x = _conv(x, w, groups=groups, flip_weight=flip_weight, emulate_fp16=e)
        return upfirdn2d(x, f, up=up, padding=[px0, px1, py0, py1], gain=up * up, emulate_fp16=e)
    if down > 1 and up == 1:
        x = upfirdn2d(x, f, padding=[px0, px1, py0, py1], emulate_fp16=e)
        return _conv(x, w, stride=down, groups=groups, flip_weight=flip_weight, emulate_fp16=e)

    if up > 1:
        # Transposed convolution wants [in, out/groups, kh, kw] per group.
        if groups == 1:
            w = w.transpose(0, 1)
        else:
            w = w.reshape(groups, out_channels // groups, in_per_group, kh, kw)
            w = w.transpose(1, 2).reshape(groups * in_per_group, out_channels // groups, kh, kw)
        px0 -= kw - 1
        px1 -= kw - up
        py0 -= kh - 1
        py1 -= kh - up
        pxt = max(min(-px0, -px1), 0)
        pyt = max(min(-py0, -py1), 0)
        if polyphase and x.dtype == torch.float32 and not e:
            # The FIR filter's zero padding is written with the convolution's output (saves a copy); only
            # crops (negative padding) are left to upfirdn2d.
            w = w if not flip_weight else w.flip([2, 3])
            pads = [px0 + pxt, px1 + pxt, py0 + pyt, py1 + pyt]
            x = conv_transpose2d_polyphase(x, w, stride=up, padding=(pyt, pxt), groups=groups,
                                           pad_output=(max(pads[0], 0), max(pads[1], 0), max(pads[2], 0),
                                                       max(pads[3], 0)))
            x = upfirdn2d(x, f, padding=[min(p, 0) for p in pads], gain=up * up)
            if down > 1:
                x = upfirdn2d(x, f, down=down)
            return x
        x = _conv(x, w, stride=up, padding=[pyt, pxt], groups=groups, transpose=True, flip_weight=not flip_weight,
                  emulate_fp16=e)
        x = upfirdn2d(x, f, padding=[px0 + pxt, px1 + pxt, py0 + pyt, py1 + pyt], gain=up * up, emulate_fp16=e)
        if down > 1:
            x = upfirdn2d(x, f, down=down, emulate_fp16=e)
        return x

    if px0 == px1 and py0 == py1 and px0 >= 0 and py0 >= 0:
        return _conv(x, w, padding=[py0, px0], groups=groups, flip_weight=flip_weight, emulate_fp16=e)
    x = upfirdn2d(x, None, padding=[px0, px1, py0, py1], emulate_fp16=e)
    x = _conv(x, w, groups=groups, flip_weight=flip_weight, emulate_fp16=e)
    if down > 1:
        x = upfirdn2d(x, f, down=down, emulate_fp16=e)
    return x
