"""The procedural scene data set nano-llava learns from (run by hand, never by the tests).

Scene grammar (tests/data/nano-llava/README.md repeats it):
  canvas      width 128..320, height 128..240 pixels, one uniform light background colour
              (each RGB channel 205..255, drawn independently);
  shapes      1 or 2 from {circle, square, triangle}, each in one of {red, green, blue, yellow}
              (strong saturated colours, each channel jittered a little, see COLOURS);
  size        "radius" 11..17 % of the shorter side: a circle's radius, half a square's side, a
              triangle's circumradius;
  placement   one shape: anywhere, whole; two shapes: one wholly in the left half, one wholly in
              the right half, and they differ in shape or in colour;
  drawing     PIL ImageDraw, upright squares and apex-up triangles, plus (in training only) some
              rotated squares and triangles and some anti-aliased drawings (3x supersampled) so
              other drawing programs' scenes look familiar.
Questions (through the llava_v1 template) and answers:
  describe    "What is in the image?"        -> "a red circle." / "a red circle and a blue square."
                                                (left first)
  colour      "What color is the {shape}?"   -> "red."  (only about a shape that appears once)
  count       "How many shapes are there?"   -> "one." / "two."
Training also uses paraphrases of each question (PARAPHRASES); evaluation uses the canonical form.
"""
import math

import numpy as np
from PIL import Image, ImageDraw

SHAPES = ["circle", "square", "triangle"]
COLOUR_NAMES = ["red", "green", "blue", "yellow"]
# Centre RGB per colour; each channel is jittered by up to +-JITTER and clipped.
COLOURS = {"red": (225, 25, 25), "green": (25, 170, 40), "blue": (30, 50, 225), "yellow": (240, 215, 20)}
JITTER = 25
QUESTION_KINDS = ["describe", "colour", "count"]
CANONICAL = {
    "describe": "What is in the image?",
    "colour": "What color is the {shape}?",
    "count": "How many shapes are there?",
}
PARAPHRASES = {
    "describe": ["What do you see?", "Describe the image.", "What is shown in the picture?",
                 "What objects are in the image?", "What is in this picture?"],
    "colour": ["What colour is the {shape}?", "Which color is the {shape}?", "What is the color of the {shape}?",
               "The {shape} is what color?"],
    "count": ["How many shapes are in the image?", "How many objects are there?", "Count the shapes.",
              "How many shapes do you see?"],
}
NUMBER_WORDS = {1: "one", 2: "two"}


def draw_scene(rng, augment=False, with_mask=False):
    """-> (PIL RGB image, [(shape, colour), ...] left to right, [half of each: 0 left, 1 right]), and with
    with_mask a fourth item: a greyscale image of the same size whose pixels are 0 on the background and
    i + 1 on object i (the random draws are the same either way)."""
    w, h = int(rng.integers(128, 321)), int(rng.integers(128, 241))
    background = tuple(int(c) for c in rng.integers(205, 256, size=3))
    n = int(rng.integers(1, 3))
    objects = [(SHAPES[rng.integers(3)], COLOUR_NAMES[rng.integers(4)]) for _ in range(n)]
    while n == 2 and objects[0] == objects[1]:
        objects[1] = (SHAPES[rng.integers(3)], COLOUR_NAMES[rng.integers(4)])
    scale = 3 if augment and rng.random() < 0.25 else 1
    img = Image.new("RGB", (w * scale, h * scale), background)
    draw = ImageDraw.Draw(img)
    mask = Image.new("L", img.size, 0) if with_mask else None
    short = min(w, h)
    sides = []
    for i, (shape, colour) in enumerate(objects):
        r = short * rng.uniform(0.11, 0.17)
        x_lo, x_hi = (r, w - r) if n == 1 else ((r, w / 2 - r) if i == 0 else (w / 2 + r, w - r))
        cx, cy = rng.uniform(x_lo, x_hi), rng.uniform(r, h - r)
        sides.append(int(cx >= w / 2))
        angle = rng.uniform(0, 2 * math.pi) if augment and rng.random() < 0.25 else 0.0
        fill = tuple(int(np.clip(c + rng.integers(-JITTER, JITTER + 1), 0, 255)) for c in COLOURS[colour])
        _draw_shape(draw, shape, cx * scale, cy * scale, r * scale, angle, fill)
        if mask is not None:
            _draw_shape(ImageDraw.Draw(mask), shape, cx * scale, cy * scale, r * scale, angle, i + 1)
    if scale > 1:
        img = img.resize((w, h), Image.LANCZOS)
    if mask is not None:
        return img, objects, sides, mask
    return img, objects, sides


def draw_placed(w, h, background, placed):
    """A scene laid out by hand: placed = [(shape, colour name, centre x, centre y, radius)], each shape in its
    colour's centre RGB (the shipped example scenes)."""
    img = Image.new("RGB", (w, h), background)
    draw = ImageDraw.Draw(img)
    for shape, colour, cx, cy, r in placed:
        _draw_shape(draw, shape, cx, cy, r, 0.0, COLOURS[colour])
    return img


def _draw_shape(draw, shape, cx, cy, r, angle, fill):
    if shape == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
        return
    if shape == "square":
        corners = [(-r, -r), (r, -r), (r, r), (-r, r)]
    else:  # apex up, circumradius r
        corners = [(r * math.cos(a), -r * math.sin(a)) for a in (math.pi / 2, math.pi * 7 / 6, math.pi * 11 / 6)]
    c, s = math.cos(angle), math.sin(angle)
    draw.polygon([(cx + x * c - y * s, cy + x * s + y * c) for x, y in corners], fill=fill)


def describe(objects):
    return " and ".join(f"a {colour} {shape}" for shape, colour in objects) + "."


def questions(objects):
    """Every canonical (kind, question, answer) the grammar allows for a scene."""
    out = [("describe", CANONICAL["describe"], describe(objects)),
           ("count", CANONICAL["count"], NUMBER_WORDS[len(objects)] + ".")]
    shapes = [s for s, _ in objects]
    for shape, colour in objects:
        if shapes.count(shape) == 1:
            out.append(("colour", CANONICAL["colour"].format(shape=shape), colour + "."))
    return out


TRAINING_MIX = (0.45, 0.35, 0.20)  # describe, colour, count (and optionally presence)
PRESENCE = "Is there a {shape}?"  # training only: "yes." / "no."


def training_question(rng, objects, mix=TRAINING_MIX):
    """One (kind, question, answer) drawn for training: describe, colour, count with the shares of
    `mix` (a colour question falls back to count when no shape appears once); the canonical wording
    70 % of the time, a paraphrase otherwise. A fourth share asks whether a named shape is there
    (present half of the time): a question that cannot be answered without finding the named shape in
    the image, the step a colour question about one of two shapes needs first."""
    shapes = [s for s, _ in objects]
    askable = [(s, c) for s, c in objects if shapes.count(s) == 1]
    u = rng.random() * sum(mix)
    if len(mix) > 3 and u >= sum(mix[:3]):
        absent = [s for s in SHAPES if s not in shapes]
        present = rng.random() < 0.5 or not absent
        pool = shapes if present else absent
        return "presence", PRESENCE.format(shape=pool[rng.integers(len(pool))]), "yes." if present else "no."
    kind = "describe" if u < mix[0] else ("colour" if u < mix[0] + mix[1] and askable else "count")
    template = CANONICAL[kind] if rng.random() < 0.7 else PARAPHRASES[kind][rng.integers(len(PARAPHRASES[kind]))]
    if kind == "describe":
        return kind, template, describe(objects)
    if kind == "count":
        return kind, template, NUMBER_WORDS[len(objects)] + "."
    shape, colour = askable[rng.integers(len(askable))]
    return kind, template.format(shape=shape), colour + "."
