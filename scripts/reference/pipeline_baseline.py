#!/usr/bin/env python3
"""The paper's probing pipeline in Python, as the baseline `lvlm-probe bench` is compared with
(docs/performance.md). Run by hand, never by the tests:

    /opt/refpy/bin/python scripts/reference/pipeline_baseline.py --model DIR --image photo.jpg \
        --input-ids 1,319,... --max-new-tokens 32 --threads 2 [--literal-first-step] [--json]

What it does, timed step by step (the same work as `lvlm-probe run`, the way Wang et al.'s released
scripts do it):
  1. imports torch and transformers (timed from interpreter start);
  2. loads LlavaForConditionalGeneration (float32, or bfloat16 with --dtype bf16) and CLIPImageProcessor from the checkpoint, and
     fails unless every weight was found and used (no missing or unexpected keys);
  3. model.generate(greedy, exactly N new tokens, output_hidden_states=True,
     return_dict_in_generate=True); a stopping criterion timestamps every step, which splits the
     time into prefill and per-step decoding;
  4. the lens in Python: for every generated token, every layer's hidden state at the predicting
     position goes through lm_head, softmax, and the Jensen-Shannon divergence between adjacent
     layers (a Python loop over layers, float32 as the paper's code). With --literal-first-step the
     first step applies lm_head + softmax to every prompt position of every layer, as the released
     heatmap script does.
It prints the generated ids (to compare with lvlm-probe's), the timings and the peak RSS.
"""
import time

T_START = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True)
    p.add_argument("--image", required=True)
    p.add_argument("--input-ids", required=True, help="comma-separated prompt ids with one image token")
    p.add_argument("--max-new-tokens", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--dtype", choices=["f32", "bf16"], default="f32",
                   help="weights and compute dtype (bf16: as `lvlm-probe run --dtype bf16`; a 7B model in f32 needs 28 GB)")
    p.add_argument("--literal-first-step", action="store_true",
                   help="step 0: lens over every prompt position of every layer (the released heatmap script)")
    p.add_argument("--stop-at-eos", action="store_true", help="stop at EOS (default: exactly N tokens, as bench)")
    p.add_argument("--json", action="store_true")
    return p.parse_args()


def js_divergence(p, q):
    """JS(P, Q), natural log, 0 log 0 = 0; p and q are probability vectors."""
    import torch
    m = 0.5 * (p + q)
    kl_pm = torch.where(p > 0, p * (p.log() - m.log()), torch.zeros_like(p)).sum()
    kl_qm = torch.where(q > 0, q * (q.log() - m.log()), torch.zeros_like(q)).sum()
    return float(0.5 * kl_pm + 0.5 * kl_qm)


def lens_step(model, layers_hidden, position):
    """One token: lm_head on every layer's hidden state at `position`, softmax, adjacent JS."""
    import torch
    head = model.language_model.lm_head
    probs = [torch.softmax(head(h[0, position]).float(), -1) for h in layers_hidden]
    return [js_divergence(probs[i - 1], probs[i]) for i in range(1, len(probs))]


def main():
    args = parse_args()
    import torch
    import transformers
    from PIL import Image
    from transformers import CLIPImageProcessor, LlavaForConditionalGeneration, StoppingCriteria
    t_imports = time.perf_counter()
    torch.set_num_threads(args.threads)

    model, info = LlavaForConditionalGeneration.from_pretrained(
        args.model, torch_dtype=torch.bfloat16 if args.dtype == "bf16" else torch.float32,
        output_loading_info=True)
    model.eval()
    problems = {k: v for k, v in info.items() if v}
    if problems:
        raise SystemExit(f"{args.model}: transformers reports {problems}")
    processor = CLIPImageProcessor.from_pretrained(args.model)
    t_load = time.perf_counter()

    ids = torch.tensor([[int(x) for x in args.input_ids.split(",")]])
    pixels = processor(Image.open(args.image).convert("RGB"), return_tensors="pt")["pixel_values"]
    stamps = []

    class Stamp(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            stamps.append(time.perf_counter())
            return False

    n = args.max_new_tokens
    with torch.no_grad():
        t0 = time.perf_counter()
        out = model.generate(input_ids=ids, pixel_values=pixels, do_sample=False, num_beams=1,
                             max_new_tokens=n, min_new_tokens=0 if args.stop_at_eos else n,
                             output_hidden_states=True, return_dict_in_generate=True,
                             stopping_criteria=[Stamp()])
        t_generate = time.perf_counter()
        new_ids = out.sequences[0, ids.shape[1]:].tolist()
        for step, hidden in enumerate(out.hidden_states):
            if step == 0 and args.literal_first_step:
                head = model.language_model.lm_head
                for h in hidden:  # [1, S, hidden]: every prompt position of every layer
                    torch.softmax(head(h[0]).float(), -1)
            lens_step(model, hidden, -1)
        t_lens = time.perf_counter()

    steps = [b - a for a, b in zip(stamps, stamps[1:])]
    result = {
        "transformers": transformers.__version__, "torch": torch.__version__, "threads": args.threads,
        "literal_first_step": args.literal_first_step, "new_token_ids": new_ids,
        "seconds": {"imports": t_imports - T_START, "load": t_load - t_imports, "generate": t_generate - t0,
                    "prefill": stamps[0] - t0, "decode_step_median": sorted(steps)[len(steps) // 2] if steps else 0,
                    "lens": t_lens - t_generate, "total": t_lens - T_START},
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }
    if args.json:
        print(json.dumps(result))
    else:
        s = result["seconds"]
        print(f"new ids {new_ids}")
        print(f"imports {s['imports']:.2f} s, load {s['load']:.2f} s, generate {s['generate']:.2f} s "
              f"(prefill {s['prefill']:.2f} s, {1000 * s['decode_step_median']:.0f} ms per decoding step), "
              f"lens {s['lens']:.2f} s; total {s['total']:.2f} s; peak RSS {result['peak_rss_bytes'] / 2**30:.2f} GiB")


if __name__ == "__main__":
    main()
