"""ShapeWorld: a procedural image world for the offline miniature.

Every image is a `Scene`: one main object (shape, colour, shade, size, position), zero or more
small distractor objects, a background and a rendering style. Scenes are plain data, sampled from
a seeded numpy generator and rendered with PIL, so the same seed always gives the same pixels.

Two properties matter for prompt tuning (docs/miniature.md):
* captions name the *style* ("a sketch of", "pixel art of") and the *size* of objects, so a
  text prompt has a lever on images whose style or clutter the hand-crafted template ignores;
* captions sometimes describe a small distractor rather than the main object, so an unqualified
  prompt ("a photo of a red star") is genuinely ambiguous in cluttered images.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw

IMAGE_SIZE = 48
_SUPER = 2  # render at 2x then downsample, for anti-aliasing

SHAPES = (
    "arrow", "bar", "chevron", "circle", "cloud", "crescent", "cross", "diamond",
    "drop", "heart", "hexagon", "kite", "octagon", "oval", "parallelogram", "pentagon",
    "plus", "ring", "semicircle", "sparkle", "square", "star", "trapezoid", "triangle",
)
COLOURS = {
    "red": (215, 40, 40), "orange": (245, 135, 20), "yellow": (240, 215, 30),
    "lime": (150, 225, 40), "green": (30, 150, 55), "teal": (20, 140, 135),
    "cyan": (70, 215, 235), "blue": (35, 75, 215), "purple": (125, 55, 195),
    "magenta": (215, 45, 195), "pink": (250, 150, 185), "brown": (135, 85, 35),
}
SHADES = ("plain", "light", "dark")
SIZES = ("small", "big")
POSITIONS = {  # name -> centre in unit coordinates
    "top left": (0.27, 0.27), "top": (0.5, 0.27), "top right": (0.73, 0.27),
    "left": (0.27, 0.5), "center": (0.5, 0.5), "right": (0.73, 0.5),
    "bottom left": (0.27, 0.73), "bottom": (0.5, 0.73), "bottom right": (0.73, 0.73),
}
BACKGROUNDS = {"black": (18, 18, 22), "white": (238, 238, 232), "grey": (128, 128, 128), "noisy": None}
STYLES = ("photo", "sketch", "pixel")


@dataclass(frozen=True)
class WorldObject:
    shape: str
    colour: str
    shade: str = "plain"
    size: str = "big"
    position: str = "center"
    jitter: tuple[float, float] = (0.0, 0.0)  # offset in unit coordinates
    rotation: float = 0.0  # degrees
    scale: float = 1.0  # multiplies the nominal radius of the size

    @property
    def rgb(self) -> tuple[int, int, int]:
        rgb = np.array(COLOURS[self.colour], dtype=float)
        if self.shade == "light":
            rgb = rgb + 0.55 * (255 - rgb)
        elif self.shade == "dark":
            rgb = rgb * 0.45
        return tuple(int(v) for v in rgb)

    def phrase(self, rng: np.random.Generator, p_size=0.5, p_colour=0.85) -> str:
        """A noun phrase describing this object, with randomly omitted attributes."""
        words = []
        if rng.random() < p_size:
            words.append(self.size)
        if self.shade != "plain" and rng.random() < 0.85:
            words.append(self.shade)
        if rng.random() < p_colour or self.shade != "plain" and words and words[-1] == self.shade:
            words.append(self.colour)
        if words and rng.random() < 0.15:
            words.append(rng.choice(["object", "thing", "shape"]))
        else:
            words.append(self.shape)
        return " ".join(words)


@dataclass(frozen=True)
class Scene:
    main: WorldObject
    distractors: tuple[WorldObject, ...] = ()
    background: str = "black"
    style: str = "photo"
    noise_seed: int = 0
    noise: float = 6.0  # std of pixel noise (0-255 scale)


# ---------------------------------------------------------------------------------------------
# geometry

def _regular(n, r, phase=-math.pi / 2):
    return [(r * math.cos(phase + 2 * math.pi * k / n), r * math.sin(phase + 2 * math.pi * k / n)) for k in range(n)]


def _star(n, r_out, r_in):
    pts = []
    for k in range(2 * n):
        r = r_out if k % 2 == 0 else r_in
        a = -math.pi / 2 + math.pi * k / n
        pts.append((r * math.cos(a), r * math.sin(a)))
    return pts


def _polygons(shape: str, r: float) -> list[list[tuple[float, float]]]:
    """Polygons (centred at 0) whose union is the shape; rings/crescents are handled separately."""
    a = r
    if shape == "square":
        return [[(-0.8 * a, -0.8 * a), (0.8 * a, -0.8 * a), (0.8 * a, 0.8 * a), (-0.8 * a, 0.8 * a)]]
    if shape == "bar":
        return [[(-a, -0.35 * a), (a, -0.35 * a), (a, 0.35 * a), (-a, 0.35 * a)]]
    if shape == "triangle":
        return [_regular(3, 1.05 * a, -math.pi / 2)]
    if shape == "pentagon":
        return [_regular(5, a)]
    if shape == "hexagon":
        return [_regular(6, a, 0.0)]
    if shape == "octagon":
        return [_regular(8, a, math.pi / 8)]
    if shape == "diamond":
        return [[(0, -a), (0.65 * a, 0), (0, a), (-0.65 * a, 0)]]
    if shape == "kite":
        return [[(0, -a), (0.6 * a, -0.35 * a), (0, a), (-0.6 * a, -0.35 * a)]]
    if shape == "trapezoid":
        return [[(-0.5 * a, -0.6 * a), (0.5 * a, -0.6 * a), (a, 0.6 * a), (-a, 0.6 * a)]]
    if shape == "parallelogram":
        return [[(-0.5 * a, -0.55 * a), (a, -0.55 * a), (0.5 * a, 0.55 * a), (-a, 0.55 * a)]]
    if shape == "star":
        return [_star(5, a, 0.42 * a)]
    if shape == "sparkle":
        return [_star(4, a, 0.28 * a)]
    if shape == "plus":
        w = 0.3 * a
        return [[(-w, -a), (w, -a), (w, a), (-w, a)], [(-a, -w), (a, -w), (a, w), (-a, w)]]
    if shape == "cross":
        w = 0.22 * a
        return [
            [(-a + w, -a), (a, a - w), (a - w, a), (-a, -a + w)],
            [(a - w, -a), (a, -a + w), (-a + w, a), (-a, a - w)],
        ]
    if shape == "arrow":
        return [[(-a, -0.25 * a), (0.1 * a, -0.25 * a), (0.1 * a, -0.7 * a), (a, 0), (0.1 * a, 0.7 * a),
                 (0.1 * a, 0.25 * a), (-a, 0.25 * a)]]
    if shape == "chevron":
        return [[(-0.6 * a, -a), (-0.1 * a, -a), (0.7 * a, 0), (-0.1 * a, a), (-0.6 * a, a), (0.2 * a, 0)]]
    if shape == "drop":  # a point on top of a half circle
        arc = [(0.6 * a * math.cos(math.pi * k / 12), 0.35 * a + 0.6 * a * math.sin(math.pi * k / 12)) for k in range(13)]
        return [[(0.0, -a), *arc]]
    if shape == "heart":
        pts = []
        for k in range(40):
            t = 2 * math.pi * k / 40
            x = 16 * math.sin(t) ** 3
            y = 13 * math.cos(t) - 5 * math.cos(2 * t) - 2 * math.cos(3 * t) - math.cos(4 * t)
            pts.append((a * x / 17, -a * y / 17 + 0.1 * a))
        return [pts]
    raise KeyError(shape)


def _draw_object(draw: ImageDraw.ImageDraw, obj: WorldObject, canvas: int, fill, outline_width: int | None,
                 bg) -> None:
    """Draw `obj` filled (outline_width None) or as an outline of the given width."""
    base_r = (0.30 if obj.size == "big" else 0.14) * canvas * obj.scale
    cx = (POSITIONS[obj.position][0] + obj.jitter[0]) * canvas
    cy = (POSITIONS[obj.position][1] + obj.jitter[1]) * canvas
    if obj.size == "big":  # big objects stay near the middle so they fit on the canvas
        cx = 0.5 * canvas + 0.35 * (cx - 0.5 * canvas)
        cy = 0.5 * canvas + 0.35 * (cy - 0.5 * canvas)
    r = base_r
    w = outline_width

    def ellipse(rx, ry, dx=0.0, dy=0.0, colour=fill, width=w):
        box = [cx + dx - rx, cy + dy - ry, cx + dx + rx, cy + dy + ry]
        if width is None:
            draw.ellipse(box, fill=colour)
        else:
            draw.ellipse(box, outline=colour, width=width)

    s = obj.shape
    if s == "circle":
        ellipse(0.85 * r, 0.85 * r)
    elif s == "oval":
        ellipse(r, 0.55 * r)
    elif s == "ring":
        if w is None:
            ellipse(0.9 * r, 0.9 * r)
            ellipse(0.5 * r, 0.5 * r, colour=bg)
        else:
            ellipse(0.9 * r, 0.9 * r)
            ellipse(0.5 * r, 0.5 * r)
    elif s == "crescent":
        if w is None:
            ellipse(0.85 * r, 0.85 * r)
            ellipse(0.75 * r, 0.75 * r, dx=0.45 * r, dy=-0.15 * r, colour=bg)
        else:
            draw.arc([cx - 0.85 * r, cy - 0.85 * r, cx + 0.85 * r, cy + 0.85 * r], 60, 300, fill=fill, width=w)
            draw.arc([cx - 0.3 * r, cy - 0.9 * r, cx + 1.2 * r, cy + 0.6 * r], 120, 240, fill=fill, width=w)
    elif s == "semicircle":
        box = [cx - r, cy - 0.6 * r, cx + r, cy + 1.4 * r]
        if w is None:
            draw.pieslice(box, 180, 360, fill=fill)
        else:
            draw.arc(box, 180, 360, fill=fill, width=w)
            draw.line([(cx - r, cy + 0.4 * r), (cx + r, cy + 0.4 * r)], fill=fill, width=w)
    elif s == "cloud":
        for dx, dy, rr in [(-0.45, 0.15, 0.45), (0.45, 0.15, 0.45), (0.0, -0.15, 0.55), (0.0, 0.25, 0.45)]:
            ellipse(rr * r, rr * r, dx * r, dy * r)
    else:
        theta = math.radians(obj.rotation)
        c, sn = math.cos(theta), math.sin(theta)
        for poly in _polygons(s, r):
            pts = [(cx + x * c - y * sn, cy + x * sn + y * c) for x, y in poly]
            if w is None:
                draw.polygon(pts, fill=fill)
            else:
                draw.polygon(pts, outline=fill, width=w)


def paint_scene(scene, size: int, draw_things, pixel: int) -> Image.Image:
    """The steps every ShapeWorld picture shares: its background at `_SUPER` x resolution, the objects
    (`draw_things(draw, canvas, outline width or None, background colour)`), then down-sampling (pixel art:
    blocks of `pixel` pixels) and sensor noise. Deterministic in `scene.noise_seed`."""
    canvas = size * _SUPER
    rng = np.random.default_rng(scene.noise_seed)
    if scene.background == "noisy":
        base = rng.integers(40, 200, size=3)
        arr = np.clip(base + rng.normal(0, 35, size=(canvas // 8, canvas // 8, 3)), 0, 255).astype(np.uint8)
        img = Image.fromarray(arr).resize((canvas, canvas), Image.BILINEAR)
        bg = tuple(int(v) for v in base)
    else:
        bg = BACKGROUNDS[scene.background]
        img = Image.new("RGB", (canvas, canvas), bg)
    draw_things(ImageDraw.Draw(img), canvas, max(2, canvas // 40) if scene.style == "sketch" else None, bg)
    if scene.style == "pixel":
        img = img.resize((size // pixel, size // pixel), Image.BOX).resize((size, size), Image.NEAREST)
    else:
        img = img.resize((size, size), Image.LANCZOS)
    if scene.noise > 0:
        arr = np.asarray(img, dtype=np.float32) + rng.normal(0, scene.noise, size=(size, size, 3))
        img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    return img


def render(scene: Scene, size: int = IMAGE_SIZE) -> Image.Image:
    """Render a scene to an RGB PIL image of `size` x `size` pixels (deterministic)."""
    def draw_things(draw, canvas, width, bg):
        for obj in (*scene.distractors, scene.main):
            _draw_object(draw, obj, canvas, obj.rgb, width, bg)
    return paint_scene(scene, size, draw_things, pixel=4)


# ---------------------------------------------------------------------------------------------
# sampling scenes

@dataclass
class SceneSampler:
    """Distribution over scenes. Fields restrict or weight attributes; `None` means uniform."""
    shapes: tuple[str, ...] = SHAPES
    colours: tuple[str, ...] = tuple(COLOURS)
    shades: tuple[str, ...] = SHADES
    shade_p: tuple[float, ...] | None = (0.6, 0.2, 0.2)
    sizes: tuple[str, ...] = SIZES
    styles: tuple[str, ...] = STYLES
    backgrounds: tuple[str, ...] = tuple(BACKGROUNDS)
    max_distractors: int = 2
    p_distractor: float = 0.5  # probability of each of the max_distractors slots being filled
    distractor_size: str = "small"
    noise: tuple[float, float] = (2.0, 10.0)
    fixed: dict = field(default_factory=dict)  # attribute -> value for the main object (or distractor_size/_shade, p_distractor)

    def sample(self, rng: np.random.Generator, **main_attrs) -> Scene:
        attrs = dict(self.fixed)
        attrs.update(main_attrs)
        main = WorldObject(
            shape=attrs.get("shape") or str(rng.choice(self.shapes)),
            colour=attrs.get("colour") or str(rng.choice(self.colours)),
            shade=attrs.get("shade") or str(rng.choice(self.shades, p=self.shade_p)),
            size=attrs.get("size") or str(rng.choice(self.sizes)),
            position=str(rng.choice(list(POSITIONS))),
            jitter=tuple(float(v) for v in rng.uniform(-0.06, 0.06, size=2)),
            rotation=float(rng.uniform(-12, 12)),
            scale=float(rng.uniform(0.85, 1.15)),
        )
        distractors = []
        used = {main.position}
        for _ in range(self.max_distractors):
            if rng.random() >= attrs.get("p_distractor", self.p_distractor):
                continue
            free = [p for p in POSITIONS if p not in used and p != "center"]
            pos = str(rng.choice(free))
            used.add(pos)
            shape, colour = main.shape, main.colour
            while (shape, colour) == (main.shape, main.colour):
                shape, colour = str(rng.choice(SHAPES)), str(rng.choice(list(COLOURS)))
            distractors.append(WorldObject(
                shape=shape, colour=colour, shade=attrs.get("distractor_shade", "plain"),
                size=attrs.get("distractor_size", self.distractor_size), position=pos,
                jitter=tuple(float(v) for v in rng.uniform(-0.04, 0.04, size=2)),
                rotation=float(rng.uniform(-12, 12)), scale=float(rng.uniform(0.8, 1.1)),
            ))
        return Scene(
            main=main, distractors=tuple(distractors),
            background=attrs.get("background") or str(rng.choice(self.backgrounds)),
            style=attrs.get("style") or str(rng.choice(self.styles)),
            noise_seed=int(rng.integers(0, 2**31 - 1)),
            noise=float(rng.uniform(*self.noise)),
        )


# ---------------------------------------------------------------------------------------------
# captions

_STYLE_PHRASES = {
    "photo": ("a photo of", "a picture of", "an image of", "a photograph of"),
    "sketch": ("a sketch of", "a drawing of", "a line drawing of", "an outline of"),
    "pixel": ("pixel art of", "a pixelated image of", "a pixel picture of", "a blocky image of"),
}
_STYLE_SUFFIX = {"photo": "photo", "sketch": "sketch", "pixel": "pixel art"}


def _article(phrase: str) -> str:
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def caption(scene: Scene, rng: np.random.Generator) -> str:
    """A random caption of the scene, the way varied web alt-text would describe it."""
    subject, others = scene.main, list(scene.distractors)
    if others and rng.random() < 0.2:  # sometimes the caption is about a small object instead
        subject, others = others[0], []
    text = _article(subject.phrase(rng, p_size=0.5 if subject is scene.main else 0.6))
    if others and rng.random() < 0.5:
        joiner = str(rng.choice(["and", "next to", "with"]))
        text += f" {joiner} " + _article(others[0].phrase(rng, p_size=0.7))
    if rng.random() < 0.25:
        pos = subject.position
        text += " in the center" if pos == "center" else f" on the {pos}" if " " not in pos else f" at the {pos}"
    if rng.random() < 0.25:
        text += f" on a {scene.background} background"
    return with_style(text, scene.style, rng)


def with_style(text: str, style: str, rng) -> str:
    """A caption that names its rendering style 80% of the time: before the scene (60%) or after it (20%)."""
    r = rng.random()
    if r < 0.6:
        return f"{rng.choice(_STYLE_PHRASES[style])} {text}"
    if r < 0.8:
        return f"{text}, {_STYLE_SUFFIX[style]}"
    return text


def caption_vocabulary(n: int = 4000, seed: int = 0) -> list[str]:
    """The words of `n` random pretraining captions (every attribute, style phrase and joiner appears well
    within 4,000): the part of the tokenizer's vocabulary that pretraining on this world ever used."""
    rng = np.random.default_rng(seed)
    sampler = SceneSampler()
    words = {w.strip(",") for _ in range(n) for w in caption(sampler.sample(rng), rng).split()}
    return sorted(words)


def phrasing_ensemble(template: str) -> list[str] | None:
    """`template` with its opening phrase ("a photo of", "pixel art of", ...) replaced by every phrasing of the
    same style that the pretraining captions use: a hand-crafted view as a template ensemble, in words miniclip
    knows. None if the template does not open with a caption phrase."""
    for phrases in _STYLE_PHRASES.values():
        for phrase in sorted(phrases, key=len, reverse=True):
            if template.startswith(phrase + " "):
                rest = template[len(phrase):]
                return [p + rest for p in phrases]
    return None
