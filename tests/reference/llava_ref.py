#!/usr/bin/python3
"""llava_ref.py: an independent NumPy implementation of LLaVA-1.5 as transformers runs it.

Written from the team's reference notes (LLAVA.md) and the transformers semantics (CLIPVisionModel,
LlavaMultiModalProjector, LlamaForCausalLM, CLIPImageProcessor), sharing no code with the C engine.
It is the expectation that tests/cli/exactness.sh compares `misalign generate` against.

    /usr/bin/python3 tests/reference/llava_ref.py --model DIR --ids 1,5,7,... [--image IMG]
        [--image-aspect resize|pad] [--max-tokens N] [--logits OUT.npy] [--image-features OUT.npy]

Input: a checkpoint folder in llava-hf layout and the prompt ids (image tokens already expanded, BOS
included; the tokenizer is tested on its own against official vectors). Output: float32 .npy of the
logits at the last prompt position and of the projector output, and on stdout one JSON object
{"ids": [greedy tokens], "min_margin": smallest top-1 minus top-2 logit gap along the greedy path}.

Numerics: everything is float32 as torch computes an f32 model; f16/bf16 weights are upcast to
float32 once when read (the engine also computes in f32 from f16/bf16 weights). Run with the Debian
python (/usr/bin/python3: numpy + Pillow).
"""
import argparse
import json
import math
import os
import struct
import sys

import numpy as np
from PIL import Image

F32 = np.float32


# ---------------------------------------------------------------- checkpoint files

class Weights:
    """All tensors of a folder (model.safetensors or shards listed in model.safetensors.index.json),
    under canonical llava-hf names, upcast to float32 on first use."""

    # transformers >= 4.52 saves these prefixes; map them to the llava-hf names.
    NEW_PREFIXES = [("model.language_model.", "language_model.model."),
                    ("model.vision_tower.", "vision_tower."),
                    ("model.multi_modal_projector.", "multi_modal_projector."),
                    ("lm_head.", "language_model.lm_head.")]

    def __init__(self, folder):
        index = os.path.join(folder, "model.safetensors.index.json")
        if os.path.exists(index):
            with open(index) as f:
                shards = sorted(set(json.load(f)["weight_map"].values()))
        else:
            shards = ["model.safetensors"]
        self.entries = {}
        for shard in shards:
            self._read_header(os.path.join(folder, shard))
        self.cache = {}

    def _read_header(self, path):
        data = np.memmap(path, dtype=np.uint8, mode="r")
        (n,) = struct.unpack("<Q", bytes(data[:8]))
        header = json.loads(bytes(data[8:8 + n]).decode("utf-8"))
        base = 8 + n
        for name, info in header.items():
            if name == "__metadata__":
                continue
            begin, end = info["data_offsets"]
            raw = data[base + begin: base + end]
            self.entries[self._canonical(name)] = (info["dtype"], tuple(info["shape"]), raw)

    def _canonical(self, name):
        for new, old in self.NEW_PREFIXES:
            if name.startswith(new):
                return old + name[len(new):]
        return name

    def has(self, name):
        return name in self.entries

    def __getitem__(self, name):
        if name not in self.cache:
            dtype, shape, raw = self.entries[name]
            if dtype == "F32":
                arr = np.frombuffer(raw, dtype="<f4").astype(F32)
            elif dtype == "F16":
                arr = np.frombuffer(raw, dtype="<f2").astype(F32)
            elif dtype == "BF16":
                # bf16 is the top half of an IEEE float32.
                arr = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(F32)
            else:
                raise ValueError(f"{name}: unsupported dtype {dtype}")
            self.cache[name] = arr.reshape(shape)
        return self.cache[name]


# ---------------------------------------------------------------- config.json with library defaults

LLAMA_DEFAULTS = dict(vocab_size=32000, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                      num_attention_heads=32, num_key_value_heads=None, head_dim=None, hidden_act="silu",
                      max_position_embeddings=2048, rms_norm_eps=1e-6, rope_theta=10000.0,
                      attention_bias=False, mlp_bias=False, tie_word_embeddings=False,
                      bos_token_id=1, eos_token_id=2, rope_scaling=None)
CLIP_VISION_DEFAULTS = dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                            num_channels=3, image_size=224, patch_size=32, hidden_act="quick_gelu",
                            layer_norm_eps=1e-5)
# LlavaConfig builds this vision config when vision_config is absent altogether.
LLAVA_DEFAULT_VISION = dict(CLIP_VISION_DEFAULTS, intermediate_size=4096, hidden_size=1024, patch_size=14,
                            image_size=336, num_hidden_layers=24, num_attention_heads=16)
LLAVA_DEFAULTS = dict(image_token_index=32000, projector_hidden_act="gelu", vision_feature_select_strategy="default",
                      vision_feature_layer=-2, image_seq_length=576, multimodal_projector_bias=True,
                      tie_word_embeddings=False)


class Cfg:
    def __init__(self, defaults, given):
        for k, v in defaults.items():
            setattr(self, k, given.get(k, v))


def load_config(folder):
    with open(os.path.join(folder, "config.json")) as f:
        raw = json.load(f)
    cfg = Cfg(LLAVA_DEFAULTS, raw)
    if "vision_config" in raw and raw["vision_config"] is not None:
        cfg.vision = Cfg(CLIP_VISION_DEFAULTS, raw["vision_config"])
    else:
        cfg.vision = Cfg(LLAVA_DEFAULT_VISION, {})
    text = Cfg(LLAMA_DEFAULTS, raw.get("text_config") or {})
    if text.num_key_value_heads is None:
        text.num_key_value_heads = text.num_attention_heads
    if text.head_dim is None:
        text.head_dim = text.hidden_size // text.num_attention_heads
    if text.rope_scaling is not None:
        raise ValueError("config.json: rope_scaling is not part of LLaVA-1.5 and not implemented here")
    # LlavaConfig forwards a tie set in the text config.
    cfg.tie_word_embeddings = cfg.tie_word_embeddings or text.tie_word_embeddings
    cfg.text = text
    if cfg.vision_feature_select_strategy not in ("default", "full"):
        raise ValueError("config.json: vision_feature_select_strategy must be default or full")
    gen = os.path.join(folder, "generation_config.json")
    cfg.eos_ids = [text.eos_token_id]
    if os.path.exists(gen):
        with open(gen) as f:
            eos = json.load(f).get("eos_token_id", text.eos_token_id)
        cfg.eos_ids = eos if isinstance(eos, list) else [eos]
    return cfg


# ---------------------------------------------------------------- CLIPImageProcessor with Pillow

OPENAI_CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
OPENAI_CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


def load_image_config(folder):
    with open(os.path.join(folder, "preprocessor_config.json")) as f:
        raw = json.load(f)
    size = raw.get("size", {"shortest_edge": 224})
    crop = raw.get("crop_size", {"height": 224, "width": 224})
    return dict(do_resize=raw.get("do_resize", True),
                shortest_edge=size if isinstance(size, int) else size["shortest_edge"],
                resample=raw.get("resample", 3),
                do_center_crop=raw.get("do_center_crop", True),
                crop=(crop, crop) if isinstance(crop, int) else (crop["height"], crop["width"]),
                do_rescale=raw.get("do_rescale", True),
                rescale_factor=raw.get("rescale_factor", 1 / 255),
                do_normalize=raw.get("do_normalize", True),
                mean=raw.get("image_mean", OPENAI_CLIP_MEAN),
                std=raw.get("image_std", OPENAI_CLIP_STD),
                do_convert_rgb=raw.get("do_convert_rgb", True))


def expand_to_square(img, background):
    """Original LLaVA (image_aspect_ratio=pad): paste the image centred on a square of the mean colour."""
    w, h = img.size
    if w == h:
        return img
    side = max(w, h)
    square = Image.new(img.mode, (side, side), background)
    square.paste(img, (0, (w - h) // 2) if w > h else ((h - w) // 2, 0))
    return square


def preprocess(path, icfg, aspect):
    """Returns pixel values float32 [3, H, W] exactly as CLIPImageProcessor (slow, PIL) makes them."""
    img = Image.open(path)
    if icfg["do_convert_rgb"]:
        img = img.convert("RGB")
    if aspect == "pad":
        img = expand_to_square(img, tuple(int(m * 255) for m in icfg["mean"]))
    if icfg["do_resize"]:
        if icfg["resample"] != 3:
            raise ValueError("preprocessor_config.json: only resample=3 (bicubic) is implemented")
        w, h = img.size
        short, long = (w, h) if w <= h else (h, w)
        new_short, new_long = icfg["shortest_edge"], int(icfg["shortest_edge"] * long / short)
        size = (new_short, new_long) if w <= h else (new_long, new_short)
        img = img.resize(size, Image.BICUBIC)
    arr = np.asarray(img)
    if icfg["do_center_crop"]:
        ch, cw = icfg["crop"]
        h, w = arr.shape[:2]
        if ch > h or cw > w:
            raise ValueError("image smaller than crop_size: padding is not implemented")
        top, left = (h - ch) // 2, (w - cw) // 2
        arr = arr[top:top + ch, left:left + cw]
    x = arr
    if icfg["do_rescale"]:
        x = (x.astype(np.float64) * icfg["rescale_factor"]).astype(F32)
    if icfg["do_normalize"]:
        x = x.astype(F32)
        x = (x - np.array(icfg["mean"], dtype=F32)) / np.array(icfg["std"], dtype=F32)
    return np.ascontiguousarray(x.astype(F32).transpose(2, 0, 1))


# ---------------------------------------------------------------- building blocks (float32)

def linear(x, w, b=None):
    y = x @ w.T
    return y if b is None else y + b


def layer_norm(x, w, b, eps):
    mean = x.mean(-1, keepdims=True, dtype=F32)
    var = ((x - mean) ** 2).mean(-1, keepdims=True, dtype=F32)  # biased, as torch
    return (x - mean) / np.sqrt(var + F32(eps)) * w + b


def rms_norm(x, w, eps):
    var = (x * x).mean(-1, keepdims=True, dtype=F32)
    return w * (x / np.sqrt(var + F32(eps)))


def softmax(s):
    e = np.exp(s - s.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True, dtype=F32)


_erf = np.vectorize(math.erf, otypes=[np.float64])


def activation(name, x):
    if name == "quick_gelu":
        return x * (F32(1) / (F32(1) + np.exp(F32(-1.702) * x)))
    if name == "gelu":  # exact erf GELU (evaluated in double, rounded to float32)
        xd = x.astype(np.float64)
        return (0.5 * xd * (1.0 + _erf(xd / math.sqrt(2.0)))).astype(F32)
    if name == "silu":
        return x / (F32(1) + np.exp(-x))
    if name in ("gelu_pytorch_tanh", "gelu_new"):
        return F32(0.5) * x * (F32(1) + np.tanh(F32(math.sqrt(2 / math.pi)) * (x + F32(0.044715) * x ** 3)))
    raise ValueError(f"config.json: unsupported activation {name}")


def attention(q, k, v, scale, causal):
    """q [H, Tq, d], k/v [H, Tk, d] -> [H, Tq, d]; query i sits at key position Tk - Tq + i."""
    s = (q @ k.transpose(0, 2, 1)) * F32(scale)
    if causal:
        tq, tk = q.shape[1], k.shape[1]
        future = np.arange(tk)[None, :] > (np.arange(tq)[:, None] + tk - tq)
        s = np.where(future[None], F32(-np.inf), s)
    return softmax(s) @ v


# ---------------------------------------------------------------- interventions

# MLP_EDIT(tower, layer, out) -> out: replaces the MLP output of a layer ("vision" or "text") before the
# residual add, for references of steering methods (VTI); None leaves every output as computed.
MLP_EDIT = None


def mlp_edit(tower, layer, out):
    return out if MLP_EDIT is None else MLP_EDIT(tower, layer, out)


# ---------------------------------------------------------------- CLIP vision tower + projector

def vision_hidden_states(W, vc, pixels, up_to):
    """CLIPVisionTransformer hidden_states[0..up_to]: 0 = after pre_layrnorm, i = after layer i."""
    p = "vision_tower.vision_model."
    c, side = vc.num_channels, vc.image_size
    ps = vc.patch_size
    g = side // ps
    # Conv with kernel = stride = patch as a matmul over (c, ky, kx)-ordered patches, row-major grid.
    patches = pixels.reshape(c, g, ps, g, ps).transpose(1, 3, 0, 2, 4).reshape(g * g, c * ps * ps)
    wconv = W[p + "embeddings.patch_embedding.weight"].reshape(vc.hidden_size, -1)
    x = np.concatenate([W[p + "embeddings.class_embedding"][None, :], patches @ wconv.T], axis=0)
    x = x + W[p + "embeddings.position_embedding.weight"]
    x = layer_norm(x, W[p + "pre_layrnorm.weight"], W[p + "pre_layrnorm.bias"], vc.layer_norm_eps)
    states = [x]
    n_heads = vc.num_attention_heads
    d = vc.hidden_size // n_heads
    for i in range(up_to):
        L = f"{p}encoder.layers.{i}."
        h = layer_norm(x, W[L + "layer_norm1.weight"], W[L + "layer_norm1.bias"], vc.layer_norm_eps)
        q, k, v = (linear(h, W[L + f"self_attn.{n}_proj.weight"], W[L + f"self_attn.{n}_proj.bias"])
                   .reshape(-1, n_heads, d).transpose(1, 0, 2) for n in ("q", "k", "v"))
        a = attention(q, k, v, d ** -0.5, causal=False).transpose(1, 0, 2).reshape(-1, vc.hidden_size)
        x = x + linear(a, W[L + "self_attn.out_proj.weight"], W[L + "self_attn.out_proj.bias"])
        h = layer_norm(x, W[L + "layer_norm2.weight"], W[L + "layer_norm2.bias"], vc.layer_norm_eps)
        h = activation(vc.hidden_act, linear(h, W[L + "mlp.fc1.weight"], W[L + "mlp.fc1.bias"]))
        x = x + mlp_edit("vision", i, linear(h, W[L + "mlp.fc2.weight"], W[L + "mlp.fc2.bias"]))
        states.append(x)
    return states


def image_features(W, cfg, pixels):
    """Projector output [n_image_tokens, text_hidden]."""
    n_layers = cfg.vision.num_hidden_layers
    layer = cfg.vision_feature_layer
    index = layer if layer >= 0 else n_layers + 1 + layer  # hidden_states has n_layers + 1 entries
    if not 0 <= index <= n_layers:
        raise ValueError(f"config.json: vision_feature_layer {layer} out of range")
    feats = vision_hidden_states(W, cfg.vision, pixels, index)[index]
    if cfg.vision_feature_select_strategy == "default":
        feats = feats[1:]  # drop CLS
    bias = cfg.multimodal_projector_bias
    b1 = W["multi_modal_projector.linear_1.bias"] if bias else None
    b2 = W["multi_modal_projector.linear_2.bias"] if bias else None
    h = activation(cfg.projector_hidden_act, linear(feats, W["multi_modal_projector.linear_1.weight"], b1))
    return linear(h, W["multi_modal_projector.linear_2.weight"], b2)


# ---------------------------------------------------------------- LLaMA decoder

class Decoder:
    """LlamaForCausalLM over input embeddings, with a KV cache so greedy steps append one row."""

    def __init__(self, W, cfg):
        self.W, self.t = W, cfg.text
        t = cfg.text
        d = t.head_dim
        inv_freq = F32(1) / (F32(t.rope_theta) ** (np.arange(0, d, 2, dtype=F32) / F32(d)))
        self.inv_freq = inv_freq.astype(F32)
        self.cache = [None] * t.num_hidden_layers
        lm = "language_model.lm_head.weight"
        self.lm_head = lm if W.has(lm) or not cfg.tie_word_embeddings else "language_model.model.embed_tokens.weight"

    def embed(self, ids):
        return self.W["language_model.model.embed_tokens.weight"][np.asarray(ids)]

    def rope(self, x, pos):
        """x [H, T, d], half-split rotation at positions pos [T]."""
        freqs = pos.astype(F32)[:, None] * self.inv_freq[None, :]
        emb = np.concatenate([freqs, freqs], axis=-1)
        cos, sin = np.cos(emb), np.sin(emb)
        half = x.shape[-1] // 2
        rotated = np.concatenate([-x[..., half:], x[..., :half]], axis=-1)
        return x * cos + rotated * sin

    def forward(self, x, hidden=None):
        """Appends rows x [T, hidden] to the sequence; returns logits [vocab] at the last row.
        hidden: a list that receives the last row of hidden_states[0 .. L] as transformers gives them
        (0 = embeddings; L is after the final norm, the others before it)."""
        W, t = self.W, self.t
        past = 0 if self.cache[0] is None else self.cache[0][0].shape[1]
        pos = np.arange(past, past + x.shape[0])
        H, KV, d = t.num_attention_heads, t.num_key_value_heads, t.head_dim
        for i in range(t.num_hidden_layers):
            L = f"language_model.model.layers.{i}."
            if hidden is not None:
                hidden.append(x[-1].copy())
            def proj(n, h):
                b = W[L + f"self_attn.{n}_proj.bias"] if t.attention_bias else None
                return linear(h, W[L + f"self_attn.{n}_proj.weight"], b)
            h = rms_norm(x, W[L + "input_layernorm.weight"], t.rms_norm_eps)
            q = self.rope(proj("q", h).reshape(-1, H, d).transpose(1, 0, 2), pos)
            k = self.rope(proj("k", h).reshape(-1, KV, d).transpose(1, 0, 2), pos)
            v = proj("v", h).reshape(-1, KV, d).transpose(1, 0, 2)
            if self.cache[i] is not None:
                k = np.concatenate([self.cache[i][0], k], axis=1)
                v = np.concatenate([self.cache[i][1], v], axis=1)
            self.cache[i] = (k, v)
            # GQA: query head h reads kv head h // (H / KV) (repeat_kv order).
            rep = H // KV
            a = attention(q, np.repeat(k, rep, axis=0), np.repeat(v, rep, axis=0), d ** -0.5, causal=True)
            x = x + proj("o", a.transpose(1, 0, 2).reshape(-1, H * d))
            h = rms_norm(x, W[L + "post_attention_layernorm.weight"], t.rms_norm_eps)
            mb = t.mlp_bias
            gate = linear(h, W[L + "mlp.gate_proj.weight"], W[L + "mlp.gate_proj.bias"] if mb else None)
            up = linear(h, W[L + "mlp.up_proj.weight"], W[L + "mlp.up_proj.bias"] if mb else None)
            x = x + mlp_edit("text", i, linear(activation(t.hidden_act, gate) * up, W[L + "mlp.down_proj.weight"],
                                              W[L + "mlp.down_proj.bias"] if mb else None))
        last = rms_norm(x[-1:], W["language_model.model.norm.weight"], t.rms_norm_eps)
        if hidden is not None:
            hidden.append(last[0].copy())
        return linear(last, W[self.lm_head])[0]


# ---------------------------------------------------------------- whole model

def run(model, ids, image=None, aspect="resize", max_tokens=0):
    """Returns (logits at the last prompt position, image features or None, greedy ids, min margin)."""
    W, cfg = Weights(model), load_config(model)
    dec = Decoder(W, cfg)
    x = dec.embed(ids)
    feats = None
    positions = np.flatnonzero(np.asarray(ids) == cfg.image_token_index)
    if image is not None:
        feats = image_features(W, cfg, preprocess(image, load_image_config(model), aspect))
        if len(positions) != feats.shape[0]:
            raise ValueError(f"image tokens in prompt: {len(positions)}, image features: {feats.shape[0]}")
        x = x.copy()
        x[positions] = feats
    elif len(positions):
        raise ValueError("prompt holds image tokens but no image was given")
    logits = dec.forward(x)
    prompt_logits = logits
    out, margin = [], math.inf
    for _ in range(max_tokens):
        top2 = np.sort(logits)[-2:]
        margin = min(margin, float(top2[1] - top2[0]))
        tok = int(np.argmax(logits))  # first maximum, as torch.argmax
        out.append(tok)
        if tok in cfg.eos_ids:
            break
        logits = dec.forward(dec.embed([tok]))
    return prompt_logits, feats, out, margin


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--ids", required=True, help="comma-separated prompt ids (BOS and image tokens included)")
    ap.add_argument("--image")
    ap.add_argument("--image-aspect", choices=["resize", "pad"], default="resize")
    ap.add_argument("--max-tokens", type=int, default=0)
    ap.add_argument("--logits", help="write the last-position logits here (float32 .npy)")
    ap.add_argument("--image-features", help="write the projector output here (float32 .npy)")
    a = ap.parse_args(argv)
    ids = [int(s) for s in a.ids.split(",") if s.strip()]
    logits, feats, out, margin = run(a.model, ids, a.image, a.image_aspect, a.max_tokens)
    if a.logits:
        np.save(a.logits, logits.astype(F32))
    if a.image_features and feats is not None:
        np.save(a.image_features, feats.astype(F32))
    print(json.dumps({"ids": out, "min_margin": None if math.isinf(margin) else margin}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
