"""The concept index: every concept of the course's five lecture decks, named as the lectures
name it, and the page and view of the app that demonstrates it.

One entry per concept; a concept taught in several decks names them all in ``lecture``. A
concept with no view yet has ``page`` and ``section`` set to ``None`` (the index says so
rather than pointing somewhere vague). Deep links use one format, built by :func:`link`:
``/<page url>?view=<section>``; each page opens the view named by its ``view`` query parameter.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

# The decks, by their own titles (the files in ../shared/lectures are never read at run time).
GEOSCIENCES = "Neural Networks 3/3, Lecture 12: Computer Vision for Geosciences"
LOUPPE = "Deep Learning, Lecture 6: Computer vision"
SETHI = "Advanced Neural Networks for Computer Vision"
FCN_LEARNING = "Neural Networks and Machine Learning: Fully Convolutional Learning"
ARCHITECTURES = "Advanced Image Processing: Exploring Architectures"
LECTURES = (GEOSCIENCES, LOUPPE, SETHI, FCN_LEARNING, ARCHITECTURES)

DETECTION, SEGMENTATION, FACES, GAN, EXPLAIN, ARCH = (
    "Detection", "Segmentation", "Face verification", "GAN faces", "Explainability", "Architectures")


@dataclass(frozen=True)
class Concept:
    concept: str
    lecture: str  # one or more deck titles, "; "-separated
    page: str | None  # a page title of cvdemo.ui.pages, or None: no view yet
    section: str | None  # the view of that page, as its radio or tab labels it

    def as_dict(self) -> dict:
        return asdict(self)


def _c(concept: str, lectures: tuple[str, ...] | str, page: str | None, section: str | None) -> Concept:
    return Concept(concept, lectures if isinstance(lectures, str) else "; ".join(lectures), page, section)


# The pages' view titles (the keys of each cvdemo.ui page module's VIEWS).
PHOTOS, SIDE_BY_SIDE, NMS, HEAD, PROPOSALS, DET_METRICS, YOLO_TENSOR = (
    "📷 Photos", "⚖️ Side by side", "✂️ NMS & IoU", "🔥 Where a one-stage head looks", "🧱 Region proposals (R-CNN)",
    "📈 Metrics on your labels", "🟨 YOLO's output tensor")
YOLO_V1, TWO_STAGE = "🟦 YOLO v1 and its loss", "🪟 Two-stage: RoI pooling & box regression"
DECODERS = "How decoders upsample"
SKIPS = DECODERS  # its "Skips, PSPNet and DeepLabV3+" topic

CONCEPTS: tuple[Concept, ...] = (
    # --- architectures and training ---------------------------------------------------------
    _c("ImageNet Large Scale Visual Recognition Challenge winners", (GEOSCIENCES, ARCHITECTURES), ARCH, "Table"),
    _c("Accuracy vs operations and parameters (Canziani et al.)", GEOSCIENCES, ARCH, "Table"),
    _c("AlexNet: 60M parameters, 832M flops", ARCHITECTURES, ARCH, "Table"),
    _c("AlexNet parameters per layer", ARCHITECTURES, ARCH, "Arithmetic"),
    _c("Revolution of depth", ARCHITECTURES, ARCH, "Table"),
    _c("VGG ConvNet configurations A–E", ARCHITECTURES, ARCH, "Arithmetic"),
    _c("VGG number of parameters (133–144 M)", ARCHITECTURES, ARCH, "Table"),
    _c("GoogLeNet / Inception module", (SETHI, ARCHITECTURES), ARCH, "Arithmetic"),
    _c("Sparsely connected layers: parallel layers and 1×1 convolutions", ARCHITECTURES, ARCH, "Arithmetic"),
    _c("1×1 convolutions change the number of feature maps", SETHI, ARCH, "Arithmetic"),
    _c("Separable convolutions", SETHI, ARCH, "Arithmetic"),
    _c("MobileNet filters each feature map separately (depthwise)", SETHI, ARCH, "Arithmetic"),
    _c("Problems with going deeper: 56-layer plain net has higher training error than 20-layer",
       ARCHITECTURES, ARCH, "Why residuals"),
    _c("Vanishing / exploding gradient problem", ARCHITECTURES, ARCH, "Why residuals"),
    _c("Residual unit / residual block", ARCHITECTURES, ARCH, "Why residuals"),
    _c("A solution by construction: extra layers set as identity", ARCHITECTURES, ARCH, "Why residuals"),
    _c("Deeper ResNets have lower training error (CIFAR-10 experiments)", ARCHITECTURES, ARCH, "Why residuals"),
    _c("ResNet: ILSVRC 2015 top-5 error 3.6%", ARCHITECTURES, ARCH, "Arithmetic"),
    _c("Efficiency: compute to reach AlexNet-level performance", GEOSCIENCES, ARCH, "Efficiency"),
    _c("Convolutionalization", ARCHITECTURES, ARCH, "Convolutionalization"),
    _c("1×1 convolution is equivalent to a fully connected layer", (SETHI, ARCHITECTURES), ARCH, "Convolutionalization"),
    _c("1×1 convolution ×1024 filters: shared weights over 13×13", ARCHITECTURES, ARCH, "Arithmetic"),
    _c("Fully convolutional networks output heat maps for any input size", (LOUPPE, ARCHITECTURES, FCN_LEARNING),
       ARCH, "Convolutionalization"),
    _c("Global average pooling (GAP) layer", SETHI, ARCH, "Convolutionalization"),
    _c("Softmax output and cross-entropy loss", LOUPPE, ARCH, "Transfer learning"),
    _c("Image augmentation", LOUPPE, ARCH, "Augmentation"),
    _c("Geometry-based augmentation", LOUPPE, ARCH, "Augmentation"),
    _c("Color-based augmentation", LOUPPE, ARCH, "Augmentation"),
    _c("Noise / occlusion augmentation", LOUPPE, ARCH, "Augmentation"),
    _c("Weather augmentation", LOUPPE, ARCH, "Augmentation"),
    _c("Pre-trained models", LOUPPE, ARCH, "Transfer learning"),
    _c("Transfer learning: pre-trained network as a fixed feature extractor", (LOUPPE, SETHI), ARCH, "Transfer learning"),
    _c("Fine-tuning", LOUPPE, ARCH, "Transfer learning"),
    _c("Training from scratch vs fine-tuned vs off the shelf", LOUPPE, ARCH, "Transfer learning"),
    _c("The last FC layer gives good, transferable features (SVM on top)", SETHI, ARCH, "Transfer learning"),
    _c("Generalization: ObjectNet, bias-controlled test images", GEOSCIENCES, ARCH, "Generalization"),
    _c("Shortcut learning", GEOSCIENCES, ARCH, "Clever Hans"),
    _c("Clever Hans predictors (horse picture from Pascal VOC)", GEOSCIENCES, ARCH, "Clever Hans"),
    _c("PlaNet / im2gps photo geolocation", ARCHITECTURES, None, None),
    _c("Autoencoders", ARCHITECTURES, GAN, "Autoencoder"),
    # --- detection ----------------------------------------------------------------------------
    _c("Object detection", (GEOSCIENCES, LOUPPE), DETECTION, PHOTOS),
    _c("PASCAL Visual Object Classes (20 classes)", GEOSCIENCES, DETECTION, DET_METRICS),
    _c("COCO: 80 object categories", GEOSCIENCES, DETECTION, PHOTOS),
    _c("Intersection over Union (IoU)", (GEOSCIENCES, LOUPPE), DETECTION, NMS),
    _c("Precision and recall", GEOSCIENCES, DETECTION, DET_METRICS),
    _c("Average Precision: area under the PR curve", (GEOSCIENCES, LOUPPE), DETECTION, DET_METRICS),
    _c("mean Average Precision (mAP)", (GEOSCIENCES, LOUPPE), DETECTION, DET_METRICS),
    _c("Non-maximum suppression", (GEOSCIENCES, LOUPPE), DETECTION, NMS),
    _c("Sliding window", (GEOSCIENCES, LOUPPE), ARCH, "Convolutionalization"),
    _c("Classification + localization", LOUPPE, DETECTION, TWO_STAGE),
    _c("OverFeat: regression head for the bounding box", LOUPPE, DETECTION, TWO_STAGE),
    _c("Localization as regression of bounding-box coordinates", SETHI, DETECTION, TWO_STAGE),
    _c("R-CNN: Regions with CNN features", (GEOSCIENCES, LOUPPE, ARCHITECTURES), DETECTION, PROPOSALS),
    _c("Region proposals (~2k)", (GEOSCIENCES, ARCHITECTURES), DETECTION, PROPOSALS),
    _c("Selective search: hierarchical grouping", (GEOSCIENCES, LOUPPE, ARCHITECTURES), DETECTION, PROPOSALS),
    _c("CNN features fed to SVMs", (LOUPPE, FCN_LEARNING), DETECTION, TWO_STAGE),
    _c("Bounding-box regression (size and offset)", (GEOSCIENCES, LOUPPE), DETECTION, TWO_STAGE),
    _c("Fast R-CNN", (GEOSCIENCES, LOUPPE, FCN_LEARNING, ARCHITECTURES), DETECTION, TWO_STAGE),
    _c("RoI pooling (7×7 sub-windows, max pool)", (LOUPPE, ARCHITECTURES), DETECTION, TWO_STAGE),
    _c("Faster R-CNN: region proposal network", (GEOSCIENCES, LOUPPE, SETHI, ARCHITECTURES), DETECTION, TWO_STAGE),
    _c("Multi-task loss: classification and regression", (SETHI, FCN_LEARNING), DETECTION, TWO_STAGE),
    _c("R-CNN ~50 s, Fast R-CNN 2.3 s, Faster R-CNN 140 ms per image", FCN_LEARNING, DETECTION, TWO_STAGE),
    _c("YOLO: S×S grid, S×S×(5B+C) output tensor", (GEOSCIENCES, LOUPPE, SETHI, FCN_LEARNING), DETECTION, YOLO_V1),
    _c("YOLO loss: λcoord, √w √h, λnoobj", (GEOSCIENCES, LOUPPE, FCN_LEARNING), DETECTION, YOLO_V1),
    _c("YOLO ~40–60 FPS", FCN_LEARNING, DETECTION, TWO_STAGE),
    _c("Newer YOLO: several detections per cell", GEOSCIENCES, DETECTION, YOLO_TENSOR),
    _c("YOLOv2: 5 shape priors found by clustering", FCN_LEARNING, DETECTION, YOLO_TENSOR),
    _c("YOLOv3 architecture", FCN_LEARNING, DETECTION, YOLO_TENSOR),
    _c("SSD: multi-scale feature maps", (LOUPPE, SETHI), DETECTION, HEAD),
    _c("One-stage vs two-stage detectors: speed vs accuracy", (LOUPPE, FCN_LEARNING), DETECTION, SIDE_BY_SIDE),
    _c("Mask R-CNN", (GEOSCIENCES, LOUPPE, ARCHITECTURES), SEGMENTATION, "Instances (photo)"),
    _c("RoIAlign replaces RoI pooling", LOUPPE, DETECTION, TWO_STAGE),
    _c("Instance segmentation", (GEOSCIENCES, LOUPPE), SEGMENTATION, "Instances (photo)"),
    # --- segmentation -------------------------------------------------------------------------
    _c("Semantic segmentation", (GEOSCIENCES, LOUPPE, SETHI), SEGMENTATION, "Semantic (photo)"),
    _c("Cityscapes dataset (30 classes)", (GEOSCIENCES, SETHI), None, None),
    _c("Semantic segmentation: sliding window?", GEOSCIENCES, ARCH, "Convolutionalization"),
    _c("Semantic segmentation without downsampling?", GEOSCIENCES, SEGMENTATION, DECODERS),
    _c("Encoder-decoder architecture (hour-glass)", (GEOSCIENCES, SETHI), SEGMENTATION, DECODERS),
    _c("Unpooling: nearest neighbour, bed of nails, max unpooling", (GEOSCIENCES, ARCHITECTURES), SEGMENTATION, DECODERS),
    _c("Transposed convolution (\"deconvolution\")", (GEOSCIENCES, LOUPPE, FCN_LEARNING, ARCHITECTURES), SEGMENTATION, DECODERS),
    _c("Transposed convolution as Uᵀ v(x)", LOUPPE, SEGMENTATION, DECODERS),
    _c("Convolution as matrix multiplication", FCN_LEARNING, SEGMENTATION, DECODERS),
    _c("Strided transpose convolution = zero insert + convolution", FCN_LEARNING, SEGMENTATION, DECODERS),
    _c("Uneven overlap causes grid (checkerboard) artifacts", (FCN_LEARNING, ARCHITECTURES), SEGMENTATION, DECODERS),
    _c("Fully convolutional networks (FCN) for segmentation", (LOUPPE, ARCHITECTURES), SEGMENTATION, SKIPS),
    _c("Skip layer refinement: stride 32, 16, 8", ARCHITECTURES, SEGMENTATION, SKIPS),
    _c("U-Net: concatenate high-resolution features", (GEOSCIENCES, LOUPPE, SETHI, ARCHITECTURES), SEGMENTATION, SKIPS),
    _c("SegNet", (GEOSCIENCES, FCN_LEARNING), SEGMENTATION, DECODERS),
    _c("Pyramid pooling (PSPNet)", (GEOSCIENCES, FCN_LEARNING), SEGMENTATION, SKIPS),
    _c("Atrous (dilated) convolution", (SETHI, FCN_LEARNING), SEGMENTATION, DECODERS),
    _c("DeepLabV3: atrous spatial pyramid pooling (rates 6, 12, 18)", FCN_LEARNING, SEGMENTATION, DECODERS),
    _c("DeepLabV3+ encoder-decoder", (GEOSCIENCES, FCN_LEARNING), SEGMENTATION, SKIPS),
    _c("Gated-SCNN: shape stream from image gradients", FCN_LEARNING, SEGMENTATION, "Gated-SCNN shape stream"),
    _c("mean Intersection over Union (mIoU)", FCN_LEARNING, SEGMENTATION, "mIoU vs. ground truth"),
    # --- Siamese networks ---------------------------------------------------------------------
    _c("Siamese network as metric learning", SETHI, FACES, "Verify two photos"),
    _c("Face verification", SETHI, FACES, "Verify two photos"),
    _c("Properties of a kernel: similarity, positive semi-definite", SETHI, FACES, "Similarity measures"),
    _c("A metric is symmetric and follows the triangle inequality", SETHI, FACES, "Similarity measures"),
    _c("L2 norm of difference (Euclidean distance)", SETHI, FACES, "Similarity measures"),
    _c("L1 norm of difference (city-block / Manhattan distance)", SETHI, FACES, "Similarity measures"),
    _c("Dot product", SETHI, FACES, "Similarity measures"),
    _c("Arc cosine (cosine similarity)", SETHI, FACES, "Similarity measures"),
    _c("Radial basis function (RBF)", SETHI, FACES, "Similarity measures"),
    _c("Absolute terms: regular Siamese training (contrastive)", SETHI, FACES, "Siamese training"),
    _c("Relative terms: triplet Siamese training with a margin", SETHI, FACES, "Siamese training"),
    # --- explainability and GANs --------------------------------------------------------------
    _c("Investigate decisions: partial occlusion", GEOSCIENCES, EXPLAIN, "ImageNet classifier"),
    _c("Investigate decisions: image gradient (saliency maps)", GEOSCIENCES, EXPLAIN, "ImageNet classifier"),
    _c("Investigate decisions: relevance propagation", GEOSCIENCES, EXPLAIN, "ImageNet classifier"),
    _c("Generative Adversarial Networks", ARCHITECTURES, GAN, "2-D GAN game"),
    _c("Streamlit Face-GAN demo", ARCHITECTURES, GAN, "Sample"),
)


def link(page: str, section: str | None) -> str:
    """The deep link to a page's view: ``/<page url>?view=<view's slug>`` (:func:`cvdemo.ui.pages.view_link`)."""
    from cvdemo.ui.pages import page_url_path, view_link

    return view_link(page, section) if section else "/" + page_url_path(page)


def covered(concepts=CONCEPTS) -> list[Concept]:
    return [c for c in concepts if c.page is not None]


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def search(query: str, concepts=CONCEPTS) -> list[Concept]:
    """Concepts whose name, page or view contains every word of the query (prefixes count), best
    matches first: more words in the name, then more whole-word matches, then shorter names."""
    words = _words(query)
    if not words:
        return []
    scored = []
    for concept in concepts:
        name = _words(concept.concept)
        where = _words(f"{concept.page or ''} {concept.section or ''}")
        if all(any(w.startswith(q) for w in name + where) for q in words):
            in_name = sum(any(w.startswith(q) for w in name) for q in words)
            exact = sum(q in name for q in words)
            scored.append((-in_name, -exact, len(concept.concept), concept))
    return [c for *_, c in sorted(scored, key=lambda item: item[:3])]
