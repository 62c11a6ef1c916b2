"""Semantic and instance segmentation: overlays, mIoU, and how decoders upsample.

Everything here runs without Streamlit: ``pages/2_Segmentation.py`` only lays out widgets over
these modules, and the command line (``python -m cvdemo segment``) uses the same code.
"""
