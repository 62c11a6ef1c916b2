"""TensorFlow op semantics in PyTorch: the layers and functions a converted graph runs.

Everything here works on torch's NCHW layout (a TensorFlow NHWC activation is stored as NCHW, see
:mod:`cvdemo.tfjs.module`) and is differentiable where TensorFlow's op is. The points where a
naive translation goes wrong, and which the tests pin down:

* ``SAME`` padding is asymmetric: TensorFlow pads ``total // 2`` before and the rest *after*, so
  a stride-2 3×3 convolution on an even size pads 0 top / 1 bottom (torch's ``padding=1`` would
  pad 1/1 and shift every output by a pixel). Pooling pads with -inf (max) or excludes the
  padding from the mean (average).
* ``ResizeBilinear`` has three sampling rules: ``align_corners``, ``half_pixel_centers`` (what
  torch calls ``align_corners=False``) and the legacy TF1 rule (neither flag: source = dst × in/out,
  no half-pixel shift), which torch has no mode for.
* Depthwise filters are ``(kh, kw, in, multiplier)`` with output channel ``c * multiplier + m``.
* ``Conv2DBackpropInput`` (a transposed convolution) crops its full output by the forward
  convolution's padding, again asymmetrically for ``SAME``.
"""

from __future__ import annotations


import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class UnsupportedOpError(NotImplementedError):
    """The graph uses an op (or an attribute of one) that the loader does not implement."""


# --------------------------------------------------------------------------------------------
# padding


def same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow's ``SAME`` padding for one spatial axis: ``(before, after)``."""
    effective = (kernel - 1) * dilation + 1
    out = -(-size // stride)  # ceil
    total = max((out - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2


def same_padding_is_static(kernel: tuple[int, ...], stride: tuple[int, ...], dilation: tuple[int, ...]) -> bool:
    """Stride 1 with an odd effective kernel pads the same amount on both sides for every size."""
    return all(s == 1 and ((k - 1) * d) % 2 == 0 for k, s, d in zip(kernel, stride, dilation))


def _pads_for(x: torch.Tensor, mode: str | tuple[int, int, int, int], kernel, stride, dilation) -> tuple[int, int, int, int]:
    """``(top, bottom, left, right)`` for an NCHW input."""
    if mode == "SAME":
        top, bottom = same_padding(x.shape[-2], kernel[0], stride[0], dilation[0])
        left, right = same_padding(x.shape[-1], kernel[1], stride[1], dilation[1])
        return top, bottom, left, right
    if mode == "VALID":
        return 0, 0, 0, 0
    if isinstance(mode, str):
        raise UnsupportedOpError(f"padding {mode!r}")
    top, bottom, left, right = mode  # explicit (top, bottom, left, right)
    return top, bottom, left, right


def _add_pads(a: tuple[int, int, int, int], b: tuple[int, ...]) -> tuple[int, int, int, int]:
    return a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3]


# --------------------------------------------------------------------------------------------
# convolutions


class TFConv2d(nn.Conv2d):
    """``nn.Conv2d`` with TensorFlow's padding: ``"SAME"``, ``"VALID"`` or explicit pads.

    Symmetric padding uses the convolution's own zero padding; asymmetric padding (``SAME`` with
    stride 2, say) pads the input first. ``extra_pad`` is a ``Pad`` op folded into this layer.
    Being an ``nn.Conv2d``, it is seen by LRP rules (zennit) and layer hooks (captum).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: tuple[int, int], *, stride=(1, 1),
                 dilation=(1, 1), groups: int = 1, bias: bool = True, tf_padding: str = "VALID",
                 extra_pad: tuple[int, int, int, int] = (0, 0, 0, 0), device=None):
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=0, dilation=dilation,
                         groups=groups, bias=bias, device=device)
        self.tf_padding = tf_padding
        self.extra_pad = tuple(extra_pad)
        self._dynamic = tf_padding == "SAME" and not same_padding_is_static(self.kernel_size, self.stride, self.dilation)
        self._input_pad: tuple[int, int, int, int] | None = None
        if not self._dynamic:
            static = (0, 0, 0, 0) if tf_padding == "VALID" else (
                (self.kernel_size[0] - 1) * self.dilation[0] // 2, (self.kernel_size[0] - 1) * self.dilation[0] // 2,
                (self.kernel_size[1] - 1) * self.dilation[1] // 2, (self.kernel_size[1] - 1) * self.dilation[1] // 2)
            top, bottom, left, right = _add_pads(static, self.extra_pad)
            if top == bottom and left == right:
                self.padding = (top, left)
            else:
                self._input_pad = (left, right, top, bottom)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._dynamic:
            top, bottom, left, right = _add_pads(_pads_for(x, "SAME", self.kernel_size, self.stride, self.dilation), self.extra_pad)
            if top == bottom and left == right:
                return F.conv2d(x, self.weight, self.bias, self.stride, (top, left), self.dilation, self.groups)
            x = F.pad(x, (left, right, top, bottom))
            return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)
        if self._input_pad is not None:
            x = F.pad(x, self._input_pad)
        return self._conv_forward(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", tf_padding={self.tf_padding}" + (f", extra_pad={self.extra_pad}" if any(self.extra_pad) else "")


def conv_weight_from_tf(filter_hwio: torch.Tensor) -> torch.Tensor:
    """``Conv2D`` filter ``(kh, kw, in, out)`` -> torch ``(out, in, kh, kw)``."""
    return filter_hwio.permute(3, 2, 0, 1).contiguous()


def depthwise_weight_from_tf(filter_hwcm: torch.Tensor) -> torch.Tensor:
    """``DepthwiseConv2dNative`` filter ``(kh, kw, in, multiplier)`` -> ``(in * multiplier, 1, kh, kw)``.

    TensorFlow's output channel ``c * multiplier + m`` reads input channel ``c`` with filter
    ``[:, :, c, m]``; a grouped torch convolution with ``groups=in`` orders its outputs the same way.
    """
    kh, kw, channels, multiplier = filter_hwcm.shape
    return filter_hwcm.permute(2, 3, 0, 1).reshape(channels * multiplier, 1, kh, kw).contiguous()


class TFConvTranspose2d(nn.ConvTranspose2d):
    """``Conv2DBackpropInput``: the gradient of a TF convolution, i.e. a transposed convolution.

    The forward convolution it inverts mapped an input of ``output_size`` to this layer's input
    with TensorFlow padding; the full transposed result is cropped by that padding's ``before``
    part (and zero-extended where the forward convolution never read the input).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: tuple[int, int], *, stride=(1, 1),
                 dilation=(1, 1), bias: bool = True, tf_padding: str = "VALID", output_size: tuple[int, int] | None = None,
                 device=None):
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=0, dilation=dilation, bias=bias, device=device)
        if tf_padding not in ("SAME", "VALID"):
            raise UnsupportedOpError(f"Conv2DBackpropInput with padding {tf_padding!r}")
        self.tf_padding = tf_padding
        self.output_size_hint = tuple(output_size) if output_size else None

    def _output_size(self, size: int, axis: int) -> int:
        kernel, stride, dilation = self.kernel_size[axis], self.stride[axis], self.dilation[axis]
        hint = self.output_size_hint[axis] if self.output_size_hint else None
        if self.tf_padding == "SAME":
            if hint is not None and -(-hint // stride) == size:
                return hint
            return size * stride
        effective = (kernel - 1) * dilation + 1
        if hint is not None and (hint - effective) // stride + 1 == size:
            return hint
        return (size - 1) * stride + effective

    # The output size is fixed at conversion (``output_size_hint``), so unlike torch's
    # ConvTranspose2d this forward takes no ``output_size`` argument.
    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        full = F.conv_transpose2d(x, self.weight, None, self.stride, 0, 0, self.groups, self.dilation)
        (top, out_h), (left, out_w) = (self._crop(x.shape[-2], 0), self._crop(x.shape[-1], 1))
        # Where the forward convolution never read its input, the gradient is zero.
        grow_h, grow_w = top + out_h - full.shape[-2], left + out_w - full.shape[-1]
        if grow_h > 0 or grow_w > 0:
            full = F.pad(full, (0, max(grow_w, 0), 0, max(grow_h, 0)))
        out = full[..., top:top + out_h, left:left + out_w]
        return out if self.bias is None else out + self.bias.view(1, -1, 1, 1)

    def _crop(self, size: int, axis: int) -> tuple[int, int]:
        out = self._output_size(size, axis)
        before = same_padding(out, self.kernel_size[axis], self.stride[axis], self.dilation[axis])[0] if self.tf_padding == "SAME" else 0
        return before, out


def conv_transpose_weight_from_tf(filter_hwoi: torch.Tensor) -> torch.Tensor:
    """``Conv2DBackpropInput`` filter ``(kh, kw, out, in)`` -> torch ``(in, out, kh, kw)``."""
    return filter_hwoi.permute(3, 2, 0, 1).contiguous()


# --------------------------------------------------------------------------------------------
# activations


class TFHardswish(nn.Hardswish):
    """``x * relu6(x + 3) * c`` as one kernel: ``c`` is 1/6 as the graph stores it (float16: 0.16663)."""

    def __init__(self, scale: float = 1.0 / 6.0):
        super().__init__()
        self.factor = float(scale) * 6.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.hardswish(x)
        return y if self.factor == 1.0 else y * self.factor

    def extra_repr(self) -> str:
        return f"factor={self.factor:.8g}"


class TFHardsigmoid(nn.Hardsigmoid):
    """``relu6(x + 3) * c`` as one kernel (MobileNetV3's squeeze-excite gate)."""

    def __init__(self, scale: float = 1.0 / 6.0):
        super().__init__()
        self.factor = float(scale) * 6.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.hardsigmoid(x)
        return y if self.factor == 1.0 else y * self.factor

    def extra_repr(self) -> str:
        return f"factor={self.factor:.8g}"


# --------------------------------------------------------------------------------------------
# pooling


class TFMaxPool2d(nn.MaxPool2d):
    """Max pooling with TensorFlow padding; padded cells never win (they are -inf)."""

    kernel_size: tuple[int, int]
    stride: tuple[int, int]

    def __init__(self, kernel_size, stride, tf_padding="VALID", extra_pad=(0, 0, 0, 0)):
        super().__init__(kernel_size, stride)
        self.kernel_size, self.stride = tuple(kernel_size), tuple(stride)
        self.tf_padding = tf_padding
        self.extra_pad = tuple(extra_pad)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top, bottom, left, right = _add_pads(_pads_for(x, self.tf_padding, self.kernel_size, self.stride, (1, 1)), self.extra_pad)
        if top == bottom and left == right and top <= self.kernel_size[0] // 2 and left <= self.kernel_size[1] // 2:
            return F.max_pool2d(x, self.kernel_size, self.stride, (top, left))
        if top or bottom or left or right:
            x = F.pad(x, (left, right, top, bottom), value=float("-inf"))
        return F.max_pool2d(x, self.kernel_size, self.stride)


class TFAvgPool2d(nn.AvgPool2d):
    """Average pooling with TensorFlow padding: ``SAME`` averages over the real cells only."""

    kernel_size: tuple[int, int]
    stride: tuple[int, int]

    def __init__(self, kernel_size, stride, tf_padding="VALID"):
        super().__init__(kernel_size, stride)
        self.kernel_size, self.stride = tuple(kernel_size), tuple(stride)
        self.tf_padding = tf_padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top, bottom, left, right = _pads_for(x, self.tf_padding, self.kernel_size, self.stride, (1, 1))
        if not (top or bottom or left or right):
            return F.avg_pool2d(x, self.kernel_size, self.stride)
        if top == bottom and left == right and top <= self.kernel_size[0] // 2 and left <= self.kernel_size[1] // 2:
            return F.avg_pool2d(x, self.kernel_size, self.stride, (top, left), count_include_pad=False)
        padded = F.pad(x, (left, right, top, bottom))
        ones = F.pad(torch.ones_like(x[:1, :1]), (left, right, top, bottom))
        return F.avg_pool2d(padded, self.kernel_size, self.stride) / F.avg_pool2d(ones, self.kernel_size, self.stride)


# --------------------------------------------------------------------------------------------
# resizing


def _legacy_interpolation_matrix(in_size: int, out_size: int, like: torch.Tensor) -> torch.Tensor:
    """``(out, in)`` weights of TF1's bilinear rule: source = dst * in / out, clamped at the end."""
    scale = in_size / out_size
    source = torch.arange(out_size, dtype=torch.float64) * scale
    lower = torch.floor(source).clamp(max=in_size - 1)
    upper = torch.clamp(lower + 1, max=in_size - 1)
    frac = (source - lower).clamp(0.0, 1.0)
    matrix = torch.zeros(out_size, in_size, dtype=torch.float64)
    rows = torch.arange(out_size)
    matrix.index_put_((rows, lower.long()), 1.0 - frac, accumulate=True)
    matrix.index_put_((rows, upper.long()), frac, accumulate=True)
    return matrix.to(device=like.device, dtype=like.dtype)


def resize_bilinear(x: torch.Tensor, size: tuple[int, int], align_corners: bool = False, half_pixel_centers: bool = False) -> torch.Tensor:
    """TensorFlow ``ResizeBilinear`` on an NCHW tensor (no antialiasing, like TensorFlow)."""
    out_h, out_w = int(size[0]), int(size[1])
    if align_corners and half_pixel_centers:
        raise UnsupportedOpError("ResizeBilinear with both align_corners and half_pixel_centers (TensorFlow rejects it too)")
    if (out_h, out_w) == tuple(x.shape[-2:]):
        return x
    if align_corners or half_pixel_centers:
        # torch's align_corners=False is TF's half_pixel_centers rule, including clamping at 0.
        return F.interpolate(x, size=(out_h, out_w), mode="bilinear", align_corners=align_corners, antialias=False)
    rows = _legacy_interpolation_matrix(x.shape[-2], out_h, x)
    cols = _legacy_interpolation_matrix(x.shape[-1], out_w, x)
    return torch.matmul(torch.matmul(rows, x), cols.transpose(0, 1))


# --------------------------------------------------------------------------------------------
# small functional ops (arguments are already in the tensor's physical layout)


def pad(x: torch.Tensor, pads: tuple[int, ...], value: float = 0.0) -> torch.Tensor:
    """``pads`` in ``F.pad`` order (last axis first)."""
    return F.pad(x, pads, value=value)


def leaky_relu(x: torch.Tensor, alpha: float) -> torch.Tensor:
    return F.leaky_relu(x, alpha)


def floor_div(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.div(a, b, rounding_mode="floor")


def floor_mod(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.remainder(a, b)  # sign of the divisor, as TF's FloorMod


def real_div(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.true_divide(a, b)


def add_n(*tensors: torch.Tensor) -> torch.Tensor:
    total = tensors[0]
    for tensor in tensors[1:]:
        total = total + tensor
    return total


def cast(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    if dtype.is_floating_point and x.dtype.is_floating_point:
        return x  # keep autocast's half precision; TF would compute in the graph's float type
    return x.to(dtype)


def top_k(x: torch.Tensor, k: int, sorted: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    values, indices = torch.topk(x, min(int(k), x.shape[-1]), dim=-1, largest=True, sorted=True)
    return values, indices


def gather(params: torch.Tensor, indices: torch.Tensor, axis: int, batch_dims: int = 0) -> torch.Tensor:
    if batch_dims:
        raise UnsupportedOpError("GatherV2 with batch_dims")
    axis = axis % params.dim()
    flat = params.index_select(axis, indices.reshape(-1).long())
    return flat.reshape(params.shape[:axis] + indices.shape + params.shape[axis + 1:])


def strided_slice(x: torch.Tensor, begin, end, strides, begin_mask: int = 0, end_mask: int = 0, ellipsis_mask: int = 0,
                  new_axis_mask: int = 0, shrink_axis_mask: int = 0) -> torch.Tensor:
    """TensorFlow ``StridedSlice`` with all five masks (negative strides included)."""
    begin, end, strides = [int(v) for v in begin], [int(v) for v in end], [int(v) for v in strides]
    spec_len = len(begin)
    index: list = []
    shrink_dims: list[int] = []
    dim = 0
    for i in range(spec_len):
        if ellipsis_mask & (1 << i):
            remaining = sum(1 for j in range(i + 1, spec_len) if not new_axis_mask & (1 << j))
            span = x.dim() - dim - remaining
            index.extend([slice(None)] * span)
            dim += span
            continue
        if new_axis_mask & (1 << i):
            index.append(None)
            continue
        size = x.shape[dim]
        stride = strides[i]
        if stride == 0:
            raise ValueError("StridedSlice stride must be non-zero")
        if shrink_axis_mask & (1 << i):
            position = begin[i] + size if begin[i] < 0 else begin[i]
            index.append(slice(position, position + 1))
            shrink_dims.append(len(index) - 1)
            dim += 1
            continue
        if stride > 0:
            start = 0 if begin_mask & (1 << i) else _clamp_index(begin[i], size, 0, size)
            stop = size if end_mask & (1 << i) else _clamp_index(end[i], size, 0, size)
            index.append(slice(start, max(stop, start), stride))
        else:
            start = size - 1 if begin_mask & (1 << i) else _clamp_index(begin[i], size, -1, size - 1)
            stop = -1 if end_mask & (1 << i) else _clamp_index(end[i], size, -1, size - 1)
            positions = list(range(start, stop, stride))
            index.append(torch.tensor(positions, dtype=torch.long, device=x.device))
        dim += 1
    result = _apply_index(x, index)
    # every entry of ``index`` yields exactly one axis of ``result``, so shrunk axes keep their positions
    for axis in sorted(shrink_dims, reverse=True):
        result = result.squeeze(axis)
    return result


def _clamp_index(value: int, size: int, low: int, high: int) -> int:
    if value < 0:
        value += size
    return min(max(value, low), high)


def _apply_index(x: torch.Tensor, index: list) -> torch.Tensor:
    """Basic slicing, one axis at a time so index tensors (negative strides) stay per-axis."""
    result = x
    axis = 0
    for item in index:
        if item is None:
            result = result.unsqueeze(axis)
        elif isinstance(item, torch.Tensor):
            result = result.index_select(axis, item)
        else:
            result = result[(slice(None),) * axis + (item,)]
        axis += 1
    return result


def sparse_to_dense(indices: torch.Tensor, output_shape, values: torch.Tensor, default: torch.Tensor) -> torch.Tensor:
    shape = [int(v) for v in torch.as_tensor(output_shape).reshape(-1).tolist()]
    out = torch.full(shape, default.item() if default.numel() == 1 else 0, dtype=values.dtype, device=values.device)
    if indices.numel() == 0:
        return out
    idx = indices.long()
    if idx.dim() <= 1 and len(shape) == 1:
        idx = idx.reshape(-1, 1)
    values = values.expand(idx.shape[0]) if values.numel() == 1 else values.reshape(-1)
    out[tuple(idx[:, d] for d in range(idx.shape[1]))] = values
    return out


def matmul(a: torch.Tensor, b: torch.Tensor, transpose_a: bool = False, transpose_b: bool = False) -> torch.Tensor:
    if transpose_a:
        a = a.transpose(-1, -2)
    if transpose_b:
        b = b.transpose(-1, -2)
    return torch.matmul(a, b)


def reshape(x: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    return torch.reshape(x, shape)


def reshape_keeping_batch(x: torch.Tensor, tail: tuple[int, ...]) -> torch.Tensor:
    """A ``(1, *tail)`` target of a graph traced at batch 1, for any batch.

    With ``tail`` fully known the leading axis is whatever the elements leave over (``-1``),
    which also holds for values whose first axis is not the batch (CenterNet's flattened
    gather). With a ``-1`` in ``tail`` the leading axis is ``x``'s first, the batch.
    """
    return torch.reshape(x, (x.shape[0] if -1 in tail else -1, *tail))


def permute(x: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    return x.permute(*dims)


def split_sizes(x: torch.Tensor, sizes: tuple[int, ...], dim: int) -> tuple[torch.Tensor, ...]:
    return torch.split(x, list(sizes), dim=dim)


def concat(tensors: list[torch.Tensor], dim: int) -> torch.Tensor:
    return torch.cat(tensors, dim=dim)


def reduce_mean(x: torch.Tensor, dims: tuple[int, ...], keepdim: bool) -> torch.Tensor:
    return torch.mean(x, dim=dims, keepdim=keepdim) if dims else x


def reduce_sum(x: torch.Tensor, dims: tuple[int, ...], keepdim: bool) -> torch.Tensor:
    return torch.sum(x, dim=dims, keepdim=keepdim) if dims else x


def reduce_max(x: torch.Tensor, dims: tuple[int, ...], keepdim: bool) -> torch.Tensor:
    return torch.amax(x, dim=dims, keepdim=keepdim) if dims else x


def reduce_min(x: torch.Tensor, dims: tuple[int, ...], keepdim: bool) -> torch.Tensor:
    return torch.amin(x, dim=dims, keepdim=keepdim) if dims else x


def numpy_dtype_to_torch(dtype) -> torch.dtype:
    dtype = np.dtype(dtype)
    if dtype == np.float16 or dtype == np.float32 or dtype == np.float64:
        return torch.float32
    if dtype == np.bool_:
        return torch.bool
    if dtype == np.uint8:
        return torch.uint8
    return torch.int64  # every TF integer becomes int64: index arithmetic in torch wants it
