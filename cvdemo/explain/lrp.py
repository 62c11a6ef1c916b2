"""Layer-wise relevance propagation (Bach et al. 2015; Lapuschkin et al. 2019, "Clever Hans").

The explained score is handed down layer by layer, each layer splitting the relevance it received
among its inputs by a rule, until it reaches the pixels. Hooks and rule machinery are zennit's; what
makes LRP right on real networks is the *canonical form* the network is put in first — our
canonizer, built on ``torch.fx`` so that it works for any traceable network (torchvision models,
our EfficientNet-Lite, the TF.js-converted pack models), not one architecture:

* **BatchNorm folded** into the convolution before it (a rule then sees one linear layer, not a
  linear layer followed by a per-channel rescaling that a gradient would pass on as a rescaling of
  relevance);
* **every residual ``+`` an explicit ``Sum`` module** with a rule of its own (MobileNetV2's
  InvertedResidual, EfficientNet's MBConv, ResNet's blocks). A library whose rules only see leaf
  modules (captum's ``LRP``) lets the ``+`` through as a gradient, which hands *both* branches the
  full relevance: on a stock ResNet the sum at the input is off by orders of magnitude;
* **every module call its own module** (ResNet calls one ReLU twice; hooks keep per-call state),
  no in-place activations;
* functional activations (``F.relu6``…) and global average pooling become modules, per-element
  affine ops with constants (input normalisation inside a network) pass relevance through, and a
  ``ZeroPad2d`` feeding a convolution (TensorFlow's asymmetric SAME) is merged into it.

Rule variants (all with ε on dense layers):

* ``epsilon``: LRP-ε everywhere. ε is relative — a fraction of each layer's RMS pre-activation —
  because MobileNet-style networks have linear bottlenecks whose outputs are often near zero:
  with a small absolute ε relevance explodes into huge ± pairs (the check below catches that);
* ``gamma``: LRP-γ on convolutions, the z^B (box) rule on the first layer when the input's value
  range is known, else the flat rule;
* ``alpha_beta``: LRP-α2β1 on convolutions, box/flat first layer.

Residual sums and average pools split an output's relevance among the inputs that pushed it the
way it went (a positive output among its positive contributions, in proportion; a negative one
among its negative ones), which cannot blow up.

**Conservation.** The relevance at the pixels must add up to the explained score. The rules
redistribute without biases (``zero_params=['bias']``), and where the published rules would *lose*
relevance — a neuron activated only by its (BatchNorm-folded) bias, whose inputs explain nothing,
or ε's share — it is spread evenly over the neuron's receptive field (the flat rule) instead. So a
correct canonical form conserves up to float rounding, and every map is checked: a relative error
|Σ relevance − score| / |score| above :data:`TOLERANCE` (5 %) means a rule met a layer it does not
handle (a gate, an unknown op, a non-linear head such as a distance) or the numbers blew up, and
the map is refused. ``leak="standard"`` uses zennit's rules as published and ``bias=True`` lets
biases absorb relevance: on BatchNorm networks both lose most of it, and the check says so.
"""

from __future__ import annotations

import operator
from typing import Any

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn
from torch.fx.passes.shape_prop import ShapeProp

from cvdemo.explain import graph as G
from cvdemo.explain.core import (
    Attribution,
    AttributionError,
    AttributionInsight,
    AttributionMethod,
    Conservation,
    ProgressFn,
    Timer,
    channel_map,
    model_device,
    private_copy,
    report,
    select_scores,
)
from cvdemo.geometry import pair

RULES = ("epsilon", "gamma", "alpha_beta")
TOLERANCE = 0.05

_FUNCTIONAL_MODULES = {
    F.relu: nn.ReLU, torch.relu: nn.ReLU, F.relu6: nn.ReLU6, F.hardswish: nn.Hardswish, F.silu: nn.SiLU,
    F.hardsigmoid: nn.Hardsigmoid, torch.sigmoid: nn.Sigmoid, F.sigmoid: nn.Sigmoid, torch.tanh: nn.Tanh,
    F.tanh: nn.Tanh, F.gelu: nn.GELU, F.elu: nn.ELU,
}
_METHOD_MODULES = {"relu": nn.ReLU, "relu_": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}
_ADDS = {operator.add, operator.iadd, torch.add}
# One-to-one per-element maps with constants (input normalisation, per-channel scale and shift):
# relevance passes through them unchanged, where a gradient would rescale it.
_ELEMENTWISE = {operator.add, operator.sub, operator.mul, operator.truediv, operator.neg, operator.iadd,
                operator.imul, torch.add, torch.sub, torch.mul, torch.div, torch.neg}


class _Elementwise(nn.Module):
    """``fn(*args)`` with every argument but one (the tensor flowing through) fixed."""

    def __init__(self, fn, args: list, position: int):
        super().__init__()
        self.fn, self.position = fn, position
        self.arguments: list[tuple[str, object]] = []  # ("buffer", name) or ("value", python value)
        for index, value in enumerate(args):
            if isinstance(value, torch.Tensor):
                self.register_buffer(f"constant{index}", value.detach().clone())
                self.arguments.append(("buffer", f"constant{index}"))
            else:
                self.arguments.append(("value", value))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        args = [getattr(self, str(value)) if kind == "buffer" else value for kind, value in self.arguments]  # a buffer's value is its name
        args[self.position] = x
        return self.fn(*args)


class _PaddedConv2d(nn.Conv2d):
    """``ZeroPad2d`` then ``Conv2d`` as one convolution (TensorFlow-style asymmetric SAME padding).

    As one module, a rule knows which inputs are padding: relevance never lands on padded zeros
    (where the padding module would silently drop it).
    """

    def __init__(self, pad: tuple[int, int, int, int], conv: nn.Conv2d):
        super().__init__(conv.in_channels, conv.out_channels, pair(conv.kernel_size), pair(conv.stride),
                         conv.padding if isinstance(conv.padding, str) else pair(conv.padding),
                         pair(conv.dilation), conv.groups, conv.bias is not None, conv.padding_mode,
                         device=conv.weight.device, dtype=conv.weight.dtype)
        self.load_state_dict(conv.state_dict())
        self.pad = tuple(int(p) for p in pad)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, self.pad))


def _merge_padding(gm: fx.GraphModule) -> None:
    for node in list(gm.graph.nodes):
        if node.op != "call_module":
            continue
        pad = gm.get_submodule(str(node.target))  # a call_module target is the module's qualified name
        if not isinstance(pad, nn.ZeroPad2d):
            continue
        users = list(node.users)
        if len(users) != 1 or users[0].op != "call_module":
            continue
        conv = gm.get_submodule(users[0].target)
        if type(conv) is not nn.Conv2d:
            continue
        G.set_submodule(gm, users[0].target, _PaddedConv2d(pad.padding, conv))
        users[0].args = (node.args[0],) + tuple(users[0].args[1:])
        gm.graph.erase_node(node)
    gm.recompile()


def _constant_values(gm: fx.GraphModule) -> dict[fx.Node, Any]:
    """Values of nodes computed from parameters and buffers only (e.g. ``self.gamma.view(1, -1, 1, 1)``)."""
    values: dict[fx.Node, Any] = {}  # tensors and plain Python values, substituted for fx arguments
    for node in gm.graph.nodes:
        if node.op == "get_attr":
            values[node] = operator.attrgetter(node.target)(gm)
        elif node.op in ("call_function", "call_method") and node.all_input_nodes \
                and all(n in values for n in node.all_input_nodes):
            args = fx.map_arg(node.args, lambda n: values[n])
            kwargs = fx.map_arg(node.kwargs, lambda n: values[n])
            with torch.no_grad():
                if node.op == "call_function":
                    values[node] = node.target(*args, **kwargs)
                else:
                    values[node] = getattr(args[0], node.target)(*args[1:], **kwargs)
    return values


def _same_shape(a, b) -> bool:
    shape_a = getattr(a.meta.get("tensor_meta"), "shape", None) if isinstance(a, fx.Node) else None
    shape_b = getattr(b.meta.get("tensor_meta"), "shape", None) if isinstance(b, fx.Node) else None
    return shape_a is not None and shape_a == shape_b


def canonical_form(network: nn.Module, example: torch.Tensor) -> fx.GraphModule:
    """The traced network rewritten for LRP (see the module docstring). ``network`` is consumed."""
    from zennit.layer import Sum

    gm = G.trace(network)
    try:
        ShapeProp(gm).propagate(example)
    except Exception as exc:  # running the model once to learn shapes; anything can go wrong
        raise G.GraphError(f"cannot run the traced network ({exc.__class__.__name__}: {exc})") from None
    G.fold_batchnorm(gm)
    G.unshare_modules(gm)
    _merge_padding(gm)
    graph = gm.graph
    constants = _constant_values(gm)
    replaced = 0

    def swap(node: fx.Node, prefix: str, module: nn.Module, *inputs) -> None:
        """Replace ``node`` by ``module`` called on ``inputs``."""
        nonlocal replaced
        name = f"lrp_{prefix}_{replaced}"
        gm.add_submodule(name, module)
        with graph.inserting_before(node):
            new = graph.call_module(name, inputs)
        new.meta = dict(node.meta)  # shapes, for the residual adds that consume this node
        node.replace_all_uses_with(new)
        graph.erase_node(node)
        replaced += 1

    for node in list(graph.nodes):
        args = node.args
        flowing = [a for a in args if isinstance(a, fx.Node) and a not in constants]
        if node.op == "call_function" and node.target in _ELEMENTWISE and len(flowing) == 1 and not node.kwargs:
            position = next(i for i, a in enumerate(args) if a is flowing[0])
            fixed = [constants[a] if isinstance(a, fx.Node) and a in constants else a for a in args]
            swap(node, "elementwise", _Elementwise(node.target, fixed, position), flowing[0])
        elif node.op == "call_function" and node.target in _ADDS and len(args) == 2 and not node.kwargs \
                and all(isinstance(a, fx.Node) for a in args) and _same_shape(*args):
            # zennit's Sum module (with its own rule) over the stacked summands: the residual "+" becomes a layer.
            with graph.inserting_before(node):
                stacked = graph.call_function(torch.stack, (list(args),), {"dim": -1})
            swap(node, "sum", Sum(dim=-1), stacked)
        elif node.op == "call_function" and node.target in _FUNCTIONAL_MODULES and len(node.all_input_nodes) == 1:
            swap(node, "module", _FUNCTIONAL_MODULES[node.target](), args[0])
        elif node.op == "call_method" and node.target in _METHOD_MODULES and len(args) == 1:
            swap(node, "module", _METHOD_MODULES[node.target](), args[0])
        elif node.op == "call_function" and node.target is F.adaptive_avg_pool2d:
            size = args[1] if len(args) > 1 else node.kwargs.get("output_size")
            swap(node, "module", nn.AdaptiveAvgPool2d(size), args[0])
    graph.lint()
    gm.recompile()
    return gm


class _Canonical:
    """A private copy in canonical form, traced lazily on first use (needs an example input)."""

    def __init__(self, network: nn.Module):
        self.network = network
        self.gm: fx.GraphModule | None = None
        self.error: str | None = None
        self.shape: tuple | None = None

    def get(self, example: torch.Tensor) -> fx.GraphModule:
        if self.gm is None and self.error is None:
            try:
                self.gm = canonical_form(self.network, example)
                self.shape = tuple(example.shape[1:])
            except G.GraphError as exc:
                self.error = str(exc)
        if self.gm is None:
            raise AttributionError(f"LRP needs to rewrite the network, which failed: {self.error}")
        return self.gm


# ---------------------------------------------------------------------------------------------
# Rules. Each linear layer (convolution, dense, sum, average pool) splits the relevance R_j of an
# output j among its inputs by the rule's contributions z_ij / Σ_i z_ij. Where that denominator is
# zero — typically a neuron whose activation comes from its (BatchNorm-folded) bias while all its
# inputs are zero — or, for ε, the share ε/(|z_j| + ε) that the stabiliser takes, the standard rules
# simply lose the relevance. Here that share is spread evenly over the neuron's receptive field
# (the flat rule, Lapuschkin et al. 2019), so the rules conserve relevance exactly; with
# ``leak="standard"`` they behave as published (and the check shows what is lost).

_TINY = 1e-12


def _safe(d: torch.Tensor) -> torch.Tensor:
    return torch.where(d.abs() <= _TINY, torch.ones_like(d), d)


def _nonzero(d: torch.Tensor) -> torch.Tensor:
    return (d.abs() > _TINY).to(d.dtype)


def _conserving_rule(main_inputs, main_params, split, spread: bool):
    """A zennit BasicHook: ``split(R, outputs) -> (gradients, kept)`` for the main branches, plus a
    flat branch (all-ones input and weights) that receives ``R · (1 − kept)``."""
    from zennit.core import BasicHook, ParamMod

    inputs, params = list(main_inputs), list(main_params)
    if spread:
        inputs.append(torch.ones_like)
        params.append(ParamMod(lambda param, name: torch.ones_like(param), zero_params=["bias"], require_params=False))
    count = len(main_inputs)

    def mapper(out_grad, outputs):
        gradients, kept = split(out_grad, outputs[:count])
        gradients = list(gradients)
        if spread:
            fan_in = outputs[count]
            gradients.append(out_grad * (1.0 - kept) * (fan_in > 0).to(out_grad.dtype) / _safe(fan_in))
        return gradients

    def reducer(inputs_, gradients):
        relevance = sum(i * g for i, g in zip(inputs_[:count], gradients[:count]))
        if spread:
            relevance = relevance + gradients[count]  # its input is all ones
        return relevance

    return BasicHook(input_modifiers=inputs, param_modifiers=params, output_modifiers=[lambda o: o] * len(inputs),
                     gradient_mapper=mapper, reducer=reducer)


def _params(modifier=None, *, keys=None):
    from zennit.core import ParamMod

    return ParamMod(modifier or (lambda param, name: param), param_keys=keys, zero_params=["bias"], require_params=False)


def _relative(epsilon: float, z: torch.Tensor) -> torch.Tensor:
    """ε in units of the layer's root-mean-square pre-activation (per item), so one ε suits every layer."""
    return epsilon * z.pow(2).mean(dim=tuple(range(1, z.ndim)), keepdim=True).sqrt()


def epsilon_rule(epsilon: float, spread: bool = True, parameterless: bool = False):
    """LRP-ε without the bias: R_i = Σ_j x_i w_ij / (z_j + ε·rms(z)·sign z_j) · R_j."""

    def split(out_grad, outputs):
        z = outputs[0]
        sign = torch.where(z >= 0, torch.ones_like(z), -torch.ones_like(z))
        denominator = z + sign * _relative(epsilon, z)
        return [out_grad / _safe(denominator)], z / _safe(denominator)

    params = _params(keys=[]) if parameterless else _params()
    return _conserving_rule([lambda x: x], [params], split, spread)


def sign_rule(spread: bool = True):
    """For parameter-free sums and average pools: an output is explained by the inputs that pushed
    it the way it went — a positive output by its positive contributions, in proportion, a negative
    one by its negative ones. Ratios stay in [0, 1], so relevance cannot blow up into ± pairs where
    a residual branch cancels the skip (MobileNetV2's linear bottlenecks do that all the time)."""

    def split(out_grad, outputs):
        z, positive, negative = outputs
        is_p, is_n = (z > 0).to(z.dtype), (z < 0).to(z.dtype)
        g_p, g_n = is_p * out_grad / _safe(positive), is_n * out_grad / _safe(negative)
        kept = is_p * _nonzero(positive) + is_n * _nonzero(negative)
        return [torch.zeros_like(out_grad), g_p, g_n], kept

    none = _params(keys=[])
    return _conserving_rule([lambda x: x, lambda x: x.clamp(min=0), lambda x: x.clamp(max=0)], [none, none, none],
                            split, spread)


def gamma_rule(gamma: float, spread: bool = True):
    """Generalised LRP-γ (inputs of either sign): positive outputs are explained by the contributions
    of their sign with positive weights boosted by γ, negative outputs likewise."""
    plus = lambda param, name: param + gamma * param.clamp(min=0)  # noqa: E731
    minus = lambda param, name: param + gamma * param.clamp(max=0)  # noqa: E731

    def split(out_grad, outputs):
        z = outputs[4]
        positive, negative = (z > 0).to(z.dtype), (z < 0).to(z.dtype)
        den_p, den_n = outputs[0] + outputs[1], outputs[2] + outputs[3]
        g_p, g_n = positive * out_grad / _safe(den_p), negative * out_grad / _safe(den_n)
        kept = positive * _nonzero(den_p) + negative * _nonzero(den_n)
        return [g_p, g_p, g_n, g_n, torch.zeros_like(out_grad)], kept

    return _conserving_rule(
        [lambda x: x.clamp(min=0), lambda x: x.clamp(max=0), lambda x: x.clamp(min=0), lambda x: x.clamp(max=0), lambda x: x],
        [_params(plus), _params(minus), _params(minus), _params(plus), _params()], split, spread)


def alpha_beta_rule(alpha: float, beta: float, spread: bool = True):
    """LRP-αβ: positive contributions weighted α, negative β (α − β = 1). Where an output has only
    one kind, that kind gets weight 1 (published αβ would then create or destroy relevance)."""
    if alpha - beta != 1 or alpha < 0 or beta < 0:
        raise AttributionError("LRP-αβ needs α − β = 1 with α, β ≥ 0 (e.g. α = 2, β = 1)")

    def split(out_grad, outputs):
        positive, negative = outputs[0] + outputs[1], outputs[2] + outputs[3]
        has_p, has_n = _nonzero(positive), _nonzero(negative)
        both = has_p * has_n
        if spread:
            a = both * alpha + (1 - both) * has_p
            b = both * beta - (1 - both) * has_n
        else:
            a, b = torch.full_like(positive, alpha), torch.full_like(positive, beta)
        g_p, g_n = a * out_grad / _safe(positive), -b * out_grad / _safe(negative)
        return [g_p, g_p, g_n, g_n], ((has_p + has_n) > 0).to(out_grad.dtype)

    pos = lambda param, name: param.clamp(min=0)  # noqa: E731
    neg = lambda param, name: param.clamp(max=0)  # noqa: E731
    return _conserving_rule(
        [lambda x: x.clamp(min=0), lambda x: x.clamp(max=0), lambda x: x.clamp(min=0), lambda x: x.clamp(max=0)],
        [_params(pos), _params(neg), _params(neg), _params(pos)], split, spread)


def box_rule(low, high, spread: bool = True):
    """z^B (Montavon et al. 2017) for the first layer, whose inputs lie in a known box [low, high]."""
    from zennit.core import expand

    def split(out_grad, outputs):
        denominator = outputs[0] - outputs[1] - outputs[2]
        g = out_grad / _safe(denominator)
        return [g, -g, -g], _nonzero(denominator)

    return _conserving_rule(
        [lambda x: x, lambda x: expand(low, x.shape, cut_batch_dim=True).to(x),
         lambda x: expand(high, x.shape, cut_batch_dim=True).to(x)],
        [_params(), _params(lambda param, name: param.clamp(min=0)), _params(lambda param, name: param.clamp(max=0))],
        split, spread)


def flat_rule():
    """Relevance spread evenly over the receptive field (for a first layer without known bounds)."""

    def split(out_grad, outputs):
        return [], torch.zeros_like(out_grad)

    return _conserving_rule([], [], split, True)


def _rule_map(gm: fx.GraphModule, rule: str, epsilon: float, gamma: float, alpha: float, beta: float,
              bias: bool, input_bounds, spread: bool):
    """Hook per module name for this rule variant."""
    from zennit.core import Stabilizer
    from zennit.layer import Sum
    from zennit.rules import AlphaBeta, Epsilon, Flat, Gamma, Norm, Pass, ZBox
    from zennit.types import Activation, AvgPool, BatchNorm, Convolution

    first = next((n.target for n in gm.graph.nodes if n.op == "call_module"
                  and isinstance(gm.get_submodule(n.target), (nn.Conv2d, nn.Linear))), None)
    published = bias or not spread  # zennit's own rules: biases in or out, nothing spread
    zero = None if bias else ["bias"]
    mapping: dict[str, object] = {}
    for node in gm.graph.nodes:
        if node.op != "call_module":
            continue
        module = gm.get_submodule(node.target)
        name = node.target
        is_layer = isinstance(module, (Convolution, nn.Linear))
        if is_layer and name == first and rule != "epsilon" and not isinstance(module, nn.Linear):
            if input_bounds is not None:
                low, high = input_bounds
                hook = ZBox(low=low, high=high, zero_params=zero) if published else box_rule(low, high)
            else:
                hook = Flat(zero_params=zero) if published else flat_rule()
        elif is_layer and isinstance(module, Convolution) and rule == "gamma":
            hook = Gamma(gamma=gamma, zero_params=zero) if published else gamma_rule(gamma)
        elif is_layer and isinstance(module, Convolution) and rule == "alpha_beta":
            hook = AlphaBeta(alpha=alpha, beta=beta, zero_params=zero) if published else alpha_beta_rule(alpha, beta)
        elif is_layer:
            hook = Epsilon(epsilon=Stabilizer(epsilon, norm_scale=True), zero_params=zero) if published \
                else epsilon_rule(epsilon)
        elif isinstance(module, (Sum, AvgPool)):
            hook = Norm() if published else sign_rule()
        elif isinstance(module, (Activation, BatchNorm, _Elementwise)):
            hook = Pass()
        else:
            continue
        mapping[name] = hook
    return mapping


class LRP(AttributionMethod):
    name = "lrp"
    title = "LRP"
    rule = "epsilon"
    needs_module = True

    def attribute(self, inputs, target=None, *, epsilon: float = 0.25, gamma: float = 0.25, alpha: float = 2.0,
                  beta: float = 1.0, bias: bool = False, leak: str = "spread", input_bounds=None,
                  tolerance: float = TOLERANCE, progress: ProgressFn | None = None) -> Attribution:
        """``input_bounds=(low, high)``: the lowest/highest possible input values (per channel,
        broadcastable), for the box rule on the first layer of the gamma and α-β variants.
        ``leak``: "spread" (default, conserving, see above) or "standard" (zennit's published rules).
        ``bias=True`` lets biases absorb relevance (published rules)."""
        if leak not in ("spread", "standard"):
            raise AttributionError(f"unknown leak handling {leak!r} (spread, standard)")
        from zennit.core import Composite

        device = model_device(self.model, inputs.device)
        x = inputs.detach().to(device).float()
        timer = Timer(device)
        report(progress, 0.0, f"{self.title}: one forward and one modified backward pass")
        with private_copy(self.module, "lrp", _Canonical) as canonical:
            gm = canonical.get(x[:1])
            mapping = _rule_map(gm, self.rule, epsilon, gamma, alpha, beta, bias, input_bounds, leak == "spread")
            composite = Composite(module_map=lambda ctx, name, module: mapping.get(name))
            with torch.enable_grad(), composite.context(gm) as hooked:
                xg = x.clone().requires_grad_(True)
                out = hooked(xg)
                scores = select_scores(out, target)
                seed = torch.zeros_like(out)
                if target is None:
                    seed = out.detach().clone()
                else:
                    seed[:, int(target)] = out[:, int(target)].detach()
                (relevance,) = torch.autograd.grad(out, xg, grad_outputs=seed)
        relevance = relevance.detach()
        if not torch.isfinite(relevance).all():
            relevance = torch.nan_to_num(relevance, nan=0.0, posinf=0.0, neginf=0.0)
            finite = False
        else:
            finite = True
        total = float(relevance[0].double().sum()) if finite else float("nan")
        output = float(scores[0].detach())
        conservation = Conservation(total, output, tolerance, "output")
        report(progress, 1.0, f"{self.title}: done")
        return Attribution(channel_map(relevance, "sum"), relevance.cpu(), self.name, target, timer.seconds(),
                           output=output, conservation=conservation,
                           insight=AttributionInsight(
                               rule=self.rule, epsilon=epsilon, gamma=gamma, alpha=alpha, beta=beta, bias=bias, leak=leak,
                               conservation_per_item=tuple(float(r.double().sum()) for r in relevance)))


class LRPEpsilon(LRP):
    name = "lrp_epsilon"
    title = "LRP-ε"
    rule = "epsilon"


class LRPGamma(LRP):
    name = "lrp_gamma"
    title = "LRP-γ (box first layer)"
    rule = "gamma"


class LRPAlphaBeta(LRP):
    name = "lrp_alpha_beta"
    title = "LRP-α2β1 (box first layer)"
    rule = "alpha_beta"


def refused(attribution: Attribution) -> str | None:
    """Why a map must not be shown (a failed conservation check), or None."""
    check = attribution.conservation
    if check is None or check.ok or not attribution.method.startswith("lrp"):
        return None
    return (f"Not shown: the relevance does not add up to the score — {check.describe()}. "
            "A rule met a layer it cannot handle (or biases absorbed the relevance).")


def input_bounds_for(mean: torch.Tensor, std: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Lowest and highest normalised values of 0…1 pixels, per channel (for the box rule)."""
    return (0.0 - mean) / std, (1.0 - mean) / std


__all__ = ["LRP", "LRPAlphaBeta", "LRPEpsilon", "LRPGamma", "RULES", "TOLERANCE", "canonical_form", "input_bounds_for",
           "refused"]
