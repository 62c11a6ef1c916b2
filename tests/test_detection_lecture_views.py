"""The detection page's lecture tabs (YOLO v1 and its loss; two-stage detection), through AppTest."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

PAGE = str(Path(__file__).resolve().parent.parent / "pages" / "1_Detection.py")


def open_tab(title: str) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=600)
    at.session_state["det_tab"] = title
    at.run()
    assert not at.exception, at.exception[0].message if at.exception else ""
    return at


def test_yolo_v1_tab_shows_both_layouts_and_every_loss_term(require_ready):
    require_ready("yolov3-tiny")
    at = open_tab("🟦 YOLO v1 and its loss")
    frames = [f.value for f in at.dataframe]
    layouts = frames[0]
    assert list(layouts["numbers per cell"]) == ["5·2+20 = 30", "3·(5+80) = 255"]
    assert list(layouts["output numbers"]) == [1470, (13 * 13 + 26 * 26) * 255]
    terms = next(f for f in frames if "term" in f.columns)
    assert list(terms["term"]) == ["centre (x, y)", "size (√w, √h)", "objectness", "no object", "classes"]
    assert list(terms["weight"]) == [5.0, 5.0, 1.0, 0.5, 1.0]
    assert (terms["value"] >= 0).all()
    assert any("other slots of both grids" in c.value for c in at.caption)
