"""2-D scenes in the style of CLEVR: objects with a colour, shape, size, material and position, and their pixels.

Used by the CLEVR-style question generator (`vqa.data.generators.clevr_like`). Materials look different, as in CLEVR:
"rubber" objects are flat, "metal" ones carry stripes of a lighter shade.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# CLEVR's eight colours (its published RGB values).
COLORS = {
    "gray": (87, 87, 87),
    "red": (173, 35, 35),
    "blue": (42, 75, 215),
    "green": (29, 105, 20),
    "brown": (129, 74, 25),
    "purple": (129, 38, 192),
    "cyan": (41, 208, 208),
    "yellow": (255, 238, 51),
}
SHAPES = ("square", "circle", "triangle")
SIZES = ("small", "large")
MATERIALS = ("rubber", "metal")
ATTRIBUTES = {"size": SIZES, "color": tuple(COLORS), "material": MATERIALS, "shape": SHAPES}
BACKGROUND = (235, 235, 235)
RADIUS = {"small": 0.065, "large": 0.11}  # half-extent as a fraction of the canvas side


@dataclass(frozen=True)
class SceneObject:
    """One object; (x, y) is its centre in pixels, y growing downwards."""

    size: str
    color: str
    material: str
    shape: str
    x: int
    y: int

    def attribute(self, name: str) -> str:
        return getattr(self, name)


def radius(size: str, canvas: int) -> int:
    return max(2, round(RADIUS[size] * canvas))


def sample_scene(rng: np.random.Generator, canvas: int, min_objects: int, max_objects: int) -> list[SceneObject]:
    """Objects placed without overlap and with distinct x and y centres (at least `margin` pixels apart), so
    that "left of", "right of", "above" and "below" are never ambiguous."""
    margin = max(2, canvas // 24)
    count = int(rng.integers(min_objects, max_objects + 1))
    edge = radius("large", canvas) + 1
    while True:  # restart the scene when an object finds no place (rare)
        objects: list[SceneObject] = []
        for _ in range(count):
            size = SIZES[int(rng.integers(len(SIZES)))]
            r = radius(size, canvas)
            for _attempt in range(200):
                x, y = (int(v) for v in rng.integers(edge, canvas - edge, size=2))
                if all(
                    abs(x - o.x) >= margin
                    and abs(y - o.y) >= margin
                    and np.hypot(x - o.x, y - o.y) >= r + radius(o.size, canvas) + 2
                    for o in objects
                ):
                    break
            else:
                break
            objects.append(
                SceneObject(
                    size=size,
                    color=tuple(COLORS)[int(rng.integers(len(COLORS)))],
                    material=MATERIALS[int(rng.integers(len(MATERIALS)))],
                    shape=SHAPES[int(rng.integers(len(SHAPES)))],
                    x=x,
                    y=y,
                )
            )
        if len(objects) == count:
            return objects


def _shape_mask(shape: str, r: int) -> np.ndarray:
    """Filled shape in a (2r+1, 2r+1) window, bool."""
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    if shape == "square":
        return np.ones_like(yy, dtype=bool)
    if shape == "circle":
        return yy**2 + xx**2 <= r * r + r // 2
    if shape == "triangle":  # apex up, base at the bottom of the window
        return np.abs(xx) <= (yy + r) / 2
    raise ValueError(f"unknown shape {shape!r}")


def render(objects: list[SceneObject], canvas: int) -> np.ndarray:
    """The scene's pixels: uint8 [canvas, canvas, 3]."""
    image = np.empty((canvas, canvas, 3), dtype=np.uint8)
    image[:] = BACKGROUND
    for obj in objects:
        r = radius(obj.size, canvas)
        mask = _shape_mask(obj.shape, r)
        window = image[obj.y - r : obj.y + r + 1, obj.x - r : obj.x + r + 1]
        colour = np.array(COLORS[obj.color], dtype=np.float64)
        window[mask] = colour.astype(np.uint8)
        if obj.material == "metal":
            rows = (np.arange(-r, r + 1)[:, None] // 2) % 2 == 0  # stripes two pixels high
            shine = mask & np.broadcast_to(rows, mask.shape)
            window[shine] = (0.55 * colour + 0.45 * 255).astype(np.uint8)
    return image


# Width of an object's state description: one-hot size, colour, material and shape, then x and y in [0, 1].
OBJECT_FEATURES = sum(len(values) for values in ATTRIBUTES.values()) + 2


def object_features(objects: list[SceneObject], canvas: int) -> np.ndarray:
    """The scene's state description [n, OBJECT_FEATURES] float32: per object the one-hot of each attribute
    (in `ATTRIBUTES` order: size, colour, material, shape), then its centre x and y divided by the canvas side."""
    features = np.zeros((len(objects), OBJECT_FEATURES), dtype=np.float32)
    for row, obj in enumerate(objects):
        offset = 0
        for name, values in ATTRIBUTES.items():
            features[row, offset + values.index(obj.attribute(name))] = 1.0
            offset += len(values)
        features[row, offset:] = (obj.x / canvas, obj.y / canvas)
    return features
