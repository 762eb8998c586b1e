"""ShapeWorld v2: objects that differ in shape, named by nouns (the world of miniclip v2).

ShapeWorld (world.py) draws 24 flat shapes; here every object is a *kind* ("house", "fish", "key",
"star") drawn from parts (polygons, ellipses, thick lines) in a unit box, in any of ShapeWorld's 12
colours and 3 shades, big or small, at one of 9 positions, on one of 4 backgrounds, in one of 3
rendering styles (photo, sketch, pixel art), with up to two small distractor objects of other kinds.

What makes it teach shape: a kind has no colour of its own (a red fish and a blue fish are both
fish), and captions always name the kind but the colour only half the time, so the only way to tell
"a photo of a fish" from "a photo of a key" is the shape. The categories (fruit, tool, animal, ...)
appear in some captions ("a fish, a kind of animal"), as real alt-text sometimes names them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from .world import (BACKGROUNDS, COLOURS, POSITIONS, SHADES, STYLES, _polygons, _article, with_style,
                    paint_scene)

IMAGE_SIZE = 48


def _ellipse(cx, cy, rx, ry, a0=0.0, a1=360.0, n=28) -> list[tuple[float, float]]:
    """Points of an ellipse (or of its arc from a0 to a1 degrees, closed through the centre for a slice)."""
    full = a1 - a0 >= 360
    k = n if full else max(4, int(n * (a1 - a0) / 360))
    pts = [(cx + rx * math.cos(math.radians(a0 + (a1 - a0) * i / (k if full else k - 1))),
            cy + ry * math.sin(math.radians(a0 + (a1 - a0) * i / (k if full else k - 1)))) for i in range(k)]
    return pts


def _rect(x0, y0, x1, y1):
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


# A part: ("fill", points) a filled polygon; ("hole", points) a polygon cut out (drawn in the background colour);
# ("line", points, width) a thick polyline (width in unit coordinates).
def P(points):
    return ("fill", list(points))


def H(points):
    return ("hole", list(points))


def L(points, width=0.12):
    return ("line", list(points), width)


def _primitive(shape: str) -> list:
    """One of ShapeWorld's 24 flat shapes as parts."""
    if shape == "circle":
        return [P(_ellipse(0, 0, 0.85, 0.85))]
    if shape == "oval":
        return [P(_ellipse(0, 0, 1.0, 0.55))]
    if shape == "ring":
        return [P(_ellipse(0, 0, 0.9, 0.9)), H(_ellipse(0, 0, 0.5, 0.5))]
    if shape == "crescent":
        return [P(_ellipse(0, 0, 0.85, 0.85)), H(_ellipse(0.45, -0.15, 0.75, 0.75))]
    if shape == "semicircle":
        return [P(_ellipse(0, 0.4, 1.0, 1.0, 180, 360))]
    if shape == "cloud":
        return [P(_ellipse(dx, dy, r, r)) for dx, dy, r in [(-0.45, 0.15, 0.45), (0.45, 0.15, 0.45), (0, -0.15, 0.55),
                                                            (0, 0.25, 0.45)]]
    return [P(poly) for poly in _polygons(shape, 1.0)]


PRIMITIVES = ("arrow", "bar", "chevron", "circle", "cloud", "crescent", "cross", "diamond", "drop", "heart", "hexagon",
              "kite", "octagon", "oval", "parallelogram", "pentagon", "plus", "ring", "semicircle", "sparkle", "square",
              "star", "trapezoid", "triangle")

# kind -> (category, parts). y grows downwards; everything fits in [-1, 1]^2.
COMPOSITES: dict[str, tuple[str, list]] = {
    "house": ("building", [P(_rect(-0.7, -0.1, 0.7, 0.9)), P([(-0.95, -0.05), (0, -0.95), (0.95, -0.05)]),
                           H(_rect(-0.18, 0.4, 0.18, 0.9))]),
    "tent": ("building", [P([(-0.95, 0.8), (0, -0.9), (0.95, 0.8)]), H([(-0.25, 0.8), (0, 0.15), (0.25, 0.8)])]),
    "tower": ("building", [P(_rect(-0.35, -0.55, 0.35, 0.95)), P(_rect(-0.5, -0.95, 0.5, -0.5)),
                           H(_rect(-0.5, -0.95, -0.3, -0.75)), H(_rect(-0.1, -0.95, 0.1, -0.75)),
                           H(_rect(0.3, -0.95, 0.5, -0.75))]),
    "tree": ("plant", [P([(-0.75, 0.35), (0, -0.95), (0.75, 0.35)]), P(_rect(-0.15, 0.3, 0.15, 0.95))]),
    "flower": ("plant", [P(_ellipse(0.55 * math.cos(a), 0.55 * math.sin(a) - 0.15, 0.3, 0.3))
                         for a in np.linspace(0, 2 * math.pi, 6, endpoint=False)]
               + [P(_ellipse(0, -0.15, 0.32, 0.32)), L([(0, 0.3), (0, 0.95)], 0.1)]),
    "cactus": ("plant", [P(_rect(-0.2, -0.85, 0.2, 0.9)), P(_rect(-0.7, -0.2, -0.2, 0.05)),
                         P(_rect(-0.7, -0.6, -0.45, -0.1)), P(_rect(0.2, 0.05, 0.7, 0.3)), P(_rect(0.45, -0.4, 0.7, 0.15))]),
    "mushroom": ("plant", [P(_ellipse(0, 0.05, 0.9, 0.75, 180, 360)), P(_rect(-0.22, 0.0, 0.22, 0.85))]),
    "apple": ("fruit", [P(_ellipse(0, 0.15, 0.75, 0.7)), L([(0, -0.5), (0.1, -0.9)], 0.1),
                        P(_ellipse(0.35, -0.7, 0.25, 0.12))]),
    "pear": ("fruit", [P(_ellipse(0, 0.35, 0.6, 0.55)), P(_ellipse(0, -0.3, 0.35, 0.4)), L([(0, -0.65), (0.05, -0.95)], 0.1)]),
    "cherry": ("fruit", [P(_ellipse(-0.4, 0.55, 0.3, 0.3)), P(_ellipse(0.4, 0.55, 0.3, 0.3)),
                         L([(-0.4, 0.3), (0.05, -0.8)], 0.08), L([(0.4, 0.3), (0.05, -0.8)], 0.08)]),
    "banana": ("fruit", [P(_ellipse(0, -0.45, 0.95, 1.1, 15, 165) + _ellipse(0, -0.55, 0.75, 0.8, 20, 160)[::-1])]),
    "carrot": ("vegetable", [P([(-0.3, -0.45), (0.3, -0.45), (0.02, 0.95)]),
                             P([(-0.05, -0.45), (-0.35, -0.95), (0.05, -0.55), (0.35, -0.95), (0.08, -0.45)])]),
    "fish": ("animal", [P(_ellipse(-0.15, 0, 0.62, 0.4)), P([(0.35, 0), (0.95, -0.5), (0.95, 0.5)]),
                        H(_ellipse(-0.5, -0.08, 0.08, 0.08))]),
    "cat": ("animal", [P(_ellipse(0, 0.2, 0.7, 0.62)), P([(-0.7, 0), (-0.6, -0.85), (-0.15, -0.35)]),
                       P([(0.7, 0), (0.6, -0.85), (0.15, -0.35)])]),
    "bear": ("animal", [P(_ellipse(0, 0.15, 0.7, 0.65)), P(_ellipse(-0.55, -0.5, 0.28, 0.28)),
                        P(_ellipse(0.55, -0.5, 0.28, 0.28))]),
    "snail": ("animal", [P(_ellipse(0.1, -0.1, 0.55, 0.55)), H(_ellipse(0.1, -0.1, 0.25, 0.25)),
                         P(_rect(-0.9, 0.35, 0.8, 0.6)), L([(-0.7, 0.4), (-0.85, -0.2)], 0.07)]),
    "bird": ("animal", [P(_ellipse(0, 0.1, 0.6, 0.42)), P(_ellipse(-0.55, -0.3, 0.3, 0.3)),
                        P([(-0.8, -0.35), (-1.0, -0.25), (-0.8, -0.2)]), P([(0.4, 0), (0.95, -0.35), (0.85, 0.2)])]),
    "car": ("vehicle", [P(_rect(-0.95, -0.1, 0.95, 0.4)), P([(-0.5, -0.1), (-0.3, -0.55), (0.35, -0.55), (0.6, -0.1)]),
                        P(_ellipse(-0.55, 0.45, 0.25, 0.25)), P(_ellipse(0.55, 0.45, 0.25, 0.25))]),
    "boat": ("vehicle", [P([(-0.95, 0.35), (0.95, 0.35), (0.6, 0.75), (-0.6, 0.75)]), L([(0, 0.35), (0, -0.9)], 0.07),
                         P([(0.05, -0.9), (0.05, 0.2), (0.75, 0.2)])]),
    "rocket": ("vehicle", [P(_rect(-0.25, -0.4, 0.25, 0.65)), P([(-0.25, -0.4), (0, -0.95), (0.25, -0.4)]),
                           P([(-0.25, 0.2), (-0.6, 0.85), (-0.25, 0.65)]), P([(0.25, 0.2), (0.6, 0.85), (0.25, 0.65)])]),
    "key": ("tool", [P(_ellipse(-0.55, 0, 0.38, 0.38)), H(_ellipse(-0.55, 0, 0.17, 0.17)), P(_rect(-0.2, -0.09, 0.95, 0.09)),
                     P(_rect(0.55, 0.05, 0.7, 0.35)), P(_rect(0.8, 0.05, 0.95, 0.3))]),
    "hammer": ("tool", [P(_rect(-0.09, -0.3, 0.09, 0.95)), P(_rect(-0.6, -0.65, 0.6, -0.3))]),
    "ladder": ("tool", [P(_rect(-0.55, -0.95, -0.38, 0.95)), P(_rect(0.38, -0.95, 0.55, 0.95))]
               + [P(_rect(-0.4, y, 0.4, y + 0.13)) for y in (-0.7, -0.25, 0.2, 0.65)]),
    "spoon": ("tool", [P(_ellipse(0, -0.5, 0.32, 0.42)), P(_rect(-0.07, -0.15, 0.07, 0.95))]),
    "cup": ("thing", [P([(-0.6, -0.6), (0.45, -0.6), (0.35, 0.7), (-0.5, 0.7)]), P(_ellipse(0.55, -0.05, 0.32, 0.32)),
                      H(_ellipse(0.55, -0.05, 0.15, 0.15))]),
    "bottle": ("thing", [P(_rect(-0.38, -0.2, 0.38, 0.92)), P(_rect(-0.13, -0.85, 0.13, -0.15))]),
    "candle": ("thing", [P(_rect(-0.25, -0.3, 0.25, 0.92)), P([(0, -0.95), (0.18, -0.55), (0, -0.4), (-0.18, -0.55)])]),
    "bell": ("thing", [P(_ellipse(0, -0.2, 0.5, 0.6, 180, 360) + [(0.75, 0.55), (-0.75, 0.55)]),
                       P(_rect(-0.5, -0.25, 0.5, 0.55)), P(_ellipse(0, 0.72, 0.16, 0.16))]),
    "lamp": ("thing", [P([(-0.55, -0.2), (-0.3, -0.85), (0.3, -0.85), (0.55, -0.2)]), P(_rect(-0.07, -0.2, 0.07, 0.75)),
                       P(_rect(-0.5, 0.75, 0.5, 0.92))]),
    "umbrella": ("thing", [P(_ellipse(0, -0.05, 0.95, 0.75, 180, 360)), L([(0, -0.05), (0, 0.75)], 0.08),
                           L([(0, 0.75), (-0.1, 0.9), (-0.28, 0.75)], 0.08)]),
    "glasses": ("thing", [P(_ellipse(-0.5, 0.05, 0.4, 0.36)), H(_ellipse(-0.5, 0.05, 0.24, 0.2)),
                          P(_ellipse(0.5, 0.05, 0.4, 0.36)), H(_ellipse(0.5, 0.05, 0.24, 0.2)), L([(-0.12, 0), (0.12, 0)], 0.1)]),
    "table": ("furniture", [P(_rect(-0.95, -0.4, 0.95, -0.2)), P(_rect(-0.8, -0.2, -0.62, 0.8)),
                            P(_rect(0.62, -0.2, 0.8, 0.8))]),
    "chair": ("furniture", [P(_rect(-0.5, -0.95, -0.32, 0.9)), P(_rect(-0.5, 0.0, 0.5, 0.18)), P(_rect(0.32, 0.18, 0.5, 0.9))]),
    "bed": ("furniture", [P(_rect(-0.95, 0.0, 0.95, 0.4)), P(_rect(-0.95, -0.6, -0.75, 0.75)), P(_rect(0.75, -0.25, 0.95, 0.75)),
                          P(_rect(-0.7, -0.25, -0.3, 0.0))]),
    "lollipop": ("toy", [P(_ellipse(0, -0.45, 0.48, 0.48)), P(_rect(-0.07, 0.0, 0.07, 0.95))]),
    "balloon": ("toy", [P(_ellipse(0, -0.3, 0.48, 0.6)), L([(0, 0.3), (0.12, 0.6), (-0.05, 0.95)], 0.05)]),
    "snowman": ("toy", [P(_ellipse(0, 0.42, 0.48, 0.48)), P(_ellipse(0, -0.38, 0.34, 0.34)),
                        P(_rect(-0.25, -0.95, 0.25, -0.7))]),
    "dumbbell": ("toy", [P(_rect(-0.6, -0.08, 0.6, 0.08)), P(_rect(-0.95, -0.45, -0.6, 0.45)), P(_rect(0.6, -0.45, 0.95, 0.45))]),
    "crown": ("toy", [P([(-0.85, 0.5), (-0.85, -0.45), (-0.42, 0.05), (0, -0.65), (0.42, 0.05), (0.85, -0.45), (0.85, 0.5)])]),
    "flag": ("sign", [P(_rect(-0.75, -0.92, -0.63, 0.95)), P(_rect(-0.63, -0.92, 0.8, -0.2))]),
    "envelope": ("sign", [P(_rect(-0.9, -0.55, 0.9, 0.55)), ("hole_line", [(-0.9, -0.55), (0, 0.1), (0.9, -0.55)], 0.1)]),
    "hourglass": ("sign", [P([(-0.6, -0.85), (0.6, -0.85), (0, 0)]), P([(-0.6, 0.85), (0.6, 0.85), (0, 0)]),
                           P(_rect(-0.7, -0.95, 0.7, -0.82)), P(_rect(-0.7, 0.82, 0.7, 0.95))]),
    "bowtie": ("sign", [P([(-0.95, -0.5), (0, 0), (-0.95, 0.5)]), P([(0.95, -0.5), (0, 0), (0.95, 0.5)]),
                        P(_ellipse(0, 0, 0.18, 0.18))]),
}
CATEGORIES = {**{k: "shape" for k in PRIMITIVES}, **{k: c for k, (c, _) in COMPOSITES.items()}}
KINDS = tuple(sorted(CATEGORIES))  # every noun of the world


def parts(kind: str) -> list:
    return COMPOSITES[kind][1] if kind in COMPOSITES else _primitive(kind)


@dataclass(frozen=True)
class Thing:
    """One object in a scene."""
    kind: str
    colour: str
    shade: str = "plain"
    size: str = "big"
    position: str = "center"
    jitter: tuple[float, float] = (0.0, 0.0)
    rotation: float = 0.0  # degrees
    scale: float = 1.0

    @property
    def rgb(self) -> tuple[int, int, int]:
        rgb = np.array(COLOURS[self.colour], dtype=float)
        if self.shade == "light":
            rgb = rgb + 0.55 * (255 - rgb)
        elif self.shade == "dark":
            rgb = rgb * 0.45
        return tuple(int(v) for v in rgb)

    def phrase(self, rng: np.random.Generator, p_size: float = 0.3, p_colour: float = 0.5) -> str:
        """A noun phrase for this object: always its kind, its colour only sometimes."""
        words = []
        if rng.random() < p_size:
            words.append(self.size)
        coloured = rng.random() < p_colour
        if coloured and self.shade != "plain" and rng.random() < 0.7:
            words.append(self.shade)
        if coloured:
            words.append(self.colour)
        words.append(self.kind)
        return " ".join(words)


@dataclass(frozen=True)
class ObjectScene:
    main: Thing
    distractors: tuple[Thing, ...] = ()
    background: str = "black"
    style: str = "photo"
    noise_seed: int = 0
    noise: float = 6.0


def _draw(draw: ImageDraw.ImageDraw, thing: Thing, canvas: int, outline: int | None, bg) -> None:
    r = (0.32 if thing.size == "big" else 0.15) * canvas * thing.scale
    cx = (POSITIONS[thing.position][0] + thing.jitter[0]) * canvas
    cy = (POSITIONS[thing.position][1] + thing.jitter[1]) * canvas
    if thing.size == "big":  # big objects stay near the middle so they fit
        cx, cy = 0.5 * canvas + 0.35 * (cx - 0.5 * canvas), 0.5 * canvas + 0.35 * (cy - 0.5 * canvas)
    c, s = math.cos(math.radians(thing.rotation)), math.sin(math.radians(thing.rotation))

    def tr(pts):
        return [(cx + r * (x * c - y * s), cy + r * (x * s + y * c)) for x, y in pts]

    fill = thing.rgb
    for part in parts(thing.kind):
        kind, pts = part[0], tr(part[1])
        if kind in ("line", "hole_line"):
            width = max(1, int(part[2] * r))
            draw.line(pts, fill=fill if kind == "line" else bg, width=width if outline is None else max(1, outline),
                      joint="curve")
        elif outline is None:
            draw.polygon(pts, fill=fill if kind == "fill" else bg)
        else:
            draw.polygon(pts, outline=fill, width=outline)


def render_objects(scene: ObjectScene, size: int = IMAGE_SIZE) -> Image.Image:
    """Render an object scene to an RGB image of `size` x `size` pixels (deterministic)."""
    def draw_things(draw, canvas, outline, bg):
        for thing in (*scene.distractors, scene.main):
            _draw(draw, thing, canvas, outline, bg)
    return paint_scene(scene, size, draw_things, pixel=3)


@dataclass
class ObjectSampler:
    """Distribution over object scenes; a field restricts an attribute (None in `fixed` means uniform)."""
    kinds: tuple[str, ...] = KINDS
    colours: tuple[str, ...] = tuple(COLOURS)
    shades: tuple[str, ...] = SHADES
    shade_p: tuple[float, ...] | None = (0.6, 0.2, 0.2)
    sizes: tuple[str, ...] = ("small", "big")
    size_p: tuple[float, ...] | None = (0.3, 0.7)
    styles: tuple[str, ...] = STYLES
    backgrounds: tuple[str, ...] = tuple(BACKGROUNDS)
    max_distractors: int = 2
    p_distractor: float = 0.35
    noise: tuple[float, float] = (2.0, 10.0)
    rotation: float = 15.0  # objects are turned uniformly by up to this many degrees either way
    distractor_size: str = "small"

    def sample(self, rng: np.random.Generator, **fixed) -> ObjectScene:
        main = Thing(
            kind=fixed.get("kind") or str(rng.choice(self.kinds)),
            colour=fixed.get("colour") or str(rng.choice(self.colours)),
            shade=fixed.get("shade") or str(rng.choice(self.shades, p=self.shade_p)),
            size=fixed.get("size") or str(rng.choice(self.sizes, p=self.size_p)),
            position=str(rng.choice(list(POSITIONS))),
            jitter=tuple(float(v) for v in rng.uniform(-0.06, 0.06, size=2)),
            rotation=float(rng.uniform(-self.rotation, self.rotation)), scale=float(rng.uniform(0.85, 1.15)))
        used, distractors = {main.position}, []
        for _ in range(self.max_distractors):
            if rng.random() >= fixed.get("p_distractor", self.p_distractor):
                continue
            pos = str(rng.choice([p for p in POSITIONS if p not in used and p != "center"]))
            used.add(pos)
            kind = main.kind
            while kind == main.kind:
                kind = str(rng.choice(KINDS))
            distractors.append(Thing(kind=kind, colour=str(rng.choice(list(COLOURS))), size=self.distractor_size,
                                     position=pos,
                                     jitter=tuple(float(v) for v in rng.uniform(-0.04, 0.04, size=2)),
                                     rotation=float(rng.uniform(-15, 15)), scale=float(rng.uniform(0.8, 1.1))))
        return ObjectScene(main=main, distractors=tuple(distractors),
                           background=fixed.get("background") or str(rng.choice(self.backgrounds)),
                           style=fixed.get("style") or str(rng.choice(self.styles)),
                           noise_seed=int(rng.integers(0, 2**31 - 1)), noise=float(rng.uniform(*self.noise)))


def object_caption(scene: ObjectScene, rng: np.random.Generator) -> str:
    """A random caption: always the main object's kind, its colour half the time, sometimes a distractor,
    the position, the background, the category, and the style phrase most of the time."""
    subject = scene.main
    text = _article(subject.phrase(rng))
    if scene.distractors and rng.random() < 0.3:
        joiner = str(rng.choice(["and", "next to", "with"]))
        text += f" {joiner} " + _article(scene.distractors[0].phrase(rng, p_size=0.5))
    if rng.random() < 0.15:
        pos = subject.position
        text += " in the center" if pos == "center" else f" on the {pos}" if " " not in pos else f" at the {pos}"
    if rng.random() < 0.15:
        text += f" on a {scene.background} background"
    if rng.random() < 0.15:
        text += f", a kind of {CATEGORIES[subject.kind]}"
    return with_style(text, scene.style, rng)
