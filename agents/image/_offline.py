"""A backend that needs no key and no network: it draws a landscape from the prompt's hash.

The picture is a placeholder and says so (``placeholder=True`` and a note), but it is a real
PNG that depends only on the prompt and the size: a sky gradient, a sun or a moon, three
ranges of mountains. Prompts that mention a sunset, the night or the dawn get fitting
colours; any other prompt gets colours picked from its hash.
"""

from __future__ import annotations

import colorsys
import hashlib
import itertools
import math
import random
from dataclasses import dataclass

import anyio

from .._image_types import PNG
from .._workspace import Workspace
from ._backend import (
    GeneratedImage,
    ImageBackend,
    ImageGenerationError,
    check_prompt,
    default_filename,
    parse_size,
)
from ._png import encode_png

#: The offline drawing is done in pure Python; beyond this side it gets slow and large.
MAX_OFFLINE_SIDE = 2048
PLACEHOLDER_NOTE = "offline placeholder image drawn locally; no model was called"

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class Palette:
    sky_top: RGB
    sky_horizon: RGB
    light: RGB  # the sun or the moon
    mountains: tuple[RGB, RGB, RGB]  # far to near
    night: bool = False


_SUNSET = Palette(
    sky_top=(44, 32, 96),
    sky_horizon=(255, 170, 80),
    light=(255, 226, 140),
    mountains=((132, 72, 110), (86, 46, 86), (42, 24, 52)),
)
_DAWN = Palette(
    sky_top=(96, 140, 210),
    sky_horizon=(255, 200, 190),
    light=(255, 240, 200),
    mountains=((150, 140, 180), (100, 96, 140), (60, 62, 96)),
)
_NIGHT = Palette(
    sky_top=(6, 10, 34),
    sky_horizon=(34, 50, 104),
    light=(236, 236, 214),
    mountains=((40, 52, 90), (26, 34, 64), (12, 16, 34)),
    night=True,
)
_KEYWORDS: tuple[tuple[tuple[str, ...], Palette], ...] = (
    (("sunset", "dusk", "evening", "golden hour"), _SUNSET),
    (("night", "moon", "star", "midnight"), _NIGHT),
    (("sunrise", "dawn", "morning"), _DAWN),
)


class OfflineImageBackend(ImageBackend):
    """Draws a deterministic placeholder PNG locally; no key, no network, no model."""

    name = "offline"

    async def generate(
        self,
        prompt: str,
        *,
        size: str = "1024x1024",
        workspace: Workspace,
        filename: str | None = None,
    ) -> GeneratedImage:
        prompt = check_prompt(prompt)
        width, height = parse_size(size)
        if width > MAX_OFFLINE_SIDE or height > MAX_OFFLINE_SIDE:
            raise ImageGenerationError(
                f"the offline backend draws at most {MAX_OFFLINE_SIDE}x{MAX_OFFLINE_SIDE} "
                f"pixels, not {width}x{height}"
            )
        png = await anyio.to_thread.run_sync(draw_placeholder, prompt, width, height)
        saved = await workspace.write_bytes(filename or default_filename(prompt, ".png"), png)
        return GeneratedImage(
            path=saved.path,
            backend=self.name,
            mime_type=PNG,
            width=width,
            height=height,
            placeholder=True,
            note=PLACEHOLDER_NOTE,
        )


def draw_placeholder(prompt: str, width: int, height: int) -> bytes:
    """The PNG for ``prompt``: the same prompt and size always give the same bytes."""
    seed = int.from_bytes(hashlib.sha256(prompt.strip().lower().encode()).digest()[:8], "big")
    rng = random.Random(seed)
    palette = _palette_for(prompt, rng)
    scene = _Scene(width, height, palette, rng)
    pixels = b"".join(scene.row(y) for y in range(height))
    return encode_png(
        width,
        height,
        pixels,
        text={"Software": "relay", "Description": "offline placeholder; no model was called"},
    )


def _palette_for(prompt: str, rng: random.Random) -> Palette:
    lowered = prompt.lower()
    for words, palette in _KEYWORDS:
        if any(word in lowered for word in words):
            return palette
    hue = rng.random()

    def colour(h: float, s: float, v: float) -> RGB:
        r, g, b = colorsys.hsv_to_rgb(h % 1.0, s, v)
        return round(r * 255), round(g * 255), round(b * 255)

    return Palette(
        sky_top=colour(hue, 0.55, 0.75),
        sky_horizon=colour(hue + 0.08, 0.25, 1.0),
        light=colour(hue + 0.5, 0.35, 1.0),
        mountains=(
            colour(hue + 0.3, 0.3, 0.65),
            colour(hue + 0.35, 0.4, 0.45),
            colour(hue + 0.4, 0.5, 0.25),
        ),
    )


class _Scene:
    """The picture, produced one row of RGB bytes at a time from horizontal spans."""

    def __init__(self, width: int, height: int, palette: Palette, rng: random.Random) -> None:
        self.width = width
        self.height = height
        self.palette = palette
        side = min(width, height)
        self.light_radius = max(1.0, side * (0.06 + 0.04 * rng.random()))
        self.light_x = width * (0.2 + 0.6 * rng.random())
        # A sunset sits low, just above the far ridge; otherwise the light is high.
        low = palette is _SUNSET
        self.light_y = height * (
            (0.42 + 0.06 * rng.random()) if low else (0.15 + 0.15 * rng.random())
        )
        self.stars = _stars(width, height, rng) if palette.night else {}
        self.ridges = [
            _ridge(width, height * base, height * amplitude, rng)
            for base, amplitude in ((0.5, 0.16), (0.62, 0.13), (0.76, 0.1))
        ]

    def row(self, y: int) -> bytes:
        palette = self.palette
        # The sky reaches its horizon colour just behind the far ridge.
        sky = _blend(palette.sky_top, palette.sky_horizon, y / (self.height * 0.55))
        line = bytearray(sky) * self.width
        for x in self.stars.get(y, ()):
            line[3 * x : 3 * x + 3] = bytes((255, 255, 240))
        dy = y + 0.5 - self.light_y
        if abs(dy) < self.light_radius:
            half = math.sqrt(self.light_radius**2 - dy**2)
            self._fill(line, self.light_x - half, self.light_x + half, palette.light)
        for ridge, colour in zip(self.ridges, palette.mountains, strict=True):
            # Lower down a range is a little darker, which reads as depth.
            shade = _blend(colour, (0, 0, 0), 0.25 * y / self.height)
            for start, end in _spans_below(ridge, y + 0.5):
                self._fill(line, start, end, shade)
        return bytes(line)

    def _fill(self, line: bytearray, start: float, end: float, colour: RGB) -> None:
        first = max(0, math.floor(start))
        last = min(self.width, math.ceil(end))
        if last > first:
            line[3 * first : 3 * last] = bytes(colour) * (last - first)


def _blend(a: RGB, b: RGB, t: float) -> RGB:
    t = min(1.0, max(0.0, t))
    return (
        round(a[0] + (b[0] - a[0]) * t),
        round(a[1] + (b[1] - a[1]) * t),
        round(a[2] + (b[2] - a[2]) * t),
    )


def _ridge(
    width: int, base: float, amplitude: float, rng: random.Random
) -> list[tuple[float, float]]:
    """Points (x, y) of a mountain ridge across the whole width, peaks up to ``amplitude``."""
    count = 5 + int(rng.random() * 5)
    points = []
    for index in range(count + 1):
        x = width * index / count
        y = base - amplitude * (0.2 + 0.8 * rng.random()) * (1 if index % 2 else 0.35)
        points.append((x, y))
    return points


def _spans_below(ridge: list[tuple[float, float]], y: float) -> list[tuple[float, float]]:
    """The x intervals where row ``y`` lies under the ridge (image y grows downwards)."""
    spans = []
    for (x0, y0), (x1, y1) in itertools.pairwise(ridge):
        if y0 <= y and y1 <= y:
            spans.append((x0, x1))
        elif y0 <= y or y1 <= y:
            crossing = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
            spans.append((x0, crossing) if y0 <= y else (crossing, x1))
    return spans


def _stars(width: int, height: int, rng: random.Random) -> dict[int, list[int]]:
    stars: dict[int, list[int]] = {}
    for _ in range(max(8, width * height // 6000)):
        x = int(rng.random() * width)
        y = int(rng.random() * height * 0.45)
        stars.setdefault(y, []).append(x)
    return stars
