"""Demo data that ships with the code: photo-textured objects composed of parts.

`make run` needs data on a machine that has none, and training benefits from more object
categories than our real sources have (cars and clothed people). Each image holds one
object of one of 28 categories (tables, teapots, birds, rockets, ...), each a layout of parts
whose number and proportions vary per instance (3 or 4 legs, 1 to 4 windows, 5 to 8 petals),
placed with random scale, rotation, mirroring and position, sometimes partly covered by an
occluder, on a photo background with photo-textured distractor shapes.

Every surface (parts, background, occluders, distractors) is cut from the same pool of
photos bundled with scikit-image, re-tinted and shaded at random, and neighbouring parts
often share one texture: colour alone separates neither the object from the background nor
one part from another; shape, shading and edges must be used. Generation is deterministic
for a seed: image i depends only on (seed, i).

Categories are split into seen (training) and unseen (open-world evaluation) sets, in the
spirit of PartImageNet's out-of-distribution splits.
"""

from __future__ import annotations

import functools
import logging
import math
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
from skimage import color, draw, transform
from tqdm import tqdm

from openparts.data.dataset import DatasetWriter, Part

log = logging.getLogger(__name__)

Polygon = np.ndarray  # (N, 2) points (x, y) in object coordinates, roughly within [-1, 1]
PartShape = tuple[str, Polygon]
Template = Callable[[np.random.Generator], list[PartShape]]

MIN_VISIBLE_PART_AREA = 12
UNIFORM_MATERIAL_PROBABILITY = 0.35
"""Share of objects made of one material, whose parts only shape, shading and seams tell apart."""


# --- primitives (object coordinates; y grows downwards like image rows) ------------------------


def ellipse(cx: float, cy: float, rx: float, ry: float, angle: float = 0.0, points: int = 48) -> Polygon:
    t = np.linspace(0, 2 * np.pi, points, endpoint=False)
    xy = np.stack([rx * np.cos(t), ry * np.sin(t)], axis=1)
    return _rotate(xy, angle) + np.array([cx, cy])


def rect(cx: float, cy: float, w: float, h: float, angle: float = 0.0) -> Polygon:
    xy = np.array([[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]])
    return _rotate(xy, angle) + np.array([cx, cy])


def poly(*points: tuple[float, float]) -> Polygon:
    return np.array(points, dtype=float)


def _rotate(xy: np.ndarray, angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return xy @ np.array([[c, s], [-s, c]])


def _j(rng: np.random.Generator, value: float, spread: float = 0.15) -> float:
    """Jitter a proportion so that no two instances of a category are alike."""
    return value * (1 + rng.uniform(-spread, spread))


# --- the categories ---------------------------------------------------------------------------


def table(rng):
    legs = int(rng.integers(3, 5))
    top_w, top_y = _j(rng, 1.7), _j(rng, -0.3)
    parts = [("top", rect(0, top_y, top_w, _j(rng, 0.18)))]
    for x in np.linspace(-top_w / 2 + 0.12, top_w / 2 - 0.12, legs):
        parts.insert(0, ("leg", rect(x, top_y + 0.55, _j(rng, 0.12), 1.0)))
    return parts


def chair(rng):
    return [
        ("back leg", rect(0.45, 0.55, 0.1, 0.8)),
        ("back", rect(-0.45, -0.45, _j(rng, 0.14), _j(rng, 1.0))),
        ("seat", rect(0, 0.1, _j(rng, 1.05), 0.16)),
        ("front leg", rect(-0.45, 0.55, 0.1, 0.8)),
    ] + ([("armrest", rect(-0.1, -0.2, 0.8, 0.08))] if rng.random() < 0.5 else [])


def lamp(rng):
    return [
        ("base", ellipse(0, 0.85, _j(rng, 0.45), 0.1)),
        ("pole", rect(0, 0.25, 0.08, _j(rng, 1.1))),
        ("shade", poly((-0.25, -0.75), (0.25, -0.75), (_j(rng, 0.55), -0.25), (-_j(rng, 0.55), -0.25))),
    ]


def mug(rng):
    return [
        ("handle", ellipse(0.55, 0.0, _j(rng, 0.3), _j(rng, 0.35))),
        ("body", rect(0, 0.05, _j(rng, 0.9), _j(rng, 1.2))),
        ("rim", ellipse(0, -0.55, 0.45, 0.08)),
    ]


def bottle(rng):
    parts = [
        ("body", rect(0, 0.3, _j(rng, 0.7), 1.2)),
        ("neck", poly((-0.35, -0.3), (0.35, -0.3), (0.13, -0.7), (-0.13, -0.7))),
        ("cap", rect(0, -0.8, 0.3, _j(rng, 0.2))),
    ]
    if rng.random() < 0.7:
        parts.append(("label", rect(0, 0.35, 0.72, _j(rng, 0.45))))
    return parts


def car(rng):
    windows = int(rng.integers(1, 3))
    parts = [("body", rect(0, 0.1, _j(rng, 1.9), _j(rng, 0.45))), ("cabin", rect(-0.05, -0.3, _j(rng, 1.1), 0.4))]
    for x in np.linspace(-0.3, 0.2, windows):
        parts.append(("window", rect(x, -0.3, 0.8 / windows - 0.08, 0.26)))
    parts += [("wheel", ellipse(-0.6, 0.35, 0.22, 0.22)), ("wheel", ellipse(0.6, 0.35, 0.22, 0.22))]
    parts.append(("light", ellipse(0.9, 0.0, 0.06, 0.05)))
    return parts


def truck(rng):
    axles = int(rng.integers(2, 4))
    parts = [("cargo", rect(-0.3, -0.1, _j(rng, 1.3), _j(rng, 0.8))), ("cab", rect(0.65, 0.05, 0.55, 0.6))]
    parts.append(("window", rect(0.7, -0.08, 0.3, 0.2)))
    for x in np.linspace(-0.75, 0.65, axles):
        parts.append(("wheel", ellipse(x, 0.4, 0.18, 0.18)))
    return parts


def bicycle(rng):
    r = _j(rng, 0.42)
    return [
        ("wheel", ellipse(-0.55, 0.35, r, r)),
        ("wheel", ellipse(0.55, 0.35, r, r)),
        ("frame", poly((-0.55, 0.35), (-0.1, -0.15), (0.45, -0.15), (0.55, 0.35), (0.45, 0.3), (0.0, -0.05), (-0.45, 0.38))),
        ("seat", rect(-0.15, -0.3, 0.3, 0.07)),
        ("handlebar", rect(0.45, -0.35, 0.08, 0.35)),
    ]


def snowman(rng):
    arms = int(rng.integers(0, 3))
    parts = [
        ("base", ellipse(0, 0.55, _j(rng, 0.5), _j(rng, 0.42))),
        ("middle", ellipse(0, -0.05, _j(rng, 0.38), 0.32)),
        ("head", ellipse(0, -0.5, 0.26, 0.24)),
        ("hat", rect(0, -0.8, _j(rng, 0.32), 0.22)),
    ]
    for side in (-1, 1)[:arms]:
        parts.append(("arm", rect(side * 0.55, -0.1, 0.45, 0.06, side * 0.4)))
    return parts


def tree(rng):
    blobs = int(rng.integers(1, 4))
    parts = [("trunk", rect(0, 0.5, _j(rng, 0.22), 0.9))]
    for index in range(blobs):
        parts.append(("crown", ellipse(_j(rng, 0.4) * (index - (blobs - 1) / 2), -0.35 - 0.15 * (index % 2), _j(rng, 0.5), _j(rng, 0.45))))
    return parts


def house(rng):
    windows = int(rng.integers(1, 5))
    parts = [
        ("chimney", rect(0.45, -0.6, 0.15, 0.4)),
        ("wall", rect(0, 0.3, _j(rng, 1.4), _j(rng, 0.9))),
        ("roof", poly((-0.85, -0.15), (0.85, -0.15), (0, -0.85))),
        ("door", rect(_j(rng, -0.1, 1.0), 0.5, 0.28, 0.5)),
    ]
    for index in range(windows):
        parts.append(("window", rect(-0.45 + 0.6 * (index % 2) + 0.3 * (index >= 2), 0.1 + 0.0 * index, 0.22, 0.22)))
    return parts


def robot(rng):
    return [
        ("leg", rect(-0.2, 0.65, 0.18, 0.6)),
        ("leg", rect(0.2, 0.65, 0.18, 0.6)),
        ("arm", rect(-0.55, 0.0, 0.15, _j(rng, 0.7), 0.2)),
        ("arm", rect(0.55, 0.0, 0.15, _j(rng, 0.7), -0.2)),
        ("torso", rect(0, 0.0, _j(rng, 0.8), _j(rng, 0.75))),
        ("head", rect(0, -0.6, _j(rng, 0.5), 0.38)),
        ("antenna", rect(0, -0.88, 0.05, 0.2)),
    ]


def fish(rng):
    fins = int(rng.integers(1, 3))
    parts = [("tail", poly((0.55, 0), (1.0, -0.4), (1.0, 0.4)))]
    parts += [("fin", poly((-0.1, -0.28), (0.25, -0.28), (0.1, -0.6)))] if fins else []
    parts.append(("body", ellipse(0, 0, _j(rng, 0.65), _j(rng, 0.35))))
    if fins > 1:
        parts.append(("fin", poly((-0.05, 0.1), (0.25, 0.1), (0.15, 0.35))))
    parts.append(("eye", ellipse(-0.4, -0.08, 0.07, 0.07)))
    return parts


def bird(rng):
    return [
        ("leg", rect(-0.05, 0.6, 0.05, 0.4)),
        ("leg", rect(0.1, 0.6, 0.05, 0.4)),
        ("tail", poly((0.45, 0.05), (0.95, -0.15), (0.95, 0.25))),
        ("body", ellipse(0.05, 0.15, _j(rng, 0.5), _j(rng, 0.33))),
        ("wing", ellipse(0.12, 0.05, _j(rng, 0.32), 0.16, 0.3)),
        ("head", ellipse(-0.45, -0.25, 0.2, 0.2)),
        ("beak", poly((-0.6, -0.3), (-0.9, -0.22), (-0.6, -0.17))),
    ]


def dog(rng):
    parts = [("tail", rect(0.8, -0.25, 0.08, _j(rng, 0.4), -0.6))]
    for x in (-0.45, -0.25, 0.35, 0.55)[: int(rng.integers(3, 5))]:
        parts.append(("leg", rect(x, 0.45, 0.12, _j(rng, 0.6))))
    parts += [
        ("body", ellipse(0.05, 0.0, _j(rng, 0.65), _j(rng, 0.3))),
        ("head", ellipse(-0.7, -0.35, 0.24, 0.22)),
        ("ear", ellipse(-0.6, -0.55, 0.08, 0.14, 0.4)),
        ("snout", ellipse(-0.92, -0.28, 0.12, 0.08)),
    ]
    return parts


def rocket(rng):
    fins = int(rng.integers(2, 4))
    parts = [("body", rect(0, 0.1, _j(rng, 0.45), _j(rng, 1.3))), ("nose", poly((-0.225, -0.55), (0.225, -0.55), (0, -1.0)))]
    for index in range(fins):
        side = (-1, 1, 0)[index]
        parts.append(("fin", poly((side * 0.2, 0.45), (side * 0.5 + (0.12 if side == 0 else 0), 0.85), (side * 0.2, 0.78))))
    parts += [("window", ellipse(0, -0.2, 0.12, 0.12)), ("flame", poly((-0.15, 0.76), (0.15, 0.76), (0, 1.0)))]
    return parts


def airplane(rng):
    return [
        ("wing", poly((-0.1, 0.0), (0.25, 0.0), (0.05, 0.8), (-0.15, 0.8))),
        ("fuselage", ellipse(0, 0, _j(rng, 0.95), _j(rng, 0.14))),
        ("wing", poly((-0.1, 0.0), (0.25, 0.0), (0.05, -0.8), (-0.15, -0.8))),
        ("tail fin", poly((0.65, -0.05), (0.95, -0.05), (0.95, -0.45))),
        ("engine", ellipse(-0.02, 0.4, 0.12, 0.06)),
    ]


def boat(rng):
    parts = [
        ("hull", poly((-0.9, 0.3), (0.9, 0.3), (_j(rng, 0.6), 0.7), (-_j(rng, 0.6), 0.7))),
        ("cabin", rect(-0.2, 0.12, _j(rng, 0.6), 0.36)),
        ("mast", rect(0.25, -0.3, 0.05, 1.1)),
    ]
    if rng.random() < 0.7:
        parts.append(("sail", poly((0.3, -0.8), (0.3, 0.15), (0.85, 0.15))))
    return parts


def mushroom(rng):
    spots = int(rng.integers(0, 4))
    parts = [("stem", rect(0, 0.35, _j(rng, 0.35), 0.8)), ("cap", ellipse(0, -0.15, _j(rng, 0.85), _j(rng, 0.45)))]
    for index in range(spots):
        parts.append(("spot", ellipse(-0.4 + 0.4 * index, -0.3 + 0.1 * (index % 2), 0.1, 0.08)))
    return parts


def flower(rng):
    petals = int(rng.integers(5, 9))
    parts = [("stem", rect(0, 0.55, 0.07, 0.9)), ("leaf", ellipse(0.2, 0.55, 0.2, 0.08, -0.5))]
    for index in range(petals):
        angle = 2 * np.pi * index / petals
        parts.append(("petal", ellipse(0.32 * math.cos(angle), -0.3 + 0.32 * math.sin(angle), 0.2, 0.1, angle)))
    parts.append(("center", ellipse(0, -0.3, 0.15, 0.15)))
    return parts


def guitar(rng):
    return [
        ("neck", rect(0, -0.4, 0.12, _j(rng, 1.0))),
        ("body", ellipse(0, 0.45, _j(rng, 0.45), 0.45)),
        ("head", rect(0, -0.92, 0.2, 0.16)),
        ("soundhole", ellipse(0, 0.35, 0.12, 0.12)),
        ("bridge", rect(0, 0.68, 0.3, 0.05)),
    ]


def teapot(rng):
    return [
        ("spout", poly((-0.4, 0.2), (-0.4, -0.05), (-0.95, -0.4), (-0.85, -0.45))),
        ("handle", ellipse(0.6, 0.1, 0.25, 0.3)),
        ("body", ellipse(0, 0.2, _j(rng, 0.6), _j(rng, 0.45))),
        ("lid", ellipse(0, -0.27, 0.35, 0.1)),
        ("knob", ellipse(0, -0.42, 0.08, 0.07)),
    ]


def umbrella(rng):
    return [
        ("shaft", rect(0, 0.3, 0.06, 1.0)),
        ("canopy", poly(*[(0.9 * math.cos(a), -0.1 - 0.7 * math.sin(a)) for a in np.linspace(0, np.pi, 24)])),
        ("handle", ellipse(0.1, 0.82, 0.12, 0.08)),
        ("tip", rect(0, -0.85, 0.05, 0.12)),
    ]


def cactus(rng):
    arms = int(rng.integers(1, 4))
    parts = [("pot", poly((-0.4, 0.55), (0.4, 0.55), (0.3, 1.0), (-0.3, 1.0))), ("trunk", rect(0, -0.05, _j(rng, 0.3), 1.2))]
    for index in range(arms):
        side = -1 if index % 2 == 0 else 1
        parts.append(("arm", rect(side * 0.32, -0.1 - 0.2 * index, 0.35, 0.14)))
        parts.append(("arm tip", rect(side * 0.45, -0.32 - 0.2 * index, 0.14, 0.35)))
    return parts


def butterfly(rng):
    return [
        ("hind wing", ellipse(-0.35, 0.35, _j(rng, 0.35), 0.28, 0.4)),
        ("hind wing", ellipse(0.35, 0.35, _j(rng, 0.35), 0.28, -0.4)),
        ("fore wing", ellipse(-0.45, -0.2, _j(rng, 0.45), 0.35, -0.3)),
        ("fore wing", ellipse(0.45, -0.2, _j(rng, 0.45), 0.35, 0.3)),
        ("body", ellipse(0, 0.05, 0.08, 0.6)),
        ("antenna", rect(-0.12, -0.75, 0.03, 0.4, 0.3)),
        ("antenna", rect(0.12, -0.75, 0.03, 0.4, -0.3)),
    ]


def person(rng):
    return [
        ("leg", rect(-0.15, 0.6, 0.18, _j(rng, 0.75))),
        ("leg", rect(0.15, 0.6, 0.18, _j(rng, 0.75))),
        ("arm", rect(-0.42, -0.05, 0.14, _j(rng, 0.7), 0.25)),
        ("arm", rect(0.42, -0.05, 0.14, _j(rng, 0.7), -0.25)),
        ("torso", rect(0, -0.05, _j(rng, 0.55), 0.75)),
        ("head", ellipse(0, -0.65, 0.2, 0.23)),
    ]


def clock(rng):
    return [
        ("stand", poly((-0.3, 0.95), (0.3, 0.95), (0.15, 0.65), (-0.15, 0.65))),
        ("case", ellipse(0, 0, _j(rng, 0.75), _j(rng, 0.75))),
        ("face", ellipse(0, 0, 0.6, 0.6)),
        ("hour hand", rect(0.1, -0.1, 0.05, 0.3, 0.8)),
        ("minute hand", rect(-0.05, -0.2, 0.04, 0.45, -0.3)),
    ]


def turtle(rng):
    return [
        ("leg", ellipse(-0.5, 0.35, 0.14, 0.1)),
        ("leg", ellipse(0.45, 0.35, 0.14, 0.1)),
        ("tail", poly((0.7, 0.15), (0.95, 0.25), (0.7, 0.25))),
        ("shell", ellipse(0, 0.05, _j(rng, 0.72), _j(rng, 0.42))),
        ("head", ellipse(-0.85, 0.05, 0.17, 0.13)),
    ]


def windmill(rng):
    blades = int(rng.integers(3, 5))
    parts = [("tower", poly((-0.25, 1.0), (0.25, 1.0), (0.1, -0.3), (-0.1, -0.3)))]
    for index in range(blades):
        angle = 2 * np.pi * index / blades + rng.uniform(0, 1)
        parts.append(("blade", rect(0.35 * math.cos(angle), -0.35 + 0.35 * math.sin(angle), 0.7, 0.12, angle)))
    parts.append(("hub", ellipse(0, -0.35, 0.1, 0.1)))
    return parts


CATEGORIES: dict[str, Template] = {
    template.__name__: template
    for template in (
        table,
        chair,
        lamp,
        mug,
        bottle,
        car,
        truck,
        bicycle,
        snowman,
        tree,
        house,
        robot,
        fish,
        bird,
        dog,
        rocket,
        airplane,
        boat,
        mushroom,
        flower,
        guitar,
        teapot,
        umbrella,
        cactus,
        butterfly,
        person,
        clock,
        turtle,
        windmill,
    )
}
UNSEEN_CATEGORIES = ("airplane", "butterfly", "cactus", "guitar", "teapot", "turtle", "windmill", "bicycle")
SEEN_CATEGORIES = tuple(name for name in CATEGORIES if name not in UNSEEN_CATEGORIES)
SPLITS = {"seen": SEEN_CATEGORIES, "unseen": UNSEEN_CATEGORIES, "all": tuple(CATEGORIES)}


# --- textures ---------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def photo_pool() -> tuple[np.ndarray, ...]:
    """Photos shipped inside scikit-image (no download): the only source of every texture."""
    from skimage import data

    colour = [
        data.astronaut(),
        data.chelsea(),
        data.coffee(),
        data.rocket(),
        data.hubble_deep_field(),
        data.immunohistochemistry(),
        data.retina(),
        data.stereo_motorcycle()[0],
    ]
    gray = [data.brick(), data.grass(), data.gravel(), data.camera(), data.moon()]
    pool = [np.ascontiguousarray(photo[..., :3]) for photo in colour]
    pool += [np.repeat(photo[..., None], 3, axis=2) for photo in gray]
    return tuple(pool)


def texture(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A re-tinted, shaded crop of a random photo, float32 HxWx3 in [0, 1]."""
    photo = photo_pool()[int(rng.integers(len(photo_pool())))]
    scale = rng.uniform(0.4, 1.6)
    crop_h = min(photo.shape[0], max(8, int(height / scale)))
    crop_w = min(photo.shape[1], max(8, int(width / scale)))
    top = int(rng.integers(0, photo.shape[0] - crop_h + 1))
    left = int(rng.integers(0, photo.shape[1] - crop_w + 1))
    patch = photo[top : top + crop_h, left : left + crop_w]
    patch = np.rot90(patch, int(rng.integers(4)))
    patch = transform.resize(patch, (height, width), order=1, anti_aliasing=False, preserve_range=True) / 255.0
    hsv = color.rgb2hsv(patch)
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(0, 1)) % 1.0
    hsv[..., 1] = np.clip(hsv[..., 1] * rng.uniform(0.3, 1.5) + rng.uniform(0, 0.35), 0, 1)
    hsv[..., 2] = np.clip(hsv[..., 2] * rng.uniform(0.6, 1.3), 0, 1)
    return color.hsv2rgb(hsv).astype(np.float32)


def shading(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A soft linear light ramp, so that parts look lit from one side."""
    angle = rng.uniform(0, 2 * np.pi)
    ys, xs = np.mgrid[0:height, 0:width] / max(height, width)
    ramp = np.cos(angle) * xs + np.sin(angle) * ys
    ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    return (1 + rng.uniform(0.1, 0.35) * (ramp - 0.5))[..., None].astype(np.float32)


# --- rendering --------------------------------------------------------------------------------


def _raster(polygon_xy: np.ndarray, size: int) -> np.ndarray:
    rows, cols = draw.polygon(polygon_xy[:, 1], polygon_xy[:, 0], shape=(size, size))
    mask = np.zeros((size, size), dtype=bool)
    mask[rows, cols] = True
    return mask


def _paint(canvas: np.ndarray, mask: np.ndarray, rng: np.random.Generator, material: np.ndarray | None = None) -> np.ndarray:
    """Fill `mask` with a material (a fresh photo texture unless given) under its own light ramp.

    Returns the material so that the next part can reuse it: parts of one material differ
    only in shading and seams, as the legs and top of a wooden table do. Textures are made
    at the size of the mask's box, which keeps generation fast.
    """
    rows, cols = np.nonzero(mask)
    if rows.size == 0:
        return material if material is not None else np.zeros((1, 1, 3), np.float32)
    top, left = rows.min(), cols.min()
    height, width = rows.max() - top + 1, cols.max() - left + 1
    if material is None or material.shape[0] < height or material.shape[1] < width:
        material = texture(rng, max(height, canvas.shape[0] // 2), max(width, canvas.shape[1] // 2))
    lit = material[:height, :width] * shading(rng, height, width)
    canvas[rows, cols] = lit[rows - top, cols - left]
    return material


def render(category: str, rng: np.random.Generator, size: int) -> tuple[np.ndarray, list[Part], np.ndarray]:
    """Draw one object of `category`; returns the image, its visible parts and its object mask."""
    shapes = CATEGORIES[category](rng)
    canvas = np.zeros((size, size, 3), np.float32)
    _paint(canvas, np.ones((size, size), bool), rng)
    for _ in range(int(rng.integers(0, 4))):  # distractors: textured shapes that are not the object
        centre = rng.uniform(0, size, 2)
        radius = rng.uniform(0.05, 0.2) * size
        _paint(canvas, _raster(ellipse(*centre, radius, radius * rng.uniform(0.4, 1), rng.uniform(0, 3)), size), rng)

    scale = rng.uniform(0.3, 0.48) * size
    angle = rng.uniform(-0.45, 0.45)
    mirror = -1.0 if rng.random() < 0.5 else 1.0
    centre = size / 2 + rng.uniform(-0.18, 0.18, 2) * size
    one_material = rng.random() < UNIFORM_MATERIAL_PROBABILITY
    material = None
    drawn: list[tuple[str, np.ndarray]] = []
    for name, polygon in shapes:
        placed = _rotate(polygon * (mirror, 1.0), angle) * scale + centre
        mask = _raster(placed, size)
        reuse = material is not None and (one_material or rng.random() < 0.3)
        material = _paint(canvas, mask, rng, material if reuse else None)
        if rng.random() < 0.3:  # a dark seam, as painted or moulded parts often have
            from scipy import ndimage

            seam = mask & ~ndimage.binary_erosion(mask)
            canvas[seam] *= 0.55
        drawn.append((name, mask))

    object_mask = np.zeros((size, size), dtype=bool)
    visible = []
    covered = np.zeros((size, size), dtype=bool)
    for name, mask in reversed(drawn):  # later parts lie on top of earlier ones
        visible.append((name, mask & ~covered))
        covered |= mask
        object_mask |= mask
    visible.reverse()

    if rng.random() < 0.35:  # an occluder in front of the object
        side = rng.uniform(0.15, 0.35) * size
        spot = centre + rng.uniform(-0.5, 0.5, 2) * scale
        occluder = _raster(rect(*spot, side * rng.uniform(0.5, 2), side, rng.uniform(0, 3)), size)
        _paint(canvas, occluder, rng)
        object_mask &= ~occluder
        visible = [(name, mask & ~occluder) for name, mask in visible]

    image = np.clip(canvas + rng.normal(0, 0.015, canvas.shape), 0, 1)
    parts = [Part(mask=mask, part_class=f"{category}/{name}") for name, mask in visible if mask.sum() >= MIN_VISIBLE_PART_AREA]
    return (image * 255).round().astype(np.uint8), parts, object_mask


def generate(
    destination: str | os.PathLike[str],
    count: int,
    split: str = "seen",
    seed: int = 0,
    size: int = 256,
    overwrite: bool = False,
) -> Path:
    """Write `count` synthetic images of the `split`'s categories, cycling through them."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    if count < 1 or size < 32:
        raise ValueError(f"need count >= 1 and size >= 32, got count={count}, size={size}")
    categories = SPLITS[split]
    info = {"synth": {"split": split, "seed": seed, "size": size, "categories": list(categories)}}
    with DatasetWriter(destination, source=f"synth-{split}", overwrite=overwrite, extra_info=info) as writer:
        for index in tqdm(range(count), desc=f"synth {split}", unit="img"):
            rng = np.random.default_rng([seed, index])
            category = categories[index % len(categories)]
            image, parts, object_mask = render(category, rng, size)
            writer.add(
                image,
                file_name=f"{split}_{index:05d}.png",
                parts=parts,
                object_mask=object_mask,
                object_mask_source="gt",
                object_category=category,
                source_name=f"synth:{split}:{seed}:{index}",
            )
    return Path(destination)
