#!/usr/bin/env python3
"""Accuracy of a nano-llava model, measured through lvlm-probe itself (not Python inference).

Run by hand, never by the tests (needs numpy and Pillow; no torch):
    python scripts/train/evaluate.py --lvlm-probe build/tools/lvlm-probe --model tests/data/nano-llava \
        [--scenes 300] [--seed 777] [--work /tmp/nano-eval] [--json summary.json]

Draws --scenes fresh scenes (scenes.py's grammar, plain drawing, a seed training never used), writes
them as PNG files with a jsonl data set holding three canonical questions per scene (describe, count,
and the colour of one shape that appears once, drawn at random), runs `lvlm-probe batch --dataset jsonl`
on it (--shards processes in parallel, one thread each) and reads the reports: share of exact answers per question kind (overall and with one / two shapes),
for colour answers the colour word's lens probability at layer 0 and at the last layer, and where the
stage detector put the critical and mutation layers and how confidently.
"""
import argparse
import collections
import json
import os
import shutil
import statistics
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scenes  # noqa: E402


def draw_dataset(work, n, seed):
    rng = np.random.default_rng(seed)
    os.makedirs(os.path.join(work, "images"), exist_ok=True)
    items = []
    for i in range(n):
        img, objects, _ = scenes.draw_scene(rng)
        name = f"scene-{i:04d}.png"
        img.save(os.path.join(work, "images", name))
        asked = scenes.questions(objects)
        colour = [q for q in asked if q[0] == "colour"]
        asked = [q for q in asked if q[0] != "colour"] + ([colour[rng.integers(len(colour))]] if colour else [])
        for j, (kind, question, answer) in enumerate(asked):
            items.append({"id": f"s{i:04d}-q{j}", "image": "images/" + name, "prompt": question, "kind": kind,
                          "answer": answer, "shapes": len(objects)})
    with open(os.path.join(work, "data.jsonl"), "w") as f:
        for it in items:
            f.write(json.dumps({"id": it["id"], "image": it["image"], "prompt": it["prompt"]}) + "\n")
    return items


def stage_confidence(stages):
    """The aggregate fit's confidence, under either name the report schema has used."""
    for key in ("critical_confidence", "confidence"):
        if isinstance(stages.get(key), (int, float)):
            return float(stages[key])
    return None


def summarize(work, items):
    right = collections.defaultdict(lambda: [0, 0])
    colour_p0, colour_pl, critical, mutation, confidence, wrong = [], [], [], [], [], []
    for it in items:
        report = json.load(open(os.path.join(work, "run", "reports", it["id"] + ".json")))
        got = report["output"]["text"].strip()
        ok = got == it["answer"]
        for key in (it["kind"], f"{it['kind']} ({it['shapes']} shape{'s' if it['shapes'] > 1 else ''})"):
            right[key][0] += ok
            right[key][1] += 1
        if not ok:
            wrong.append((it["id"], it["prompt"], it["answer"], got))
        if it["kind"] == "colour" and ok:
            p = report["tokens"][0]["p_token"]
            colour_p0.append(p[0]), colour_pl.append(p[-1])
        stages = report["stages"]
        if stages.get("critical_layer") is not None:
            critical.append(stages["critical_layer"])
        if stages.get("mutation_layer") is not None:
            mutation.append(stages["mutation_layer"])
        c = stage_confidence(stages)
        if c is not None:
            confidence.append(c)
    rise = sum(a < 0.2 and b > 0.5 for a, b in zip(colour_p0, colour_pl))
    return {
        "items": len(items),
        "accuracy": {k: {"right": r, "of": t, "share": round(r / t, 4)} for k, (r, t) in sorted(right.items())},
        "colour_word_lens": {
            "answers": len(colour_p0),
            "p_layer0_median": statistics.median(colour_p0) if colour_p0 else None,
            "p_last_median": statistics.median(colour_pl) if colour_pl else None,
            "share_below_0.2_at_layer0_and_above_0.5_at_last": round(rise / max(1, len(colour_p0)), 4),
        },
        "stages": {
            "critical_layer_counts": dict(sorted(collections.Counter(critical).items())),
            "mutation_layer_counts": dict(sorted(collections.Counter(mutation).items())),
            "confidence_median": statistics.median(confidence) if confidence else None,
            "confidence_quartiles": statistics.quantiles(confidence, n=4) if len(confidence) > 1 else None,
            "confidence_min": min(confidence) if confidence else None,
        },
        "wrong_examples": wrong[:20],
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lvlm-probe", default="build/tools/lvlm-probe")
    ap.add_argument("--model", default="tests/data/nano-llava")
    ap.add_argument("--scenes", type=int, default=300)
    ap.add_argument("--seed", type=int, default=777)
    ap.add_argument("--work", default="/tmp/nano-eval")
    ap.add_argument("--shards", type=int, default=1, help="lvlm-probe batch processes, one thread each")
    ap.add_argument("--json", help="also write the summary here")
    args = ap.parse_args()
    items = draw_dataset(args.work, args.scenes, args.seed)
    # A run directory left from another model would be resumed, its reports counted as this model's.
    shutil.rmtree(os.path.join(args.work, "run"), ignore_errors=True)
    command = [args.lvlm_probe, "batch", "--model", args.model, "--dataset", "jsonl",
               "--data", os.path.join(args.work, "data.jsonl"), "--out", os.path.join(args.work, "run"),
               "--max-new-tokens", "12", "--feature-steps", "none", "--threads", "1"]
    shards = [subprocess.Popen(command + ["--shard", f"{i}/{args.shards}"]) for i in range(args.shards)]
    if any(p.wait() != 0 for p in shards):
        sys.exit("lvlm-probe batch failed")
    summary = summarize(args.work, items)
    text = json.dumps(summary, indent=1)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
