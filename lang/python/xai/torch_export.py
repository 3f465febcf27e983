"""torch_export.py — writes a torch.nn.Sequential to xaid's xnn network format.

The format (docs/NN_FORMAT.md) is one msgpack map: a version, the input shape
[c, h, w] and the layer list, weights as little-endian float32 bytes. xaid's
native engine loads it (xai_nn_load) and runs gradient and LRP methods on it.

    from xai.torch_export import export
    export(model, (1, 8, 8), "digits.xnn")

Text networks: export_text(embedding, body, vocab, ...) writes a network
that reads text (docs/NN_FORMAT.md, "embedding"): an nn.Embedding, or an
nn.EmbeddingBag (mode mean, sum or max: exported as the embedding followed
by token_pool), the vocabulary in index order, the out-of-vocabulary index,
ASCII case folding and the tokenizer pattern xaid uses (PCRE2, default
\\w+), then `body`, a Sequential that reads the embedded tokens as torch's
Conv1d does, (N, dim, n_tokens): Conv1d (groups 1, dilation 1, zero
padding), AdaptiveMaxPool1d(1) / AdaptiveAvgPool1d(1) (token_pool max /
mean over the tokens), a module of class TokenPool with a `mode` attribute
"mean" | "max" | "sum" (pooling over dim 2), and every module below.

    export_text(model.emb, model.body, vocab, "clf.xnn", oov=0, lowercase=True)

Supported modules (nested Sequentials are flattened): Linear, Conv2d (groups
1, dilation 1, zero padding, the same stride and padding in both
directions), ReLU, Tanh, Sigmoid, Softmax (last, over the features),
MaxPool2d and AvgPool2d (square kernel, no padding, no ceil mode),
AdaptiveAvgPool2d(1) (global average pooling), Flatten, BatchNorm1d and
BatchNorm2d (their running statistics; they must follow a Linear or Conv2d,
into which xaid folds them on load), and Dropout / Identity (skipped: the
network is exported for inference). Anything else raises ValueError naming
the module.

Graphs (skip connections): a module of class Residual with `body` and an
optional `shortcut` (None: the identity) computes body(x) + shortcut(x)
(exported as the branches and an add layer); a module of class Concat with
a list `branches` computes torch.cat([b(x) for b in branches], dim=1);
torchvision's BasicBlock (conv1, bn1, relu, conv2, bn2, downsample) is
relu(bn2(conv2(relu(bn1(conv1(x))))) + downsample(x)). The classes are
recognised by name, so any module with those names and attributes works.

Transformers (in export_text bodies, over the tokens): LayerNorm over the
features, nn.TransformerEncoderLayer (batch_first, post-norm, ReLU; eval:
no dropout) and nn.TransformerEncoder of them, exported as attention, add,
layernorm, and the feed-forward Linears as conv1d with kernel 1.

This module imports neither torch nor the rest of the xai package: modules
are recognised by class name and tensors read through .detach().cpu().numpy()
when they have it, so it works with any torch version (and with stand-ins in
tests). It needs numpy and msgpack (Debian: python3-numpy, python3-msgpack).
"""

import msgpack
import numpy as np

FORMAT_VERSION = 1

__all__ = ["export", "export_text", "write_xnn", "FORMAT_VERSION"]


def _array(t):
    """A tensor (or array-like) as a float32 numpy array."""
    if t is None:
        return None
    if hasattr(t, "detach"):
        t = t.detach().cpu().numpy()
    return np.asarray(t, dtype=np.float32)


def _f32(a):
    """Little-endian float32 bytes of an array, row-major."""
    return np.ascontiguousarray(np.asarray(a, dtype="<f4")).tobytes()


def _pair(v, what, name):
    """An int or a pair of equal ints as one int (the format has one value)."""
    if isinstance(v, (tuple, list)):
        if len(v) != 2 or v[0] != v[1]:
            raise ValueError("%s: %s %r must be the same in both directions" % (name, what, v))
        v = v[0]
    if not isinstance(v, int):
        raise ValueError("%s: %s %r is not an integer" % (name, what, v))
    return v


def _linear(m, name):
    layer = {"type": "dense", "out": int(m.out_features), "weight": _f32(_array(m.weight))}
    if getattr(m, "bias", None) is not None:
        layer["bias"] = _f32(_array(m.bias))
    return layer


def _conv_layer(m, name, kind, one, kernel):
    """The conv2d or conv1d layer of m; `one` reads one number of a
    per-direction attribute (stride, padding, dilation)."""
    if getattr(m, "groups", 1) != 1 or one(getattr(m, "dilation", 1), "dilation", name) != 1:
        raise ValueError("%s: grouped or dilated convolutions are not supported" % name)
    if getattr(m, "padding_mode", "zeros") != "zeros" or isinstance(m.padding, str):
        raise ValueError("%s: only explicit zero padding is supported" % name)
    layer = {
        "type": kind,
        "out": int(m.out_channels),
        "kernel": kernel,
        "stride": one(m.stride, "stride", name),
        "padding": one(m.padding, "padding", name),
        "weight": _f32(_array(m.weight)),
    }
    if getattr(m, "bias", None) is not None:
        layer["bias"] = _f32(_array(m.bias))
    return layer


def _conv(m, name):
    kh, kw = m.kernel_size if isinstance(m.kernel_size, (tuple, list)) else (m.kernel_size,) * 2
    return _conv_layer(m, name, "conv2d", _pair, [int(kh), int(kw)])


def _single(v, what, name):
    """A Conv1d's (k,) tuple or int as one int."""
    if isinstance(v, (tuple, list)):
        if len(v) != 1:
            raise ValueError("%s: %s %r is not one number" % (name, what, v))
        v = v[0]
    if not isinstance(v, int):
        raise ValueError("%s: %s %r is not an integer" % (name, what, v))
    return v


def _conv1d(m, name):
    return _conv_layer(m, name, "conv1d", _single, _single(m.kernel_size, "kernel_size", name))


def _layernorm(m, name):
    shape = tuple(getattr(m, "normalized_shape", ()))
    if len(shape) != 1:
        raise ValueError("%s: only a layer norm over the last dimension (features) is supported" % name)
    n = shape[0]
    w = _array(m.weight) if getattr(m, "weight", None) is not None else np.ones(n, np.float32)
    b = _array(m.bias) if getattr(m, "bias", None) is not None else np.zeros(n, np.float32)
    return {"type": "layernorm", "eps": float(m.eps), "weight": _f32(w), "bias": _f32(b)}


def _attention(m, name):
    """A self-attention MultiheadAttention (batch_first, q = k = v)."""
    if getattr(m, "_qkv_same_embed_dim", True) is False or getattr(m, "in_proj_weight", None) is None:
        raise ValueError("%s: only attention with one in_proj_weight (q, k, v of one size)" % name)
    if getattr(m, "bias_k", None) is not None or getattr(m, "add_zero_attn", False):
        raise ValueError("%s: bias_k / add_zero_attn are not supported" % name)
    d = int(m.embed_dim)
    w = np.concatenate([_array(m.in_proj_weight).reshape(-1), _array(m.out_proj.weight).reshape(-1)])
    ib = _array(m.in_proj_bias) if getattr(m, "in_proj_bias", None) is not None else np.zeros(3 * d)
    ob = _array(m.out_proj.bias) if getattr(m.out_proj, "bias", None) is not None else np.zeros(d)
    return {"type": "attention", "heads": int(m.num_heads), "weight": _f32(w),
            "bias": _f32(np.concatenate([ib, ob]))}


def _pointwise(lin, name):
    """A Linear applied at every position: conv1d with kernel 1."""
    layer = {"type": "conv1d", "out": int(lin.out_features), "kernel": 1, "stride": 1,
             "padding": 0, "weight": _f32(_array(lin.weight))}
    if getattr(lin, "bias", None) is not None:
        layer["bias"] = _f32(_array(lin.bias))
    return layer


def _adaptive1d(m, name, mode):
    if m.output_size not in (1, (1,), [1]):
        raise ValueError("%s: only output size 1 (pooling over all tokens) is supported" % name)
    return {"type": "token_pool", "mode": mode}


def _token_pool(m, name):
    mode = getattr(m, "mode", None)
    if mode not in ("mean", "max", "sum"):
        raise ValueError("%s: mode %r is not mean, max or sum" % (name, mode))
    return {"type": "token_pool", "mode": mode}


def _pool(m, name, kind):
    k = _pair(m.kernel_size, "kernel_size", name)
    stride = m.stride if m.stride is not None else k
    stride = _pair(stride, "stride", name) if stride else k
    if _pair(getattr(m, "padding", 0), "padding", name) != 0 or getattr(m, "ceil_mode", False):
        raise ValueError("%s: padding and ceil_mode are not supported" % name)
    if kind == "maxpool2d" and _pair(getattr(m, "dilation", 1), "dilation", name) != 1:
        raise ValueError("%s: dilation is not supported" % name)
    return {"type": kind, "kernel": k, "stride": stride}


def _batchnorm(m, name):
    n = int(m.num_features)
    gamma = _array(m.weight) if getattr(m, "weight", None) is not None else np.ones(n, np.float32)
    beta = _array(m.bias) if getattr(m, "bias", None) is not None else np.zeros(n, np.float32)
    if getattr(m, "running_mean", None) is None:
        raise ValueError("%s: batch norm without running statistics cannot be folded" % name)
    return {
        "type": "batchnorm",
        "gamma": _f32(gamma),
        "beta": _f32(beta),
        "mean": _f32(_array(m.running_mean)),
        "var": _f32(_array(m.running_var)),
        "eps": float(m.eps),
    }


def _adaptive(m, name):
    size = m.output_size
    if size not in (1, (1, 1), [1, 1]):
        raise ValueError("%s: only AdaptiveAvgPool2d(1) (global average pooling) is supported" % name)
    return {"type": "global_avgpool"}


def _flatten(m, name):
    if getattr(m, "start_dim", 1) != 1 or getattr(m, "end_dim", -1) != -1:
        raise ValueError("%s: only Flatten(1, -1) is supported" % name)
    return {"type": "flatten"}


def _softmax(m, name):
    if getattr(m, "dim", 1) not in (1, -1):
        raise ValueError("%s: softmax must be over the features (dim 1)" % name)
    return {"type": "softmax"}


_CONVERTERS = {
    "Linear": _linear,
    "Conv2d": _conv,
    "ReLU": lambda m, n: {"type": "relu"},
    "Tanh": lambda m, n: {"type": "tanh"},
    "Sigmoid": lambda m, n: {"type": "sigmoid"},
    "Softmax": _softmax,
    "MaxPool2d": lambda m, n: _pool(m, n, "maxpool2d"),
    "AvgPool2d": lambda m, n: _pool(m, n, "avgpool2d"),
    "AdaptiveAvgPool2d": _adaptive,
    "Flatten": _flatten,
    "Conv1d": _conv1d,
    "AdaptiveMaxPool1d": lambda m, n: _adaptive1d(m, n, "max"),
    "AdaptiveAvgPool1d": lambda m, n: _adaptive1d(m, n, "mean"),
    "TokenPool": _token_pool,
    "LayerNorm": _layernorm,
    "BatchNorm1d": _batchnorm,
    "BatchNorm2d": _batchnorm,
}
_SKIPPED = {"Dropout", "Dropout2d", "Identity"}


def _children(model):
    """(name, child) pairs of a Sequential (or a stand-in list)."""
    if hasattr(model, "named_children"):
        return list(model.named_children())
    return list(enumerate(model))


class _Emitter:
    """Builds the layer list of a module tree. `cur` is the entry whose
    output is the current tensor (-1: the network input); a layer that does
    not read the entry just before it gets "inputs" (docs/NN_FORMAT.md)."""

    def __init__(self):
        self.layers, self.last_kind = [], None

    def leaf(self, m, name, cur):
        kind = type(m).__name__
        if kind in _SKIPPED:
            return cur
        if kind not in _CONVERTERS:
            raise ValueError("module %s (%s) has no xnn layer" % (name, kind))
        follows = cur == len(self.layers) - 1
        if kind.startswith("BatchNorm") and (
                not follows or self.last_kind not in ("Linear", "Conv2d", "Conv1d")):
            raise ValueError("module %s: batch norm must follow Linear or Conv2d to be folded" % name)
        layer = _CONVERTERS[kind](m, "module %s (%s)" % (name, kind))
        if not follows:
            layer["inputs"] = [cur]
        return self.push(layer, kind)

    def push(self, layer, kind):
        self.layers.append(layer)
        self.last_kind = kind
        return len(self.layers) - 1

    def merge(self, kind, a, b):
        return self.push({"type": kind, "inputs": [a, b]}, kind)

    def emit(self, m, name, cur):
        kind = type(m).__name__
        if kind == "Sequential":
            for child_name, child in _children(m):
                cur = self.emit(child, "%s%s" % (name + "." if name else "", child_name), cur)
            return cur
        if kind == "Residual":  # body(x) + shortcut(x)
            body = self.emit(m.body, name + ".body", cur)
            short = cur if getattr(m, "shortcut", None) is None else \
                self.emit(m.shortcut, name + ".shortcut", cur)
            return self.merge("add", body, short)
        if kind == "Concat":  # torch.cat([b(x) for b in branches], dim=1)
            outs = [self.emit(b, "%s.branches.%d" % (name, i), cur)
                    for i, b in enumerate(m.branches)]
            for o in outs[1:]:
                outs[0] = self.merge("concat", outs[0], o)
            return outs[0]
        if kind == "TransformerEncoderLayer":
            return self.encoder_layer(m, name, cur)
        if kind == "TransformerEncoder":
            for i, layer in enumerate(m.layers):
                cur = self.encoder_layer(layer, "%s.layers.%d" % (name, i), cur)
            if getattr(m, "norm", None) is not None:
                cur = self.leaf(m.norm, name + ".norm", cur)
            return cur
        if kind == "BasicBlock":  # torchvision's ResNet block
            body = cur
            for part in ("conv1", "bn1", "relu", "conv2", "bn2"):
                body = self.emit(getattr(m, part), "%s.%s" % (name, part), body)
            short = cur if getattr(m, "downsample", None) is None else \
                self.emit(m.downsample, name + ".downsample", cur)
            return self.leaf(m.relu, name + ".relu", self.merge("add", body, short))
        return self.leaf(m, name or kind, cur)


    def encoder_layer(self, m, name, cur):
        """torch.nn.TransformerEncoderLayer (post-norm, ReLU, eval):
        x = norm1(x + attn(x)); x = norm2(x + linear2(relu(linear1(x))))."""
        if getattr(m, "norm_first", False):
            raise ValueError("%s: norm_first encoder layers are not supported" % name)
        act = getattr(m, "activation", None)
        if getattr(act, "__name__", type(act).__name__).lower() != "relu":
            raise ValueError("%s: only the ReLU activation is supported" % name)
        attn = self.push(dict(_attention(m.self_attn, name + ".self_attn"), inputs=[cur]), "attention")
        x = self.leaf(m.norm1, name + ".norm1", self.merge("add", attn, cur))
        h = self.push(_pointwise(m.linear1, name + ".linear1"), "Conv1d")
        h = self.push({"type": "relu"}, "ReLU")
        h = self.push(_pointwise(m.linear2, name + ".linear2"), "Conv1d")
        return self.leaf(m.norm2, name + ".norm2", self.merge("add", h, x))


def _layers(model, allow_empty=False):
    e = _Emitter()
    e.emit(model, "", -1)
    if not e.layers and not allow_empty:
        raise ValueError("the model has no layers")
    return e.layers


def write_xnn(input_shape, layers, path=None, embedding=None):
    """Packs a layer list (dicts as in docs/NN_FORMAT.md) for input_shape
    (c, h, w) and returns the bytes; writes them to `path` when given. A
    text network passes its `embedding` map (input_shape is then
    (dim, 1, max_len))."""
    shape = [int(v) for v in input_shape]
    if len(shape) == 1:
        shape += [1, 1]
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError("input_shape must be (c, h, w) or (features,)")
    root = {"format": "xnn", "version": FORMAT_VERSION, "input": shape, "layers": layers}
    if embedding is not None:
        root["embedding"] = embedding
    data = msgpack.packb(root, use_bin_type=True)
    if path is not None:
        with open(path, "wb") as f:
            f.write(data)
    return data


def export(model, input_shape, path=None):
    """Exports a torch.nn.Sequential for inputs of shape (c, h, w) (or
    (features,)); returns the file's bytes and writes them to `path` if given.
    The model should be in eval mode: batch norms use running statistics."""
    return write_xnn(input_shape, _layers(model), path)


def export_text(embedding, body, vocab, path=None, oov=0, lowercase=False, pattern=None,
                max_len=512):
    """Exports a text classifier: `embedding` (nn.Embedding, or nn.EmbeddingBag
    with mode mean / sum / max), `body` (a Sequential over (N, dim, n_tokens),
    or None when an EmbeddingBag feeds Linear layers... given as body) and
    `vocab`, the words in index order (vocab[i] is embedding row i). xaid
    tokenizes with `pattern` (PCRE2, Unicode; None = \\w+), folds A-Z to
    a-z when `lowercase` (ASCII only, so the words must hold no A-Z then),
    and maps words not in vocab to index `oov`. Returns the file's bytes and
    writes them to `path` if given."""
    weight = _array(embedding.weight)
    if weight.ndim != 2:
        raise ValueError("the embedding weight must be vocab x dim")
    n_vocab, dim = weight.shape
    words = [str(w) for w in vocab]
    if len(words) != n_vocab:
        raise ValueError("vocab has %d words, the embedding %d rows" % (len(words), n_vocab))
    if len(set(words)) != len(words) or not all(words):
        raise ValueError("vocab words must be distinct and non-empty")
    if lowercase and any(any("A" <= ch <= "Z" for ch in w) for w in words):
        raise ValueError("lowercase: the vocabulary must hold lower-case words (ASCII folding)")
    if not 0 <= int(oov) < n_vocab:
        raise ValueError("oov index %r is not a row of the embedding" % (oov,))
    layers = []
    kind = type(embedding).__name__
    if kind == "EmbeddingBag":
        mode = getattr(embedding, "mode", "mean")
        if mode not in ("mean", "sum", "max"):
            raise ValueError("EmbeddingBag mode %r is not mean, sum or max" % (mode,))
        layers.append({"type": "token_pool", "mode": mode})
    elif kind != "Embedding":
        raise ValueError("embedding: %s is neither Embedding nor EmbeddingBag" % kind)
    if body is not None:
        layers += _layers(body, allow_empty=True)
    if not layers:
        raise ValueError("the model has no layers after the embedding")
    emb = {"vocab": words, "dim": int(dim), "oov": int(oov), "lowercase": bool(lowercase),
           "max_len": int(max_len), "weight": _f32(weight)}
    if pattern:
        emb["pattern"] = str(pattern)
    return write_xnn((dim, 1, max_len), layers, path, embedding=emb)
