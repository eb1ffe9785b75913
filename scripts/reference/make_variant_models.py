#!/usr/bin/env python3
"""Tiny LLaVA-1.5-shaped checkpoints that exercise what the shipped fixture does not, with
transformers' outputs as the oracle (tests/models/variants_test.cc).

Run by hand with transformers 4.40.2 and torch on the CPU (the versions that made the shared
fixture); the test suite only reads what this writes:

    python3 scripts/reference/make_variant_models.py tests/data/variants

Each variant directory holds a Hugging Face checkpoint, `pixel_values.safetensors` (the model's
input, so the model test does not depend on image preprocessing) and `reference.json`.
"""
import json
import os
import sys

import torch
from safetensors.torch import load_file, save_file
from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration

VOCAB = 320
IMAGE_TOKEN = 319


def text_config(**kw):
    base = dict(vocab_size=VOCAB, hidden_size=48, intermediate_size=96, num_hidden_layers=5,
                num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=128)
    base.update(kw)
    return LlamaConfig(**base)


def vision_config(**kw):
    base = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=2,
                image_size=28, patch_size=7, projection_dim=32)
    base.update(kw)
    return CLIPVisionConfig(**base)


VARIANTS = {
    # GQA, untied head, sharded safetensors, rope_theta and rms_norm_eps off their defaults,
    # vision_feature_layer -1 with the "full" strategy (CLS kept).
    "gqa-untied-sharded": dict(
        text=text_config(num_key_value_heads=2, tie_word_embeddings=False, rope_theta=500000.0,
                         rms_norm_eps=1e-6),
        vision=vision_config(), feature_layer=-1, strategy="full", dtype=torch.float32, shard="200KB"),
    # bfloat16 weights on disk; the reference runs in bfloat16 as well.
    "bf16": dict(
        text=text_config(tie_word_embeddings=True, rms_norm_eps=1e-5), vision=vision_config(),
        feature_layer=-2, strategy="default", dtype=torch.bfloat16, shard=None),
    # float16 weights on disk; reference computed in float32 from the float16 weights.
    "f16-weights": dict(
        text=text_config(tie_word_embeddings=False), vision=vision_config(),
        feature_layer=-2, strategy="default", dtype=torch.float16, shard=None, compute=torch.float32),
    # Other image and patch sizes, a deeper vision tower, linear RoPE scaling.
    "image48-patch16-rope-linear": dict(
        text=text_config(rope_scaling={"type": "linear", "factor": 2.0}, num_hidden_layers=3),
        vision=vision_config(image_size=48, patch_size=16, num_hidden_layers=4),
        feature_layer=-3, strategy="default", dtype=torch.float32, shard=None),
    # transformers >= 4.52 weight names (model.language_model..., lm_head.weight).
    "new-layout": dict(
        text=text_config(tie_word_embeddings=False), vision=vision_config(),
        feature_layer=-2, strategy="default", dtype=torch.float32, shard=None, rename=True),
}


def rename_to_new_layout(path):
    """Rewrites the tensor names as transformers >= 4.52 saves LLaVA."""
    tensors = load_file(path)
    out = {}
    for k, v in tensors.items():
        if k.startswith("language_model.model."):
            k = "model.language_model." + k[len("language_model.model."):]
        elif k.startswith("language_model.lm_head."):
            k = "lm_head." + k[len("language_model.lm_head."):]
        else:
            k = "model." + k
        out[k] = v
    save_file(out, path, metadata={"format": "pt"})


def summary(t):
    t = t.double().flatten()
    return {"first": t[:8].tolist(), "l2": t.norm().item(), "sum": t.sum().item()}


def make(name, spec, root):
    torch.manual_seed(sum(map(ord, name)))
    config = LlavaConfig(vision_config=spec["vision"].to_dict(), text_config=spec["text"].to_dict(),
                         image_token_index=IMAGE_TOKEN, vision_feature_layer=spec["feature_layer"],
                         vision_feature_select_strategy=spec["strategy"], pad_token_id=0)
    model = LlavaForConditionalGeneration(config).eval()
    # Random init is small; scale weights up so that layers differ visibly and logits are peaked.
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3.0)
    model = model.to(spec["dtype"])
    out_dir = os.path.join(root, name)
    kw = {"safe_serialization": True}
    if spec.get("shard"):
        kw["max_shard_size"] = spec["shard"]
    model.save_pretrained(out_dir, **kw)

    size = spec["vision"].image_size
    g = torch.Generator().manual_seed(7)
    pixels = torch.randn(1, 3, size, size, generator=g)
    save_file({"pixel_values": pixels.contiguous()}, os.path.join(out_dir, "pixel_values.safetensors"))
    write_reference(name, spec, out_dir, "reference.json")
    if spec.get("rename"):
        rename_to_new_layout(os.path.join(out_dir, "model.safetensors"))


def onednn_bf16_cpu():
    """The condition under which libtorch (1.13 and 2.x) sends bfloat16 products to oneDNN."""
    with open("/proc/cpuinfo") as f:
        flags = set(next(line for line in f if line.startswith("flags")).split())
    return {"avx512bw", "avx512vl", "avx512dq"} <= flags


def write_reference(name, spec, out_dir, file_name):
    """transformers' outputs on the checkpoint in out_dir (the layout 4.40 reads)."""
    # Reload as users do: from_pretrained keeps RoPE's inv_freq in float32, whereas casting a
    # live model with .to(bfloat16) would round it to bfloat16 as well.
    compute = spec.get("compute", spec["dtype"])
    model = LlavaForConditionalGeneration.from_pretrained(out_dir, torch_dtype=compute).eval()
    pixels = load_file(os.path.join(out_dir, "pixel_values.safetensors"))["pixel_values"]
    prompt = [1, 11, 45, IMAGE_TOKEN, 13, 87, 200, 33, 150, 29]
    ids = torch.tensor([prompt])
    with torch.no_grad():
        mask = torch.ones_like(ids)
        out = model(input_ids=ids, pixel_values=pixels.to(compute), attention_mask=mask, output_hidden_states=True)
        gen = model.generate(input_ids=ids, pixel_values=pixels.to(compute), attention_mask=mask, max_new_tokens=8,
                             do_sample=False, num_beams=1, pad_token_id=0)
        last = out.hidden_states[-1].shape[1] - 1
        logits = out.logits[0, -1].float()
        top2 = logits.topk(2).values
    hidden = [summary(h[0, last].float()) for h in out.hidden_states]
    # HF's last entry is already final-normed; our layer L is the raw residual: recompute it.
    ref = {
        "variant": name,
        "weights_dtype": str(spec["dtype"]).replace("torch.", ""),
        "compute_dtype": str(compute).replace("torch.", ""),
        "prompt_ids": prompt,
        "expanded_length": out.hidden_states[0].shape[1],
        "num_layers": spec["text"].num_hidden_layers,
        "hidden_last_position_hf": hidden,
        "final_logits_last": summary(logits),
        "final_top5_ids": logits.topk(5).indices.tolist(),
        "top2_logit_gap": (top2[0] - top2[1]).item(),
        "new_token_ids": gen[0, len(prompt):].tolist(),
        "versions": {"torch": torch.__version__, "transformers": __import__("transformers").__version__},
    }
    with open(os.path.join(out_dir, file_name), "w") as f:
        json.dump(ref, f, indent=1)
    print(name, ref["new_token_ids"], "gap", round(ref["top2_logit_gap"], 3))


if __name__ == "__main__":
    root = sys.argv[1] if len(sys.argv) > 1 else "tests/data/variants"
    if len(sys.argv) > 2 and sys.argv[2] == "--bf16-reference-only":
        # bfloat16 kernels differ between libtorch versions (transformers' own tokens change from
        # torch 1.13 to 2.x), so the bf16 variant gets one reference per torch major version:
        # run this with a torch 2.x to write reference.torch2.json beside the 1.13 one.
        # The CPU matters too: with AVX-512 (BW, VL, DQ) libtorch multiplies bfloat16 through
        # oneDNN, which rounds otherwise, so such a machine writes reference.torchN.avx512.json.
        major = torch.__version__.split(".")[0]
        write_reference("bf16", VARIANTS["bf16"], os.path.join(root, "bf16"),
                        f"reference.torch{major}{'.avx512' if onednn_bf16_cpu() else ''}.json")
        sys.exit(0)
    os.makedirs(root, exist_ok=True)
    for name, spec in VARIANTS.items():
        make(name, spec, root)
