#!/usr/bin/env bash
# init_model.sh: `misalign init-model` writes tiny checkpoints in every dtype; files are byte-identical for a
# seed and the weights change with it; an independent Python reader (struct + json + numpy) checks the
# safetensors layout, that the tensor names follow the real llava-1.5-7b-hf index, the shapes the config
# implies, the init statistics, f16/bf16 rounding of the f32 values, and that config, preprocessor and
# tokenizer files have the real files' structure. Bad flags give usage errors.
. "$(dirname "$0")/../cli_lib.sh"

PY=/usr/bin/python3 # Debian python: numpy
REAL=data/llava-1.5-7b-hf
T=$ML_TEST_TMP/init_model
rm -rf "$T" && mkdir -p "$T" || exit 1
FILES="config.json model.safetensors preprocessor_config.json generation_config.json tokenizer.json
       tokenizer_config.json special_tokens_map.json added_tokens.json"

for dt in f32 f16 bf16; do
    for run in a b; do
        if "$ML_BIN" init-model --out "$T/$dt.$run" --preset tiny --dtype $dt --seed 42 2>"$T/err"; then pass
        else fail "init-model tiny $dt: $(cat "$T/err")"; fi
    done
    missing=0 differ=0
    for f in $FILES; do
        [ -s "$T/$dt.a/$f" ] || missing=1
        cmp -s "$T/$dt.a/$f" "$T/$dt.b/$f" || differ=1
    done
    [ $missing -eq 0 ] && pass || fail "$dt: files missing in $T/$dt.a"
    [ $differ -eq 0 ] && pass || fail "$dt: two runs with seed 42 differ"
done
"$ML_BIN" init-model --out "$T/f32.seed7" --preset tiny --seed 7 2>/dev/null
cmp -s "$T/f32.a/model.safetensors" "$T/f32.seed7/model.safetensors" && fail "seed 7 gave the weights of seed 42" || pass
cmp -s "$T/f32.a/config.json" "$T/f32.seed7/config.json" && pass || fail "config.json depends on the seed"

# Independent reader: exits nonzero and prints the first problem.
check=$("$PY" - "$T" "$REAL" <<'EOF' 2>&1
import json, re, struct, sys
import numpy as np
root, real = sys.argv[1], sys.argv[2]

def load(path):
    b = open(path, 'rb').read()
    n = struct.unpack('<Q', b[:8])[0]
    h = json.loads(b[8:8 + n])
    assert n % 8 == 0, 'header not padded to 8 bytes'
    assert h.pop('__metadata__') == {'format': 'pt'}, 'metadata'
    base, end, out = 8 + n, 0, {}
    np_dtype = {'F32': np.float32, 'F16': np.float16, 'BF16': np.uint16}
    for name, e in sorted(h.items(), key=lambda kv: kv[1]['data_offsets']):
        s, t = e['data_offsets']
        assert s == end, 'tensors do not tile the data area at ' + name
        end = t
        a = np.frombuffer(b[base + s:base + t], dtype=np_dtype[e['dtype']]).reshape(e['shape'])
        out[name] = (e['dtype'], a)
    assert base + end == len(b), 'bytes after the last tensor'
    return out

def bf16_to_f32(u):
    return (u.astype(np.uint32) << 16).view(np.float32)

def f32_to_bf16(x):  # round to nearest even on the top 16 bits
    u = x.view(np.uint32).astype(np.uint64)
    return ((u + 0x7fff + ((u >> 16) & 1)) >> 16).astype(np.uint16)

cfg = json.load(open(f'{root}/f32.a/config.json'))
real_cfg = json.load(open(f'{real}/config.json'))
missing = set(real_cfg) - set(cfg) - {'transformers_version'}
assert not missing, f'config.json lacks {missing}'
assert cfg['model_type'] == 'llava' and cfg['text_config']['model_type'] == 'llama'
assert cfg['vision_config']['model_type'] == 'clip_vision_model'
tc, vc = cfg['text_config'], cfg['vision_config']
# Sparse like the real file: LlamaConfig defaults are not repeated.
assert 'hidden_act' not in tc and 'rope_theta' not in tc and 'head_dim' not in tc

w = load(f'{root}/f32.a/model.safetensors')
pattern = lambda n: re.sub(r'\.layers\.\d+\.', '.layers.N.', n)
real_names = json.load(open(f'{real}/model.safetensors.index.json'))['weight_map']
assert {pattern(n) for n in w} == {pattern(n) for n in real_names}, 'tensor names differ from llava-1.5-7b-hf'
assert len(w) == 3 + 4 + 16 * vc['num_hidden_layers'] + 4 + 3 + 9 * tc['num_hidden_layers']

H, V, I = tc['hidden_size'], tc['vocab_size'], tc['intermediate_size']
hd = H // tc['num_attention_heads']
kv = tc.get('num_key_value_heads', tc['num_attention_heads']) * hd
hv, iv, p = vc['hidden_size'], vc['intermediate_size'], vc['patch_size']
side = vc['image_size'] // p
shapes = {
    'language_model.model.embed_tokens.weight': (V, H), 'language_model.lm_head.weight': (V, H),
    'language_model.model.layers.1.self_attn.k_proj.weight': (kv, H),
    'language_model.model.layers.1.self_attn.q_proj.weight': (H, H),
    'language_model.model.layers.0.mlp.down_proj.weight': (H, I),
    'multi_modal_projector.linear_1.weight': (H, hv), 'multi_modal_projector.linear_2.weight': (H, H),
    'vision_tower.vision_model.embeddings.patch_embedding.weight': (hv, 3, p, p),
    'vision_tower.vision_model.embeddings.position_embedding.weight': (side * side + 1, hv),
    'vision_tower.vision_model.encoder.layers.2.mlp.fc1.weight': (iv, hv),
}
for n, s in shapes.items():
    assert w[n][1].shape == s, f'{n}: {w[n][1].shape} != {s}'
assert kv < H, 'tiny must use GQA'
assert cfg['image_seq_length'] == side * side == 16 and V % 64 == 0
assert cfg['image_token_index'] < V and cfg['pad_token_id'] < V

mats = np.concatenate([a.ravel() for n, (d, a) in w.items() if n.endswith('proj.weight')])
norms = np.concatenate([a.ravel() for n, (d, a) in w.items() if re.search(r'(norm|layernorm|layrnorm|norm\d)\.weight$', n)])
biases = np.concatenate([a.ravel() for n, (d, a) in w.items() if n.endswith('.bias')])
assert abs(mats.std() - 0.02) < 0.002 and abs(mats.mean()) < 0.002, f'matrix std {mats.std()}'
assert abs(norms.mean() - 1) < 0.02 and 0.07 < norms.std() < 0.13, f'norm weights {norms.mean()} {norms.std()}'
assert 0.03 < biases.std() < 0.07, f'bias std {biases.std()}'

for dt, conv in (('f16', lambda a: a.astype(np.float16)), ('bf16', f32_to_bf16)):
    other = load(f'{root}/{dt}.a/model.safetensors')
    assert other.keys() == w.keys()
    for n, (d, a) in w.items():
        assert other[n][0] == dt.upper(), f'{dt}: {n} is {other[n][0]}'
        assert np.array_equal(other[n][1].view(np.uint16), conv(a).view(np.uint16)), f'{dt}: {n} not rounded f32'
    assert json.load(open(f'{root}/{dt}.a/config.json'))['torch_dtype'] == {'f16': 'float16', 'bf16': 'bfloat16'}[dt]

pre, real_pre = (json.load(open(f'{d}/preprocessor_config.json')) for d in (f'{root}/f32.a', real))
assert set(pre) == set(real_pre), 'preprocessor_config.json keys'
for k in ('image_mean', 'image_std', 'rescale_factor', 'resample', 'image_processor_type'):
    assert pre[k] == real_pre[k], k
assert pre['size'] == {'shortest_edge': 32} and pre['crop_size'] == {'height': 32, 'width': 32}

tok, real_tok = (json.load(open(f'{d}/tokenizer.json')) for d in (f'{root}/f32.a', real))
assert set(tok) == set(real_tok) and set(tok['model']) == set(real_tok['model'])
for k in ('normalizer', 'pre_tokenizer', 'post_processor', 'decoder'):
    assert tok[k] == real_tok[k], f'tokenizer.json {k} differs from llava'
for k in ('type', 'unk_token', 'fuse_unk', 'byte_fallback'):
    assert tok['model'][k] == real_tok['model'][k], k
vocab = tok['model']['vocab']
assert [vocab[f'<0x{b:02X}>'] for b in range(256)] == list(range(3, 259))
assert sorted(vocab.values()) == list(range(len(vocab)))
added = {t['content']: t['id'] for t in tok['added_tokens']}
assert added == {'<unk>': 0, '<s>': 1, '</s>': 2, '<image>': len(vocab), '<pad>': len(vocab) + 1}
assert cfg['image_token_index'] == len(vocab) and cfg['pad_token_id'] == len(vocab) + 1
assert V == (len(vocab) + 2 + 63) // 64 * 64
for a, b in tok['model']['merges']:
    assert a in vocab and b in vocab and a + b in vocab, f'merge {a} {b}'
gen = json.load(open(f'{root}/f32.a/generation_config.json'))
assert (gen['bos_token_id'], gen['eos_token_id'], gen['pad_token_id']) == (1, 2, len(vocab) + 1)
print('ok')
EOF
)
[ "$check" = ok ] && pass || fail "independent check: $check"

# The real llava tokenizer: copied byte for byte; vocab 32002 -> 32064, <image> 32000, <pad> 32001.
if [ -f "$REAL/tokenizer.json" ]; then
    "$ML_BIN" init-model --out "$T/llavatok" --preset tiny --tokenizer "$REAL/tokenizer.json" 2>"$T/err" && pass ||
        fail "init-model --tokenizer: $(cat "$T/err")"
    cmp -s "$REAL/tokenizer.json" "$T/llavatok/tokenizer.json" && pass || fail "tokenizer.json not copied"
    got=$("$PY" -c 'import json,sys; c=json.load(open(sys.argv[1])); print(c["vocab_size"], c["text_config"]["vocab_size"], c["image_token_index"], c["pad_token_id"])' "$T/llavatok/config.json")
    [ "$got" = "32064 32064 32000 32001" ] && pass || fail "llava tokenizer config: $got"
else
    fail "missing $REAL/tokenizer.json (it ships with the repository)"
fi

"$ML_BIN" init-model --help | grep -q -- '--dtype T' && pass || fail "--help lists --dtype"
expect_fail no-out "init-model: --out DIR is required" "$ML_BIN" init-model --preset tiny
expect_fail no-preset "--preset tiny\|small is required" "$ML_BIN" init-model --out "$T/x"
expect_fail bad-preset "--preset: 'huge' is not tiny, small or llava7b-2l" "$ML_BIN" init-model --out "$T/x" --preset huge
expect_fail bad-dtype "--dtype: 'f8' is not f32, f16 or bf16" "$ML_BIN" init-model --out "$T/x" --preset tiny --dtype f8
expect_fail bad-seed "--seed: 'abc' is not an integer" "$ML_BIN" init-model --out "$T/x" --preset tiny --seed abc
expect_fail no-value "--out needs a value" "$ML_BIN" init-model --preset tiny --out
expect_fail unknown "unknown option '--layers'" "$ML_BIN" init-model --out "$T/x" --preset tiny --layers 3
expect_fail missing-tokenizer "^misalign: error: $T/none.json: cannot open" \
    "$ML_BIN" init-model --out "$T/x" --preset tiny --tokenizer "$T/none.json"
echo '{"model": {"type": "BPE", "vocab": {"<unk>": 0, "<s>": 1, "</s>": 2}}}' >"$T/noimage.json"
expect_fail tokenizer-without-image "^misalign: error: $T/noimage.json: has no <image> token" \
    "$ML_BIN" init-model --out "$T/x" --preset tiny --tokenizer "$T/noimage.json"
cli_summary init_model
