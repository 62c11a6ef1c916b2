"""TensorFlow.js graph models as real ``torch.nn.Module``\\ s.

:func:`load_graph_module` reads ``model.json`` and its weight shards (:mod:`.graph`), translates
each TensorFlow op into torch layers and functions with TensorFlow's exact semantics
(:mod:`.ops`), and assembles a ``torch.fx`` module (:mod:`.module`) whose weights are converted
once and cached under ``weights/converted/``.
"""

from cvdemo.tfjs.graph import TFJSFormatError, read_model_json
from cvdemo.tfjs.module import GraphBuildError, TFJSGraphModule, load_graph_module
from cvdemo.tfjs.ops import UnsupportedOpError

__all__ = ["GraphBuildError", "TFJSFormatError", "TFJSGraphModule", "UnsupportedOpError", "load_graph_module", "read_model_json"]
