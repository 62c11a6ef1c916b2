"""The app's one colour language for maps (attributions, head-level scores, feature energies).

* A **signed** map (evidence for and against) uses a diverging scale centred on zero: blue below,
  white at 0, red above, symmetric so equal colours mean equal magnitudes on both sides.
* An **unsigned** map (a score, a magnitude) uses a sequential scale whose zero is black (drawn
  over a photo, zero is transparent: the photo shows through).
* A map that is all zero or nearly constant carries no pattern; it is drawn flat (one colour),
  never stretched to full contrast, and pages say so instead of showing a confident overlay.
* Every legend says in words what red (or bright) means for the current target: see :func:`legend`.

Plotly scales here avoid the colours ``#000001…#0000ff`` with a zero red and green part: Streamlit's
front end reads them as theme placeholders and repaints them (Inferno's ``#000004`` turned pink).
"""

from __future__ import annotations

import numpy as np

# Diverging (ColorBrewer RdBu, reversed so red is positive); RGB anchors and the Plotly scale agree.
DIVERGING_RGB = np.array([[33, 102, 172], [103, 169, 207], [247, 247, 247], [239, 138, 98], [178, 24, 43]], float)
# Sequential: Inferno's anchors with a true black zero.
SEQUENTIAL_RGB = np.array([[0, 0, 0], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]], float)

# A map whose spread is below this share of its largest magnitude is float rounding, not a pattern
# (float32 keeps ~7 digits; a few hundred accumulated operations lose two or three of them).
FLAT_RELATIVE_SPREAD = 1e-4


def _hex(rgb: np.ndarray) -> str:
    return "#{:02x}{:02x}{:02x}".format(*(int(round(v)) for v in rgb))


def plotly_scale(signed: bool) -> list[list]:
    """The Plotly colour scale for a signed (diverging) or unsigned (sequential) map."""
    anchors = DIVERGING_RGB if signed else SEQUENTIAL_RGB
    return [[i / (len(anchors) - 1), _hex(colour)] for i, colour in enumerate(anchors)]


def plotly_overlay_scale(signed: bool) -> list[list]:
    """The same scale for a map drawn over a photo: the colour's opacity grows with |value|, so 0
    is see-through (as :func:`overlay` draws it) and the photo stays visible where nothing is."""
    anchors = DIVERGING_RGB if signed else SEQUENTIAL_RGB
    scale = []
    for i, colour in enumerate(anchors):
        position = i / (len(anchors) - 1)
        strength = abs(2 * position - 1) if signed else position
        red, green, blue = (int(round(v)) for v in colour)
        scale.append([position, f"rgba({red},{green},{blue},{strength:.3f})"])
    return scale


def is_flat(values: np.ndarray) -> bool:
    """All zero, not finite anywhere, or constant up to float rounding."""
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return True
    largest = float(np.abs(finite).max())
    return largest == 0.0 or float(np.ptp(finite)) <= FLAT_RELATIVE_SPREAD * largest


def color_limit(values: np.ndarray, percentile: float = 99.5) -> float:
    """Top of the colour range: a high percentile of |value|, so one extreme pixel does not wash
    out the rest (hovering still shows exact values)."""
    magnitudes = np.abs(np.asarray(values, dtype=np.float64))
    magnitudes = magnitudes[np.isfinite(magnitudes)]
    if magnitudes.size == 0:
        return 1.0
    limit = float(np.percentile(magnitudes, percentile)) if percentile < 100 else float(magnitudes.max())
    return limit if limit > 0 else float(magnitudes.max()) or 1.0


def colorize(values: np.ndarray, signed: bool, limit: float | None = None) -> np.ndarray:
    """(H, W) values → (H, W, 3) uint8 colours on the app's scale; ``limit`` is |value| at full colour.

    A flat map gets the colour of its value relative to ``limit`` if one is given, else the
    scale's neutral colour (white for signed maps, black for unsigned ones): no invented contrast.
    """
    values = np.nan_to_num(np.asarray(values, dtype=np.float64))
    if limit is None:
        limit = 0.0 if is_flat(values) else color_limit(values)
    anchors = DIVERGING_RGB if signed else SEQUENTIAL_RGB
    if limit <= 0:
        position = np.full(values.shape, 0.5 if signed else 0.0)
    elif signed:
        position = np.clip((values / limit + 1.0) / 2.0, 0.0, 1.0)
    else:
        position = np.clip(values / limit, 0.0, 1.0)
    position = position * (len(anchors) - 1)
    low = np.clip(np.floor(position).astype(int), 0, len(anchors) - 2)
    fraction = (position - low)[..., None]
    rgb = anchors[low] * (1 - fraction) + anchors[low + 1] * fraction
    return np.clip(rgb + 0.5, 0, 255).astype(np.uint8)


def overlay(image: np.ndarray, values: np.ndarray, signed: bool, opacity: float = 0.6,
            limit: float | None = None) -> np.ndarray:
    """``values`` (the image's H×W) blended over ``image``.

    Signed maps: the colour's opacity grows with |value|, so zero (white) leaves the photo as it
    is. Unsigned maps: zero is transparent too (black would hide the photo), bright = high.
    """
    values = np.nan_to_num(np.asarray(values, dtype=np.float64))
    if limit is None:
        limit = 0.0 if is_flat(values) else color_limit(values)
    colours = colorize(values, signed, limit).astype(np.float32)
    strength = np.clip(np.abs(values) / limit, 0.0, 1.0) if limit > 0 else np.zeros(values.shape)
    alpha = (float(opacity) * strength)[..., None].astype(np.float32)
    blended = image.astype(np.float32) * (1 - alpha) + colours * alpha
    return np.clip(blended + 0.5, 0, 255).astype(np.uint8)


def legend(signed: bool, for_target: str, against_target: str | None = None, zero: str = "uncoloured") -> str:
    """What the colours mean, in words, for the current target.

    ``for_target`` completes "red/bright: …" (e.g. "raises the tabby score"); ``against_target``
    completes "blue: …" for signed maps (default: the opposite of ``for_target``); ``zero`` says
    how 0 looks ("uncoloured" over a photo, "black" where the scale is drawn opaque).
    """
    if signed:
        against = against_target or f"the opposite ({for_target.replace('raises', 'lowers')})"
        return f"Red: {for_target}; blue: {against}; {zero}: no effect. Symmetric scale around 0."
    return f"Bright: {for_target}; {zero}: 0."


# Face verification's maps, worded once so every view says the same (the score is −distance).
FACE_MATCH_FOR = "supports the match (covering this region pushes the two faces apart)"
FACE_MATCH_AGAINST = "works against the match (the faces look more alike without it)"
FACE_MATCH_LEGEND = legend(True, FACE_MATCH_FOR, FACE_MATCH_AGAINST)
