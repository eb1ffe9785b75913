#!/usr/bin/env python3
"""Regenerates the seed corpora in tests/fuzz/corpus/<target>/ from the real fixtures in
tests/data (small files only) plus a few hand-written edge cases. Run from anywhere:
    python3 tests/fuzz/make_corpus.py
Seeds are committed; the fuzzers only read them (fuzz.sh copies them to a scratch corpus)."""
import hashlib
import json
import os
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "data")
OUT = os.path.join(HERE, "corpus")
MAX_SEED = 16 * 1024  # bytes; "small files only"


def put(target, name, data):
    if isinstance(data, str):
        data = data.encode()
    if len(data) > MAX_SEED:
        return
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def data(*parts):
    return os.path.join(DATA, *parts)


def safetensors_seeds():
    # fuzz_safetensors_header input: u64 data-section size, then the header text.
    files = []
    for root, _, names in os.walk(DATA):
        files += [os.path.join(root, n) for n in names if n.endswith(".safetensors")]
    for path in sorted(files):
        b = open(path, "rb").read()
        n = struct.unpack("<Q", b[:8])[0]
        header = b[8:8 + n]
        rel = os.path.relpath(path, DATA).replace("/", "_")
        put("safetensors_header", rel, struct.pack("<Q", len(b) - 8 - n) + header)
    small = {"a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
             "b": {"dtype": "BF16", "shape": [3], "data_offsets": [16, 22]},
             "__metadata__": {"format": "pt"}}
    put("safetensors_header", "small", struct.pack("<Q", 22) + json.dumps(small).encode())
    put("safetensors_header", "empty_object", struct.pack("<Q", 0) + b"{}")
    put("safetensors_header", "overflow_shape", struct.pack("<Q", 8) +
        b'{"x":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}}')


def config_seeds():
    for root, _, names in os.walk(DATA):
        for n in names:
            if n in ("config.json", "preprocessor_config.json", "generation_config.json"):
                path = os.path.join(root, n)
                rel = os.path.relpath(path, DATA).replace("/", "_")
                put("config", rel, open(path, "rb").read())
    put("config", "empty_object", "{}")
    put("config", "array", "[1, 2]")
    put("config", "absurd", json.dumps({"text_config": {"hidden_size": 1 << 30, "vocab_size": 2**31 - 1,
                                                        "num_hidden_layers": 1000000},
                                        "vision_config": {"image_size": 1 << 30, "patch_size": 1}}))
    put("config", "rope_scaling", json.dumps({"text_config": {"rope_scaling": {"type": "linear", "factor": 2.0}}}))
    put("config", "size_hw", json.dumps({"size": {"height": 32, "width": 48}, "crop_size": 16, "resample": 2}))


def report_seeds():
    put("report", "minimal", json.dumps({
        "schema": "lvlm-probe/report/1",
        "model": {"num_layers": 2},
        "output": {"token_ids": [5], "text": "x"},
        "stages": {"critical_layer": 1, "mutation_layer": 2},
        "tokens": [{k: [0.1, 0.2, 0.3] for k in
                    ("p_token", "entropy", "d_prev", "d_final", "h_norm", "cos_prev", "cos_final")}],
    }))
    put("report", "wrong_schema", '{"schema": "lvlm-probe/report/9"}')
    put("report", "summary_schema", '{"schema": "lvlm-probe/summary/1", "layers": []}')
    put("report", "truncated", '{"schema": "lvlm-probe/report/1", "model": {"num_')
    for path in (data("reports", "demo-report.json"),):
        b = open(path, "rb").read()
        if len(b) <= MAX_SEED:
            put("report", os.path.basename(path), b)
        # A trimmed copy (two tokens) keeps the seed small but complete.
        r = json.loads(b)
        r["tokens"] = r["tokens"][:2]
        r["output"]["token_ids"] = r["output"]["token_ids"][:2]
        r.pop("prompt_positions", None)
        put("report", "demo-report-2-tokens.json", json.dumps(r, separators=(",", ":")))


def image_seeds():
    for root, _, names in os.walk(data("images")):
        for n in sorted(names):
            path = os.path.join(root, n)
            if os.path.getsize(path) <= 4096 and not n.endswith((".json", ".rgb")):
                put("image", n, open(path, "rb").read())
    put("image", "test.png", open(data("tiny-llava", "test.png"), "rb").read())


def sentencepiece_seeds():
    # First byte even: the rest is a model; odd: the rest is text for the fixture's model.
    put("sentencepiece", "model", b"\x00" + open(data("tiny-llava", "tokenizer.model"), "rb").read())
    texts = ["USER: <image>\nWhat is shown in this image? ASSISTANT:", "  hello   world  ",
             "caf\u00e9 \u2581 \U0001F600 \u4e2d\u6587", "\x00\x01\n\t", "<s></s><unk>"]
    for i, t in enumerate(texts):
        put("sentencepiece", "text%d" % i, b"\x01" + t.encode())
    put("sentencepiece", "text_bad_utf8", b"\x01a\xff\xc3(b\xed\xa0\x80c")



def bpe_tokenizer_seeds():
    # First byte even: the rest is a tokenizer.json; odd: the rest is text for the Qwen2-VL fixture's.
    put("bpe_tokenizer", "tokenizer", b"\x00" + open(data("tiny-qwen2-vl", "tokenizer.json"), "rb").read())
    tiny = {"added_tokens": [{"id": 300, "content": "<x>", "special": True, "normalized": False, "lstrip": True}],
            "normalizer": {"type": "NFC"},
            "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": True, "use_regex": True},
            "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<x>"}},
                                                                        {"Sequence": {"id": "A"}}],
                               "special_tokens": {"<x>": {"ids": [300]}}},
            "decoder": {"type": "ByteLevel"}, "model": {"type": "BPE", "vocab": {}, "merges": []}}
    put("bpe_tokenizer", "tiny_without_bytes", b"\x02" + json.dumps(tiny).encode())
    texts = ["<|im_start|>user\nWhat is shown in this image?<|im_end|>", "  hello   world  \r\n\n",
             "caf\u00e9 e\u0301 \U0001F600 \u4e2d\u6587 \u0085\u00a0\u3000", "It's 12:45, WE'LL <tool_call>",
             "<|image_pad|> pad"]
    for i, t in enumerate(texts):
        put("bpe_tokenizer", "text%d" % i, b"\x01" + t.encode())
    put("bpe_tokenizer", "text_bad_utf8", b"\x01a\xff\xc3(b\xed\xa0\x80c")


if __name__ == "__main__":
    shutil.rmtree(OUT, ignore_errors=True)
    safetensors_seeds()
    config_seeds()
    report_seeds()
    image_seeds()
    sentencepiece_seeds()
    bpe_tokenizer_seeds()
    for t in sorted(os.listdir(OUT)):
        files = os.listdir(os.path.join(OUT, t))
        size = sum(os.path.getsize(os.path.join(OUT, t, f)) for f in files)
        print("%-20s %3d seeds %7d bytes" % (t, len(files), size))
