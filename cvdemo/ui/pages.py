"""The app's pages: file, title, icon and one-line pitch, in one place for the navigation, each
page's header and the home page's cards."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

PAGES_DIR = Path(__file__).resolve().parents[2] / "pages"


@dataclass(frozen=True)
class AppPage:
    file: str  # in pages/; its name without the number is the page's URL ("1_Detection.py" → /Detection)
    title: str
    icon: str
    pitch: str = ""

    @property
    def path(self) -> Path:
        return PAGES_DIR / self.file


HOME = AppPage("0_Home.py", "Home", "🔍")
FEATURES = (
    AppPage("1_Detection.py", "Detection", "🎯",
            "Boxes on your photos and live webcam. One-stage (YOLOv3-tiny, NanoDet, CenterNet, SSD) vs two-stage "
            "(Faster R-CNN); IoU, NMS, precision/recall, AP/mAP; YOLO v1's S×S×(5B+C) = 7×7×30 and its loss, YOLOv3's 3·(5+C) per cell, RoI pooling vs RoIAlign."),
    AppPage("2_Segmentation.py", "Segmentation", "🧩",
            "Semantic and instance overlays, live background blur, mIoU against your own masks, and how decoders "
            "upsample: transposed convolution as a matrix, checkerboard artefacts, atrous convolution, skips cut and "
            "restored (FCN, U-Net), PSPNet and DeepLabV3+."),
    AppPage("3_Face_verification.py", "Face verification", "🪪",
            "A Siamese network at work: detect (MTCNN), align, embed (dlib's 29-layer ResNet) and compare; "
            "distances, threshold, ROC, contrastive and triplet losses, a gallery to identify people live."),
    AppPage("4_GAN_faces.py", "GAN faces", "🎲",
            "A DCGAN generator to play with: seeds, grids, latent interpolation (slerp), latent arithmetic, "
            "truncation, and the feature maps of each transposed-convolution stage."),
    AppPage("5_Explainability.py", "Explainability", "🔥",
            "What did the network look at? Grad-CAM first, then 24 methods side by side (captum's gradients, "
            "Integrated Gradients, SHAP, LIME…, Grad-CAM++, occlusion, LRP) with completeness and sanity checks."),
    AppPage("6_Architectures.py", "Architectures", "🏛️",
            "AlexNet → VGG → Inception → ResNet → MobileNet measured live: parameters, FLOPs, receptive fields, "
            "convolutionalization, augmentation, transfer learning in seconds, and the parameter/MAC arithmetic of "
            "1×1, Inception and depthwise-separable layers."),
)
ALL = (HOME,) + FEATURES


def page_for(script: str | Path) -> AppPage:
    """The entry of a page file (``__file__`` of the page)."""
    name = Path(script).name
    for page in ALL:
        if page.file == name:
            return page
    raise KeyError(f"{name} is not one of the app's pages ({', '.join(p.file for p in ALL)})")


VIEW_PARAMETER = "view"


def slug(title: str) -> str:
    """The URL form of a view's title: lower-case letters and digits joined by hyphens, no emoji.

    "✂️ NMS & IoU" → "nms-iou", "🟨 YOLO's output tensor" → "yolos-output-tensor".
    """
    ascii_text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode().replace("'", "")
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def page_url_path(title: str) -> str:
    """The URL path Streamlit gives the page titled ``title`` ("Face verification" → "Face_verification")."""
    for page in ALL:
        if page.title == title:
            return page.file.split("_", 1)[1].removesuffix(".py")
    raise KeyError(f"no page titled {title!r}; pages: {', '.join(page.title for page in ALL)}")


def view_link(page: str, view: str) -> str:
    """The app-relative URL that opens ``view`` (a title or its slug) on the page titled ``page``."""
    return f"/{page_url_path(page)}?{VIEW_PARAMETER}={slug(view)}"
