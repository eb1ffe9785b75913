#!/usr/bin/env python3
"""Tiny LLaVA-1.5-shaped checkpoints that exercise what the shipped fixture does not, with
transformers' outputs as the oracle (tests/models/variants_test.cc).

Run by hand with transformers 4.40.2 and torch on the CPU (the versions that made the shared
fixture); the test suite only reads what this writes:

    python3 scripts/reference/make_variant_models.py tests/data/variants
    python3 scripts/reference/make_variant_models.py tests/data/variants --reference-only bf16

The second form rewrites one variant's reference.json from the checkpoint already there.
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
    # bfloat16 weights on disk; the reference runs in float32 on those weights (exactly widened), the
    # test runs bfloat16 against it within the bf16 rounding model below: one reference for every
    # CPU and libtorch, whose bfloat16 kernels round differently.
    "bf16": dict(
        text=text_config(tie_word_embeddings=True, rms_norm_eps=1e-5), vision=vision_config(),
        feature_layer=-2, strategy="default", dtype=torch.bfloat16, shard=None, compute=torch.float32),
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


def write_reference(name, spec, out_dir, file_name):
    """transformers' outputs on the checkpoint in out_dir (the layout 4.40 reads)."""
    # Reload as users do: from_pretrained keeps RoPE's inv_freq in float32, whereas casting a
    # live model with .to(bfloat16) would round it to bfloat16 as well.
    compute = spec.get("compute", spec["dtype"])
    # Eager attention: its products are plain matrix products, which the bf16 model can round.
    model = LlavaForConditionalGeneration.from_pretrained(out_dir, torch_dtype=compute,
                                                          attn_implementation="eager").eval()
    pixels = load_file(os.path.join(out_dir, "pixel_values.safetensors"))["pixel_values"].to(compute)
    prompt = [1, 11, 45, IMAGE_TOKEN, 13, 87, 200, 33, 150, 29]
    ids = torch.tensor([prompt])
    with torch.no_grad():
        mask = torch.ones_like(ids)
        out = model(input_ids=ids, pixel_values=pixels, attention_mask=mask, output_hidden_states=True)
        gen = model.generate(input_ids=ids, pixel_values=pixels, attention_mask=mask, max_new_tokens=8,
                             do_sample=False, num_beams=1, pad_token_id=0, output_scores=True,
                             return_dict_in_generate=True)
        last = out.hidden_states[-1].shape[1] - 1
        logits = out.logits[0, -1].float()
        top2 = logits.topk(2).values
    new_tokens = gen.sequences[0, len(prompt):].tolist()
    # HF's last entry is already final-normed; our layer L is the raw residual: recompute it.
    ref = {
        "variant": name,
        "weights_dtype": str(spec["dtype"]).replace("torch.", ""),
        "compute_dtype": str(compute).replace("torch.", ""),
        "prompt_ids": prompt,
        "expanded_length": out.hidden_states[0].shape[1],
        "num_layers": spec["text"].num_hidden_layers,
        "hidden_last_position_hf": [summary(h[0, last].float()) for h in out.hidden_states],
        "final_logits_last": summary(logits),
        "final_top5_ids": logits.topk(5).indices.tolist(),
        "top2_logit_gap": (top2[0] - top2[1]).item(),
        "new_token_ids": new_tokens,
        # Per greedy step: top-1 minus top-2 logit of the step's scores (how close it was).
        "step_margins": [top2_margin(s[0]) for s in gen.scores],
        "versions": versions(),
    }
    if spec["dtype"] == torch.bfloat16 and compute == torch.float32:
        ref["hidden_last_position_values"] = [h[0, last].tolist() for h in out.hidden_states]
        ref["bf16_rounding_model"] = bf16_rounding_model(model, prompt, new_tokens, pixels, ref)
    with open(os.path.join(out_dir, file_name), "w") as f:
        json.dump(ref, f, indent=1)
    print(name, new_tokens, "margins", [round(m, 3) for m in ref["step_margins"]])


def top2_margin(scores):
    top2 = scores.float().topk(2).values
    return (top2[0] - top2[1]).item()


def versions():
    import platform

    import safetensors
    import transformers
    return {"torch": torch.__version__, "transformers": transformers.__version__,
            "safetensors": safetensors.__version__, "python": platform.python_version()}


# The bf16 rounding model (tests/models/variants_test.cc reads it). A bfloat16 run of a checkpoint
# whose weights are bfloat16 differs from the float32 run of the same weights only by rounding: each
# floating-point result r is stored as r(1 + t), |t| <= u = 2^-8 (8 significant bits, round to
# nearest; products are summed in float32 and rounded once, as oneDNN, libtorch's own loops and
# cuBLAS do). Which t each result gets depends on the kernels and so on the CPU, so the reference
# does not pick one: it runs the float32 model RUNS times with every result multiplied by (1 + t),
# t drawn uniformly from [-u, u], and records how far those runs stray from the float32 run: per
# layer the relative L2 distance of the last prompt position's hidden state, per greedy step how
# much the top-1 token's lead over the best other token shrinks. The test allows SAFETY times the
# largest of the RUNS (hidden states at least u: one rounding). Every result is perturbed, also
# those a real kernel keeps in float32 (softmax, norms), so the model errs on the wide side.
BF16_UNIT_ROUNDOFF = 2.0 ** -8
RUNS = 16
SAFETY = 2.0


class RoundingNoise:
    """TorchDispatchMode that multiplies every float32 result of an arithmetic op by (1 + t)."""

    def __new__(cls, seed):
        from torch.utils._python_dispatch import TorchDispatchMode
        from torch.utils._pytree import tree_map
        aten = torch.ops.aten
        # Exact in any dtype (data movement, masks, index arithmetic): no rounding to model.
        exact = {aten.embedding.default, aten.index_select.default, aten.cat.default, aten.stack.default,
                 aten.masked_fill.Scalar, aten.masked_fill.Tensor, aten.where.self, aten.fill_.Scalar,
                 aten.zeros.default, aten.ones.default, aten.full.default, aten.arange.default,
                 aten.arange.start, aten.arange.start_step, aten.index.Tensor, aten.index_put.default,
                 aten.index_put_.default, aten.gather.default, aten.copy_.default, aten._to_copy.default,
                 aten.clone.default, aten.new_zeros.default, aten.new_ones.default, aten.new_empty.default,
                 aten.empty.memory_format, aten.repeat.default, aten.masked_scatter.default, aten.neg.default,
                 aten.triu.default, aten.tril.default, aten.max.default, aten.topk.default,
                 aten._unsafe_view.default, aten.lift_fresh.default}
        generator = torch.Generator().manual_seed(seed)

        def rounded(t):
            return t * (1 + (torch.rand(t.shape, generator=generator) * 2 - 1) * BF16_UNIT_ROUNDOFF)

        class Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                out = func(*args, **(kwargs or {}))
                if func in exact or any(r.alias_info is not None for r in func._schema.returns):
                    return out

                def perturb(t):
                    return rounded(t) if isinstance(t, torch.Tensor) and t.dtype == torch.float32 else t
                return tree_map(perturb, out)
        return Mode()


def bf16_rounding_model(model, prompt, new_tokens, pixels, ref):
    """Tolerances for a bfloat16 run against this float32 reference (see BF16_UNIT_ROUNDOFF)."""
    # One teacher-forced pass over prompt + generated tokens: the prompt's last position gives the
    # hidden states, the positions after it the logits of each greedy step in the reference context.
    seq = torch.tensor([prompt + new_tokens[:-1]])
    last = ref["expanded_length"] - 1

    def forward():
        with torch.no_grad():
            out = model(input_ids=seq, pixel_values=pixels, attention_mask=torch.ones_like(seq),
                        output_hidden_states=True)
        return [h[0, last].double() for h in out.hidden_states], out.logits[0, last:].double()

    hidden, logits = forward()
    assert logits.argmax(-1).tolist() == new_tokens, "teacher-forced pass disagrees with generate()"
    return rounding_runs(forward, hidden, logits, new_tokens)


def lead(z, token):
    """How far the token's logit is ahead of the best other one."""
    others = torch.cat([z[:token], z[token + 1:]])
    return (z[token] - others.max()).item()


def rounding_runs(forward, hidden, logits, new_tokens):
    """The rounding model's tolerances: `forward()` -> (hidden states, per-step logits) rerun RUNS
    times under RoundingNoise and compared with the unperturbed `hidden`, `logits`."""
    leads = [lead(z, t) for z, t in zip(logits, new_tokens)]
    errors, erosions = [], []
    for run in range(RUNS):
        with RoundingNoise(run):
            h, z = forward()
        errors.append([((a - b).norm() / a.norm()).item() for a, b in zip(hidden, h)])
        erosions.append([m - lead(zs, t) for zs, t, m in zip(z, new_tokens, leads)])
    error_max = [max(e[layer] for e in errors) for layer in range(len(hidden))]
    erosion_max = [max(0.0, max(e[step] for e in erosions)) for step in range(len(new_tokens))]
    return {
        "unit_roundoff": BF16_UNIT_ROUNDOFF, "runs": RUNS, "safety_factor": SAFETY,
        "hidden_relative_error_max": error_max,
        "hidden_tolerance": [max(SAFETY * e, BF16_UNIT_ROUNDOFF) for e in error_max],
        "margin_erosion_max": erosion_max,
        "margin_bound": [SAFETY * e for e in erosion_max],
    }


if __name__ == "__main__":
    root = sys.argv[1] if len(sys.argv) > 1 else "tests/data/variants"
    if len(sys.argv) > 3 and sys.argv[2] == "--reference-only":
        # Rewrites one variant's reference.json from the checkpoint already on disk.
        name = sys.argv[3]
        write_reference(name, VARIANTS[name], os.path.join(root, name), "reference.json")
        sys.exit(0)
    os.makedirs(root, exist_ok=True)
    for name, spec in VARIANTS.items():
        make(name, spec, root)
