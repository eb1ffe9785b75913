#!/usr/bin/env python3
"""Extra references for the text module's tests (tests/text/), beyond tests/data/tiny-llava/tokenization.json.

Run by hand, never by the tests:
    pip install --target /tmp/pb 'protobuf<4'     # HF's legacy=False path parses the model with protobuf
    PYTHONPATH=/tmp/pb /opt/refpy/bin/python scripts/reference/make_text_refs.py
writes tests/data/text/hf_text_refs.json (transformers 4.40.2; the versions used are recorded in it).

For several tokenizer directories built from the tiny fixture (the files as shipped, legacy=False,
clean_up_tokenization_spaces=True, add_prefix_space=False, "<image>" with lstrip/rstrip, no
tokenizer_config.json, special tokens missing from the vocabulary, tokenizer.model alone) it records what the
slow `LlamaTokenizer` does: encode with and without BOS, decode with and without special tokens, and
LLaVA's `tokenizer_image_token` (haotian-liu/LLaVA llava/mm_utils.py) on prompts built with the
conversation templates. Strings and id lists are hand-picked edge cases plus seeded random mixes of
fragments (special-token text, spaces, newlines, byte-fallback characters, punctuation).
"""
import json
import os
import random
import shutil
import tempfile

import sentencepiece
import transformers
from transformers import LlamaTokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURE = os.path.join(ROOT, "tests", "data", "tiny-llava")
OUT = os.path.join(ROOT, "tests", "data", "text", "hf_text_refs.json")
IMAGE_TOKEN_ID = 510

SYSTEM_LLAVA_V1 = ("A chat between a curious human and an artificial intelligence assistant. "
                   "The assistant gives helpful, detailed, and polite answers to the human's questions.")
SYSTEM_VICUNA_V1 = ("A chat between a curious user and an artificial intelligence assistant. "
                    "The assistant gives helpful, detailed, and polite answers to the user's questions.")


def tokenizer_image_token(prompt, tokenizer, image_token_index):
    """Verbatim logic of LLaVA's llava/mm_utils.py (return_tensors=None)."""
    prompt_chunks = [tokenizer(chunk).input_ids for chunk in prompt.split("<image>")]

    def insert_separator(X, sep):
        return [ele for sublist in zip(X, [sep] * len(X)) for ele in sublist][:-1]

    input_ids = []
    offset = 0
    if len(prompt_chunks) > 0 and len(prompt_chunks[0]) > 0 and prompt_chunks[0][0] == tokenizer.bos_token_id:
        offset = 1
        input_ids.append(prompt_chunks[0][0])
    for x in insert_separator(prompt_chunks, [image_token_index] * (offset + 1)):
        input_ids.extend(x[offset:])
    return input_ids


def user_message(question):
    # LLaVA's run_llava.py prepends "<image>\n"; a question that already holds <image> keeps its own.
    return question if "<image>" in question else "<image>\n" + question


def apply_template(name, question):
    if name == "raw":
        return question
    if name == "llava-hf":
        return "USER: " + user_message(question) + " ASSISTANT:"
    system = {"llava_v1": SYSTEM_LLAVA_V1, "vicuna_v1": SYSTEM_VICUNA_V1}[name]
    # conv_llava_v1 / conv_vicuna_v1: SeparatorStyle.TWO, sep " ": system + sep + "USER: " + msg + sep + "ASSISTANT:"
    return system + " USER: " + user_message(question) + " ASSISTANT:"


def load_json(name):
    with open(os.path.join(FIXTURE, name), encoding="utf-8") as f:
        return json.load(f)


def variants():
    config = load_json("tokenizer_config.json")
    special = load_json("special_tokens_map.json")
    added = load_json("added_tokens.json")
    # "<image>" eating the whitespace on both sides, to exercise the lstrip/rstrip flags.
    stripping = dict(config["added_tokens_decoder"])
    stripping["510"] = dict(stripping["510"], lstrip=True, rstrip=True)
    shipped = {"tokenizer_config.json": config, "special_tokens_map.json": special, "added_tokens.json": added}
    return [
        ("fixture", shipped),
        ("legacy_false", dict(shipped, **{"tokenizer_config.json": dict(config, legacy=False)})),
        ("cleanup", dict(shipped, **{"tokenizer_config.json": dict(config, clean_up_tokenization_spaces=True)})),
        ("no_prefix_space", dict(shipped, **{"tokenizer_config.json": dict(config, legacy=False, add_prefix_space=False)})),
        ("image_strips", dict(shipped, **{"tokenizer_config.json": dict(config, added_tokens_decoder=stripping)})),
        ("no_tokenizer_config", {"special_tokens_map.json": special, "added_tokens.json": added}),
        # Special tokens that are neither added tokens nor pieces get new ids after the vocabulary.
        ("new_specials", {"tokenizer_config.json": {"pad_token": "<pad>", "additional_special_tokens": ["<image>"]}}),
        ("model_only", {}),
    ]


FRAGMENTS = ["Hello", "world", " ", "  ", "\n", "\n\n", "\t", "<image>", "<s>", "</s>", "<unk>", "<pad>", "▁",
             "café", "日本", "😀", "?", "!", ",", ".", "'s", " n't", " 're", " ' ", "A", "what", "ASSISTANT:",
             "USER:", "<", ">", "image", "<ima", "ge>", "1", "2024", "\r\n", "$", "-", "<s >", "<IMAGE>", "ü"]

HANDPICKED_TEXTS = ["", " ", "a", "<image>", "<image><image>", "<image>\n", "\n<image>", " <image> ", "x<image>y",
                    "<s>", "</s>", "<unk>", "<pad>", "<s></s>", "<<s>>", "<s>a", "a</s>", "  <s>  ", "<s >",
                    "<IMAGE>", "▁", "▁▁a", "a▁b", "USER: <image>\nWhat? ASSISTANT:", "\r\n", "ü\u0301",
                    "ﬁ ligature", "full\u3000width", "zero\u200bwidth", "💡 idea"]


def random_texts(rng, n):
    return ["".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(1, 8))) for _ in range(n)]


def random_id_lists(rng, n, vocab):
    specials = [i for i in (0, 1, 2, 510, 511) if i < vocab]

    def one():
        r = rng.random()
        if r < 0.25:
            return rng.choice(specials)
        if r < 0.45:
            return rng.randint(3, 258)  # byte pieces
        if r < 0.55:
            return 412  # "▁"
        return rng.randint(259, 509)

    return [[one() for _ in range(rng.randint(1, 12))] for _ in range(n)]


HANDPICKED_IDS = [[], [1], [2], [0], [510], [511], [412], [412, 412], [260], [275, 412], [13], [1, 412, 13],
                  [262, 510, 262], [510, 510], [262, 1, 262], [1, 1, 262], [262, 0, 262], [262, 511], [511, 262],
                  [243, 162], [243, 162, 155, 131], [198, 262], [1, 510, 13, 287], [476, 287, 287],
                  [287, 2, 1, 287], [1, 260, 308], [510, 260, 308], [435, 412, 435]]

QUESTIONS = ["What is shown in this image?", "", " leading space", "trailing space ", "<image>\nAlready placed.",
             "Placed at the end <image>", "Two\nlines", "Literal <s> inside", "café 😀 2024?"]
RAW_PROMPTS = ["<image>\nDescribe.", "<image>", "Describe <image>", "USER: <image>\nWhat? ASSISTANT:",
               "<s><image></s>", " <image> "]


def build(tok, rng, name, files):
    vocab = len(tok)
    texts = HANDPICKED_TEXTS + random_texts(rng, 50)
    encode = [{"text": t, "ids_with_bos": tok(t).input_ids, "ids": tok(t, add_special_tokens=False).input_ids}
              for t in texts]
    ids_cases = [l for l in HANDPICKED_IDS if all(i < vocab for i in l)] + random_id_lists(rng, 60, vocab)
    decode = [{"ids": l, "skip_special": tok.decode(l, skip_special_tokens=True),
               "keep_special": tok.decode(l, skip_special_tokens=False)} for l in ids_cases]
    prompts = []
    if "<image>" in tok.get_vocab():
        for template in ("llava_v1", "vicuna_v1", "llava-hf", "raw"):
            for q in (RAW_PROMPTS if template == "raw" else QUESTIONS):
                p = apply_template(template, q)
                prompts.append({"template": template, "question": q, "prompt": p,
                                "ids": tokenizer_image_token(p, tok, IMAGE_TOKEN_ID)})
    return {"name": name, "files": files, "vocab_size": vocab, "bos_id": tok.bos_token_id, "eos_id": tok.eos_token_id,
            "special_ids": sorted(tok.all_special_ids), "encode": encode, "decode": decode, "prompts": prompts}


def dump(refs):
    """One case per line: small diffs when the references are regenerated."""
    def lines(items):
        return "[\n" + ",\n".join("   " + json.dumps(i, ensure_ascii=False) for i in items) + "\n  ]"
    out = ["{", ' "about": ' + json.dumps(refs["about"]) + ",", ' "versions": ' + json.dumps(refs["versions"]) + ",",
           ' "variants": [']
    parts = []
    for v in refs["variants"]:
        head = {k: v[k] for k in ("name", "files", "vocab_size", "bos_id", "eos_id", "special_ids")}
        body = ",\n".join(f'  "{k}": {lines(v[k])}' for k in ("encode", "decode", "prompts"))
        parts.append("  {\n  " + json.dumps(head, ensure_ascii=False)[1:-1] + ",\n" + body + "\n  }")
    out.append(",\n".join(parts))
    out.append(" ]\n}\n")
    return "\n".join(out)


def main():
    rng = random.Random(20240506)
    refs = {"about": "Slow LlamaTokenizer references for tests/text (scripts/reference/make_text_refs.py). "
                     "Each variant is a tokenizer directory: tokenizer.model from tests/data/tiny-llava plus `files`.",
            "versions": {"transformers": transformers.__version__, "sentencepiece": sentencepiece.__version__},
            "variants": []}
    for name, files in variants():
        with tempfile.TemporaryDirectory() as d:
            shutil.copy(os.path.join(FIXTURE, "tokenizer.model"), d)
            for fname, content in files.items():
                with open(os.path.join(d, fname), "w", encoding="utf-8") as f:
                    json.dump(content, f, ensure_ascii=False, indent=1)
            tok = LlamaTokenizer.from_pretrained(d)
            refs["variants"].append(build(tok, rng, name, files))
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as f:
        f.write(dump(refs))
    json.load(open(OUT, encoding="utf-8"))  # the hand-rolled layout must still be valid JSON
    print("wrote", OUT)


if __name__ == "__main__":
    main()
