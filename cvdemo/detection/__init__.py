"""Detection: box geometry, NMS, drawing, metrics, ground truth, region proposals and export.

Everything here works on NumPy arrays and plain dataclasses so that the page, the command line
and the tests share it without Streamlit.
"""
