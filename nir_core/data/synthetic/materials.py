"""Plausible surface colours of the procedural scenes, so simulated scans carry RGB like ScanNet's.

Each material is a short list of base sRGB colours; an instance draws one base and a small jitter, so two
chairs of a room differ slightly and a room's walls share one paint. Faces then get a little more noise.
"""
from __future__ import annotations

import numpy as np

MATERIALS: dict[str, tuple[tuple[int, int, int], ...]] = {
    "paint": ((236, 233, 226), (222, 216, 200), (204, 212, 216), (230, 221, 200), (210, 221, 206),
              (240, 240, 238), (215, 200, 190)),
    "floor_wood": ((168, 124, 82), (193, 153, 108), (128, 90, 58), (150, 118, 90)),
    "floor_tile": ((200, 198, 192), (176, 170, 160), (214, 208, 196), (140, 140, 138)),
    "carpet": ((120, 116, 110), (92, 100, 120), (150, 136, 118), (110, 90, 80)),
    "wood": ((156, 110, 70), (181, 139, 96), (120, 82, 52), (196, 160, 118)),
    "dark_wood": ((92, 62, 40), (70, 50, 36), (110, 74, 48)),
    "laminate": ((236, 234, 228), (210, 206, 198), (60, 60, 62), (188, 170, 140)),
    "fabric": ((120, 124, 132), (84, 96, 120), (150, 132, 110), (96, 112, 92), (140, 70, 60),
               (60, 62, 68), (180, 172, 160)),
    "bedding": ((236, 236, 232), (214, 222, 236), (232, 220, 206), (200, 206, 200)),
    "leather": ((70, 48, 36), (40, 38, 38), (120, 80, 52)),
    "metal": ((150, 152, 156), (96, 98, 102), (190, 192, 194), (46, 46, 48)),
    "chrome": ((200, 202, 206),),
    "plastic_dark": ((40, 40, 44), (60, 60, 64)),
    "ceramic": ((242, 242, 240), (232, 234, 236)),
    "enamel": ((244, 244, 240), (226, 230, 232)),
    "glass": ((170, 190, 198), (150, 170, 180)),
    "stone": ((180, 176, 168), (70, 70, 72), (214, 206, 190), (120, 110, 100)),
    "white_paint": ((240, 238, 232), (228, 226, 220)),
    "door_wood": ((170, 128, 86), (236, 232, 224), (120, 86, 60)),
    "curtain": ((200, 190, 170), (120, 140, 160), (170, 100, 90), (226, 222, 210), (90, 110, 90),
                (160, 150, 180)),
    "shower": ((230, 232, 236), (190, 214, 226), (226, 226, 210)),
    "art": ((200, 80, 60), (60, 110, 170), (220, 190, 80), (80, 150, 100), (150, 90, 160), (30, 30, 40),
            (230, 200, 180)),
    "paper": ((230, 226, 214), (200, 60, 50), (50, 90, 150), (60, 120, 80), (210, 180, 60), (40, 40, 40)),
    "cardboard": ((176, 136, 92), (190, 156, 110)),
    "lampshade": ((240, 232, 210), (226, 226, 226), (210, 190, 160)),
}
"""Base colours per material name (sRGB, 0..255)."""


def sample_material_color(material: str, rng: np.random.Generator, jitter: float = 8.0) -> np.ndarray:
    """(3,) float64 colour of one instance of ``material``: a random base plus Gaussian jitter (sRGB units)."""
    bases = MATERIALS[material]
    base = np.asarray(bases[int(rng.integers(len(bases)))], dtype=np.float64)
    return np.clip(base + rng.normal(0.0, jitter, 3), 0.0, 255.0)
