#!/usr/bin/env python3
"""Trains nano-llava, a small LlavaForConditionalGeneration, on the scenes of scenes.py.

Run by hand, never by the tests (Python 3.11, torch 2.x CPU, transformers 4.40.2, sentencepiece, Pillow):
    OMP_NUM_THREADS=1 python scripts/train/train_nano.py --out /tmp/nano-run
writes into --out: the tokenizer (tokenizer.model trained here, HF tokenizer files), checkpoint/ (the
model in Hugging Face layout, float16, rewritten every --save-every steps so a partial run is usable),
state.pt (float32 weights for export) and log.jsonl (loss, accuracy per question type as it goes).

Two phases, both on freshly drawn scenes (no epoch, no data set on disk):
  1. vision head start: the CLIP tower learns, through an auxiliary head on its penultimate layer (the
     layer LLaVA reads), the (shape, colour) in each half of the image and the number of shapes;
  2. end to end: the language-model loss on the answer tokens (llava_v1 template), plus the auxiliary
     loss at a lower weight.
Seeds are fixed (torch, numpy; the scenes come from one numpy generator); with --threads 1 (the default)
a rerun on the same machine and versions is expected to give the same weights bit for bit (torch's CPU
kernels are deterministic on one thread); checked on short runs (6 + 6 steps of --init, twice), not on a
full one. More threads, another CPU kind or torch build may round differently, and the weights then drift.

Trained on every kind of question from the start (this script's defaults), the decoder never learned to
find the shape a colour question names: it answered about one of two shapes by chance. The shipped model
is three runs, each continuing the one before (--init): colour and "Is there a {shape}?" questions only (a
fourth --mix share), most about two shapes that differ in shape and colour (--binding-share), with a
target at the question's shape word (--query-weight); then every kind of question with that target at a
quarter weight; then an early-exit loss (--exit-weight, --exit-layers, --exit-target final) that asks the
lens at the deeper layers for the last layer's distribution. tests/data/nano-llava/README.md has the
exact commands and what each of the other flags did when tried.
"""
import argparse
import functools
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scenes  # noqa: E402
import nano_common as nc  # noqa: E402


SUB = 4  # patch-target samples per patch side


def patch_targets(objects, mask, grid):
    """Per patch of the squeezed input: the share of it each object covers, as a distribution over the 12
    (shape, colour) classes and background (12), from the scene's object mask sampled SUB x SUB times per
    patch -> float32 [grid*grid, 13]."""
    m = np.asarray(mask.resize((grid * SUB, grid * SUB), Image.NEAREST))
    m = m.reshape(grid, SUB, grid, SUB).transpose(0, 2, 1, 3).reshape(grid * grid, SUB * SUB)
    t = np.zeros((grid * grid, 13), dtype=np.float32)
    t[:, 12] = (m == 0).mean(1)
    for i, (shape, colour) in enumerate(objects):
        t[:, scenes.SHAPES.index(shape) * 4 + scenes.COLOUR_NAMES.index(colour)] += (m == i + 1).mean(1)
    return t


def aux_targets(objects_and_sides):
    """Per half of the image: class (shape*4 + colour) or 12 for empty; count - 1."""
    left, right, count = [], [], []
    for objects, sides in objects_and_sides:
        cls = {0: 12, 1: 12}
        for (shape, colour), side in zip(objects, sides):
            cls[side] = scenes.SHAPES.index(shape) * 4 + scenes.COLOUR_NAMES.index(colour)
        left.append(cls[0]), right.append(cls[1]), count.append(len(objects) - 1)
    return torch.tensor(left), torch.tensor(right), torch.tensor(count)


class AuxHead(torch.nn.Module):
    """Reads the penultimate vision layer's patch features: left / right half max-pooled separately (max,
    not mean: a shape covers a few patches of its half, and a mean drowns them in background; on a 600-step
    trial the tower named the shape right on 55 % of halves with a mean, 90 % with a max) and, with
    --patch-weight, every patch on its own against what covers it (shape and colour together)."""

    def __init__(self, width, grid):
        super().__init__()
        self.grid = grid
        self.norm = torch.nn.LayerNorm(width)
        self.side = torch.nn.Linear(width, 13)
        self.count = torch.nn.Linear(2 * width, 2)  # from both halves' pooled features
        self.patch = torch.nn.Linear(width, 13)

    def forward(self, patches):  # [B, grid*grid, width]
        x = self.norm(patches).view(patches.shape[0], self.grid, self.grid, -1)
        half = self.grid // 2
        left, right = x[:, :, :half].flatten(1, 2).amax(1), x[:, :, half:].flatten(1, 2).amax(1)
        return (self.side(left), self.side(right), self.count(torch.cat([left, right], -1)),
                self.patch(x.flatten(1, 2)))

    def loss(self, feats, items, patches, patch_weight):
        """-> (loss, left logits, right logits): halves, count and (weighted) per-patch soft cross-entropy."""
        left, right, count = aux_targets([(o, s) for o, s, *_ in items])
        pl, pr, pc, pp = self(feats)
        loss = F.cross_entropy(pl, left) + F.cross_entropy(pr, right) + F.cross_entropy(pc, count)
        if patch_weight:
            loss = loss + patch_weight * -(patches * F.log_softmax(pp, -1)).sum(-1).mean()
        return loss, (pl.argmax(-1) == left) & (pr.argmax(-1) == right)


def binding_scene(objects):
    """Two shapes that differ in shape and in colour: a colour question about one of them has two
    plausible answers and only the named shape tells them apart."""
    return len(objects) == 2 and objects[0][0] != objects[1][0] and objects[0][1] != objects[1][1]


def draw_batch(rng, size, tok, mix=scenes.TRAINING_MIX, binding_share=0.0):
    """-> (pixels [B, 3, H, W], items (objects, sides, kind, question, answer), patch targets [B, P, 13]).
    binding_share of the scenes are redrawn until they are binding scenes."""
    pixels, items, patches = [], [], []
    grid = nc.IMAGE_SIZE // nc.PATCH
    for _ in range(size):
        img, objects, sides, mask = scenes.draw_scene(rng, augment=True, with_mask=True)
        if binding_share and rng.random() < binding_share:
            while not binding_scene(objects):
                img, objects, sides, mask = scenes.draw_scene(rng, augment=True, with_mask=True)
        pixels.append(nc.preprocess(img))
        patches.append(patch_targets(objects, mask, grid))
        kind, question, answer = scenes.training_question(rng, objects, mix)
        items.append((objects, sides, kind, question, answer))
    return torch.from_numpy(np.stack(pixels)), items, torch.from_numpy(np.stack(patches))


def lm_batch(tok, items):
    """Suffix ids (after the image token) padded right, labels -100 except on the answer + </s>."""
    rows, labels = [], []
    for *_, question, answer in items:
        suffix, n_answer = tok.suffix_ids(question, answer)
        rows.append(suffix)
        labels.append([-100] * (len(suffix) - n_answer) + suffix[-n_answer:])
    n = max(map(len, rows))
    ids = torch.tensor([r + [tok.pad_id] * (n - len(r)) for r in rows])
    lab = torch.tensor([l + [-100] * (n - len(l)) for l in labels])
    return ids, lab


def answer_loss(logits, labels, per):
    """Cross-entropy on the answer tokens, averaged over all of them ("token") or first within each answer
    and then over answers ("example", so that a one-word colour answer weighs as much as a described
    scene instead of a tenth of it)."""
    if per == "token":  # the shipped model's loss, computed exactly as it was
        return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1),
                               ignore_index=-100)
    t = F.cross_entropy(logits[:, :-1].transpose(1, 2), labels[:, 1:], ignore_index=-100, reduction="none")
    counted = (labels[:, 1:] != -100).sum(1).clamp(min=1)
    return (t.sum(1) / counted).mean()


class QueryHead(torch.nn.Module):
    """Training only, never exported: reads the decoder's hidden state at the question's shape word, at a
    few layers, and predicts what the answer needs from that shape (its colour; whether it is there). A
    colour question about one of two shapes needs two steps: the shape word looks up its shape among the
    image rows, and the answer reads what that lookup found. The answer loss alone reaches the first step
    only through the second, and the models trained on it never took it; this target asks for the first
    step where it happens."""

    def __init__(self, width, layers):
        super().__init__()
        self.layers = layers
        self.heads = torch.nn.ModuleList(torch.nn.Linear(width, 6) for _ in layers)  # 4 colours, yes, no

    def loss(self, hidden, rows, targets):
        """hidden: the decoder's hidden states; rows [N] (batch, row) of shape words; targets [N] in 0..5."""
        if not len(rows):
            return hidden[0].sum() * 0
        colour = targets < 4
        total = 0
        for layer, head in zip(self.layers, self.heads):
            z = head(hidden[layer][rows[:, 0], rows[:, 1]])
            t = F.cross_entropy(z[colour, :4], targets[colour], reduction="sum") if colour.any() else 0
            p = F.cross_entropy(z[~colour, 4:], targets[~colour] - 4, reduction="sum") if (~colour).any() else 0
            total = total + (t + p) / len(rows)
        return total / len(self.layers)


@functools.lru_cache(maxsize=None)
def shape_word_index(tok, question):
    """Index in the suffix (the ids after the image token) of the question's last token that differs when
    another shape is named: the shape word's (last) token, whatever the tokenizer merged it with."""
    named = next(s for s in scenes.SHAPES if s in question)
    ids = tok.prompt_ids(question)
    back = 0
    for other in scenes.SHAPES:
        if other == named:
            continue
        alt = tok.prompt_ids(question.replace(named, other))
        k = 0
        while ids[-1 - k] == alt[-1 - k]:
            k += 1
        back = max(back, k)
    return len(ids) - 1 - back - (len(tok.prefix) + 1)


def query_targets(tok, items, image_rows):
    """(rows [N, 2], targets [N]) for the colour and presence questions of a batch."""
    rows, targets = [], []
    for b, (_, _, kind, question, answer) in enumerate(items):
        if kind == "colour":
            targets.append(scenes.COLOUR_NAMES.index(answer.rstrip(".")))
        elif kind == "presence":
            targets.append(4 if answer == "yes." else 5)
        else:
            continue
        rows.append((b, image_rows + shape_word_index(tok, question)))
    return torch.tensor(rows, dtype=torch.long).view(-1, 2), torch.tensor(targets, dtype=torch.long)


def parse_layers(text):
    """"4-11" or "4,6,8" -> [4, ..., 11] or [4, 6, 8]."""
    layers = []
    for part in text.split(","):
        first, _, last = part.partition("-")
        layers += range(int(first), int(last or first) + 1)
    return layers


def early_exit_loss(model, hidden, layers, image_rows, labels, per, final_logits=None):
    """A loss on the logit lens at the given decoder layers (their outputs through the final norm and the
    LM head, as the probe reads them), averaged over the layers: early exit as in LayerSkip (Elhoushi et
    al., 2024). Without final_logits it is the answer loss there, which asks every one of those layers for
    an ever sharper answer (their divergences keep falling layer after layer); with final_logits it is the
    KL divergence to the last layer's distribution at the answer positions (detached), which asks them
    for one distribution, so the lens settles once the answer has formed."""
    lm = model.language_model
    answer = labels[:, 1:] != -100
    target = F.log_softmax(final_logits[:, :-1][answer].detach(), -1) if final_logits is not None else None
    total = 0
    for layer in layers:
        logits = lm.lm_head(lm.model.norm(hidden[layer][:, image_rows:]))
        if target is None:
            total = total + answer_loss(logits, labels, per)
        else:
            total = total + F.kl_div(F.log_softmax(logits[:, :-1][answer], -1), target, log_target=True,
                                     reduction="batchmean")
    return total / len(layers)


def lr_at(step, total, peak, warmup):
    if step < warmup:
        return peak * (step + 1) / warmup
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup))))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--vision-steps", type=int, default=1500)
    ap.add_argument("--steps", type=int, default=2800)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1.5e-3)
    ap.add_argument("--save-every", type=int, default=100)
    ap.add_argument("--eval-every", type=int, default=400)
    ap.add_argument("--init", help="continue from this model folder (Hugging Face layout, its tokenizer kept)")
    ap.add_argument("--warmup", type=int, default=100, help="end-to-end warm-up steps")
    ap.add_argument("--eval-scenes", type=int, default=150)
    ap.add_argument("--keep-every", type=int, default=400, help="also keep state-STEP.pt every this many steps")
    ap.add_argument("--aux-weight", type=float, default=0.5, help="auxiliary loss weight end to end")
    ap.add_argument("--answer-loss", choices=["token", "example"], default="token",
                    help="average the answer loss over tokens, or within each answer and then over answers")
    ap.add_argument("--patch-weight", type=float, default=0.0,
                    help="weight of the per-patch target (what covers each patch) in the auxiliary loss")
    ap.add_argument("--query-weight", type=float, default=0.0,
                    help="weight of the shape-word target (the named shape's colour, or whether it is there, "
                         "read at the shape word at --query-layers)")
    ap.add_argument("--binding-share", type=float, default=0.0,
                    help="share of end-to-end scenes drawn as two shapes differing in shape and colour")
    ap.add_argument("--query-layers", default="1", help="decoder layers (1 = the first layer's output)")
    ap.add_argument("--exit-weight", type=float, default=0.0,
                    help="weight of the early-exit loss on the logit lens (final norm and LM head) at each of "
                         "--exit-layers, averaged over them (see --exit-target)")
    ap.add_argument("--exit-layers", default="", help="decoder layers the early-exit loss reads, e.g. 4-11")
    ap.add_argument("--exit-target", choices=["answer", "final"], default="answer",
                    help="what the lens at --exit-layers learns: the answer tokens, or the last layer's own "
                         "distribution (detached: the KL divergence to it, so the last layer is not pulled back)")
    ap.add_argument("--image-size", type=int, default=128, help="input side (square; wide scenes are squeezed)")
    ap.add_argument("--patch", type=int, default=16)
    ap.add_argument("--vision-width", type=int, default=128)
    ap.add_argument("--vision-layers", type=int, default=4, help="CLIP layers (LLaVA reads the penultimate)")
    ap.add_argument("--text-width", type=int, default=128)
    ap.add_argument("--text-layers", type=int, default=12)
    ap.add_argument("--mix", default="0.45,0.35,0.20",
                    help="shares of describe, colour, count (and optionally is-there-a-shape) questions")
    ap.add_argument("--threads", type=int, default=1, help="more than one: faster, not bit-for-bit reproducible")
    args = ap.parse_args()
    mix = tuple(float(x) for x in args.mix.split(","))
    assert len(mix) in (3, 4) and min(mix) >= 0 and sum(mix) > 0, "--mix: three or four shares"
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    os.makedirs(args.out, exist_ok=True)
    if args.init:
        tok, model = nc.load_model(args.init, args.out)
    else:
        nc.set_geometry(args.image_size, args.patch)
        tok = nc.build_tokenizer(args.out)
        model = nc.make_model(tok, args.vision_width, args.vision_layers, args.text_width, args.text_layers)
    vcfg = model.config.vision_config
    grid = vcfg.image_size // vcfg.patch_size
    aux = AuxHead(vcfg.hidden_size, grid)
    query = None  # built only when asked for: its initialisation draws from torch's generator
    if args.query_weight:
        query = QueryHead(model.config.text_config.hidden_size, parse_layers(args.query_layers))
    exit_layers = parse_layers(args.exit_layers) if args.exit_weight else []
    log = open(os.path.join(args.out, "log.jsonl"), "a")
    print(f"params {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M, prefix {len(tok.prefix)} tokens",
          flush=True)
    t0 = time.time()

    # Phase 1: vision tower + aux head only (continuing a trained model: the new aux head alone, so that
    # its random start does not disturb the tower the projector already reads).
    model.train()
    vparams = list(aux.parameters()) + ([] if args.init else list(model.vision_tower.parameters()))
    opt = torch.optim.AdamW(vparams, lr=args.lr, weight_decay=0.01)
    for step in range(args.vision_steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, args.vision_steps, args.lr, 50)
        pixels, items, patches = draw_batch(rng, args.batch, tok)
        with torch.set_grad_enabled(not args.init):
            feats = nc.vision_features(model, pixels)
        loss, halves_right = aux.loss(feats, items, patches, args.patch_weight)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 25 == 0 or step == args.vision_steps - 1:
            rec = {"phase": "vision", "step": step, "aux_loss": round(loss.item(), 4),
                   "both_halves_acc": halves_right.float().mean().item(),
                   "seconds": round(time.time() - t0, 1)}
            print(json.dumps(rec), flush=True)
            log.write(json.dumps(rec) + "\n"), log.flush()

    # Phase 2: end to end (projector and decoder from scratch, the vision tower keeps learning).
    params = list(model.parameters()) + list(aux.parameters()) + (list(query.parameters()) if query else [])
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    for step in range(args.steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, args.steps, args.lr, args.warmup)
        pixels, items, patches = draw_batch(rng, args.batch, tok, mix, args.binding_share)
        ids, lab = lm_batch(tok, items)
        feats = nc.vision_features(model, pixels)
        exit_loss = torch.zeros(())
        if query or exit_layers:
            logits, hidden = nc.lm_logits(model, tok, feats, ids, hidden=True)
            query_loss = query.loss(hidden, *query_targets(tok, items, feats.shape[1])) if query else torch.zeros(())
            if exit_layers:
                exit_loss = early_exit_loss(model, hidden, exit_layers, feats.shape[1], lab, args.answer_loss,
                                            logits if args.exit_target == "final" else None)
        else:
            logits, query_loss = nc.lm_logits(model, tok, feats, ids), torch.zeros(())
        lm_loss = answer_loss(logits, lab, args.answer_loss)
        aux_loss, _ = aux.loss(feats, items, patches, args.patch_weight)
        loss = lm_loss + args.aux_weight * aux_loss + args.query_weight * query_loss + args.exit_weight * exit_loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        if step % 25 == 0 or step == args.steps - 1:
            rec = {"phase": "lm", "step": step, "lm_loss": round(lm_loss.item(), 4),
                   "aux_loss": round(aux_loss.item(), 4), "query_loss": round(query_loss.item(), 4)}
            if exit_layers:
                rec["exit_loss"] = round(exit_loss.item(), 4)
            rec["seconds"] = round(time.time() - t0, 1)
            print(json.dumps(rec), flush=True)
            log.write(json.dumps(rec) + "\n"), log.flush()
        last = step == args.steps - 1
        if (step + 1) % args.save_every == 0 or last:
            nc.export(model, tok, os.path.join(args.out, "checkpoint"))
            torch.save(model.state_dict(), os.path.join(args.out, "state.pt"))
        if (step + 1) % args.keep_every == 0:
            torch.save(model.state_dict(), os.path.join(args.out, f"state-{step + 1}.pt"))
        if (step + 1) % args.eval_every == 0 or last:
            acc = nc.quick_eval(model, tok, np.random.default_rng(10_000 + step), args.eval_scenes)
            rec = {"phase": "eval", "step": step, "accuracy": acc, "seconds": round(time.time() - t0, 1)}
            print(json.dumps(rec), flush=True)
            log.write(json.dumps(rec) + "\n"), log.flush()
            model.train()


if __name__ == "__main__":
    main()
