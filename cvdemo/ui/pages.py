"""The app's pages: file, title, icon and one-line pitch, in one place for the navigation, each
page's header and the home page's cards."""

from __future__ import annotations

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
            "(Faster R-CNN); IoU, NMS, precision/recall, AP/mAP; YOLO's S×S×B·(5+C) output tensor made visible."),
    AppPage("2_Segmentation.py", "Segmentation", "🧩",
            "Semantic and instance overlays, live background blur, mIoU against your own masks, and how decoders "
            "upsample: transposed convolution as a matrix, checkerboard artefacts, atrous convolution."),
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
            "convolutionalization, augmentation and transfer learning in seconds."),
)
ALL = (HOME,) + FEATURES


def page_for(script: str | Path) -> AppPage:
    """The entry of a page file (``__file__`` of the page)."""
    name = Path(script).name
    for page in ALL:
        if page.file == name:
            return page
    raise KeyError(f"{name} is not one of the app's pages ({', '.join(p.file for p in ALL)})")
