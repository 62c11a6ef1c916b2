"""Home: what the app shows, the device in use, and which models are ready."""

from pathlib import Path

import pandas as pd
import streamlit as st

from cvdemo.cli.weights import status_rows
from cvdemo.ui.common import page_setup

PAGES = [
    ("pages/1_Detection.py", "🎯 Detection",
     "Boxes on your photos and live webcam. One-stage (YOLOv3-tiny, NanoDet, CenterNet, SSD) vs two-stage "
     "(Faster R-CNN); IoU, NMS, precision/recall, AP/mAP; YOLO's S×S×B·(5+C) output tensor made visible."),
    ("pages/2_Segmentation.py", "🧩 Segmentation",
     "Semantic and instance overlays, live background blur, mIoU against your own masks, and how decoders "
     "upsample: transposed convolution as a matrix, checkerboard artefacts, atrous convolution."),
    ("pages/3_Face_verification.py", "🪪 Face verification",
     "A Siamese network at work: detect (MTCNN), align, embed (dlib's 29-layer ResNet) and compare; "
     "distances, threshold, ROC, contrastive and triplet losses, a gallery to identify people live."),
    ("pages/4_GAN_faces.py", "🎲 GAN faces",
     "A DCGAN generator to play with: seeds, grids, latent interpolation (slerp), latent arithmetic, "
     "truncation, and the feature maps of each transposed-convolution stage."),
    ("pages/5_Explainability.py", "🔥 Explainability",
     "What did the network look at? Occlusion sensitivity, gradients, SmoothGrad, Integrated Gradients, "
     "Grad-CAM and layer-wise relevance propagation as interactive heatmaps, with sanity checks."),
    ("pages/6_Architectures.py", "🏛️ Architectures",
     "AlexNet → VGG → Inception → ResNet → MobileNet measured live: parameters, FLOPs, receptive fields, "
     "convolutionalization, augmentation and transfer learning in seconds."),
]

device = page_setup("Home", icon="🔍")

st.title("cvdemo — see how modern vision networks work")
st.markdown(
    "Upload a photo or switch on your webcam, then look inside: what a detector predicts in every grid cell, "
    "how a decoder upsamples, how far apart two faces are for a Siamese network, which pixels a classifier "
    "relied on. Everything runs on this machine with real pretrained weights; the models below marked "
    "**ready** work offline."
)

columns = st.columns(3)
for index, (path, title, blurb) in enumerate(PAGES):
    with columns[index % 3].container(border=True):
        if (Path(__file__).parent.parent / path).exists():
            st.page_link(path, label=title)
        else:
            st.markdown(f"**{title}** (page not installed)")
        st.caption(blurb)

st.subheader("Models")
rows = status_rows()
ready = sum(row["status"] == "ready" for row in rows)
st.markdown(f"**{ready} of {len(rows)}** models are ready offline on this machine. "
            "Downloadable ones come from the torchvision zoo once you are online "
            "(`python -m cvdemo weights fetch NAME`, or the button on each page).")
table = pd.DataFrame(rows)[["title", "task", "status", "size_mb", "source", "licence", "action"]]
table.columns = ["model", "task", "status", "size (MB)", "weights from", "licence", "to make it ready"]
st.dataframe(table, hide_index=True, width="stretch")
