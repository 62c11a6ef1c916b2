"""Siamese face verification: detect (MTCNN) → align (dlib's way) → embed (dlib's ResNet) → compare.

Modules: :mod:`dlib_format` (reads dlib's serialized network), :mod:`embedder` (the ResNet in
PyTorch), :mod:`mtcnn` (the P/R/O-Net cascade), :mod:`shape_predictor` (dlib's 5-point landmark
trees), :mod:`align` (dlib's chip extraction), :mod:`verify` (the pipeline), :mod:`gallery`,
:mod:`metrics`, :mod:`losses`, :mod:`why` (occlusion), :mod:`draw` / :mod:`plots` (pictures),
:mod:`samples`, :mod:`golden` / :mod:`evaluation` (comparison with real dlib), :mod:`benchmarks`.
"""
