"""Why architectures look the way they do, made measurable.

* :mod:`~cvdemo.architectures.catalog` — the lectures' networks, built without weights, and the
  figures quoted for them;
* :mod:`~cvdemo.architectures.table` — parameters, MACs/FLOPs, depth and accuracy, cached;
* :mod:`~cvdemo.architectures.graph` — every layer's output shape and receptive field;
* :mod:`~cvdemo.architectures.convolutionalize` — dense heads rewritten as convolutions;
* :mod:`~cvdemo.architectures.augment` — transforms v2 on images, boxes and masks;
* :mod:`~cvdemo.architectures.transfer` — linear probes and fine-tuning on a frozen backbone;
* :mod:`~cvdemo.architectures.figures` — the Plotly figures and drawings for the page.

Nothing here imports Streamlit.
"""
