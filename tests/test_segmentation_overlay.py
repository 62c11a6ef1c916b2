"""Colours, overlays, outlines, background effects, instance drawing and the mask PNG format."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from cvdemo.results import InstanceMasks, SemanticMask
from cvdemo.segmentation.overlay import (VOC_CLASSES, LiveBackdrop, background_effect, boundaries, class_colours, colorize,
                                         foreground_probability, indexed_png, instance_id_map, legend, overlay_classes,
                                         overlay_instances, visible_mask, voc_palette)


@pytest.fixture()
def scene():
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, size=(60, 80, 3), dtype=np.uint8)
    classes = np.zeros((60, 80), dtype=np.uint8)
    classes[10:40, 20:50] = 15  # person
    classes[45:55, 5:30] = 12  # dog
    return image, classes


def test_voc_palette_known_entries():
    palette = voc_palette(256)
    assert tuple(palette[0]) == (0, 0, 0)
    assert tuple(palette[1]) == (128, 0, 0)
    assert tuple(palette[15]) == (192, 128, 128)  # person
    assert tuple(palette[255]) == (224, 224, 192)  # void
    assert len({tuple(c) for c in palette}) == 256


def test_person_has_the_same_colour_in_every_model():
    assert tuple(class_colours(("background", "person"))[1]) == tuple(class_colours(VOC_CLASSES)[15])
    odd = class_colours(("background", "sky", "road"))
    assert tuple(odd[0]) == (0, 0, 0) and tuple(odd[1]) != tuple(odd[2])


def test_colorize_matches_fancy_indexing(scene):
    _, classes = scene
    colours = class_colours(VOC_CLASSES)
    np.testing.assert_array_equal(colorize(classes, colours), colours[classes])
    np.testing.assert_array_equal(colorize(classes.astype(np.int64), colours), colours[classes])


def test_overlay_blends_shown_classes_and_leaves_the_rest(scene):
    image, classes = scene
    colours = class_colours(VOC_CLASSES)
    visible = visible_mask(VOC_CLASSES)
    visible[12] = False  # hide the dog
    before = image.copy()
    result = overlay_classes(image, classes, colours, opacity=0.25, visible=visible)
    np.testing.assert_array_equal(image, before)
    person = classes == 15
    expected = np.round(image[person] * 0.75 + colours[15] * 0.25)
    assert np.abs(result[person].astype(int) - expected.astype(int)).max() <= 1
    np.testing.assert_array_equal(result[~person], image[~person])


def test_outline_mode_paints_only_borders(scene):
    image, classes = scene
    colours = class_colours(VOC_CLASSES)
    result = overlay_classes(image, classes, colours, visible=visible_mask(VOC_CLASSES), outline_only=True, outline_width=3)
    changed = np.any(result != image, axis=2)
    assert changed.any()
    assert not changed[20:30, 30:40].any()  # inside the person: untouched
    assert changed[10, 30] or changed[9, 30]  # top edge of the person
    assert set(map(tuple, result[changed])) <= {tuple(colours[15]), tuple(colours[12])}
    assert boundaries(classes, 3)[changed].all()


def test_legend_shares_sum_to_one(scene):
    _, classes = scene
    mask = SemanticMask(classes, VOC_CLASSES)
    rows = legend(mask, class_colours(VOC_CLASSES))
    assert [r["class"] for r in rows] == ["background", "person", "dog"]
    assert sum(r["fraction"] for r in rows) == pytest.approx(1.0)
    assert rows[1]["fraction"] == pytest.approx(30 * 30 / (60 * 80))
    assert rows[1]["colour"] == "#c08080"


def test_background_effects_follow_the_person_probability(scene):
    image, classes = scene
    person = (classes == 15).astype(np.float32)
    replaced = background_effect(image, person, "replace", colour=(0, 255, 0), feather=0)
    np.testing.assert_array_equal(replaced[classes == 15], image[classes == 15])
    assert (replaced[classes != 15] == (0, 255, 0)).all()
    grey = background_effect(image, person, "grey", feather=0)
    outside = grey[classes != 15]
    assert (outside[:, 0] == outside[:, 1]).all()
    blurred = background_effect(image, person, "blur", strength=31, feather=0)
    np.testing.assert_array_equal(blurred[classes == 15], image[classes == 15])
    assert blurred[classes != 15].std() < image[classes != 15].std() * 0.6  # noise smoothed away
    backdrop = np.full((10, 10, 3), 200, dtype=np.uint8)
    assert (background_effect(image, person, "replace", replacement=backdrop, feather=0)[0, 0] == 200).all()
    with pytest.raises(ValueError, match="unknown background mode"):
        background_effect(image, person, "sparkle")


def test_a_live_backdrop_is_resized_once_per_frame_size(scene):
    image, classes = scene
    person = (classes == 15).astype(np.float32)
    picture = np.zeros((90, 120, 3), dtype=np.uint8)
    picture[:, 60:] = 255  # left half black, right half white: the stretch must keep the halves
    backdrop = LiveBackdrop(picture)
    frame_size = image.shape[:2]
    fitted = backdrop.fitted(frame_size)
    assert fitted.shape[:2] == frame_size
    assert backdrop.fitted(frame_size) is fitted  # the next frame reuses it
    live = background_effect(image, person, "replace", replacement=fitted, feather=0)
    once = background_effect(image, person, "replace", replacement=picture, feather=0)
    np.testing.assert_array_equal(live, once)
    width = frame_size[1]
    assert (live[0, : width // 2 - 1] == 0).all() and (live[0, width // 2 + 1:] == 255).all()
    assert backdrop.fitted((30, 40)).shape[:2] == (30, 40)  # the camera changed resolution


def test_foreground_probability_prefers_soft_probabilities():
    classes = np.array([[0, 1]])
    probabilities = np.array([[[0.8, 0.3]], [[0.2, 0.7]]], dtype=np.float32)
    assert foreground_probability(SemanticMask(classes, ("background", "person"), probabilities)).tolist() == [[pytest.approx(0.2), pytest.approx(0.7)]]
    assert foreground_probability(SemanticMask(classes, ("background", "person"))).tolist() == [[0.0, 1.0]]
    with pytest.raises(ValueError, match="no person"):
        foreground_probability(SemanticMask(classes, ("background", "cat")))


def test_indexed_png_keeps_indices_and_shows_colours():
    indices = np.array([[0, 15], [255, 3]], dtype=np.uint8)
    data = indexed_png(indices, class_colours(VOC_CLASSES))
    image = Image.open(io.BytesIO(data))
    assert image.mode == "P"
    np.testing.assert_array_equal(np.asarray(image), indices)
    assert tuple(np.asarray(image.convert("RGB"))[0, 1]) == (192, 128, 128)
    wide = Image.open(io.BytesIO(indexed_png(np.array([[0, 300]]))))
    assert np.asarray(wide).tolist() == [[0, 300]]


def test_instances_get_their_own_colours_and_ids():
    image = np.full((50, 60, 3), 100, dtype=np.uint8)
    masks = np.zeros((2, 50, 60), dtype=bool)
    masks[0, 5:20, 5:20] = True
    masks[1, 15:40, 15:45] = True
    instances = InstanceMasks(np.array([[5, 5, 20, 20], [15, 15, 45, 40]], np.float32), np.array([0.6, 0.9]),
                              np.array([1, 1]), ("__background__", "person"), (50, 60), masks=masks)
    drawn = overlay_instances(image, instances, opacity=1.0, show_boxes=False, show_labels=False)
    assert tuple(drawn[10, 10]) != tuple(drawn[30, 30])  # two people, two colours
    assert tuple(drawn[45, 55]) == (100, 100, 100)
    hidden = overlay_instances(image, instances, visible=[False, True], opacity=1.0, show_boxes=False, show_labels=False)
    assert tuple(hidden[8, 8]) == (100, 100, 100)
    ids = instance_id_map(instances)
    assert ids[10, 10] == 1 and ids[30, 30] == 2 and ids[17, 17] == 2  # overlap → higher score
    assert ids[45, 55] == 0
    assert instance_id_map(instances, visible=[True, False])[30, 30] == 0


def test_outlines_stay_visible_when_a_photo_is_shrunk_to_the_page():
    from cvdemo.segmentation.overlay import boundaries, outline_width_for

    classes = np.zeros((1200, 1600), dtype=np.int64)
    classes[300:900, 400:1200] = 1
    band = boundaries(classes, outline_width_for(classes.shape))
    across = int(band[600, :800].sum())  # the band's width where it crosses the left edge of the square
    # shown 700 px wide, a 1600 px photo shrinks 2.3×: the band must still cover ≥ 2 screen pixels
    assert across * 700 / 1600 >= 2, across
    assert outline_width_for((480, 640)) >= 4
