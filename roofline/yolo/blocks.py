"""The building blocks a YOLOv5-format yaml can name, written for roofline.

Each block reproduces the *structure* of the block of the same name in YOLOv5 (its
layers, their shapes and the order they run in), because that structure is what the
parameter counts and FLOPs depend on. The code is ours.

Conventions shared with YOLOv5 (they matter for the numbers):

* ``Conv`` is Conv2d (no bias) → BatchNorm2d → SiLU, with "same" padding ``k // 2``.
  BatchNorm uses ``eps=1e-3, momentum=0.03`` as YOLOv5 sets them after building.
* Blocks that can be fused expose ``conv``, ``bn`` and a ``forward_fuse`` method; see
  :mod:`roofline.fuse`.
* The first constructor argument of every channel-changing block is the number of input
  channels, the second the number of output channels.

The MobileNetV3 blocks follow the definitions in seed note 003 (a MobileNetV3-small
backbone grafted onto YOLOv5s); they hold ``conv``/``bn`` but no ``forward_fuse``, so
YOLOv5's fusion leaves them alone, exactly as it did for the seed's author.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from fractions import Fraction

import torch
import torch.nn.functional as F
from torch import nn

BN_EPS = 1e-3
BN_MOMENTUM = 0.03


def same_padding(k: int | Sequence[int], p: int | Sequence[int] | None = None, d: int = 1):
    """Padding that keeps the spatial size at stride 1 (``k // 2``), unless ``p`` is given."""
    if p is not None:
        return p
    if d > 1:
        k = d * (k - 1) + 1 if isinstance(k, int) else [d * (x - 1) + 1 for x in k]
    return k // 2 if isinstance(k, int) else [x // 2 for x in k]


def _batchnorm(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=BN_EPS, momentum=BN_MOMENTUM)


#: what ``act=True`` builds in Conv (and every block made of Convs); a yaml's
#: ``activation`` key swaps it for one build, see :func:`default_activation`
_DEFAULT_ACT: ContextVar[Callable[[], nn.Module]] = ContextVar("yolo_default_act", default=nn.SiLU)


@contextmanager
def default_activation(factory: Callable[[], nn.Module] | None) -> Iterator[None]:
    """Build Convs with ``factory()`` as their activation inside the block (YOLOv5's
    ``Conv.default_act``, which its yaml key ``activation`` sets). ``None``: SiLU."""
    token = _DEFAULT_ACT.set(factory or nn.SiLU)
    try:
        yield
    finally:
        _DEFAULT_ACT.reset(token)


def _activation(act: bool | nn.Module) -> nn.Module:
    if act is True:
        return _DEFAULT_ACT.get()()
    if isinstance(act, nn.Module):
        return act
    return nn.Identity()


class Conv(nn.Module):
    """Convolution without bias, BatchNorm, SiLU: the basic YOLOv5 layer."""

    def __init__(
        self,
        c1: int,
        c2: int,
        k: int = 1,
        s: int = 1,
        p: int | None = None,
        g: int = 1,
        d: int = 1,
        act: bool | nn.Module = True,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, same_padding(k, p, d), groups=g, dilation=d, bias=False)
        self.bn = _batchnorm(c2)
        self.act = _activation(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))

    def forward_fuse(self, x: torch.Tensor) -> torch.Tensor:
        """The path after :func:`roofline.fuse.fuse_model` folded ``bn`` into ``conv``."""
        return self.act(self.conv(x))


class DWConv(Conv):
    """Depth-wise style Conv: groups = gcd(in, out) (fully depth-wise when in == out)."""

    def __init__(
        self, c1: int, c2: int, k: int = 1, s: int = 1, d: int = 1, act: bool | nn.Module = True
    ) -> None:
        super().__init__(c1, c2, k, s, g=math.gcd(c1, c2), d=d, act=act)


class DWConvTranspose2d(nn.ConvTranspose2d):
    """Transposed convolution with groups = gcd(in, out), with a bias (no BatchNorm)."""

    def __init__(self, c1: int, c2: int, k: int = 1, s: int = 1, p1: int = 0, p2: int = 0):
        super().__init__(c1, c2, k, s, p1, p2, groups=math.gcd(c1, c2))


class Focus(nn.Module):
    """Space-to-depth (four pixel phases stacked on channels), then one Conv.

    Equivalent to a 6x6 stride-2 convolution; YOLOv5 v6 replaced it by exactly that.
    """

    def __init__(
        self,
        c1: int,
        c2: int,
        k: int = 1,
        s: int = 1,
        p: int | None = None,
        g: int = 1,
        act: bool | nn.Module = True,
    ) -> None:
        super().__init__()
        self.conv = Conv(c1 * 4, c2, k, s, p, g, act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        phases = (x[..., ::2, ::2], x[..., 1::2, ::2], x[..., ::2, 1::2], x[..., 1::2, 1::2])
        return self.conv(torch.cat(phases, dim=1))


class Bottleneck(nn.Module):
    """1x1 Conv to ``c2 * e`` channels, 3x3 Conv back to ``c2``, residual add if shapes allow."""

    def __init__(self, c1: int, c2: int, shortcut: bool = True, g: int = 1, e: float = 0.5) -> None:
        super().__init__()
        hidden = int(c2 * e)
        self.cv1 = Conv(c1, hidden, 1, 1)
        self.cv2 = Conv(hidden, c2, 3, 1, g=g)
        self.add = bool(shortcut) and c1 == c2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class BottleneckCSP(nn.Module):
    """Cross-stage-partial bottleneck stack (YOLOv4/early YOLOv5).

    One branch runs Conv → ``n`` Bottlenecks → plain 1x1 conv, the other a plain 1x1
    conv; both are concatenated, batch-normalised, activated and mixed by a Conv.
    """

    def __init__(
        self, c1: int, c2: int, n: int = 1, shortcut: bool = True, g: int = 1, e: float = 0.5
    ) -> None:
        super().__init__()
        hidden = int(c2 * e)
        self.cv1 = Conv(c1, hidden, 1, 1)
        self.cv2 = nn.Conv2d(c1, hidden, 1, 1, bias=False)
        self.cv3 = nn.Conv2d(hidden, hidden, 1, 1, bias=False)
        self.cv4 = Conv(2 * hidden, c2, 1, 1)
        self.bn = _batchnorm(2 * hidden)
        self.act = nn.SiLU()
        self.m = nn.Sequential(*(Bottleneck(hidden, hidden, shortcut, g, e=1.0) for _ in range(n)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.cv3(self.m(self.cv1(x)))
        b = self.cv2(x)
        return self.cv4(self.act(self.bn(torch.cat((a, b), dim=1))))


class C3(nn.Module):
    """CSP block with three Convs: ``cv3(cat(m(cv1(x)), cv2(x)))``, ``m`` = ``n`` Bottlenecks."""

    def __init__(
        self, c1: int, c2: int, n: int = 1, shortcut: bool = True, g: int = 1, e: float = 0.5
    ) -> None:
        super().__init__()
        hidden = int(c2 * e)
        self.cv1 = Conv(c1, hidden, 1, 1)
        self.cv2 = Conv(c1, hidden, 1, 1)
        self.cv3 = Conv(2 * hidden, c2, 1)
        self.m = nn.Sequential(*(Bottleneck(hidden, hidden, shortcut, g, e=1.0) for _ in range(n)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cv3(torch.cat((self.m(self.cv1(x)), self.cv2(x)), dim=1))


class SPP(nn.Module):
    """Spatial pyramid pooling: max-pools of several kernel sizes side by side."""

    def __init__(self, c1: int, c2: int, k: Sequence[int] = (5, 9, 13)) -> None:
        super().__init__()
        hidden = c1 // 2
        self.cv1 = Conv(c1, hidden, 1, 1)
        self.cv2 = Conv(hidden * (len(k) + 1), c2, 1, 1)
        self.m = nn.ModuleList(nn.MaxPool2d(kernel_size=x, stride=1, padding=x // 2) for x in k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.cv1(x)
        return self.cv2(torch.cat([x, *(pool(x) for pool in self.m)], dim=1))


class SPPF(nn.Module):
    """Fast SPP: one ``k``x``k`` max-pool applied three times in a row (same result as
    SPP with kernels k, 2k-1, 3k-2)."""

    def __init__(self, c1: int, c2: int, k: int = 5) -> None:
        super().__init__()
        hidden = c1 // 2
        self.cv1 = Conv(c1, hidden, 1, 1)
        self.cv2 = Conv(hidden * 4, c2, 1, 1)
        self.m = nn.MaxPool2d(kernel_size=k, stride=1, padding=k // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.cv1(x)
        p1 = self.m(x)
        p2 = self.m(p1)
        return self.cv2(torch.cat((x, p1, p2, self.m(p2)), dim=1))


class CrossConv(nn.Module):
    """A ``1 x k`` Conv then a ``k x 1`` Conv (to ``c2 * e`` and back), residual if asked
    and shapes allow."""

    def __init__(
        self,
        c1: int,
        c2: int,
        k: int = 3,
        s: int = 1,
        g: int = 1,
        e: float = 1.0,
        shortcut: bool = False,
    ) -> None:
        super().__init__()
        hidden = int(c2 * e)
        self.cv1 = Conv(c1, hidden, (1, k), (1, s))
        self.cv2 = Conv(hidden, c2, (k, 1), (s, 1), g=g)
        self.add = bool(shortcut) and c1 == c2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class MixConv2d(nn.Module):
    """Mixed depthwise convolution (MixNet, arXiv:1907.09595), YOLOv5's
    ``models/experimental.py`` block as of v7.0: ``len(k)`` convolutions of different
    kernel sizes side by side on the same input, each making a share of the ``c2``
    output channels, concatenated, then BatchNorm2d and SiLU (fixed: the yaml's
    ``activation`` key sets Conv's activation, not this one). Group ``g`` has kernel
    ``k[g]``, stride ``s``, padding ``k[g] // 2``, no bias and ``gcd(c1, c_g)`` groups.

    The split of ``c2`` into the ``c_g``:

    * ``equal_ch`` (default): channel ``j`` of ``c2`` goes to group
      ``floor(j * (n - 1e-6) / (c2 - 1))``, YOLOv5's ``linspace`` rule, computed the same
      way (float32) so the shares match it exactly; e.g. 64 channels over kernels
      (1, 3, 5) split 22, 21, 21.
    * otherwise, equal weights per group: ``c_g * k_g**2`` the same for every ``g`` with
      the ``c_g`` summing to ``c2``, i.e. ``c_g = c2 / (k_g**2 * sum_j 1 / k_j**2)``
      rounded half to even, in exact arithmetic (YOLOv5 solves the same linear system
      by least squares and rounds: at an exact tie, 323 channels over (3, 5) giving
      237.5 and 85.5, its floating-point solution falls either side by rounding
      error); shares that then do not add up to ``c2`` are refused, where YOLOv5's
      BatchNorm would fail at the first forward.

    Older YOLOv5 releases (v5.0) had a LeakyReLU(0.1) and a residual ``x +`` in front;
    this is the v7.0 form."""

    def __init__(
        self,
        c1: int,
        c2: int,
        k: int | Sequence[int] = (1, 3),
        s: int = 1,
        equal_ch: bool = True,
    ) -> None:
        super().__init__()
        kernels = [k] if isinstance(k, int) else list(k)
        if not kernels:
            raise ValueError("MixConv2d needs at least one kernel size")
        shares = mix_channel_shares(c2, kernels, equal_ch)
        if sum(shares) != c2 or min(shares) < 1:
            raise ValueError(
                f"MixConv2d cannot split {c2} output channels over kernels {kernels} "
                f"(shares {shares}); use more channels or equal_ch=True"
            )
        self.m = nn.ModuleList(
            nn.Conv2d(c1, c, kg, s, kg // 2, groups=math.gcd(c1, c), bias=False)
            for kg, c in zip(kernels, shares, strict=True)
        )
        self.bn = _batchnorm(c2)
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(torch.cat([m(x) for m in self.m], 1)))


def mix_channel_shares(c2: int, kernels: Sequence[int], equal_ch: bool = True) -> list[int]:
    """How :class:`MixConv2d` splits ``c2`` output channels over its ``kernels`` (see
    there); the shares may not add up to ``c2`` when ``equal_ch`` is false."""
    n = len(kernels)
    if equal_ch:
        group = torch.linspace(0, n - 1e-6, c2, device="cpu").floor()  # not the build's meta
        return [int((group == g).sum()) for g in range(n)]
    inverse = sum(Fraction(1, kg**2) for kg in kernels)  # exact: a tie stays a tie
    return [round(c2 / (kg**2 * inverse)) for kg in kernels]


class C3x(C3):
    """C3 whose inner stack is ``n`` CrossConvs instead of Bottlenecks."""

    def __init__(
        self, c1: int, c2: int, n: int = 1, shortcut: bool = True, g: int = 1, e: float = 0.5
    ) -> None:
        super().__init__(c1, c2, 0, shortcut, g, e)
        hidden = int(c2 * e)
        self.m = nn.Sequential(
            *(CrossConv(hidden, hidden, 3, 1, g, 1.0, shortcut) for _ in range(n))
        )


class TransformerLayer(nn.Module):
    """Attention layer without LayerNorm: q/k/v projections, multi-head attention with a
    residual, then two bias-free linears with a residual."""

    def __init__(self, c: int, num_heads: int) -> None:
        super().__init__()
        self.q = nn.Linear(c, c, bias=False)
        self.k = nn.Linear(c, c, bias=False)
        self.v = nn.Linear(c, c, bias=False)
        self.ma = nn.MultiheadAttention(embed_dim=c, num_heads=num_heads)
        self.fc1 = nn.Linear(c, c, bias=False)
        self.fc2 = nn.Linear(c, c, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.ma(self.q(x), self.k(x), self.v(x))[0] + x
        return self.fc2(self.fc1(x)) + x


class TransformerBlock(nn.Module):
    """Optional Conv to ``c2`` channels, a learnt linear position term, ``num_layers``
    TransformerLayers over the flattened ``h * w`` positions."""

    def __init__(self, c1: int, c2: int, num_heads: int, num_layers: int) -> None:
        super().__init__()
        self.conv = Conv(c1, c2) if c1 != c2 else None
        self.linear = nn.Linear(c2, c2)
        self.tr = nn.Sequential(*(TransformerLayer(c2, num_heads) for _ in range(num_layers)))
        self.c2 = c2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.conv is not None:
            x = self.conv(x)
        b, _, h, w = x.shape
        seq = x.flatten(2).permute(2, 0, 1)  # (h*w, batch, channels)
        return self.tr(seq + self.linear(seq)).permute(1, 2, 0).reshape(b, self.c2, h, w)


class C3TR(C3):
    """C3 whose inner stack is one TransformerBlock of ``n`` layers (4 heads)."""

    def __init__(
        self, c1: int, c2: int, n: int = 1, shortcut: bool = True, g: int = 1, e: float = 0.5
    ) -> None:
        super().__init__(c1, c2, 0, shortcut, g, e)
        hidden = int(c2 * e)
        self.m = TransformerBlock(hidden, hidden, 4, n)


class C3SPP(C3):
    """C3 whose inner stack is an SPP block (kernels ``k``)."""

    def __init__(
        self,
        c1: int,
        c2: int,
        k: Sequence[int] = (5, 9, 13),
        n: int = 1,
        shortcut: bool = True,
        g: int = 1,
        e: float = 0.5,
    ) -> None:
        super().__init__(c1, c2, 0, shortcut, g, e)
        hidden = int(c2 * e)
        self.m = SPP(hidden, hidden, k)


class GhostConv(nn.Module):
    """Ghost convolution: a Conv to ``c2 // 2`` channels, a cheap 5x5 depth-wise Conv of
    those, both halves concatenated."""

    def __init__(
        self, c1: int, c2: int, k: int = 1, s: int = 1, g: int = 1, act: bool | nn.Module = True
    ) -> None:
        super().__init__()
        hidden = c2 // 2
        self.cv1 = Conv(c1, hidden, k, s, None, g, act=act)
        self.cv2 = Conv(hidden, hidden, 5, 1, None, hidden, act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.cv1(x)
        return torch.cat((y, self.cv2(y)), dim=1)


class GhostBottleneck(nn.Module):
    """GhostConv → (depth-wise Conv when ``s`` is 2) → linear GhostConv, plus a shortcut
    (identity, or depth-wise + 1x1 Conv when ``s`` is 2)."""

    def __init__(self, c1: int, c2: int, k: int = 3, s: int = 1) -> None:
        super().__init__()
        hidden = c2 // 2
        self.conv = nn.Sequential(
            GhostConv(c1, hidden, 1, 1),
            DWConv(hidden, hidden, k, s, act=False) if s == 2 else nn.Identity(),
            GhostConv(hidden, c2, 1, 1, act=False),
        )
        self.shortcut: nn.Module = (
            nn.Sequential(DWConv(c1, c1, k, s, act=False), Conv(c1, c2, 1, 1, act=False))
            if s == 2
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) + self.shortcut(x)


class C3Ghost(C3):
    """C3 whose inner stack is ``n`` GhostBottlenecks."""

    def __init__(
        self, c1: int, c2: int, n: int = 1, shortcut: bool = True, g: int = 1, e: float = 0.5
    ) -> None:
        super().__init__(c1, c2, 0, shortcut, g, e)
        hidden = int(c2 * e)
        self.m = nn.Sequential(*(GhostBottleneck(hidden, hidden) for _ in range(n)))


class Contract(nn.Module):
    """Space to depth by ``gain``: ``(b, c, h, w)`` → ``(b, c * gain², h / gain, w / gain)``."""

    def __init__(self, gain: int = 2) -> None:
        super().__init__()
        self.gain = gain

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        s = self.gain
        x = x.view(b, c, h // s, s, w // s, s).permute(0, 3, 5, 1, 2, 4).contiguous()
        return x.view(b, c * s * s, h // s, w // s)


class Expand(nn.Module):
    """Depth to space by ``gain``: ``(b, c, h, w)`` → ``(b, c / gain², h * gain, w * gain)``."""

    def __init__(self, gain: int = 2) -> None:
        super().__init__()
        self.gain = gain

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        s = self.gain
        x = x.view(b, s, s, c // (s * s), h, w).permute(0, 3, 4, 1, 5, 2).contiguous()
        return x.view(b, c // (s * s), h * s, w * s)


class Concat(nn.Module):
    """Concatenate a list of tensors along ``dimension`` (channels by default)."""

    def __init__(self, dimension: int = 1) -> None:
        super().__init__()
        self.d = dimension

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat(xs, dim=self.d)


class Detect(nn.Module):
    """YOLOv5 detection head: one 1x1 conv per feature level, then box decoding.

    ``anchors`` is a list per level of ``[w0, h0, w1, h1, ...]`` in pixels, or an int
    (anchors per level, values to be found later by auto-anchoring; zeros here).
    In eval mode the forward returns ``(boxes, raw)`` as YOLOv5 does: ``boxes`` of shape
    ``(batch, sum(na * ny * nx), nc + 5)`` in pixels.

    ``stride`` (pixels per cell at each level) is set by the model from the input and
    feature shapes before each call; it is shape arithmetic only, so the head builds and
    runs under fake or meta tensors.
    """

    def __init__(
        self,
        nc: int = 80,
        anchors: Sequence[Sequence[float]] | int = (),
        ch: Sequence[int] = (),
        inplace: bool = True,
    ) -> None:
        super().__init__()
        if isinstance(anchors, int):
            anchors = [[0.0] * (2 * anchors)] * len(ch)
        self.nc = nc
        self.nm = 0  # mask coefficients per box (Segment)
        self.no = nc + 5  # box (4) + objectness (1) + classes
        self.nl = len(anchors)
        self.na = len(anchors[0]) // 2
        self.inplace = inplace
        pixels = torch.tensor([[float(v) for v in level] for level in anchors])
        self.register_buffer("anchors", pixels.view(self.nl, self.na, 2))
        self.m = nn.ModuleList(nn.Conv2d(c, self.no * self.na, 1) for c in ch)
        self.stride: list[float] = [0.0] * self.nl
        self._grids: dict[int, tuple[tuple[int, ...], torch.Tensor]] = {}

    def _grid(self, i: int, ny: int, nx: int, like: torch.Tensor) -> torch.Tensor:
        key = (ny, nx, str(like.device), like.dtype)
        cached = self._grids.get(i)
        if cached is not None and cached[0] == key:
            return cached[1]
        ys = torch.arange(ny, device=like.device, dtype=like.dtype)
        xs = torch.arange(nx, device=like.device, dtype=like.dtype)
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")
        grid = torch.stack((gx, gy), dim=2).view(1, 1, ny, nx, 2) - 0.5
        self._grids[i] = (key, grid)
        return grid

    def forward(self, xs: list[torch.Tensor]):
        xs = list(xs)
        boxes = []
        for i in range(self.nl):
            x = self.m[i](xs[i])
            bs, _, ny, nx = x.shape
            x = x.view(bs, self.na, self.no, ny, nx).permute(0, 1, 3, 4, 2).contiguous()
            xs[i] = x
            if self.training:
                continue
            if self.nm:  # mask coefficients stay raw
                k = self.no - self.nm
                y = torch.cat((x[..., :k].sigmoid(), x[..., k:]), dim=-1)
            else:
                y = x.sigmoid()
            stride = self.stride[i]
            xy = (y[..., 0:2] * 2 + self._grid(i, ny, nx, y)) * stride
            anchor_wh = self.anchors[i].view(1, self.na, 1, 1, 2).to(y.dtype)
            wh = (y[..., 2:4] * 2) ** 2 * anchor_wh
            boxes.append(torch.cat((xy, wh, y[..., 4:]), dim=-1).view(bs, -1, self.no))
        if self.training:
            return xs
        return torch.cat(boxes, dim=1), xs


class Proto(nn.Module):
    """Mask prototypes: 3x3 Conv, 2x nearest upsampling, 3x3 Conv, 1x1 Conv to ``c2``."""

    def __init__(self, c1: int, c_: int = 256, c2: int = 32) -> None:
        super().__init__()
        self.cv1 = Conv(c1, c_, 3)
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")
        self.cv2 = Conv(c_, c_, 3)
        self.cv3 = Conv(c_, c2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cv3(self.cv2(self.upsample(self.cv1(x))))


class Segment(Detect):
    """YOLOv5's segmentation head: Detect with ``nm`` mask coefficients per box, plus
    :class:`Proto` on the first (finest) level making ``nm`` prototype masks.

    Eval mode returns ``(boxes, protos, raw)`` as YOLOv5 does; training ``(raw, protos)``.
    """

    def __init__(
        self,
        nc: int = 80,
        anchors: Sequence[Sequence[float]] | int = (),
        nm: int = 32,
        npr: int = 256,
        ch: Sequence[int] = (),
        inplace: bool = True,
    ) -> None:
        super().__init__(nc, anchors, ch, inplace)
        self.nm = nm
        self.npr = npr
        self.no = 5 + nc + nm
        self.m = nn.ModuleList(nn.Conv2d(c, self.no * self.na, 1) for c in ch)
        self.proto = Proto(ch[0], npr, nm)

    def forward(self, xs: list[torch.Tensor]):
        protos = self.proto(xs[0])
        out = super().forward(xs)
        if self.training:
            return out, protos
        return out[0], protos, out[1]


# ----------------------------------------------------------------- MobileNetV3 (seed 003)


def make_divisible(v: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round ``v`` to the nearest multiple of ``divisor``, never dropping more than 10%.

    (MobileNet's channel rounding; YOLOv5's width rounding is a plain ceiling instead.)
    """
    floor = divisor if min_value is None else min_value
    out = max(floor, int(v + divisor / 2) // divisor * divisor)
    if out < 0.9 * v:
        out += divisor
    return out


class MobileNetV3_ConvBNACT(nn.Module):  # name as users write it in yaml
    """Conv2d (no bias) → BatchNorm2d → activation (Identity when ``act`` is False)."""

    def __init__(
        self,
        in_c: int,
        out_c: int,
        kernel: int = 3,
        stride: int = 1,
        groups: int = 1,
        act: bool | nn.Module = False,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(
            in_c, out_c, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False
        )
        self.bn = nn.BatchNorm2d(out_c)
        self.act = act if isinstance(act, nn.Module) else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class MobileNetV3_SE(nn.Module):
    """Squeeze-and-excitation: global average pool, 1x1 conv down, ReLU, 1x1 conv up,
    hard sigmoid, channel-wise scale. The pooled branch works on a 1x1 map."""

    def __init__(self, ch_in: int, squeeze_factor: int = 4) -> None:
        super().__init__()
        squeezed = make_divisible(ch_in // squeeze_factor, 8)
        self.fc1 = nn.Conv2d(ch_in, squeezed, 1)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(squeezed, ch_in, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = F.adaptive_avg_pool2d(x, 1)
        s = F.hardsigmoid(self.fc2(self.relu(self.fc1(s))))
        return s * x


class MobileNetV3_InvertedResidual(nn.Module):
    """MobileNetV3 "bneck": optional 1x1 expansion, depth-wise conv, optional SE,
    1x1 projection; residual when stride is 1 and channels are kept.

    Arguments as in seed 003: ``(in_c, out_c, kernel, expanded_c, use_se, use_hs,
    stride)``; ``use_hs`` picks Hardswish over ReLU.
    """

    def __init__(
        self,
        in_c: int,
        out_c: int,
        kernel: int,
        expanded_c: int,
        use_se: bool | int,
        use_hs: bool | int,
        stride: int,
    ) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride}")
        self.use_res_connect = stride == 1 and in_c == out_c
        # one activation module shared by the block's convs, as in the seed
        self.act = nn.Hardswish() if use_hs else nn.ReLU()
        layers: list[nn.Module] = []
        if expanded_c != in_c:
            layers.append(MobileNetV3_ConvBNACT(in_c, expanded_c, 1, act=self.act))
        layers.append(
            MobileNetV3_ConvBNACT(expanded_c, expanded_c, kernel, stride, expanded_c, self.act)
        )
        if use_se:
            layers.append(MobileNetV3_SE(expanded_c))
        layers.append(MobileNetV3_ConvBNACT(expanded_c, out_c, 1, act=False))
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x)
        return x + y if self.use_res_connect else y


class MobileNetV3_FirstLayer(nn.Module):
    """MobileNetV3 stem: Conv2d (no bias) → BatchNorm2d → Hardswish."""

    def __init__(self, in_c: int, out_c: int, kernel: int, stride: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_c, out_c, kernel, stride, (kernel - 1) // 2, bias=False)
        self.bn = nn.BatchNorm2d(out_c)
        self.act = nn.Hardswish()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))
