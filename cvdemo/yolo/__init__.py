"""YOLO from its original Darknet files, in plain PyTorch.

- :mod:`cvdemo.yolo.darknet` reads a Darknet ``.cfg`` and ``.weights`` pair into a torch module;
- :mod:`cvdemo.yolo.decode` letterboxes images and turns the raw ``S×S×B·(5+C)`` head tensors
  into boxes in the user's pixels;
- :mod:`cvdemo.yolo.detector` is the :class:`~cvdemo.tasks.Detector` the registry builds;
- :mod:`cvdemo.yolo.insight` is the Streamlit-free logic behind the YOLO view (grid cells,
  tensor slices, heatmaps, the threshold → NMS pipeline).
"""
