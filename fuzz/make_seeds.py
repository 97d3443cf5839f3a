#!/usr/bin/env python3
"""Writes the fuzzers' seed corpora (fuzz/corpus/<target>/) from the real
files in the repository, shrunk so each seed is a few KB: libFuzzer mutates
small inputs much faster, and the committed corpus must stay small. Each seed
is a valid file, so the fuzzer starts with every parser stage reachable.

usage: python3 fuzz/make_seeds.py   (from anywhere; stdlib only)
"""
import base64
import json
import os
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(ROOT, "models", "sieve-test-27m")
VECTORS = os.path.join(ROOT, "tests", "data", "tokenizer-vectors")
CORPUS = os.path.join(ROOT, "fuzz", "corpus")

# GGUF value types, and (elements, bytes) per block of the tensor types.
U8, I8, U16, I16, U32, I32, F32, BOOL, STRING, ARRAY, U64, I64, F64 = range(13)
SCALAR = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i", F32: "<f",
          BOOL: "<B", U64: "<Q", I64: "<q", F64: "<d"}
BLOCKS = {0: (1, 4), 1: (1, 2), 30: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22),
          7: (32, 24), 8: (32, 34), 12: (256, 144), 13: (256, 176), 14: (256, 210)}


class Cursor:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.data, self.pos)[0]
        self.pos += struct.calcsize(fmt)
        return v

    def string(self):
        n = self.take("<Q")
        s = self.data[self.pos:self.pos + n]
        self.pos += n
        return s


def read_value(c, t):
    if t == STRING:
        return c.string()
    if t == ARRAY:
        et, n = c.take("<I"), c.take("<Q")
        return (et, [read_value(c, et) for _ in range(n)])
    return c.take(SCALAR[t])


def write_value(t, v):
    if t == STRING:
        return struct.pack("<Q", len(v)) + v
    if t == ARRAY:
        et, items = v
        return struct.pack("<IQ", et, len(items)) + b"".join(write_value(et, x) for x in items)
    return struct.pack(SCALAR[t], v)


def read_gguf(path):
    """Metadata as an ordered list of (key, type, value), and the tensor table
    as (name, dims, type); tensor data is not kept."""
    c = Cursor(open(path, "rb").read())
    assert c.take("<I") == 0x46554747
    c.take("<I")
    n_tensors, n_kv = c.take("<Q"), c.take("<Q")
    kv = []
    for _ in range(n_kv):
        key, t = c.string(), c.take("<I")
        kv.append((key, t, read_value(c, t)))
    tensors = []
    for _ in range(n_tensors):
        name, nd = c.string(), c.take("<I")
        dims = [c.take("<Q") for _ in range(nd)]
        ttype = c.take("<I")
        c.take("<Q")
        tensors.append((name, dims, ttype))
    return kv, tensors


def write_gguf(path, kv, tensors, align=32):
    """Tensors get the given shapes, packed data (a byte pattern) and
    aligned offsets, so the file passes every check of the reader."""
    out = struct.pack("<IIQQ", 0x46554747, 3, len(tensors), len(kv))
    for key, t, v in kv:
        out += write_value(STRING, key) + struct.pack("<I", t) + write_value(t, v)
    offset, sizes = 0, []
    for name, dims, ttype in tensors:
        elems, nbytes = BLOCKS[ttype]
        count = 1
        for d in dims:
            count *= d
        size = count // elems * nbytes
        out += write_value(STRING, name) + struct.pack("<I", len(dims))
        out += b"".join(struct.pack("<Q", d) for d in dims) + struct.pack("<IQ", ttype, offset)
        sizes.append(size)
        offset += (size + align - 1) // align * align
    out += b"\0" * (-len(out) % align)
    for size in sizes:
        out += bytes((i * 7 + 60) % 256 for i in range(size)) + b"\0" * (-size % align)
    write(path, out)


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(path, "wb") as f:
        f.write(data)
    print(f"{os.path.relpath(path, ROOT)}: {len(data)} bytes")


def shrink_vocab(kv, keep):
    """Keeps the first `keep` tokens (with their scores and types) and the
    merges whose parts and result survive, so the tokenizer still builds."""
    tokens = None
    for key, t, v in kv:
        if key == b"tokenizer.ggml.tokens":
            tokens = set(v[1][:keep])
    out = []
    for key, t, v in kv:
        if key in (b"tokenizer.ggml.tokens", b"tokenizer.ggml.scores", b"tokenizer.ggml.token_type"):
            v = (v[0], v[1][:keep])
        elif key == b"tokenizer.ggml.merges":
            kept = []
            for m in v[1]:
                a, _, b = m.partition(b" ")
                if a in tokens and b in tokens and a + b in tokens:
                    kept.append(m)
            v = (v[0], kept[:400])
        out.append((key, t, v))
    # Special ids past the cut would be refused; point them at token 0..2.
    return [(k, t, min(v, 2) if k.endswith(b"_token_id") else v) for k, t, v in out]


def gguf_seeds():
    d = os.path.join(CORPUS, "gguf")
    # The test model: its real metadata with the vocabulary cut, one layer,
    # and every tensor one block long in its real type (q4_K, q6_K, f32).
    kv, tensors = read_gguf(os.path.join(MODEL, "model-q4_k_m.gguf"))
    kv = shrink_vocab(kv, 300)
    small = [(n, [BLOCKS[t][0]] + [1] * (len(dims) - 1), t) for n, dims, t in tensors
             if not n.startswith(b"blk.") or n.startswith(b"blk.0.")]
    write_gguf(os.path.join(d, "model-q4_k_m-tiny.gguf"), kv, small)
    kv, tensors = read_gguf(os.path.join(MODEL, "model-bf16.gguf"))
    small = [(n, [2] * len(dims), t) for n, dims, t in tensors if n.startswith(b"blk.0.") or not n.startswith(b"blk.")]
    write_gguf(os.path.join(d, "model-bf16-tiny.gguf"), shrink_vocab(kv, 280), small)
    # Tokenizer-only files of each tokenizer family the tests cover.
    for name, keep in (("gpt-2", 700), ("llama-bpe", 700), ("qwen2", 700), ("llama-spm", 300), ("phi-3", 300)):
        kv, _ = read_gguf(os.path.join(VECTORS, f"ggml-vocab-{name}.gguf"))
        write_gguf(os.path.join(d, f"vocab-{name}.gguf"), shrink_vocab(kv, keep), [])


def safetensors(header, blobs):
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def safetensors_seeds():
    d = os.path.join(CORPUS, "safetensors")
    header = {"__metadata__": {"format": "pt"},
              "a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
              "b": {"dtype": "F16", "shape": [4], "data_offsets": [24, 32]},
              "c": {"dtype": "BF16", "shape": [], "data_offsets": [32, 34]}}
    write(os.path.join(d, "three-dtypes.safetensors"), safetensors(header, [bytes(range(34))]))
    # The test model's header with every tensor cut to one row of two.
    with open(os.path.join(MODEL, "model.safetensors"), "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        real = json.loads(f.read(n))
    header, offset = {}, 0
    for name, e in real.items():
        if name != "__metadata__" and (".layers." in name and ".layers.0." not in name):
            continue
        if name != "__metadata__":
            e = {"dtype": e["dtype"], "shape": [1] * (len(e["shape"]) - 1) + [2], "data_offsets": [offset, offset + 4]}
            offset += 4
        header[name] = e
    write(os.path.join(d, "model-tiny.safetensors"), safetensors(header, [b"\x80\x3f" * (offset // 2)]))


def hf_config_seeds():
    d = os.path.join(CORPUS, "hf_config")
    with open(os.path.join(MODEL, "config.json")) as f:
        base = json.load(f)
    write(os.path.join(d, "sieve-test-27m.json"), json.dumps(base, indent=1))
    variants = {
        "qwen2": {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "head_dim": None},
        "qwen3-llama3-rope": {"architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3",
                              "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                               "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}},
        "mistral-linear-rope": {"architectures": ["MistralForCausalLM"], "model_type": "mistral",
                                "sliding_window": None, "rope_scaling": {"type": "linear", "factor": 2.0}},
    }
    for name, change in variants.items():
        write(os.path.join(d, name + ".json"), json.dumps({**base, **change}))


def vocab_of(kv):
    d = {k: v for k, t, v in kv}
    tokens = [t.decode("utf-8", "replace") for t in d[b"tokenizer.ggml.tokens"][1]]
    types = d.get(b"tokenizer.ggml.token_type", (0, [1] * len(tokens)))[1]
    scores = d.get(b"tokenizer.ggml.scores", (0, [0.0] * len(tokens)))[1]
    merges = [m.decode("utf-8", "replace") for m in d.get(b"tokenizer.ggml.merges", (0, []))[1]]
    return tokens, types, scores, merges


def added(i, text, special):
    return {"id": i, "content": text, "single_word": False, "lstrip": False, "rstrip": False,
            "normalized": not special, "special": special}


def hf_tokenizer_seeds():
    """tokenizer.json files in the layouts transformers writes (the same ones
    tests/tokenizer_hf_test.cc builds), from the shrunk test vocabularies."""
    d = os.path.join(CORPUS, "hf_tokenizer")
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    for name, regex in (("gpt-2", None), ("llama-bpe", r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")):
        kv, _ = read_gguf(os.path.join(VECTORS, f"ggml-vocab-{name}.gguf"))
        tokens, types, _, merges = vocab_of(shrink_vocab(kv, 700))
        j = {"version": "1.0", "normalizer": None, "decoder": byte_level,
             "added_tokens": [added(i, t, ty == 3) for i, (t, ty) in enumerate(zip(tokens, types)) if ty != 1]}
        if regex:
            split = {"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated", "invert": False}
            j["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [split, dict(byte_level, use_regex=False)]}
            j["post_processor"] = {"type": "TemplateProcessing", "single": [
                {"SpecialToken": {"id": tokens[0], "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}]}
        else:
            j["pre_tokenizer"] = byte_level
        j["model"] = {"type": "BPE", "dropout": None, "unk_token": None, "byte_fallback": False,
                      "ignore_merges": bool(regex),
                      "vocab": {t: i for i, (t, ty) in enumerate(zip(tokens, types)) if ty == 1}, "merges": merges}
        write(os.path.join(d, f"{name}.json"), json.dumps(j, ensure_ascii=False))
    # SentencePiece-style BPE (Llama 2): merges from the pieces, byte fallback.
    kv, _ = read_gguf(os.path.join(MODEL, "model-bf16.gguf"))
    tokens, types, scores, _ = vocab_of(shrink_vocab(kv, 400))
    vocab = {t: i for i, t in enumerate(tokens)}
    merges = []
    for i in sorted(range(len(tokens)), key=lambda i: -scores[i]):
        if types[i] == 1:
            p = tokens[i]
            merges += [p[:k] + " " + p[k:] for k in range(1, len(p)) if p[:k] in vocab and p[k:] in vocab]
    space = "\u2581"
    j = {"added_tokens": [added(0, "<unk>", True), added(1, "<s>", True), added(2, "</s>", True)],
         "normalizer": {"type": "Sequence", "normalizers": [
             {"type": "Prepend", "prepend": space},
             {"type": "Replace", "pattern": {"String": " "}, "content": space}]},
         "pre_tokenizer": None,
         "post_processor": {"type": "TemplateProcessing", "single": [
             {"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}]},
         "decoder": {"type": "Sequence", "decoders": [
             {"type": "Replace", "pattern": {"String": space}, "content": " "}, {"type": "ByteFallback"},
             {"type": "Fuse"}]},
         "model": {"type": "BPE", "unk_token": "<unk>", "byte_fallback": True, "fuse_unk": True,
                   "vocab": vocab, "merges": merges}}
    write(os.path.join(d, "spm-style.json"), json.dumps(j, ensure_ascii=False))


def pb_varint(v):
    out = b""
    while True:
        b, v = v & 0x7F, v >> 7
        out += bytes([b | (0x80 if v else 0)])
        if not v:
            return out


def pb_field(num, wire, payload):
    if wire == 2:
        payload = pb_varint(len(payload)) + payload
    return pb_varint(num << 3 | wire) + payload


def build_charsmap(rules):
    """A darts-clone double array (SentencePiece's precompiled charsmap) for
    a few rules: each node's children in a 256-unit block of their own."""
    nodes = [{"kids": {}, "value": None}]
    pool = b""
    for key, repl in rules:
        n = 0
        for c in key:
            if c not in nodes[n]["kids"]:
                nodes.append({"kids": {}, "value": None})
                nodes[n]["kids"][c] = len(nodes) - 1
            n = nodes[n]["kids"][c]
        nodes[n]["value"] = len(pool)
        pool += repl + b"\0"
    base = lambda n: 256 * (n + 1)
    units = [0] * (256 * (len(nodes) + 1))
    units[0] = base(0) << 10
    for n, node in enumerate(nodes):
        for c, child in node["kids"].items():
            idx = base(n) + c
            leaf = nodes[child]["value"] is not None
            units[idx] = ((idx ^ base(child)) << 10) | (0x100 if leaf else 0) | c
            if leaf:
                units[base(child)] = nodes[child]["value"] | (1 << 31)
    return struct.pack("<I", 4 * len(units)) + b"".join(struct.pack("<I", u) for u in units) + pool


FULLWIDTH_RULES = [("\uff21".encode(), b"a"), ("\uff21\uff22".encode(), b"kk"), ("\u3000".encode(), b" ")]
UNIGRAM_PIECES = [("<unk>", 0.0, 2), ("<s>", 0.0, 3), ("</s>", 0.0, 3), ("\u2581", -2.0, 1), ("a", -2.5, 1),
                  ("b", -3.0, 1), ("ab", -2.0, 1), ("\u2581a", -1.5, 1), ("\u2581ab", -5.0, 1), ("k", -1.0, 1),
                  ("kk", -1.5, 1), ("\u2581c", -4.5, 5)]


def sentencepiece_seeds():
    """A tokenizer.model (SentencePiece ModelProto) with the test model's
    first pieces, its trainer spec (BPE, byte fallback) and normalizer."""
    d = os.path.join(CORPUS, "sentencepiece")
    kv, _ = read_gguf(os.path.join(MODEL, "model-bf16.gguf"))
    tokens, types, scores, _ = vocab_of(shrink_vocab(kv, 400))
    out = b""
    for t, ty, sc in zip(tokens, types, scores):
        piece = pb_field(1, 2, t.encode()) + pb_field(2, 5, struct.pack("<f", sc)) + pb_field(3, 0, pb_varint(ty))
        out += pb_field(1, 2, piece)
    trainer = pb_field(3, 0, pb_varint(2)) + pb_field(35, 0, pb_varint(1)) + pb_field(40, 0, pb_varint(0))
    trainer += pb_field(41, 0, pb_varint(1)) + pb_field(42, 0, pb_varint(2))
    trainer += pb_field(43, 0, pb_varint((1 << 64) - 1))  # pad_id -1, sign-extended as protobuf does
    normalizer = pb_field(1, 2, b"identity") + pb_field(3, 0, pb_varint(1)) + pb_field(4, 0, pb_varint(0))
    out += pb_field(2, 2, trainer) + pb_field(3, 2, normalizer)
    write(os.path.join(d, "test-model-400.model"), out)
    # A Unigram model with a character map and byte fallback.
    out = b""
    pieces = UNIGRAM_PIECES + [("<0x%02X>" % b, 0.0, 6) for b in range(256)]
    for t, sc, ty in pieces:
        piece = pb_field(1, 2, t.encode()) + pb_field(2, 5, struct.pack("<f", sc)) + pb_field(3, 0, pb_varint(ty))
        out += pb_field(1, 2, piece)
    trainer = pb_field(3, 0, pb_varint(1)) + pb_field(35, 0, pb_varint(1)) + pb_field(40, 0, pb_varint(0))
    normalizer = pb_field(1, 2, b"nmt_nfkc") + pb_field(2, 2, build_charsmap(FULLWIDTH_RULES))
    normalizer += pb_field(3, 0, pb_varint(1)) + pb_field(4, 0, pb_varint(1))
    out += pb_field(2, 2, trainer) + pb_field(3, 2, normalizer)
    write(os.path.join(d, "unigram-charsmap.model"), out)


def more_tokenizer_seeds():
    """The other tokenizer forms: a Unigram tokenizer.json (Precompiled and
    Metaspace), a byte-level one chaining normalizers and pre-tokenizers, and
    GGUF vocabularies of type t5 and of a multi-regex pre-type."""
    d = os.path.join(CORPUS, "hf_tokenizer")
    space = "\u2581"
    j = {"normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Precompiled", "precompiled_charsmap": base64.b64encode(build_charsmap(FULLWIDTH_RULES)).decode()},
            {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "},
            {"type": "Strip", "strip_left": True, "strip_right": True}]},
         "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "WhitespaceSplit"},
            {"type": "Metaspace", "replacement": space, "prepend_scheme": "always", "split": True}]},
         "added_tokens": [added(0, "<unk>", True), added(2, "</s>", True)],
         "post_processor": {"type": "TemplateProcessing", "single": [
             {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}}]},
         "model": {"type": "Unigram", "unk_id": 0, "byte_fallback": False,
                   "vocab": [[t, sc] for t, sc, _ in UNIGRAM_PIECES]}}
    write(os.path.join(d, "unigram.json"), json.dumps(j, ensure_ascii=False))
    kv, _ = read_gguf(os.path.join(VECTORS, "ggml-vocab-gpt-2.gguf"))
    tokens, types, _, merges = vocab_of(shrink_vocab(kv, 700))
    j = {"normalizer": {"type": "Sequence", "normalizers": [
            {"type": "NFKC"}, {"type": "Lowercase"}, {"type": "Replace", "pattern": {"String": "\t"}, "content": " "}]},
         "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": True},
            {"type": "Punctuation", "behavior": "Contiguous"},
            {"type": "Split", "pattern": {"Regex": "(?=[A-Z])"}, "behavior": "MergedWithNext", "invert": False},
            {"type": "Split", "pattern": {"String": "-"}, "behavior": "Removed", "invert": True},
            {"type": "ByteLevel", "add_prefix_space": True, "use_regex": True}]},
         "decoder": {"type": "ByteLevel"},
         "model": {"type": "BPE", "vocab": {t: i for i, (t, ty) in enumerate(zip(tokens, types)) if ty == 1},
                   "merges": merges}}
    write(os.path.join(d, "forms.json"), json.dumps(j, ensure_ascii=False))

    d = os.path.join(CORPUS, "gguf")
    kv, _ = read_gguf(os.path.join(VECTORS, "ggml-vocab-gpt-2.gguf"))
    kv = [(k, t, (t == STRING and k == b"tokenizer.ggml.pre") and b"deepseek-coder" or v) for k, t, v in kv]
    write_gguf(os.path.join(d, "vocab-deepseek-coder.gguf"), shrink_vocab(kv, 700), [])
    t5 = [(b"general.architecture", STRING, b"t5"), (b"tokenizer.ggml.model", STRING, b"t5"),
          (b"tokenizer.ggml.tokens", ARRAY, (STRING, [t.encode() for t, _, _ in UNIGRAM_PIECES])),
          (b"tokenizer.ggml.scores", ARRAY, (F32, [sc for _, sc, _ in UNIGRAM_PIECES])),
          (b"tokenizer.ggml.token_type", ARRAY, (I32, [ty for _, _, ty in UNIGRAM_PIECES])),
          (b"tokenizer.ggml.unknown_token_id", U32, 0), (b"tokenizer.ggml.eos_token_id", U32, 2),
          (b"tokenizer.ggml.precompiled_charsmap", ARRAY, (U8, list(build_charsmap(FULLWIDTH_RULES))))]
    write_gguf(os.path.join(d, "vocab-t5.gguf"), t5, [])


def openai_request_seeds():
    # First byte: the route (0 completions, 1 chat, 2 tokenize, 3 detokenize).
    d = os.path.join(CORPUS, "openai_request")
    seeds = {
        "completion": (0, {"model": "m", "prompt": "The kernel", "max_tokens": 8, "temperature": 0.5,
                           "top_p": 0.9, "top_k": 40, "min_p": 0.05, "seed": 1, "stop": ["\n", "."],
                           "presence_penalty": 0.1, "frequency_penalty": 0.1, "logprobs": 2, "n": 1,
                           "stream": True, "stream_options": {"include_usage": True},
                           "attn": "quest:budget=64", "user": "u", "ignore_eos": False}),
        "completion-tokens": (0, {"prompt": [[1, 450, 8192]], "max_tokens": 99999999999}),
        "chat": (1, {"messages": [{"role": "system", "content": "Be brief."},
                                  {"role": "user", "content": [{"type": "text", "text": "caf\u00e9"}]}],
                     "max_completion_tokens": 4, "logprobs": True, "top_logprobs": 3,
                     "response_format": {"type": "text"}, "tools": []}),
        "tokenize": (2, {"content": "Hello world", "add_special": False}),
        "detokenize": (3, {"tokens": [1, 2, 8191]}),
    }
    for name, (route, body) in seeds.items():
        write(os.path.join(d, name), bytes([route]) + json.dumps(body).encode())


if __name__ == "__main__":
    gguf_seeds()
    safetensors_seeds()
    hf_config_seeds()
    hf_tokenizer_seeds()
    sentencepiece_seeds()
    more_tokenizer_seeds()
    openai_request_seeds()
