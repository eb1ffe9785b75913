"""What training, export and the reference scripts share: the tokenizer, the model's shape, the image
preprocessing (CLIPImageProcessor's, re-done in numpy for speed and checked against it) and the forward
pass used in training (the same computation as LlavaForConditionalGeneration's, with the image at one
fixed place)."""
import os

import numpy as np
import sentencepiece as spm
import torch
from PIL import Image
from transformers import CLIPImageProcessor, CLIPVisionConfig, LlamaConfig, LlamaTokenizer, LlavaConfig
from transformers import LlavaForConditionalGeneration
from transformers.cache_utils import DynamicCache

import scenes

IMAGE_SIZE = 128  # the model's input side and patch; set_geometry changes them for another model
PATCH = 16
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
SYSTEM = ("A chat between a curious human and an artificial intelligence assistant. "
          "The assistant gives helpful, detailed, and polite answers to the human's questions.")


def set_geometry(image_size, patch):
    """The input side and patch every function here uses (make_model, preprocess, preprocessor_config)."""
    global IMAGE_SIZE, PATCH
    assert image_size % patch == 0 and (image_size // patch) % 2 == 0, "the patch grid must split into halves"
    IMAGE_SIZE, PATCH = image_size, patch


def llava_v1(question):
    """The llava_v1 conversation template with an empty assistant turn (as lvlm-probe builds it)."""
    return SYSTEM + " USER: <image>\n" + question + " ASSISTANT:"


def tokenizer_image_token(prompt, tokenizer, image_token_index):
    """LLaVA's llava/mm_utils.py tokenizer_image_token (return_tensors=None), as lvlm-probe does it."""
    chunks = [tokenizer(chunk).input_ids for chunk in prompt.split("<image>")]
    ids, offset = [], 0
    if chunks and chunks[0] and chunks[0][0] == tokenizer.bos_token_id:
        offset = 1
        ids.append(chunks[0][0])
    separated = [e for sub in zip(chunks, [[image_token_index] * (offset + 1)] * len(chunks)) for e in sub][:-1]
    for x in separated:
        ids.extend(x[offset:])
    return ids


def preprocessor_config():
    """Resize straight to a square (nothing is cut from wide scenes; the center crop to the same size is a
    no-op, kept because lvlm-probe and LLaVA expect one), bicubic, CLIP's mean and std."""
    return {
        "crop_size": {"height": IMAGE_SIZE, "width": IMAGE_SIZE},
        "do_center_crop": True,
        "do_convert_rgb": True,
        "do_normalize": True,
        "do_rescale": True,
        "do_resize": True,
        "image_mean": CLIP_MEAN,
        "image_processor_type": "CLIPImageProcessor",
        "image_std": CLIP_STD,
        "resample": 3,
        "rescale_factor": 1 / 255,
        "size": {"height": IMAGE_SIZE, "width": IMAGE_SIZE},
    }


def preprocess(img):
    """CLIPImageProcessor(**preprocessor_config()) on one RGB image -> float32 [3, H, W]."""
    a = np.asarray(img.convert("RGB").resize((IMAGE_SIZE, IMAGE_SIZE), Image.BICUBIC), dtype=np.float32)
    a = a * np.float32(1 / 255)
    a = (a - np.array(CLIP_MEAN, dtype=np.float32)) / np.array(CLIP_STD, dtype=np.float32)
    return a.transpose(2, 0, 1).copy()


def check_preprocess(rng):
    proc = CLIPImageProcessor(**preprocessor_config())
    for _ in range(4):
        img = scenes.draw_scene(rng)[0]
        ref = proc(images=img, return_tensors="np")["pixel_values"][0]
        assert np.abs(ref - preprocess(img)).max() < 1e-5, "numpy preprocessing differs from CLIPImageProcessor"


def corpus_lines():
    """Every templated conversation of the grammar (canonical and paraphrased questions)."""
    lines = []
    shape_pairs = [[(s, c)] for s in scenes.SHAPES for c in scenes.COLOUR_NAMES]
    two = [a + b for a in shape_pairs for b in shape_pairs if a != b]
    for objects in shape_pairs + two:
        for kind in scenes.QUESTION_KINDS:
            for q in [scenes.CANONICAL[kind]] + scenes.PARAPHRASES[kind]:
                if kind == "describe":
                    answers = [(q, scenes.describe(objects))]
                elif kind == "count":
                    answers = [(q, scenes.NUMBER_WORDS[len(objects)] + ".")]
                else:
                    answers = [(q.format(shape=s), c + ".") for s, c in objects]
                lines += [llava_v1(qq).replace("<image>\n", "") + " " + a for qq, a in answers]
    return lines


class Tok:
    """The HF tokenizer plus the id layout training needs: a fixed prefix before the image token."""

    def __init__(self, hf):
        self.hf = hf
        self.image_id = hf.convert_tokens_to_ids("<image>")
        self.pad_id = hf.pad_token_id
        self.eos_id = hf.eos_token_id
        full = tokenizer_image_token(llava_v1("x"), hf, self.image_id)
        self.prefix = full[:full.index(self.image_id)]
        self._cache = {}

    def prompt_ids(self, question):
        return tokenizer_image_token(llava_v1(question), self.hf, self.image_id)

    def suffix_ids(self, question, answer):
        """(ids after the image token through the answer and </s>, number of answer ids incl. </s>)."""
        key = (question, answer)
        if key not in self._cache:
            prompt = self.prompt_ids(question)
            full = tokenizer_image_token(llava_v1(question) + " " + answer, self.hf, self.image_id)
            assert full[:len(prompt)] == prompt, (question, answer)
            assert prompt[:len(self.prefix)] == self.prefix and prompt[len(self.prefix)] == self.image_id
            self._cache[key] = (full[len(self.prefix) + 1:] + [self.eos_id], len(full) - len(prompt) + 1)
        return self._cache[key]


def build_tokenizer(out):
    """Trains tokenizer.model (BPE with byte fallback, like LLaMA's) on the corpus; adds <image> and <pad>
    after the SentencePiece vocabulary as llava-hf does; saves the HF tokenizer files into out."""
    os.makedirs(out, exist_ok=True)
    corpus = os.path.join(out, "corpus.txt")
    with open(corpus, "w") as f:
        f.write("\n".join(corpus_lines()) + "\n")
    spm.SentencePieceTrainer.train(
        input=corpus, model_prefix=os.path.join(out, "tokenizer"), model_type="bpe", vocab_size=640,
        character_coverage=1.0, byte_fallback=True, split_digits=True, normalization_rule_name="identity",
        add_dummy_prefix=True, remove_extra_whitespaces=False, unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
        allow_whitespace_only_pieces=True, hard_vocab_limit=False, num_threads=1, minloglevel=2)
    hf = LlamaTokenizer(os.path.join(out, "tokenizer.model"), legacy=True, add_bos_token=True,
                        add_eos_token=False, clean_up_tokenization_spaces=False, padding_side="left",
                        model_max_length=256)
    hf.add_special_tokens({"additional_special_tokens": ["<image>"]})
    hf.add_special_tokens({"pad_token": "<pad>"})
    hf.save_pretrained(out)
    os.remove(corpus)
    return Tok(LlamaTokenizer.from_pretrained(out))


def make_model(tok, vision_width=128, vision_layers=4, text_width=128, text_layers=12, head_dim=32):
    """CLIP tower (LLaVA reads its penultimate layer: the last one is never used, as in LLaVA-1.5), a
    2-layer GELU projector, a LLaMA decoder with tied embeddings; input side and patch from set_geometry."""
    vision = CLIPVisionConfig(hidden_size=vision_width, intermediate_size=4 * vision_width,
                              num_hidden_layers=vision_layers, num_attention_heads=vision_width // 32,
                              image_size=IMAGE_SIZE, patch_size=PATCH, projection_dim=vision_width)
    heads = text_width // head_dim
    text = LlamaConfig(hidden_size=text_width, intermediate_size=3 * text_width, num_hidden_layers=text_layers,
                       num_attention_heads=heads, num_key_value_heads=heads, vocab_size=len(tok.hf),
                       max_position_embeddings=256,
                       rms_norm_eps=1e-5, tie_word_embeddings=True, bos_token_id=1, eos_token_id=2,
                       pad_token_id=tok.pad_id)
    cfg = LlavaConfig(vision_config=vision, text_config=text, image_token_index=tok.image_id,
                      pad_token_id=tok.pad_id, projector_hidden_act="gelu", vision_feature_layer=-2,
                      vision_feature_select_strategy="default", tie_word_embeddings=True)
    cfg.text_config.tie_word_embeddings = True
    return LlavaForConditionalGeneration(cfg)


def load_model(init, out):
    """A shipped model to continue training from, in float32, and its tokenizer (copied into out, so the
    ids stay the same)."""
    hf = LlamaTokenizer.from_pretrained(init)
    hf.save_pretrained(out)
    model = LlavaForConditionalGeneration.from_pretrained(init, torch_dtype=torch.float32)
    set_geometry(model.config.vision_config.image_size, model.config.vision_config.patch_size)
    return Tok(LlamaTokenizer.from_pretrained(out)), model


def vision_features(model, pixels):
    """hidden_states[-2] of the CLIP tower without its CLS row: [B, patches, width] (the last layer,
    which LLaVA never reads, is skipped)."""
    vm = model.vision_tower.vision_model
    h = vm.pre_layrnorm(vm.embeddings(pixels))
    for layer in vm.encoder.layers[:-1]:
        h = layer(h, None, None)[0]
    return h[:, 1:]


def lm_logits(model, tok, feats, suffix_ids, hidden=False):
    """Logits over [image rows, suffix rows] for prompts [prefix, <image>, suffix]: the prefix is the
    same for every row, so it runs once at batch 1 and its key/value cache is shared. With hidden, also
    every layer's hidden states (embeddings first) over [image rows, suffix rows]."""
    lm = model.language_model
    emb = lm.get_input_embeddings()
    prefix = torch.tensor([tok.prefix])
    past = lm.model(inputs_embeds=emb(prefix), use_cache=True).past_key_values
    b = feats.shape[0]
    legacy = past.to_legacy_cache() if hasattr(past, "to_legacy_cache") else past
    past = DynamicCache.from_legacy_cache(tuple((k.expand(b, -1, -1, -1), v.expand(b, -1, -1, -1)) for k, v in legacy))
    x = torch.cat([model.multi_modal_projector(feats), emb(suffix_ids)], 1)
    out = lm(inputs_embeds=x, past_key_values=past, use_cache=True, output_hidden_states=hidden)
    logits = out.logits[:, feats.shape[1]:]
    return (logits, out.hidden_states) if hidden else logits


def full_logits(model, tok, pixels, suffix_ids):
    """The same as lm_logits through LlavaForConditionalGeneration.forward itself (for the check)."""
    b = pixels.shape[0]
    ids = torch.cat([torch.tensor([tok.prefix + [tok.image_id]]).expand(b, -1), suffix_ids], 1)
    out = model(input_ids=ids, pixel_values=pixels, attention_mask=torch.ones_like(ids)).logits
    return out[:, -suffix_ids.shape[1]:]


@torch.no_grad()
def greedy_answer(model, tok, pixels, question, max_new=10):
    model.eval()
    ids = tok.prompt_ids(question)
    suffix = ids[len(tok.prefix) + 1:]
    feats = vision_features(model, pixels[None])
    out = []
    for _ in range(max_new):
        nxt = int(lm_logits(model, tok, feats, torch.tensor([suffix + out]))[0, -1].argmax())
        if nxt == tok.eos_id:
            break
        out.append(nxt)
    return tok.hf.decode(out, skip_special_tokens=True).strip()


def quick_eval(model, tok, rng, n):
    """Share of right greedy answers per question kind on n fresh scenes (one question each, kinds in turn)."""
    right = {k: [0, 0] for k in scenes.QUESTION_KINDS}
    for i in range(n):
        img, objects, _ = scenes.draw_scene(rng)
        qs = scenes.questions(objects)
        kind = scenes.QUESTION_KINDS[i % 3]
        cands = [q for q in qs if q[0] == kind] or qs
        kind, question, answer = cands[rng.integers(len(cands))]
        got = greedy_answer(model, tok, torch.from_numpy(preprocess(img)), question)
        right[kind][0] += got == answer
        right[kind][1] += 1
    return {k: round(r / max(1, t), 3) for k, (r, t) in right.items()}


def export(model, tok, out, dtype=torch.float16):
    """The model in Hugging Face layout (safetensors in dtype), tokenizer, preprocessor, generation config."""
    os.makedirs(out, exist_ok=True)
    import copy
    m = copy.deepcopy(model).to(dtype)
    m.save_pretrained(out, safe_serialization=True)
    tok.hf.save_pretrained(out)
    with open(os.path.join(out, "preprocessor_config.json"), "w") as f:
        json.dump(preprocessor_config(), f, indent=2)
        f.write("\n")
    with open(os.path.join(out, "generation_config.json"), "w") as f:
        json.dump({"bos_token_id": 1, "eos_token_id": tok.eos_id, "pad_token_id": tok.pad_id,
                   "transformers_version": "4.40.2"}, f, indent=2)
        f.write("\n")
