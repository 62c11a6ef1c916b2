"""The concept index: coverage of the lecture decks, real pages and views, the CLI, the Home search and deep links."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from streamlit.testing.v1 import AppTest

from cvdemo import concepts
from tests.conftest import ROOT


def test_every_entry_names_a_real_page_and_one_of_its_views():
    from cvdemo.ui.concepts import views_of

    wrong = [(c.concept, c.page, c.section) for c in concepts.covered() if c.section not in views_of(c.page)]
    assert not wrong


def test_at_least_95_percent_of_the_decks_concepts_have_a_view():
    assert len(concepts.CONCEPTS) >= 86  # the issue's audit counted 86 concepts; the index names more
    assert len(concepts.covered()) / len(concepts.CONCEPTS) >= 0.95


@pytest.mark.parametrize("concept, page, section, link", [
    ("Efficiency: compute to reach AlexNet-level performance", "Architectures", "Efficiency", "/Architectures?view=efficiency"),
    ("Gated-SCNN: shape stream from image gradients", "Segmentation", "Gated-SCNN shape stream",
     "/Segmentation?view=gated-scnn-shape-stream"),
    ("Skip layer refinement: stride 32, 16, 8", "Segmentation", "How decoders upsample",
     "/Segmentation?view=how-decoders-upsample"),
])
def test_issue_17s_last_views_are_indexed(concept, page, section, link):
    entry = next(c for c in concepts.CONCEPTS if c.concept == concept)
    assert (entry.page, entry.section) == (page, section)
    assert concepts.link(entry.page, entry.section) == link


def test_one_entry_per_concept_and_every_lecture_is_a_deck():
    names = [c.concept.lower() for c in concepts.CONCEPTS]
    assert len(names) == len(set(names))
    for concept in concepts.CONCEPTS:
        assert set(concept.lecture.split("; ")) <= set(concepts.LECTURES)
    assert {deck for c in concepts.CONCEPTS for deck in c.lecture.split("; ")} == set(concepts.LECTURES)


def test_search_finds_by_prefix_name_first():
    hits = concepts.search("roi pool")
    assert hits[0].concept.startswith("RoI pooling")
    assert concepts.search("triangle")[0].section == "Similarity measures"
    assert concepts.search("") == [] and concepts.search("zzzz") == []


def test_links_use_the_page_url_and_the_view_parameter():
    assert concepts.link("Architectures", "Why residuals") == "/Architectures?view=why-residuals"
    assert concepts.link("Face verification", "Metric space") == "/Face_verification?view=metric-space"


def test_cli_prints_the_index_as_json_with_the_four_keys():
    result = subprocess.run([sys.executable, "-m", "cvdemo", "concepts", "--json"], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert len(rows) == len(concepts.CONCEPTS)
    assert all(set(row) == {"concept", "lecture", "page", "section"} for row in rows)


@pytest.mark.page
def test_home_search_links_to_the_page_and_view():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    at.text_input(key="home_concept_query").input("triplet").run()
    assert not at.exception
    labels = [link.label for link in at.get("page_link")]
    assert any("Relative terms: triplet" in label and "Siamese training" in label for label in labels)


@pytest.mark.parametrize("page, key, view", [
    ("pages/3_Face_verification.py", "fv_mode", "Metric space"),
    ("pages/2_Segmentation.py", "seg_mode", "mIoU vs. ground truth"),
])
@pytest.mark.page
def test_a_deep_link_opens_its_view(page, key, view):
    at = AppTest.from_file(str(ROOT / page), default_timeout=120)
    at.query_params["view"] = view
    at.run()
    assert not at.exception
    assert at.radio(key=key).value == view
