#!/usr/bin/env python3
"""transformers' numbers for the lens on image positions and the attention to the image, on the two
checked-in fixtures (tests/data/tiny-llava, tests/data/nano-llava).

Run by hand with /work/venv-ref (transformers 4.40.2, torch CPU), never by the tests:
    /work/venv-ref/bin/python scripts/reference/make_image_lens_refs.py
Writes tests/data/<model>/image_lens_reference.json:
  prompt_ids, image, max_new_tokens, new_token_ids, image_positions (expanded sequence),
  prompt_length (expanded), and
  image_lens: for layers 0..L at every image position of the prefill, the norm lens (final RMSNorm,
              then the LM head; layer L is HF's own normed hidden_states[L]): top-5 ids and
              probabilities (float64 softmax of float32 logits) and entropy (nats);
  attention:  per generated step, per layer 1..L, per head: the attention weights
              (output_attentions=True, attn_implementation="eager") of the predicting position
              summed over BOS (position 0), the image positions, the other prompt positions and
              the generated positions (the query itself from step 1 on).
Everything in float32 on one thread (the weights are float32 / upcast float16).
"""
import json
import os

import numpy as np
import torch
from PIL import Image
from transformers import CLIPImageProcessor, LlavaForConditionalGeneration

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOP_K = 5
MAX_NEW_TOKENS = 4


def case_inputs(model_dir):
    ref = json.load(open(os.path.join(model_dir, "reference.json")))
    if "cases" in ref:  # nano-llava: the demo scene's describe question
        c = ref["cases"][0]
        return c["prompt_ids"], c["image"]
    return ref["input"]["prompt_ids"], ref["image"]["file"]


def lens_of(model, hidden_states, positions):
    """norm lens at `positions` for every layer: [(top ids [P][k], top probs [P][k], entropy [P])]."""
    lm = model.language_model
    out = []
    last = len(hidden_states) - 1
    for layer, h in enumerate(hidden_states):
        x = h[0, positions]
        if layer < last:
            with torch.no_grad():
                x = lm.model.norm(x)  # HF's entry L is already normed
        with torch.no_grad():
            logits = lm.get_output_embeddings()(x).float().double().numpy()
        p = np.exp(logits - logits.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        order = [np.lexsort((np.arange(len(r)), -r))[:TOP_K] for r in p]
        out.append({
            "layer": layer,
            "top_ids": [[int(i) for i in o] for o in order],
            "top_probs": [[float(r[i]) for i in o] for r, o in zip(p, order)],
            "entropy": [float(-(r[r > 0] * np.log(r[r > 0])).sum()) for r in p],
        })
    return out


def attention_of(attentions, image_positions, prompt_length):
    """Per step, per layer: masses {bos, image, prompt, generated}, each a list over heads."""
    steps = []
    image = set(image_positions)
    for step, layers in enumerate(attentions):
        per_layer = []
        for layer, a in enumerate(layers, start=1):
            row = a[0, :, -1, :].double().numpy()  # [heads, keys]: the predicting position
            keys = row.shape[1]
            groups = {"bos": [0], "image": sorted(image),
                      "prompt": [k for k in range(1, prompt_length) if k not in image],
                      "generated": list(range(prompt_length, keys))}
            per_layer.append({"layer": layer, **{g: [float(row[h, idx].sum()) for h in range(row.shape[0])]
                                                 for g, idx in groups.items()}})
        steps.append({"step": step, "layers": per_layer})
    return steps


def make(model_dir):
    torch.set_num_threads(1)
    model = LlavaForConditionalGeneration.from_pretrained(model_dir, torch_dtype=torch.float32,
                                                          attn_implementation="eager").eval()
    processor = CLIPImageProcessor.from_pretrained(model_dir)
    prompt_ids, image = case_inputs(model_dir)
    pixels = processor(images=Image.open(os.path.join(model_dir, image)).convert("RGB"),
                       return_tensors="pt")["pixel_values"]
    ids = torch.tensor([prompt_ids])
    image_index = model.config.image_token_index
    n_features = (model.config.vision_config.image_size // model.config.vision_config.patch_size) ** 2
    at = prompt_ids.index(image_index)
    image_positions = list(range(at, at + n_features))
    prompt_length = len(prompt_ids) - 1 + n_features
    with torch.no_grad():
        out = model.generate(input_ids=ids, pixel_values=pixels, attention_mask=torch.ones_like(ids),
                             max_new_tokens=MAX_NEW_TOKENS, min_new_tokens=MAX_NEW_TOKENS, eos_token_id=None,
                             do_sample=False, num_beams=1, output_hidden_states=True, output_attentions=True,
                             return_dict_in_generate=True, pad_token_id=model.config.pad_token_id)
    return {
        "model_dir": os.path.basename(model_dir.rstrip("/")), "image": image, "prompt_ids": prompt_ids,
        "max_new_tokens": MAX_NEW_TOKENS, "new_token_ids": out.sequences[0, ids.shape[1]:].tolist(),
        "image_positions": image_positions, "prompt_length": prompt_length, "top_k": TOP_K,
        "image_lens": lens_of(model, out.hidden_states[0], image_positions),
        "attention": attention_of(out.attentions, image_positions, prompt_length),
    }


def main():
    for name in ("tiny-llava", "nano-llava"):
        model_dir = os.path.join(ROOT, "tests", "data", name)
        reference = make(model_dir)
        with open(os.path.join(model_dir, "image_lens_reference.json"), "w") as f:
            json.dump(reference, f)
            f.write("\n")


if __name__ == "__main__":
    main()
