#!/usr/bin/env python3
"""transformers' outputs on the trained nano-llava model (tests/data/nano-llava/), for the parity tests.

Run by hand, never by the tests (torch 2.x CPU, transformers 4.40.2, Pillow, numpy):
    python scripts/reference/make_nano_refs.py [--model tests/data/nano-llava]
    python scripts/reference/make_nano_refs.py --model tests/data/tiny-llava --check-gold
The second form recomputes tests/data/tiny-llava/gold_report.json's lens statistics with this script's
code and prints the largest difference: the check that the definitions below are the ones lvlm-probe
and the tiny fixture's gold use.

The weights on disk are float16; they are upcast and everything runs in float32 (eager attention,
one thread), so the numbers do not depend on the CPU's half-precision kernels. Writes into --model:
  reference.json    per shipped scene and question (SCENES): the prompt ids (llava_v1 template, LLaVA's
                    tokenizer_image_token), pixel_values (shape, sum, first values, SHA-256 of the
                    float32 bytes), the greedy answer (ids incl. </s>, HF's decode, stripped text) and the answer's first
                    token's final log-probabilities (top 5);
  gold_report.json  the tiny fixture's format for the demo scene's describe question: for every
                    generated token and layer 0..L, in the three lens modes (norm, raw, hf), the lens
                    probability and rank of the token, entropy, Jensen-Shannon divergence to the previous
                    and to the last layer, DoLa's divergence, top-5 ids and probabilities; the residual
                    stream's norm and cosines (docs/report-schema.md defines them). Lens statistics are
                    float64 from float32 logits, as lvlm-probe computes them.
"""
import argparse
import hashlib
import json
import os
import platform
import sys

import numpy as np
import PIL
import torch
import transformers
from PIL import Image
from transformers import CLIPImageProcessor, LlamaTokenizer, LlavaForConditionalGeneration

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts", "train"))
from nano_common import llava_v1, tokenizer_image_token  # noqa: E402

# (image file in the model folder, question): the demo scene first (its describe question is the gold run).
SCENES = [
    ("scene.png", "What is in the image?"),
    ("scene.png", "What color is the triangle?"),
    ("scene.png", "What color is the circle?"),
    ("scene.png", "How many shapes are there?"),
    ("scene-one.png", "What is in the image?"),
    ("scene-one.png", "What color is the square?"),
    ("scene-one.png", "How many shapes are there?"),
    ("scene-wide.png", "What is in the image?"),
    ("scene-wide.png", "What color is the square?"),
    ("scene-wide.png", "How many shapes are there?"),
]
MAX_NEW_TOKENS = 12
# Prompts whose ids lvlm-probe must produce exactly as HF's tokenizer does: the canonical and training
# questions plus what a user might type (unknown words, digits, no question mark, spaces, newlines,
# non-ASCII falling back to bytes, text that looks like a special token).
USER_PROMPTS = ["What is in the image", "what is in the image?", "Is there a cat?", "How many shapes are there?  ",
                " What color is the circle?", "Colour of the 3 squares?\nAnswer briefly.", "Welche Farbe hat der Kreis? \u00e9\u2713",
                "Describe <s> the </s> image.", "", "triangle triangle triangle"]


def load(model_dir):
    torch.set_num_threads(1)
    model = LlavaForConditionalGeneration.from_pretrained(model_dir, torch_dtype=torch.float32,
                                                          attn_implementation="eager").eval()
    return model, LlamaTokenizer.from_pretrained(model_dir), CLIPImageProcessor.from_pretrained(model_dir)


class LastBlockTap:
    """The last decoder block's output (the residual stream before the final norm) at the last position,
    one row per forward call of generate (HF's hidden_states[L] is already normed)."""

    def __init__(self, model):
        self.rows = []
        model.language_model.model.layers[-1].register_forward_hook(
            lambda mod, inp, out: self.rows.append(out[0][0, -1].detach().clone()))


def run(model, pixel_values, prompt_ids, max_new_tokens, stop_at_eos=True):
    """Greedy generate; -> (new ids, [per step: [L+1, hidden] residual streams at the predicting position])."""
    tap = LastBlockTap(model)
    ids = torch.tensor([prompt_ids])
    kwargs = dict(max_new_tokens=max_new_tokens, do_sample=False, num_beams=1, output_hidden_states=True,
                  return_dict_in_generate=True, pad_token_id=model.config.pad_token_id)
    if not stop_at_eos:
        kwargs.update(eos_token_id=None, min_new_tokens=max_new_tokens)
    with torch.no_grad():
        out = model.generate(input_ids=ids, pixel_values=pixel_values, attention_mask=torch.ones_like(ids), **kwargs)
    new = out.sequences[0, ids.shape[1]:].tolist()
    streams = []
    for step, hs in enumerate(out.hidden_states):
        below = [h[0, -1] for h in hs[:-1]]  # layers 0..L-1 as HF returns them (raw residual stream)
        streams.append(torch.stack(below + [tap.rows[step]]))
    return new, streams


def js(p, q):
    m = 0.5 * (p + q)
    return 0.5 * (xlogy_sum(p, m) + xlogy_sum(q, m))


def xlogy_sum(p, m):
    mask = p > 0
    return float((p[mask] * (np.log(p[mask]) - np.log(m[mask]))).sum())


def dola(p, q):
    """DoLa's divergence: 1/2 * (1/V) * [KL(M||P) + KL(M||Q)], M = (P + Q) / 2."""
    m = 0.5 * (p + q)
    return 0.5 / len(p) * (xlogy_sum(m, p) + xlogy_sum(m, q))


def lens_stats(model, stream, token_id):
    out = lens_distributions(model.language_model.model.norm, model.language_model.get_output_embeddings(), stream,
                             token_id)
    h = stream.double()
    cos = lambda a, b: float((a @ b) / (a.norm() * b.norm()))  # noqa: E731
    last = stream.shape[0] - 1
    return out, [float(v) for v in h.norm(dim=-1)], [None] + [cos(h[l - 1], h[l]) for l in range(1, last + 1)], \
        [cos(h[l], h[last]) for l in range(last + 1)]


def lens_distributions(norm, head, stream, token_id):
    """Per lens mode (norm, raw, hf) the statistics of the [L+1, hidden] residual stream's layers."""
    last = stream.shape[0] - 1
    with torch.no_grad():
        inputs = {
            "norm": norm(stream),
            "raw": stream,
            "hf": torch.cat([stream[:last], norm(stream[last:])]),
        }
        out = {}
        for mode, x in inputs.items():
            logits = head(x).float().double().numpy()
            p = np.exp(logits - logits.max(-1, keepdims=True))
            p /= p.sum(-1, keepdims=True)
            order = [np.lexsort((np.arange(len(r)), -r))[:5] for r in p]
            out[mode] = {
                "p_token": [float(r[token_id]) for r in p],
                "rank": [int(1 + (r > r[token_id]).sum()) for r in p],
                "entropy": [float(-(r[r > 0] * np.log(r[r > 0])).sum()) for r in p],
                "jsd_prev": [None] + [js(p[l - 1], p[l]) for l in range(1, last + 1)],
                "jsd_final": [js(p[l], p[last]) for l in range(last + 1)],
                "dola_prev": [None] + [dola(p[l - 1], p[l]) for l in range(1, last + 1)],
                "top5_ids": [[int(i) for i in o] for o in order],
                "top5_probs": [[float(r[i]) for i in o] for r, o in zip(p, order)],
            }
    return out


def gold_report(model, pixel_values, prompt_ids, max_new_tokens, stop_at_eos, image, model_name):
    new, streams = run(model, pixel_values, prompt_ids, max_new_tokens, stop_at_eos)
    steps = []
    for s, (tok, stream) in enumerate(zip(new, streams)):
        lens, h_norm, cos_prev, cos_final = lens_stats(model, stream, tok)
        steps.append({"step": s, "token_id": tok, "lens": lens, "h_norm": h_norm, "cos_prev": cos_prev,
                      "cos_final": cos_final})
    return {"model_dir": model_name, "image": image, "prompt_ids": prompt_ids, "max_new_tokens": max_new_tokens,
            "new_token_ids": new, "num_layers": model.config.text_config.num_hidden_layers, "steps": steps}


def pixels(processor, path):
    return processor(images=Image.open(path).convert("RGB"), return_tensors="pt")["pixel_values"]


def max_diff(a, b, path="", acc=None):
    """Largest absolute difference between matching numbers of two JSON values (keys, lengths, ints equal)."""
    acc = acc if acc is not None else [0.0, ""]
    if isinstance(a, dict):
        assert set(a) >= set(b) or set(b) >= set(a), path
        for k in set(a) & set(b):
            max_diff(a[k], b[k], path + "." + k, acc)
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            max_diff(x, y, f"{path}[{i}]", acc)
    elif isinstance(a, float) or isinstance(b, float):
        d = abs(a - b)
        if d > acc[0]:
            acc[:] = [d, path]
    else:
        assert a == b, (path, a, b)
    return acc


def check_gold(model_dir):
    model, _, processor = load(model_dir)
    want = json.load(open(os.path.join(model_dir, "gold_report.json")))
    got = gold_report(model, pixels(processor, os.path.join(model_dir, want["image"])), want["prompt_ids"],
                      want["max_new_tokens"], False, want["image"], want["model_dir"])
    print("max |difference| to the committed gold report: %.3g at %s" % tuple(max_diff(got, {
        k: want[k] for k in got})))


def versions():
    return {"python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__,
            "numpy": np.__version__, "Pillow": PIL.__version__}


def tokenization(tok, image_id):
    """HF's ids for every prompt of the grammar and USER_PROMPTS (llava_v1, tokenizer_image_token), and
    HF's decoding of every answer's ids."""
    from scenes import CANONICAL, PARAPHRASES, SHAPES
    questions = []
    for kind in CANONICAL:
        for q in [CANONICAL[kind]] + PARAPHRASES[kind]:
            questions += [q.format(shape=s) for s in SHAPES] if "{shape}" in q else [q]
    prompts = [{"question": q, "prompt": llava_v1(q), "ids": tokenizer_image_token(llava_v1(q), tok, image_id)}
               for q in questions + USER_PROMPTS]
    return {"image_token_index": image_id, "prompts": prompts}


def make(model_dir):
    model, tok, processor = load(model_dir)
    image_id = model.config.image_token_index
    cases = []
    for image, question in SCENES:
        pv = pixels(processor, os.path.join(model_dir, image))
        prompt_ids = tokenizer_image_token(llava_v1(question), tok, image_id)
        new, _ = run(model, pv, prompt_ids, MAX_NEW_TOKENS)
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([prompt_ids]), pixel_values=pv,
                           attention_mask=torch.ones(1, len(prompt_ids), dtype=torch.long)).logits[0, -1]
        logp = torch.log_softmax(logits.double(), -1)
        top = torch.topk(logp, 5)
        raw = pv.numpy().astype(np.float32).tobytes()
        cases.append({
            "image": image, "question": question, "prompt": llava_v1(question), "prompt_ids": prompt_ids,
            "pixel_values": {"shape": list(pv.shape), "sum": float(pv.double().sum()),
                             "first": [float(v) for v in pv.flatten()[:16]], "sha256_f32": hashlib.sha256(raw).hexdigest()},
            "new_token_ids": new, "decoded": tok.decode(new, skip_special_tokens=True),
            "answer": tok.decode(new, skip_special_tokens=True).strip(),
            "first_step_top5": {"ids": top.indices.tolist(), "logprobs": top.values.tolist()},
        })
        print(f"{image:16s} {question:32s} -> {cases[-1]['answer']}", flush=True)
    ref = {"model_dir": os.path.basename(os.path.normpath(model_dir)), "versions": versions(),
           "compute": {"dtype": "float32", "weights_dtype_on_disk": str(model.config.torch_dtype),
                       "attn_implementation": "eager", "threads": 1, "template": "llava_v1",
                       "max_new_tokens": MAX_NEW_TOKENS, "stop_at_eos": True},
           "cases": cases, "tokenization": tokenization(tok, image_id)}
    with open(os.path.join(model_dir, "reference.json"), "w") as f:
        json.dump(ref, f, indent=1)
        f.write("\n")
    first = cases[0]
    gold = gold_report(model, pixels(processor, os.path.join(model_dir, first["image"])), first["prompt_ids"],
                       MAX_NEW_TOKENS, True, first["image"], ref["model_dir"])
    gold["question"] = first["question"]
    with open(os.path.join(model_dir, "gold_report.json"), "w") as f:
        json.dump(gold, f)
        f.write("\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(ROOT, "tests", "data", "nano-llava"))
    ap.add_argument("--check-gold", action="store_true")
    args = ap.parse_args()
    check_gold(args.model) if args.check_gold else make(args.model)


if __name__ == "__main__":
    main()
