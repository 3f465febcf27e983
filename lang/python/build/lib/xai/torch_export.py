"""torch_export.py — writes a torch.nn.Sequential to xaid's xnn network format.

The format (docs/NN_FORMAT.md) is one msgpack map: a version, the input shape
[c, h, w] and the layer list, weights as little-endian float32 bytes. xaid's
native engine loads it (xai_nn_load) and runs gradient and LRP methods on it.

    from xai.torch_export import export
    export(model, (1, 8, 8), "digits.xnn")

Supported modules (nested Sequentials are flattened): Linear, Conv2d (groups
1, dilation 1, zero padding, the same stride and padding in both
directions), ReLU, Tanh, Sigmoid, Softmax (last, over the features),
MaxPool2d and AvgPool2d (square kernel, no padding, no ceil mode),
AdaptiveAvgPool2d(1) (global average pooling), Flatten, BatchNorm1d and
BatchNorm2d (their running statistics; they must follow a Linear or Conv2d,
into which xaid folds them on load), and Dropout / Identity (skipped: the
network is exported for inference). Anything else raises ValueError naming
the module.

This module imports neither torch nor the rest of the xai package: modules
are recognised by class name and tensors read through .detach().cpu().numpy()
when they have it, so it works with any torch version (and with stand-ins in
tests). It needs numpy and msgpack (Debian: python3-numpy, python3-msgpack).
"""

import msgpack
import numpy as np

FORMAT_VERSION = 1

__all__ = ["export", "write_xnn", "FORMAT_VERSION"]


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


def _conv(m, name):
    if getattr(m, "groups", 1) != 1 or _pair(getattr(m, "dilation", 1), "dilation", name) != 1:
        raise ValueError("%s: grouped or dilated convolutions are not supported" % name)
    if getattr(m, "padding_mode", "zeros") != "zeros" or isinstance(m.padding, str):
        raise ValueError("%s: only explicit zero padding is supported" % name)
    kh, kw = m.kernel_size if isinstance(m.kernel_size, (tuple, list)) else (m.kernel_size,) * 2
    layer = {
        "type": "conv2d",
        "out": int(m.out_channels),
        "kernel": [int(kh), int(kw)],
        "stride": _pair(m.stride, "stride", name),
        "padding": _pair(m.padding, "padding", name),
        "weight": _f32(_array(m.weight)),
    }
    if getattr(m, "bias", None) is not None:
        layer["bias"] = _f32(_array(m.bias))
    return layer


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
    "BatchNorm1d": _batchnorm,
    "BatchNorm2d": _batchnorm,
}
_SKIPPED = {"Dropout", "Dropout2d", "Identity"}


def _modules(model, prefix=""):
    """The leaf modules of a (possibly nested) Sequential, with their names."""
    kind = type(model).__name__
    if kind == "Sequential":
        children = model.named_children() if hasattr(model, "named_children") else enumerate(model)
        for name, child in children:
            yield from _modules(child, "%s%s." % (prefix, name))
    else:
        yield prefix.rstrip(".") or kind, model


def _layers(model):
    layers, last = [], None
    for name, m in _modules(model):
        kind = type(m).__name__
        if kind in _SKIPPED:
            continue
        if kind not in _CONVERTERS:
            raise ValueError("module %s (%s) has no xnn layer" % (name, kind))
        if kind.startswith("BatchNorm") and last not in ("Linear", "Conv2d"):
            raise ValueError("module %s: batch norm must follow Linear or Conv2d to be folded" % name)
        layers.append(_CONVERTERS[kind](m, "module %s (%s)" % (name, kind)))
        last = kind
    if not layers:
        raise ValueError("the model has no layers")
    return layers


def write_xnn(input_shape, layers, path=None):
    """Packs a layer list (dicts as in docs/NN_FORMAT.md) for input_shape
    (c, h, w) and returns the bytes; writes them to `path` when given."""
    shape = [int(v) for v in input_shape]
    if len(shape) == 1:
        shape += [1, 1]
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError("input_shape must be (c, h, w) or (features,)")
    data = msgpack.packb(
        {"format": "xnn", "version": FORMAT_VERSION, "input": shape, "layers": layers},
        use_bin_type=True,
    )
    if path is not None:
        with open(path, "wb") as f:
            f.write(data)
    return data


def export(model, input_shape, path=None):
    """Exports a torch.nn.Sequential for inputs of shape (c, h, w) (or
    (features,)); returns the file's bytes and writes them to `path` if given.
    The model should be in eval mode: batch norms use running statistics."""
    return write_xnn(input_shape, _layers(model), path)
