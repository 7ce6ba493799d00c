"""Inception-v3 in the variant that FID uses, and where its weights come from.

FID and KID (Heusel et al. 2017; Binkowski et al. 2018) compare the 2048-d 'pool3' activations of
the Inception-v3 graph that TensorFlow published in 2015 (``inception-2015-12-05.tgz``). We use the
PyTorch port of that graph made by pytorch-fid (file ``pt_inception-2015-12-05-6726825d.pth``, a
plain state dict), whose module tree is torchvision's ``Inception3`` with 1008 classes and no
auxiliary head, so its keys (``Conv2d_1a_3x3.conv.weight``, ``Mixed_7c.branch_pool.bn.running_var``,
``fc.weight``...) load strictly into :class:`FIDInceptionV3`.

The 2015 graph differs from torchvision's ImageNet Inception-v3 in three places, all kept here:

* the 3x3 average pools inside the A, C and E blocks exclude the zero padding from the average
  (``count_include_pad=False``: TensorFlow's 'SAME' average pooling);
* the last E block (``Mixed_7c``) pools its 'pool' branch with a 3x3 *max* pool instead of an
  average pool (a quirk of that graph);
* 1008 output classes (the ``fc`` layer is only kept so the file loads strictly; FID never uses it).

Preprocessing follows pytorch-fid: uint8 -> [0, 1] -> bilinear resize to 299x299
(``align_corners=False``, no antialiasing) -> ``2 * x - 1``. NVIDIA's metrics run their own
TorchScript export of the same graph with its own resize, so values can differ slightly from
NVIDIA's published numbers; they agree with pytorch-fid's.

Weights are found, SHA-256-checked and (only when allowed) downloaded by :mod:`styleblend.weights`
(:data:`~styleblend.weights.INCEPTION`): an explicit path, then the torch hub cache
``$TORCH_HOME/hub/checkpoints/pt_inception-2015-12-05-6726825d.pth``. NVIDIA's
``inception-2015-12-05.pkl`` / ``.pt`` are pickled TorchScript programs whose loading runs code;
they are refused with a message that says which file to use instead.
"""

from __future__ import annotations

import logging
import zipfile
from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import (
    ArchitectureMismatchError,
    CheckpointError,
    InvalidArgumentError,
    UnsafeCheckpointError,
)
from ..io.checkpoint import load_state_dict_strict
from ..io.safe_torch_load import safe_torch_load
from ..weights import INCEPTION, find_weights, how_to_get

log = logging.getLogger(__name__)

#: File name of pytorch-fid's port of the 2015 TensorFlow Inception graph (sha256 starts 6726825d).
WEIGHTS_FILE = INCEPTION.filename
#: Where that file is published.
WEIGHTS_URL = INCEPTION.url
#: Side of the square input the network was trained on.
INPUT_SIZE = 299
#: Length of the pool3 feature vector.
FEATURE_DIM = 2048
#: Classes of the 2015 graph's classifier (1000 ImageNet classes + 8 unused).
NUM_CLASSES = 1008


# ----------------------------------------------------------------------------------------------
# Network


class BasicConv2d(nn.Module):
    """Convolution without bias -> batch norm (eps 1e-3, as the TF graph) -> ReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int],
                 stride: int = 1, padding: int | tuple[int, int] = 0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def _avg_pool_same(x: torch.Tensor) -> torch.Tensor:
    # TensorFlow's 'SAME' average pool divides by the number of real (unpadded) inputs.
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class InceptionA(nn.Module):
    """35x35 block: 1x1, 5x5, double 3x3 and pooled branches -> 224 + ``pool_features`` channels."""

    def __init__(self, in_channels: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 64, 1)
        self.branch5x5_1 = BasicConv2d(in_channels, 48, 1)
        self.branch5x5_2 = BasicConv2d(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, padding=1)
        self.branch_pool = BasicConv2d(in_channels, pool_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch1x1(x), b5, b3, self.branch_pool(_avg_pool_same(x))], dim=1)


class InceptionB(nn.Module):
    """Grid reduction 35 -> 17: strided 3x3, strided double 3x3 and a max pool."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3 = BasicConv2d(in_channels, 384, 3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch3x3(x), b3, F.max_pool2d(x, kernel_size=3, stride=2)], dim=1)


class InceptionC(nn.Module):
    """17x17 block with factorised 7x7 convolutions (1x7 then 7x1) -> 768 channels."""

    def __init__(self, in_channels: int, channels_7x7: int) -> None:
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = BasicConv2d(in_channels, 192, 1)
        self.branch7x7_1 = BasicConv2d(in_channels, c7, 1)
        self.branch7x7_2 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(in_channels, c7, 1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(in_channels, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        d = x
        for layer in (self.branch7x7dbl_1, self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4,
                      self.branch7x7dbl_5):
            d = layer(d)
        return torch.cat([self.branch1x1(x), b7, d, self.branch_pool(_avg_pool_same(x))], dim=1)


class InceptionD(nn.Module):
    """Grid reduction 17 -> 8: strided 3x3, 7x7 then strided 3x3, and a max pool."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3_1 = BasicConv2d(in_channels, 192, 1)
        self.branch3x3_2 = BasicConv2d(192, 320, 3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(in_channels, 192, 1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return torch.cat([b3, b7, F.max_pool2d(x, kernel_size=3, stride=2)], dim=1)


class InceptionE(nn.Module):
    """8x8 block with split 1x3 / 3x1 outputs -> 2048 channels.

    Args:
        in_channels: input channels (1280 for ``Mixed_7b``, 2048 for ``Mixed_7c``).
        max_pool: pool the 'pool' branch with a 3x3 max pool (the 2015 graph's ``Mixed_7c``)
            instead of the padding-excluding average pool (``Mixed_7b``).
    """

    def __init__(self, in_channels: int, max_pool: bool = False) -> None:
        super().__init__()
        self.max_pool = max_pool
        self.branch1x1 = BasicConv2d(in_channels, 320, 1)
        self.branch3x3_1 = BasicConv2d(in_channels, 384, 1)
        self.branch3x3_2a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 448, 1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(in_channels, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(s), self.branch3x3_2b(s)], dim=1)
        d = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        bd = torch.cat([self.branch3x3dbl_3a(d), self.branch3x3dbl_3b(d)], dim=1)
        pooled = F.max_pool2d(x, kernel_size=3, stride=1, padding=1) if self.max_pool else _avg_pool_same(x)
        return torch.cat([self.branch1x1(x), b3, bd, self.branch_pool(pooled)], dim=1)


class FIDInceptionV3(nn.Module):
    """The 2015 TensorFlow Inception-v3 graph used by FID, with torchvision's module names.

    ``forward`` takes float images [N, 3, H, W] already scaled to [-1, 1] (use
    :class:`InceptionFeatures` for uint8 images; it resizes to 299 px first) and returns the pool3
    features [N, 2048] (mean over the final 8x8 grid at 299 px). Any H, W >= 75 works, as the
    network is fully convolutional up to the global pool.
    """

    def __init__(self) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, 3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, 1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, 3)
        self.Mixed_5b = InceptionA(192, pool_features=32)
        self.Mixed_5c = InceptionA(256, pool_features=64)
        self.Mixed_5d = InceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, channels_7x7=128)
        self.Mixed_6c = InceptionC(768, channels_7x7=160)
        self.Mixed_6d = InceptionC(768, channels_7x7=160)
        self.Mixed_6e = InceptionC(768, channels_7x7=192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280)
        self.Mixed_7c = InceptionE(2048, max_pool=True)
        # Unused by FID; present so that the published state dict loads with every key accounted for.
        self.fc = nn.Linear(FEATURE_DIM, NUM_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        for block in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a, self.Mixed_6b, self.Mixed_6c,
                      self.Mixed_6d, self.Mixed_6e, self.Mixed_7a, self.Mixed_7b, self.Mixed_7c):
            x = block(x)
        return x.mean(dim=(2, 3))


class InceptionFeatures:
    """Feature extractor: uint8 images [N, 3, H, W] -> float32 pool3 features [N, 2048] on the CPU.

    Implements :class:`styleblend.metrics.features.FeatureExtractor`. Images are scaled to [0, 1],
    resized to 299x299 bilinearly (``align_corners=False``), mapped to [-1, 1] with ``2 * x - 1`` and
    run through the network in eval mode without gradients, as pytorch-fid does.
    """

    def __init__(self, net: FIDInceptionV3, device: str | torch.device = "cpu",
                 name: str = "Inception-v3 pool3 (pytorch-fid weights)") -> None:
        self.device = torch.device(device)
        self.net = net.eval().requires_grad_(False).to(self.device)
        self.name = name
        self.feature_dim = FEATURE_DIM

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 3:
            raise InvalidArgumentError(f"Inception features need uint8 images [N, 3, H, W]; got {images.dtype} "
                                       f"{tuple(images.shape)}")
        x = images.to(self.device, torch.float32) / 255
        x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
        with torch.no_grad():
            return self.net(2 * x - 1).to("cpu", torch.float32)


# ----------------------------------------------------------------------------------------------
# Finding and reading weights


def _how_to_get() -> str:
    return how_to_get(INCEPTION)


def _refuse_code(path: Path, what: str) -> CheckpointError:
    return CheckpointError(
        f"'{path}' is {what}, and loading it would execute code stored in the file (NVIDIA's "
        f"inception-2015-12-05.pkl/.pt are such files); styleblend never does that. Use pytorch-fid's plain "
        f"state dict of the same network instead: {_how_to_get()}")


def read_inception_state(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict file with :func:`~styleblend.io.safe_torch_load.safe_torch_load`; nothing in it is executed.

    Raises:
        CheckpointError: the file is a TorchScript archive or a plain pickle (e.g. NVIDIA's
            ``inception-2015-12-05.pkl``), corrupt, or not a mapping of names to tensors.
    """
    path = Path(path)
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
        if any(n.endswith("constants.pkl") or "/code/" in n for n in names):
            raise _refuse_code(path, "a TorchScript archive")
    try:
        # The checkpoint readers' loader: an allow-list dry run with size budgets, then weights_only.
        state = safe_torch_load(path)
    except UnsafeCheckpointError:
        raise _refuse_code(path, "a pickle of Python objects, not a plain state dict") from None
    except CheckpointError as exc:
        raise CheckpointError(f"'{path}' is not a readable PyTorch file ({exc}); {_how_to_get()}") from None
    if isinstance(state, Mapping) and "state_dict" in state and isinstance(state["state_dict"], Mapping):
        state = state["state_dict"]
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"'{path}' does not hold a state dict (names -> tensors); {_how_to_get()}")
    return {str(k): v for k, v in state.items()}


def load_inception_state_dict(net: FIDInceptionV3, state: Mapping[str, torch.Tensor],
                              source: str = "state dict") -> None:
    """Copy ``state`` into ``net`` strictly: every key of the network present, none extra, same shapes.

    Only BatchNorm's ``num_batches_tracked`` counters may be absent (files saved before PyTorch 0.4.1
    lack them; they do not affect evaluation) and are then set to 0. The check itself is
    :func:`styleblend.io.checkpoint.load_state_dict_strict`'s.

    Raises:
        CheckpointError: keys are missing or unexpected, or a shape differs.
    """
    state = dict(state)
    for key in net.state_dict():
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = torch.zeros((), dtype=torch.long)
    try:
        load_state_dict_strict(net, state, what=f"{source} (FID Inception-v3)")
    except ArchitectureMismatchError as exc:
        # A file of the wrong network is a bad weights file here, not two architectures disagreeing.
        raise CheckpointError(f"{exc}; expected pytorch-fid's {WEIGHTS_FILE} ({WEIGHTS_URL})") from None


def load_inception(path: str | Path | None = None, device: str | torch.device = "cpu",
                   download: bool = False) -> InceptionFeatures:
    """Build the FID Inception-v3 with pytorch-fid's weights as a feature extractor.

    Args:
        path: the ``.pth`` file; ``None`` looks in the torch hub cache (see module docstring).
        device: where the network runs.
        download: allow downloading pytorch-fid's file into the torch hub cache when it is not there.

    Returns:
        An :class:`InceptionFeatures` ready to use (eval mode, no gradients).

    Raises:
        MissingWeightsError: no weights file (the message says which file to get and where to put it), or
            a cached file that fails its SHA-256 check.
        CheckpointError: the file is NVIDIA's code-carrying pickle/TorchScript, corrupt, or of another
            network.
    """
    weights = find_weights(INCEPTION, path, download)
    net = FIDInceptionV3()
    load_inception_state_dict(net, read_inception_state(weights), source=f"'{weights}'")
    log.info("loaded Inception-v3 weights from %s", weights)
    return InceptionFeatures(net, device)
