#!/usr/bin/env python3
"""Tiny random Qwen2-VL and Qwen2.5-VL checkpoints, each with a byte-level BPE tokenizer of its own, and
transformers' outputs on them: the parity fixtures for the Qwen families (docs/models.md).

Run by hand, never by the tests (PyPI transformers 4.57.6, tokenizers 0.22.2, torch 2.x CPU, Pillow):
    python scripts/reference/make_qwen_fixtures.py [--out tests/data]
Deterministic: fixed seeds, one thread, eager attention, float32 compute.

Writes two checkpoint folders (FIXTURES below) that differ in everything a published checkpoint can:
  tiny-qwen2-vl     Qwen2VLForConditionalGeneration, float32, one model.safetensors in the layout of
                    transformers < 4.52 (model.layers.*, model.embed_tokens, visual.*, lm_head), config.json
                    with rope_scaling {"type": "mrope"}, untied head, tokenizer.json merges as "a b" strings;
  tiny-qwen2.5-vl   Qwen2_5_VLForConditionalGeneration, bfloat16, two shards + model.safetensors.index.json
                    in the layout of transformers >= 4.52 (model.language_model.*, model.visual.*, lm_head),
                    window attention with fullatt_block_indexes, tied head, merges as [a, b] pairs, added
                    tokens that are not special (<tool_call>).
and in each: reference.json (per case: chat-template text, input ids, image_grid_thw, pixel-value
checksums, rope position ids and delta, image features, greedy tokens, hidden states, lens statistics,
attention rows; for bf16 also the rounding model of make_variant_models.py), reference_pixels.safetensors
(every case's pixel_values, float32) and tokenization.json (the fast tokenizer on TOKENIZER_TEXTS).
"""
import argparse
import hashlib
import json
import os
import platform
import shutil
import sys

import numpy as np
import PIL
import tokenizers
import torch
import transformers
from PIL import Image
from safetensors.torch import load_file, save_file
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, \
    trainers
from transformers import (Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2TokenizerFast,
                          Qwen2VLConfig, Qwen2VLForConditionalGeneration, Qwen2VLImageProcessor)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from make_nano_refs import lens_distributions  # noqa: E402  (the lens definitions of the gold reports)
from make_variant_models import lead, rounding_runs  # noqa: E402  (the bf16 rounding model)

# Qwen2's pre-tokenizer (tokenizer.json of every Qwen2 / Qwen2-VL / Qwen2.5-VL checkpoint).
QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
                 r"\s*[\r\n]+|\s+(?!\S)|\s+")
# Added tokens in Qwen2-VL's order (ids follow the BPE vocabulary); all special.
QWEN2_VL_SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
                    "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
                    "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>"]
# Qwen2.5-VL adds these as NOT special (decoding keeps them even when skipping special tokens).
QWEN25_VL_PLAIN = ["<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>",
                   "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>"]
# Qwen2-VL-2B-Instruct's chat template (tokenizer_config.json), verbatim.
CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}"
    "<|im_end|>\n{% else %}{% for content in message['content'] %}{% if content['type'] == 'image' or 'image' in "
    "content or 'image_url' in content %}{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}"
    "Picture {{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>{% elif content['type'] "
    "== 'video' or 'video' in content %}{% set video_count.value = video_count.value + 1 %}{% if add_vision_id %}"
    "Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>{% elif 'text' in content "
    "%}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}{% if add_generation_prompt %}"
    "<|im_start|>assistant\n{% endif %}")

# Training text for the tiny BPE: English, German, French, Greek, Russian, Chinese, digits, punctuation, code.
CORPUS = [
    "What is in the image? Describe the picture in one sentence.",
    "The quick brown fox jumps over the lazy dog. The dog sleeps; the fox runs!",
    "A red circle, a green square and a blue triangle are on a white background.",
    "There are 3 animals: 2 cats and 1 dog. It's 12:45, isn't it? They're here, we've seen them.",
    "Welche Farbe hat der Kreis? Die Katze schläft auf dem Sofa. Größe: 42 cm, Straße 7.",
    "Ça va très bien, merci ! L'été dernier, nous étions à Montréal.",
    "Η γάτα κοιμάται. Τι χρώμα έχει ο κύκλος;",
    "Кошка спит на диване. Какого цвета круг?",
    "图片里有什么？一只猫在沙发上睡觉。",
    "def main():\n    return [x * 2 for x in range(10)]\n\n# comment\tTab\n",
    "Numbers: 0 1 2 3 4 5 6 7 8 9 10 100 2024 3.14159 -7 +8 1e-5 50% $20 #1 @home",
    "Punctuation: ... !!! ??? --- (a) [b] {c} <d> \"quoted\" 'single' a/b a\\b a|b ~ ^ & * = _",
    "Line one\nLine two\r\nLine three\n\n\nEnd.   Spaces    here.\t\ttabs",
    "Emoji: 😀 🐱 🌍 👍🏽 and symbols ✓ ✗ → ← € £ ¥ ©",
]
FIXTURES = {
    "tiny-qwen2-vl": dict(family="qwen2_vl", dtype=torch.float32, layout="before-4.52", bpe_vocab=360,
                          merges="strings", seed=12, shard=None,
                          min_pixels=4 * 28 * 28, max_pixels=24 * 28 * 28),
    "tiny-qwen2.5-vl": dict(family="qwen2_5_vl", dtype=torch.bfloat16, layout="from-4.52", bpe_vocab=420,
                            merges="pairs", seed=22, shard="300KB",
                            min_pixels=8 * 28 * 28, max_pixels=30 * 28 * 28),
}
# (image under tests/data/images, question). Wide photo, 4:3 photo, and a 13x7 image smart_resize enlarges.
CASES = [
    ("photos/Animal4.jpg", "What is in the image?"),
    ("photos/Animal7.jpg", "Describe the colours in 3 words.\nBe brief!"),
    ("odd/png_rgb8.png", "Wie viele Tiere? Ça va… 😀"),
]
MAX_NEW_TOKENS = 8
MIN_MARGIN = 0.02
TOKENIZER_TEXTS = [
    "Hello world", "What is in the image?", "  leading and trailing spaces  ", "Tabs\tand\nnewlines\n\n\nand\r\nCRLF",
    "Digits 1234567890 and 3.14, 1e-5, -42", "Punctuation!!! ... ??? (a) [b] {c} \"q\" 'x' it's we've they'll I'm",
    "IT'S WE'VE THEY'LL", "Größe Straße schläft Ça été Montréal", "Η γάτα κοιμάται", "Кошка спит",
    "图片里有什么？", "Emoji 😀🐱👍🏽 mixed", "e\u0301 decomposed (NFC composes it)", "Ａｎｇｓｔ fullwidth",
    "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
    "<|vision_start|><|image_pad|><|image_pad|><|vision_end|>Describe.", "text<|endoftext|>more",
    "<tool_call>call</tool_call>", "<|im_start|", "", " ", "\n", "a\u00a0b non-breaking", "x   \n  y",
    "unseen words: zygote quokka xylophone", "$$$ %%% ^^^ ~~~ ```code```",
]


def train_tokenizer(vocab_size, merges_style, with_plain_added):
    """A byte-level BPE built as Qwen2's tokenizer.json is (NFC, regex split + ByteLevel, BPE, ByteLevel decoder)."""
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=[])
    tok.train_from_iterator(CORPUS * 3, trainer)
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in QWEN2_VL_SPECIAL])
    if with_plain_added:
        tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in QWEN25_VL_PLAIN])
    spec = json.loads(tok.to_str())
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}
    spec["post_processor"], spec["decoder"] = dict(byte_level), dict(byte_level)  # as Qwen2's tokenizer.json
    if merges_style == "strings":  # the older tokenizer.json form, as most published Qwen2 files have it
        spec["model"]["merges"] = [" ".join(m) if isinstance(m, list) else m for m in spec["model"]["merges"]]
    else:
        spec["model"]["merges"] = [m.split(" ") if isinstance(m, str) else m for m in spec["model"]["merges"]]
    return spec


def save_tokenizer(spec, out_dir):
    tok = Tokenizer.from_str(json.dumps(spec))
    fast = Qwen2TokenizerFast(tokenizer_object=tok, bos_token=None, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                              unk_token=None, errors="replace", clean_up_tokenization_spaces=False,
                              split_special_tokens=False, model_max_length=32768)
    fast.save_pretrained(out_dir)
    # Published checkpoints keep the chat template inside tokenizer_config.json.
    path = os.path.join(out_dir, "tokenizer_config.json")
    config = json.load(open(path))
    config["chat_template"] = CHAT_TEMPLATE
    for extra in ("vocab.json", "merges.txt", "chat_template.jinja"):
        if os.path.exists(os.path.join(out_dir, extra)):
            os.remove(os.path.join(out_dir, extra))
    with open(path, "w") as f:
        json.dump(config, f, indent=2, ensure_ascii=False)
        f.write("\n")
    # tokenizers 0.22 always writes [a, b] merge pairs: write the chosen style ourselves.
    with open(os.path.join(out_dir, "tokenizer.json"), "w") as f:
        json.dump(spec, f, indent=2, ensure_ascii=False)
        f.write("\n")
    return Qwen2TokenizerFast.from_pretrained(out_dir)


def model_config(spec, tok):
    ids = {t: tok.token_to_id(t) for t in QWEN2_VL_SPECIAL}
    vocab = (tok.get_vocab_size(with_added_tokens=True) + 31) // 32 * 32  # padded rows, as the real ones have
    text = dict(vocab_size=vocab, hidden_size=64, intermediate_size=160, num_hidden_layers=4, num_attention_heads=4,
                num_key_value_heads=2, max_position_embeddings=4096, rope_theta=1000000.0, rms_norm_eps=1e-6,
                rope_scaling={"type": "mrope", "mrope_section": [2, 3, 3]}, bos_token_id=ids["<|endoftext|>"],
                eos_token_id=ids["<|im_end|>"], initializer_range=0.08)
    common = dict(image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
                  vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"])
    if spec["family"] == "qwen2_vl":
        vision = dict(depth=2, embed_dim=32, hidden_size=64, mlp_ratio=4, num_heads=2, in_channels=3, patch_size=14,
                      spatial_merge_size=2, temporal_patch_size=2, initializer_range=0.08)
        return Qwen2VLConfig(text_config=dict(text, tie_word_embeddings=False), vision_config=vision,
                             tie_word_embeddings=False, **common)
    # window_size 56 px = 2 merged units: the 4x5 and 2x4 merged grids split into windows (with padding).
    vision = dict(depth=4, hidden_size=32, intermediate_size=80, num_heads=2, in_channels=3, patch_size=14,
                  spatial_merge_size=2, temporal_patch_size=2, window_size=56, out_hidden_size=64,
                  fullatt_block_indexes=[1, 3], tokens_per_second=2, initializer_range=0.08)
    return Qwen2_5_VLConfig(text_config=dict(text, tie_word_embeddings=True), vision_config=vision,
                            tie_word_embeddings=True, **common)


MODEL_CLASSES = {"qwen2_vl": Qwen2VLForConditionalGeneration, "qwen2_5_vl": Qwen2_5_VLForConditionalGeneration}


def make_checkpoint(name, spec, out_dir, tok):
    torch.manual_seed(spec["seed"])
    config = model_config(spec, tok)
    model = MODEL_CLASSES[spec["family"]](config).eval()
    with torch.no_grad():  # non-trivial norm weights and biases, so that a loader mixing them up fails
        for pname, p in model.named_parameters():
            if pname.endswith(".bias") or "norm" in pname or "ln_" in pname:
                p.copy_(p + 0.1 * torch.randn_like(p))
        # Logits a few units apart: greedy margins far above float32 noise, lens distributions not flat.
        # Tied: small embeddings (else every step repeats the input token) and a final norm that scales up.
        if config.tie_word_embeddings:
            text_parts(model)[0].weight.mul_(0.3)
            text_parts(model)[2].weight.mul_(15.0)
        else:
            model.lm_head.weight.mul_(5.0)
    model = model.to(spec["dtype"])
    kw = {"safe_serialization": True}
    if spec["shard"]:
        kw["max_shard_size"] = spec["shard"]
    model.save_pretrained(out_dir, **kw)  # 4.57 writes the < 4.52 names (its reverse key mapping)
    put_architectures_on_top(out_dir)
    if spec["layout"] == "from-4.52":
        rename_to_new_layout(out_dir)
    else:
        rewrite_config_old_style(out_dir)


def put_architectures_on_top(out_dir):
    """4.57's Qwen2-VL config forwards `architectures` into text_config; published configs have it on top."""
    path = os.path.join(out_dir, "config.json")
    config = json.load(open(path))
    config["architectures"] = config["text_config"].pop("architectures")
    write_json(path, dict(sorted(config.items())), ascii_only=True)


def rename_to_new_layout(out_dir):
    """model.* -> model.language_model.*, visual.* -> model.visual.* (lm_head stays), in every shard and the index."""
    def new(k):
        if k.startswith("visual."):
            return "model." + k
        if k.startswith("model."):
            return "model.language_model." + k[len("model."):]
        return k
    index_path = os.path.join(out_dir, "model.safetensors.index.json")
    index = json.load(open(index_path))
    for shard in sorted(set(index["weight_map"].values())):
        path = os.path.join(out_dir, shard)
        save_file({new(k): v for k, v in load_file(path).items()}, path, metadata={"format": "pt"})
    index["weight_map"] = {new(k): v for k, v in sorted(index["weight_map"].items())}
    with open(index_path, "w") as f:
        json.dump(index, f, indent=2)
        f.write("\n")


def rewrite_config_old_style(out_dir):
    """config.json as Qwen2-VL-2B-Instruct publishes it: text fields at the top, rope_scaling type "mrope"."""
    path = os.path.join(out_dir, "config.json")
    config = json.load(open(path))
    text = config.pop("text_config")
    for key in ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                "num_key_value_heads", "max_position_embeddings", "rope_theta", "rms_norm_eps", "hidden_act",
                "max_window_layers", "sliding_window", "use_sliding_window", "attention_dropout", "bos_token_id",
                "eos_token_id", "tie_word_embeddings", "initializer_range", "use_cache", "architectures"):
        if key in text:
            config[key] = text[key]
    config["rope_scaling"] = {"type": "mrope", "mrope_section": text["rope_scaling"]["mrope_section"]}
    config["torch_dtype"] = config.pop("dtype")
    vision = config["vision_config"]
    vision.update(in_chans=vision["in_channels"], spatial_patch_size=vision["patch_size"])
    config["vision_config"] = {k: vision[k] for k in ("depth", "embed_dim", "mlp_ratio", "num_heads", "in_chans",
                                                      "hidden_size", "patch_size", "spatial_merge_size",
                                                      "spatial_patch_size", "temporal_patch_size")}
    with open(path, "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")


def save_processing_files(out_dir, spec):
    processor = Qwen2VLImageProcessor(min_pixels=spec["min_pixels"], max_pixels=spec["max_pixels"])
    processor.save_pretrained(out_dir)
    return Qwen2VLImageProcessor.from_pretrained(out_dir)


def versions():
    return {"python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__,
            "tokenizers": tokenizers.__version__, "numpy": np.__version__, "Pillow": PIL.__version__}


def summary(t):
    t = t.detach().double().flatten()
    return {"first": t[:8].tolist(), "l2": t.norm().item(), "sum": t.sum().item()}


def checksum(t):
    return {"shape": list(t.shape), "sum": float(t.double().sum()), "first": [float(v) for v in t.flatten()[:16]],
            "sha256_f32": hashlib.sha256(t.float().contiguous().numpy().tobytes()).hexdigest()}


def prompt_text(tok, question):
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
    return tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


def prepare(tok, image_processor, model, case):
    """What Qwen2VLProcessor does for one image: pixel values + grid, <|image_pad|> expanded to t*h*w/merge^2."""
    image_file, question = case
    image = Image.open(os.path.join(ROOT, "tests", "data", "images", image_file)).convert("RGB")
    inputs = image_processor(images=[image], return_tensors="pt")
    grid = inputs["image_grid_thw"]
    count = int(grid.prod()) // image_processor.merge_size ** 2
    text = prompt_text(tok, question)
    expanded = text.replace("<|image_pad|>", "<|image_pad|>" * count)
    ids = tok(expanded, return_tensors="pt")["input_ids"]
    return image, text, inputs["pixel_values"], grid, ids


class BlockTaps:
    """Every decoder block's output (before the final norm) at the last position, one row per forward call."""

    def __init__(self, layers):
        self.rows = [[] for _ in layers]
        self.handles = [layer.register_forward_hook(self.hook(i)) for i, layer in enumerate(layers)]

    def hook(self, i):
        def keep(module, inputs, output):
            out = output[0] if isinstance(output, tuple) else output
            self.rows[i].append(out[0, -1].detach().clone())
        return keep

    def remove(self):
        for h in self.handles:
            h.remove()


def text_parts(model):
    inner = model.model
    return inner.language_model.embed_tokens, inner.language_model.layers, inner.language_model.norm, model.lm_head


def streams_of(model, ids, pixels, grid, steps):
    """Greedy decoding with HF's generate; per step the residual stream [L+1, hidden] at the predicting position
    (layer 0 = embeddings), the attention rows [L, heads, keys] there, and the step's scores."""
    embed, layers, _, _ = text_parts(model)
    taps = BlockTaps(layers)
    emb_rows = []
    handle = embed.register_forward_hook(lambda m, i, o: emb_rows.append(o[0, -1].detach().clone()))
    with torch.no_grad():
        out = model.generate(input_ids=ids, pixel_values=pixels, image_grid_thw=grid, attention_mask=torch.ones_like(ids),
                             max_new_tokens=steps, min_new_tokens=steps, do_sample=False, num_beams=1, eos_token_id=None,
                             pad_token_id=None, output_attentions=True, output_scores=True, return_dict_in_generate=True)
    taps.remove()
    handle.remove()
    new = out.sequences[0, ids.shape[1]:].tolist()
    streams = [torch.stack([emb_rows[s]] + [taps.rows[l][s] for l in range(len(layers))]) for s in range(len(new))]
    attentions = [torch.stack([a[0, :, -1, :] for a in step]) for step in out.attentions]
    return new, streams, attentions, [s[0] for s in out.scores]


def run_case(model, tok, image_processor, case, compute):
    image, text, pixels, grid, ids = prepare(tok, image_processor, model, case)
    mask = torch.ones_like(ids)
    inner = model.model
    with torch.no_grad():
        position_ids, deltas = inner.get_rope_index(ids, grid, None, mask)
        features = inner.get_image_features(pixels.to(compute), grid)
        features = torch.cat(list(features)) if isinstance(features, (list, tuple)) else features
    new, streams, attentions, scores = streams_of(model, ids, pixels.to(compute), grid, MAX_NEW_TOKENS)
    _, _, norm, head = text_parts(model)
    steps = []
    for s, (token, stream, attn, score) in enumerate(zip(new, streams, attentions, scores)):
        steps.append({"step": s, "token_id": token, "margin": lead(score.float(), token),
                      "residual": stream.float().tolist(), "lens": lens_distributions(norm, head, stream, token),
                      "attention_last_row": attn.float().tolist()})
    image_positions = (ids[0] == model.config.image_token_id).nonzero().flatten().tolist()
    return {
        "image": case[0], "image_size_wh": list(image.size), "question": case[1], "prompt": text,
        "input_ids": ids[0].tolist(), "image_grid_thw": grid[0].tolist(), "num_image_tokens": len(image_positions),
        "image_positions": [image_positions[0], image_positions[-1] + 1],
        "pixel_values": checksum(pixels), "pixel_values_key": "case%d" % CASES.index(case),
        "position_ids": position_ids[:, 0].tolist(), "rope_delta": int(deltas.flatten()[0]),
        "image_features": {"shape": list(features.shape), "values": features.float().tolist()},
        "new_token_ids": new, "step_margins": [st["margin"] for st in steps],
        "decoded": tok.decode(new, skip_special_tokens=True), "decoded_keep_special": tok.decode(new),
        "steps": steps,
    }, pixels, ids, grid


def rounding_tolerances(model, ids, pixels, grid, new_tokens, reference_stream):
    seq = torch.cat([ids, torch.tensor([new_tokens[:-1]])], dim=1)
    last = ids.shape[1] - 1
    embed, layers, _, _ = text_parts(model)

    def forward():
        rows = []
        hooks = [embed.register_forward_hook(lambda m, i, o: rows.append(o[0, last].detach().double()))]
        hooks += [l.register_forward_hook(lambda m, i, o: rows.append(
            (o[0] if isinstance(o, tuple) else o)[0, last].detach().double())) for l in layers]
        with torch.no_grad():
            out = model(input_ids=seq, pixel_values=pixels, image_grid_thw=grid, attention_mask=torch.ones_like(seq))
        for h in hooks:
            h.remove()
        return rows, out.logits[0, last:].double()

    hidden, logits = forward()
    assert logits.argmax(-1).tolist() == new_tokens, "teacher-forced pass disagrees with generate()"
    drift = max(((a - b.double()).norm() / b.double().norm()).item() for a, b in zip(hidden, reference_stream))
    assert drift < 1e-4, "teacher-forced stream differs from generate's: %g" % drift
    model_summary = rounding_runs(forward, hidden, logits, new_tokens)
    model_summary["what"] = "prompt's last position, residual stream layers 0..L (steps[0].residual); greedy step margins"
    return model_summary


def tokenization(tok):
    texts = []
    for text in TOKENIZER_TEXTS:
        ids = tok(text, add_special_tokens=True)["input_ids"]
        texts.append({"text": text, "ids": ids, "tokens": tok.convert_ids_to_tokens(ids),
                      "decode_skip_special": tok.decode(ids, skip_special_tokens=True),
                      "decode_keep_special": tok.decode(ids, skip_special_tokens=False),
                      "decode_each": [tok.decode([i]) for i in ids]})
    return texts


# Characters the random texts are drawn from: every class Qwen2's regex distinguishes, incl. the
# whitespace and digit characters where regex engines may disagree (NEL, NBSP, U+2028, U+3000,
# superscript and Arabic-Indic digits), combining marks, emoji and pieces of added tokens.
RANDOM_ALPHABET = (list("abcXYZ") + ["é", "ß", "Ω", "ж", "中", "ｱ", "\u0301", "\u0308"] + list("0129") + ["²", "٣", "Ⅻ"] +
                   list(" \t\n\r") + ["\u00a0", "\u0085", "\u2028", "\u3000", "\u200b", "\u000b", "\u000c"] +
                   list("'.,!?-_()<>|/\\\"") + ["'s", "'LL", "'Ve", "😀", "👍🏽", "\U0001F9D1\u200d\U0001F4BB", "<|im_end|>",
                                             "<|image_pad|>", "<tool_call>", "<|im_", "\x00", "\x7f"])


def random_texts(tok, count=300, seed=5):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        text = "".join(RANDOM_ALPHABET[i] for i in rng.integers(0, len(RANDOM_ALPHABET), rng.integers(1, 24)))
        out.append({"text": text, "ids": tok(text)["input_ids"]})
    return out


def write_json(path, value, ascii_only=False, compact=False):
    with open(path, "w") as f:
        json.dump(value, f, ensure_ascii=ascii_only, **({"separators": (",", ":")} if compact else {"indent": 1}))
        f.write("\n")


def make(name, spec, root):
    out_dir = os.path.join(root, name)
    shutil.rmtree(out_dir, ignore_errors=True)
    os.makedirs(out_dir)
    tok = save_tokenizer(train_tokenizer(spec["bpe_vocab"], spec["merges"], spec["family"] == "qwen2_5_vl"), out_dir)
    make_checkpoint(name, spec, out_dir, tok.backend_tokenizer)
    image_processor = save_processing_files(out_dir, spec)
    compute = torch.float32
    model, info = MODEL_CLASSES[spec["family"]].from_pretrained(out_dir, dtype=compute, attn_implementation="eager",
                                                                output_loading_info=True)
    model.eval()
    assert not any(info.values()), "checkpoint does not load back cleanly: %s" % info
    check_config(model.config, spec)
    cases, pixels = [], {}
    for case in CASES:
        ref, pv, ids, grid = run_case(model, tok, image_processor, case, compute)
        pixels[ref["pixel_values_key"]] = pv.float().contiguous()
        if spec["dtype"] == torch.bfloat16:
            ref["bf16_rounding_model"] = rounding_tolerances(model, ids, pv.to(compute), grid, ref["new_token_ids"],
                                                             [torch.tensor(r) for r in ref["steps"][0]["residual"]])
            ref["bf16_run_new_token_ids"] = bf16_tokens(out_dir, spec, ids, pv, grid)
        # float32 implementations differ by ~1e-5 in the logits: a narrower greedy lead would make the test flaky.
        assert min(ref["step_margins"]) > MIN_MARGIN, "near-tie in %s %s: pick another seed" % (name, case)
        cases.append(ref)
        print(name, case[0], "grid", ref["image_grid_thw"], "len", len(ref["input_ids"]), "->", ref["new_token_ids"],
              "margins", [round(m, 3) for m in ref["step_margins"]], flush=True)
    save_file(pixels, os.path.join(out_dir, "reference_pixels.safetensors"))
    config = json.load(open(os.path.join(out_dir, "config.json")))
    write_json(os.path.join(out_dir, "reference.json"), {
        "model_dir": name, "generated_by": "scripts/reference/make_qwen_fixtures.py", "versions": versions(),
        "compute": {"dtype": "float32", "weights_dtype_on_disk": str(spec["dtype"]).replace("torch.", ""),
                    "attn_implementation": "eager", "threads": 1, "max_new_tokens": MAX_NEW_TOKENS,
                    "stop_at_eos": False, "tensor_layout": spec["layout"]},
        "architecture": config["architectures"][0], "min_pixels": spec["min_pixels"], "max_pixels": spec["max_pixels"],
        "num_layers": 4, "cases": cases}, compact=True)
    write_json(os.path.join(out_dir, "smart_resize.json"), smart_resize_table(image_processor))
    write_json(os.path.join(out_dir, "tokenization.json"), {
        "generated_by": "scripts/reference/make_qwen_fixtures.py", "versions": versions(),
        "vocab_size_with_added": tok.backend_tokenizer.get_vocab_size(with_added_tokens=True),
        "added_tokens": {t.content: i for i, t in tok.added_tokens_decoder.items()},
        "special_tokens": sorted(t.content for t in tok.added_tokens_decoder.values() if t.special),
        "texts": tokenization(tok), "random_texts": random_texts(tok)})


def check_config(config, spec):
    """The configuration transformers read back is the one intended (old-style config.json included)."""
    text = config.text_config
    assert text.rope_scaling["mrope_section"] == [2, 3, 3], text.rope_scaling
    assert config.tie_word_embeddings == (spec["family"] == "qwen2_5_vl"), config.tie_word_embeddings
    assert text.num_hidden_layers == 4 and text.num_key_value_heads == 2 and text.hidden_size == 64


def smart_resize_table(image_processor):
    """smart_resize on sizes that hit every branch: both limits, and x.5 multiples of 28 (round half to even)."""
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize
    sizes = [(361, 640), (480, 640), (7, 13), (28, 28), (42, 70), (70, 42), (98, 98), (42, 126), (126, 42), (56, 84),
             (55, 85), (14, 300), (300, 14), (100, 100), (1000, 20), (333, 500), (683, 1024), (28, 4000)]
    rows = []
    for h, w in sizes:
        try:
            rows.append({"height": h, "width": w, "resized": list(smart_resize(h, w, 28, image_processor.min_pixels,
                                                                               image_processor.max_pixels))})
        except ValueError as e:  # aspect ratio over 200
            rows.append({"height": h, "width": w, "error": str(e)})
    return {"factor": 28, "min_pixels": image_processor.min_pixels, "max_pixels": image_processor.max_pixels,
            "sizes": rows}


def bf16_tokens(out_dir, spec, ids, pixels, grid):
    """For information: transformers' own bfloat16 run (CPU-dependent; the tests use the rounding model)."""
    model = MODEL_CLASSES[spec["family"]].from_pretrained(out_dir, dtype=torch.bfloat16,
                                                          attn_implementation="eager").eval()
    with torch.no_grad():
        out = model.generate(input_ids=ids, pixel_values=pixels.to(torch.bfloat16), image_grid_thw=grid,
                             attention_mask=torch.ones_like(ids), max_new_tokens=MAX_NEW_TOKENS,
                             min_new_tokens=MAX_NEW_TOKENS, do_sample=False, eos_token_id=None, pad_token_id=None)
    return out[0, ids.shape[1]:].tolist()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "data"))
    ap.add_argument("--only", choices=sorted(FIXTURES))
    args = ap.parse_args()
    torch.set_num_threads(1)
    for name, spec in FIXTURES.items():
        if args.only in (None, name):
            make(name, spec, args.out)


if __name__ == "__main__":
    main()
