"""Every attribution method in one list, as the page, the live view and ``explain --list-methods`` show it."""

from __future__ import annotations

from dataclasses import dataclass

from cvdemo.explain import METHODS
from cvdemo.explain.cams import LayerMap
from cvdemo.explain.captum_methods import CaptumMethod

SHORT_TITLES = {
    "occlusion": "Occlusion",
    "saliency": "Saliency (gradient)",
    "input_x_gradient": "Input × gradient",
    "guided_backprop": "Guided backprop",
    "deconvolution": "Deconvolution",
    "integrated_gradients": "Integrated Gradients",
    "smoothgrad": "SmoothGrad",
    "vargrad": "VarGrad",
    "deeplift": "DeepLIFT",
    "deeplift_shap": "DeepLIFT-SHAP",
    "gradient_shap": "GradientSHAP",
    "gradcam": "Grad-CAM",
    "guided_gradcam": "Guided Grad-CAM",
    "layer_conductance": "Layer conductance",
    "feature_ablation": "Feature ablation",
    "shapley_value_sampling": "Shapley sampling",
    "kernel_shap": "Kernel SHAP",
    "lime": "LIME",
    "gradcam_plus_plus": "Grad-CAM++",
    "layercam": "LayerCAM",
    "eigencam": "EigenCAM",
    "lrp_epsilon": "LRP-ε",
    "lrp_gamma": "LRP-γ",
    "lrp_alpha_beta": "LRP-α2β1",
}

SUMMARIES = {
    "occlusion": "Hide one patch at a time; red where hiding it lowers the score (Zeiler & Fergus). Exact and "
                 "model-agnostic, but many forward passes.",
    "saliency": "How strongly a change of each pixel would change the score (Simonyan et al.): a sensitivity map, "
                "the largest |gradient| over the colours.",
    "input_x_gradient": "Gradient times the pixel's value: a first-order estimate of each pixel's contribution, signed.",
    "guided_backprop": "The gradient with negative signals stopped at every ReLU on the way back: crisp edges, barely "
                       "class-specific.",
    "deconvolution": "Zeiler & Fergus's deconvnet: only positive signals cross the ReLUs backwards.",
    "integrated_gradients": "Gradients averaged along the straight path from a baseline image to yours, times the "
                            "difference: the map adds up to the score gap (checked; steps rise until it does).",
    "smoothgrad": "The gradient averaged over noisy copies of the image: less speckle.",
    "vargrad": "The variance of the gradient over noisy copies of the image.",
    "deeplift": "Each neuron compared with its value on a baseline, the score gap handed back by rules: adds up to "
                "the gap where every non-linearity has a rule (checked).",
    "deeplift_shap": "DeepLIFT averaged over three baselines (mean colour, blurred image, the image's average colour).",
    "gradient_shap": "Gradients at random points between baselines and the image, averaged: an estimate of SHAP values.",
    "gradcam": "A late layer's feature maps weighted by the score's mean gradient (Selvaraju et al.): coarse, "
               "class-specific 'where'.",
    "guided_gradcam": "Guided backpropagation times Grad-CAM: fine detail, only inside Grad-CAM's region.",
    "layer_conductance": "How much of the score gap flows through each position of a layer (Integrated Gradients "
                         "through the layer; adds up to the gap, checked).",
    "feature_ablation": "Replace one cell at a time by the baseline: the score's drop is the cell's value.",
    "shapley_value_sampling": "Each cell's marginal effect averaged over random orders of the cells: adds up to the "
                              "score gap exactly (checked).",
    "kernel_shap": "A weighted linear fit on random subsets of cells that estimates their Shapley values.",
    "lime": "A sparse linear model fitted on random subsets of cells, weighted by how close each is to your image.",
    "gradcam_plus_plus": "Grad-CAM with position-wise weights from powers of the gradient: covers several instances "
                         "of a class better.",
    "layercam": "Each position weighted by its own positive gradient: fine maps even from early layers.",
    "eigencam": "The layer's first principal component: what it responds to most, whatever the class (no gradient).",
    "lrp_epsilon": "Layer-wise relevance propagation, ε rule: the score is handed back layer by layer and must add up "
                   "at the pixels (checked).",
    "lrp_gamma": "LRP with the γ rule favouring positive evidence, box rule at the pixels.",
    "lrp_alpha_beta": "LRP weighing positive and negative evidence 2 : 1 (the 'Clever Hans' paper's rule).",
}

LAYER_METHODS = tuple(name for name, cls in METHODS.items()
                      if issubclass(cls, LayerMap) or name in ("gradcam", "guided_gradcam", "layer_conductance"))


@dataclass(frozen=True)
class MethodInfo:
    name: str
    title: str
    summary: str
    engine: str  # "captum LayerGradCam", "own (template over captum-style hooks)", …
    live: bool  # one forward and one backward pass: fast enough for live video
    completeness: bool  # reports Σ attribution against the score gap (or LRP's output)
    layer: bool  # reads a layer chosen in the layer list


def describe(name: str) -> MethodInfo:
    cls = METHODS[name]
    if issubclass(cls, CaptumMethod):
        engine = f"captum {cls.captum}"
    elif issubclass(cls, LayerMap):
        engine = "own (one CAM template; captum has no such method)"
    elif name == "occlusion":
        engine = "own exact incremental occlusion (captum Occlusion is its oracle)"
    else:
        engine = "own, on zennit's rules"
    completeness = getattr(cls, "completeness", False) or name.startswith("lrp")
    return MethodInfo(name, SHORT_TITLES[name], SUMMARIES[name], engine, bool(cls.single_pass), bool(completeness),
                      name in LAYER_METHODS)


def catalog() -> list[MethodInfo]:
    return [describe(name) for name in METHODS]
