"""The architectures page's "Arithmetic" view: widgets only; the counting is in
:mod:`cvdemo.architectures.arithmetic`."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from cvdemo.architectures import arithmetic

HELP = """
Every number here is counted from the layer's shape: a `k×k` convolution from `C_in` to `C_out`
channels stores `k·k·C_in·C_out` weights plus `C_out` biases, and does `k·k·C_in·C_out`
multiply-accumulates (MACs) **at each** of its `H_out·W_out` output positions. Parameters are
what you store; MACs are what you compute. The two tell different stories: a 1×1 layer on a big
map is cheap to store and expensive to run.
"""


def _show(frame: pd.DataFrame, container=st, **extra) -> None:
    """A table whose whole-number columns read with thousands separators (counts run to billions)."""
    config = {name: st.column_config.NumberColumn(format="localized") for name in frame.columns
              if pd.api.types.is_integer_dtype(frame[name])}
    container.dataframe(frame, hide_index=True, column_config={**config, **extra})


def _costs_frame(costs: list[arithmetic.Cost], reference: int | None = None) -> pd.DataFrame:
    frame = pd.DataFrame([c.as_record() for c in costs])
    if reference:
        frame["MACs vs standard"] = [f"{c.macs / reference:.1%}" for c in costs]
    return frame


def _bar(costs: list[arithmetic.Cost], key: str) -> None:
    figure = go.Figure([go.Bar(name="parameters", x=[c.name for c in costs], y=[c.params for c in costs]),
                        go.Bar(name="MACs", x=[c.name for c in costs], y=[c.macs for c in costs])])
    figure.update_layout(barmode="group", yaxis_type="log", height=300, margin={"l": 10, "r": 10, "t": 20, "b": 10},
                         yaxis_title="count (log scale)")
    st.plotly_chart(figure, key=key)


def arithmetic_section() -> None:
    st.markdown(HELP)
    st.subheader("1 · One layer three ways: standard, 1×1, depthwise separable")
    a, b, c, d, e = st.columns(5)
    height = int(a.number_input("H", 1, 1024, 56, key="arch_arith_h"))
    width = int(b.number_input("W", 1, 1024, 56, key="arch_arith_w"))
    cin = int(c.number_input("C_in", 1, 4096, 128, key="arch_arith_cin"))
    cout = int(d.number_input("C_out", 1, 4096, 128, key="arch_arith_cout"))
    kernel = int(e.selectbox("k", [3, 5, 7], key="arch_arith_k"))
    standard = arithmetic.conv_cost(f"{kernel}×{kernel} standard", cin, cout, kernel, height, width)
    separable = arithmetic.depthwise_separable(cin, cout, kernel, height, width)
    costs = [standard, arithmetic.one_by_one(cin, cout, height, width), *separable,
             arithmetic.total(separable, "depthwise separable (sum)")]
    _show(_costs_frame(costs, standard.macs))
    _bar(costs, "arch_arith_bar_layer")
    st.caption(f"Depthwise separable / standard = 1/C_out + 1/k² = 1/{cout} + 1/{kernel * kernel} = "
               f"{arithmetic.separable_saving(cout, kernel):.1%} of the MACs (biases aside): MobileNet filters each feature "
               "map separately, then mixes channels with a 1×1.")

    st.subheader("2 · The lecture's 1×1 example: “×1024 filters”")
    a, b, c = st.columns(3)
    ex_in = int(a.number_input("Input channels", 1, 4096, 64, key="arch_arith_ex_in"))
    ex_out = int(b.number_input("Filters", 1, 4096, 1024, key="arch_arith_ex_out"))
    ex_size = int(c.number_input("Output side", 1, 256, 13, key="arch_arith_ex_size"))
    example = arithmetic.convolutionalization_example(ex_in, ex_out, ex_size)
    m1, m2, m3 = st.columns(3)
    m1.metric("Weights of the shared 1×1 layer", f"{example.shared.params:,}")
    m2.metric("Multiply-adds per image", f"{example.shared.macs:,}")
    m3.metric("Dense layer on the flattened map", f"{example.dense_on_flattened:,}")
    st.caption(f"A {ex_in}×1×1 kernel, shared over the {ex_size}×{ex_size} output, ×{ex_out} filters stores "
               f"{ex_in}·{ex_out} = {example.shared.params:,} weights. The slide's “= 11 mil params” is, with its numbers "
               f"(64, 1024, 13), the 13·13·64·1024 = 11,075,584 **multiply-adds**, or the weights the layer would need if "
               "every position had its own: sharing weights over positions is exactly what saves the factor 169. "
               "A dense layer between the two flattened maps would need the third figure.")

    st.subheader("3 · An Inception module, with and without 1×1 reductions")
    st.caption("Defaults: GoogLeNet's inception (3a), 28×28×192 in, 256 out. The 1×1 layers before the 3×3 and 5×5 "
               "branches shrink the channels those expensive kernels see.")
    a, b, c = st.columns(3)
    inc_side = int(a.number_input("Input side", 1, 512, 28, key="arch_arith_inc_side"))
    inc_in = int(b.number_input("Input channels", 1, 2048, 192, key="arch_arith_inc_in"))
    columns = st.columns(6)
    defaults = arithmetic.InceptionBranches()
    widths = [int(col.number_input(label, 1, 1024, value, key=f"arch_arith_inc_{field}"))
              for col, (label, field, value) in zip(columns, (
                  ("1×1", "one", defaults.one), ("reduce → 3×3", "reduce3", defaults.reduce3), ("3×3", "three", defaults.three),
                  ("reduce → 5×5", "reduce5", defaults.reduce5), ("5×5", "five", defaults.five),
                  ("pool proj", "pool_proj", defaults.pool_proj)))]
    branches = arithmetic.InceptionBranches(*widths)
    module = arithmetic.inception_module(inc_in, inc_side, inc_side, branches)
    naive = arithmetic.inception_module(inc_in, inc_side, inc_side, branches, reductions=False)
    left, right = st.columns(2)
    left.markdown(f"**With 1×1 reductions** → {arithmetic.inception_output_channels(inc_in, branches)} channels")
    _show(_costs_frame(module + [arithmetic.total(module)]), left)
    right.markdown(f"**Naive** (3×3 and 5×5 on all {inc_in} channels, pooling passed through) → "
                   f"{arithmetic.inception_output_channels(inc_in, branches, reductions=False)} channels")
    _show(_costs_frame(naive + [arithmetic.total(naive)]), right)
    saved = arithmetic.total(naive).macs / max(1, arithmetic.total(module).macs)
    st.caption(f"The reductions make the module {saved:.1f}× cheaper in MACs, and it outputs fewer channels, so the next "
               "module is cheaper too. Szegedy et al.'s table gives inception (3a) 159K parameters and 128M operations; "
               "the weights above (biases aside) are 163,328 = 159.5 K with K = 1024.")

    st.subheader("4 · AlexNet, layer by layer, beside the lecture's table")
    rows = arithmetic.alexnet_rows()
    frame = pd.DataFrame([{"layer": r.layer, "units (counted)": r.units, "units (slide)": r.lecture_units,
                           "weights (counted)": r.weights, "weights (slide)": r.lecture_weights, "biases": r.biases,
                           "MACs": r.macs, "note": r.note} for r in rows])
    _show(frame, note=st.column_config.TextColumn("note", width="large"))
    totals = arithmetic.ALEXNET_LECTURE_TOTALS
    weights = sum(r.weights for r in rows)
    biases = sum(r.biases for r in rows)
    st.caption(f"Counted from Krizhevsky et al.'s 2012 two-GPU network at 227×227 (grouped L2, L4, L5). Every weight count "
               f"matches the slide. One small slip: L4's units are 13·13·384 = 64,896, printed as 64,869; the slide's own "
               f"conv subtotal ({totals['conv units']:,}) was added with the right figure. Its weight totals leave out the "
               f"{biases:,} biases: {weights:,} weights + {biases:,} biases = {weights + biases:,} parameters. "
               f"{sum(r.weights for r in rows[5:]) / weights:.0%} of the weights sit in the three dense layers; the MACs "
               f"add up to {sum(r.macs for r in rows) / 1e6:,.0f} M (the slide quotes 832 M FLOPs).")

    st.subheader("5 · VGG A–E and the errors the lectures quote")
    vgg = pd.DataFrame([{"config": config, "weight layers": len(arithmetic.vgg_costs(config)),
                         "parameters (counted)": sum(c.params for c in arithmetic.vgg_costs(config)),
                         "slide (millions)": arithmetic.VGG_LECTURE_PARAMS_M[config],
                         "MACs at 224": sum(c.macs for c in arithmetic.vgg_costs(config)),
                         "torchvision builder": arithmetic.VGG_TORCHVISION.get(config, "— (1×1 convs)")}
                        for config in arithmetic.VGG_CONFIGS])
    _show(vgg)
    quoted = arithmetic.LECTURE_ERRORS + tuple(arithmetic.torchvision_errors())
    errors = pd.DataFrame([{"network": e.network, "train scale S": e.train_scale, "test scale Q": e.test_scale,
                            "top-1 error %": None if e.top1 is None else round(e.top1, 1), "top-5 error %": round(e.top5, 1),
                            "source": e.source} for e in quoted])
    st.dataframe(errors, hide_index=True)
    figure = go.Figure(go.Bar(x=[f"{e.network} ({e.test_scale})" for e in quoted], y=[e.top5 for e in quoted],
                              marker_color=["#1f77b4" if e.source.startswith("lecture") else "#ff7f0e" for e in quoted]))
    low, high = arithmetic.HUMAN_TOP5
    figure.add_hrect(y0=low, y1=high, fillcolor="green", opacity=0.12, line_width=0,
                     annotation_text="humans, as the lecture puts it: 5–10 %", annotation_position="top left")
    figure.update_layout(height=380, yaxis_title="ImageNet top-5 error, %", margin={"l": 10, "r": 10, "t": 20, "b": 10})
    st.plotly_chart(figure, key="arch_arith_errors")
    st.caption("Blue: the lectures' figures (VGG multi-scale testing on validation; ResNet's 3.6 % is the ILSVRC 2015 test "
               "entry, an ensemble). Orange: torchvision's weights, a single 224×224 centre crop each, hence higher errors. "
               "Training with scale jitter S ∈ [256; 512] helps VGG D and E most.")
