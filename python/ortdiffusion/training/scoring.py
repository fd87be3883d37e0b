"""Scoring generated pictures against their prompt's attributes, with numpy only (so the semantic tests
of the shipped ONNX model need no torch): every pixel is classified to the nearest named colour of the
dataset, and the prompt's shape colour must cover some of the picture and its background colour(s) most
of the rest."""

from __future__ import annotations

import numpy as np

from ortdiffusion.training import shapes

PALETTE_NAMES = list(shapes.COLOURS)
PALETTE = np.array([shapes.COLOURS[n] for n in PALETTE_NAMES], dtype=np.float32)
MIN_SHAPE_FRACTION = 0.02  # the smallest dataset shape covers about 2.5% of the picture
MIN_BACKGROUND_FRACTION = 0.3


def nearest_colours(image: np.ndarray) -> np.ndarray:
    """Per pixel of a uint8 RGB picture [H, W, 3], the index into PALETTE_NAMES of the nearest named
    colour (Euclidean RGB), as [H, W]."""
    height, width, _ = image.shape
    pixels = image.reshape(-1, 3).astype(np.float32)
    return np.argmin(((pixels[:, None, :] - PALETTE[None, :, :]) ** 2).sum(-1), axis=1).reshape(height, width)


def colour_fractions(image: np.ndarray) -> dict[str, float]:
    """Fraction of pixels of a uint8 RGB picture nearest (Euclidean RGB) to each named colour."""
    nearest = nearest_colours(image)
    counts = np.bincount(nearest.ravel(), minlength=len(PALETTE_NAMES)) / nearest.size
    return dict(zip(PALETTE_NAMES, counts.tolist()))


def colour_check(image: np.ndarray, attributes: shapes.ShapeAttributes) -> dict[str, float | bool]:
    """Shape-colour and background-colour coverage of a generated picture and whether both pass."""
    fractions = colour_fractions(image)
    shape_fraction = fractions[attributes.colour]
    background_fraction = sum(fractions[c] for c in attributes.background)
    return {
        "shape_fraction": shape_fraction,
        "background_fraction": background_fraction,
        "ok": shape_fraction >= MIN_SHAPE_FRACTION and background_fraction >= MIN_BACKGROUND_FRACTION,
    }


def colour_blob(image: np.ndarray, colour: str) -> np.ndarray:
    """Boolean mask of the pixels of a uint8 RGB picture whose nearest named colour is ``colour``."""
    return nearest_colours(image) == PALETTE_NAMES.index(colour)


def classify_shape(image: np.ndarray, colour: str, min_pixels: int = 10) -> tuple[str, float]:
    """Which dataset shape the ``colour`` pixels of a square picture look like, and the overlap (IoU):
    each shape is redrawn, unrotated, at the blob's centroid with the blob's area, and the best IoU wins.
    ("none", 0.0) when fewer than ``min_pixels`` pixels have that colour."""
    size = image.shape[0]
    blob = colour_blob(image, colour)
    area = int(blob.sum())
    if area < min_pixels:
        return "none", 0.0
    ys, xs = np.nonzero(blob)
    centre = (float(xs.mean()) / size, float(ys.mean()) / size)
    best_shape, best_iou = "none", 0.0
    for shape in shapes.SHAPES:
        unit = shapes.ShapeAttributes(shape, colour, ("black",), None, centre, 0.3, 0.0)
        reference_area = max(1, int(shapes.shape_mask(unit, size).sum()))
        scaled = shapes.ShapeAttributes(shape, colour, ("black",), None, centre, 0.3 * np.sqrt(area / reference_area), 0.0)
        mask = shapes.shape_mask(scaled, size)
        iou = float((mask & blob).sum() / max(1, (mask | blob).sum()))
        if iou > best_iou:
            best_shape, best_iou = shape, iou
    return best_shape, best_iou


def fill_ratio(image: np.ndarray, colour: str, min_pixels: int = 10) -> float:
    """How solidly the ``colour`` pixels of a picture fill their convex hull: pixel count / hull area
    (OpenCV convexHull over all of them). Near 1 for a filled convex shape (circle, square, triangle),
    well below for an outline, closed or broken (the outline LoRA's measure); stars, crosses and rings
    score lower even when filled. NaN when fewer than ``min_pixels`` pixels have the colour."""
    import cv2

    blob = colour_blob(image, colour)
    count = int(blob.sum())
    if count < min_pixels:
        return float("nan")
    ys, xs = np.nonzero(blob)
    hull = cv2.convexHull(np.stack([xs, ys], axis=1).astype(np.int32))
    filled = np.zeros(blob.shape, np.uint8)
    cv2.fillConvexPoly(filled, hull, 1)
    return float(count / max(1, int(filled.sum())))


def edge_iou(edges: np.ndarray, reference: np.ndarray, tolerance: int = 1) -> float:
    """IoU of two boolean edge maps after dilating both by ``tolerance`` pixels (a square kernel), so
    edges one or two pixels apart still count as the same edge (the ControlNet measure)."""
    import cv2

    kernel = np.ones((2 * tolerance + 1, 2 * tolerance + 1), np.uint8)
    a = cv2.dilate(edges.astype(np.uint8), kernel) > 0
    b = cv2.dilate(reference.astype(np.uint8), kernel) > 0
    union = int((a | b).sum())
    return float((a & b).sum() / union) if union else 1.0
