#!/usr/bin/env python3
"""Copies a nano-llava training checkpoint into the repository's model folder and draws the example scenes
shipped beside it. Run by hand, never by the tests:
    python scripts/train/ship_model.py --checkpoint /tmp/nano-run/checkpoint [--out tests/data/nano-llava]
Then make the parity references (scripts/reference/make_nano_refs.py) and measure (evaluate.py).
"""
import argparse
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nano_common  # noqa: E402
import scenes  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODEL_FILES = ["config.json", "generation_config.json", "model.safetensors",
               "special_tokens_map.json", "tokenizer.model", "tokenizer_config.json", "added_tokens.json"]
# file -> (width, height, background, shapes): the demo scene (two shapes), one shape, a wide canvas.
SHIPPED_SCENES = {
    "scene.png": (224, 160, (240, 236, 226), [("circle", "red", 58, 70, 24), ("triangle", "blue", 160, 92, 26)]),
    "scene-one.png": (160, 160, (232, 240, 250), [("square", "green", 92, 74, 22)]),
    "scene-wide.png": (320, 144, (250, 246, 214), [("square", "yellow", 70, 60, 20), ("circle", "blue", 250, 84, 21)]),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "data", "nano-llava"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for name in MODEL_FILES:
        shutil.copyfile(os.path.join(args.checkpoint, name), os.path.join(args.out, name))
    config_path = os.path.join(args.out, "config.json")
    with open(config_path) as f:
        config = json.load(f)
    nano_common.set_geometry(config["vision_config"]["image_size"], config["vision_config"]["patch_size"])
    config.pop("_name_or_path", None)  # a run continued from a model folder records where that was
    with open(config_path, "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")
    with open(os.path.join(args.out, "preprocessor_config.json"), "w") as f:  # the current one, not the run's
        json.dump(nano_common.preprocessor_config(), f, indent=2)
        f.write("\n")
    for name, (w, h, background, placed) in SHIPPED_SCENES.items():
        scenes.draw_placed(w, h, background, placed).save(os.path.join(args.out, name), optimize=True)


if __name__ == "__main__":
    main()
