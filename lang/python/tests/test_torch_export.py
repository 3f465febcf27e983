"""test_torch_export.py — the xnn exporter (xai/torch_export.py).

Without torch: stand-in modules with torch's class names and attributes go
through the exporter, and the msgpack it writes is decoded and checked field
by field (types, shapes, little-endian float32 bytes, batch norm kept for the
loader to fold, Dropout skipped, errors for what the format cannot hold).
With torch (python3-torch): a real Sequential is exported and a numpy forward
pass over the decoded file matches torch's output; these tests are skipped,
saying so, when torch is absent.
"""

import importlib.util
import os
import unittest

import msgpack
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location(
    "torch_export", os.path.join(os.path.dirname(HERE), "xai", "torch_export.py"))
torch_export = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(torch_export)  # standalone: no xai package import

try:
    import torch  # noqa: F401
    HAVE_TORCH = True
except ImportError:
    HAVE_TORCH = False


def stand_in(kind, **attrs):
    """An object whose class is named like the torch module it imitates."""
    return type(kind, (), {})() if not attrs else _with(type(kind, (), {})(), attrs)


def _with(obj, attrs):
    for k, v in attrs.items():
        setattr(obj, k, v)
    return obj


class Sequential(list):
    """Stand-in for torch.nn.Sequential: iterable children, no named_children."""


def floats(b):
    return np.frombuffer(b, dtype="<f4")


class StandInExport(unittest.TestCase):
    def setUp(self):
        rng = np.random.default_rng(0)
        self.conv_w = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
        self.conv_b = rng.standard_normal(3).astype(np.float32)
        self.lin_w = rng.standard_normal((4, 12)).astype(np.float32)
        self.model = Sequential([
            stand_in("Conv2d", out_channels=3, kernel_size=(3, 3), stride=(1, 1), padding=1,
                     dilation=1, groups=1, padding_mode="zeros", weight=self.conv_w, bias=self.conv_b),
            stand_in("BatchNorm2d", num_features=3, weight=np.ones(3), bias=np.zeros(3),
                     running_mean=np.arange(3.0), running_var=np.full(3, 4.0), eps=1e-5),
            stand_in("ReLU"),
            stand_in("MaxPool2d", kernel_size=2, stride=None, padding=0, dilation=1, ceil_mode=False),
            stand_in("Dropout"),
            Sequential([stand_in("Flatten", start_dim=1, end_dim=-1)]),
            stand_in("Linear", out_features=4, weight=self.lin_w, bias=None),
            stand_in("Softmax", dim=1),
        ])

    def test_layers_fields_and_bytes(self):
        data = torch_export.export(self.model, (2, 4, 4))
        doc = msgpack.unpackb(data, raw=False)
        self.assertEqual(doc["version"], 1)
        self.assertEqual(doc["input"], [2, 4, 4])
        types = [layer["type"] for layer in doc["layers"]]
        self.assertEqual(types, ["conv2d", "batchnorm", "relu", "maxpool2d", "flatten", "dense", "softmax"])
        conv, bn, _, pool, _, dense, _ = doc["layers"]
        self.assertEqual((conv["out"], conv["kernel"], conv["stride"], conv["padding"]), (3, [3, 3], 1, 1))
        self.assertIsInstance(conv["weight"], bytes)
        np.testing.assert_array_equal(floats(conv["weight"]), self.conv_w.ravel())
        np.testing.assert_array_equal(floats(conv["bias"]), self.conv_b)
        np.testing.assert_array_equal(floats(bn["var"]), [4, 4, 4])
        self.assertAlmostEqual(bn["eps"], 1e-5)
        self.assertEqual((pool["kernel"], pool["stride"]), (2, 2))
        self.assertEqual(len(dense["weight"]), 4 * 12 * 4)
        self.assertNotIn("bias", dense)  # absent bias: the loader uses zeros

    def test_writes_the_file(self):
        path = os.path.join(HERE, "_export_test.xnn")
        try:
            data = torch_export.export(self.model, (2, 4, 4), path)
            with open(path, "rb") as f:
                self.assertEqual(f.read(), data)
        finally:
            if os.path.exists(path):
                os.remove(path)

    def test_refuses_what_the_format_cannot_hold(self):
        bad = [
            Sequential([stand_in("ReLU"), stand_in("BatchNorm1d", num_features=2)]),
            Sequential([stand_in("LSTM")]),
            Sequential([stand_in("Conv2d", out_channels=2, kernel_size=3, stride=1, padding=0,
                                 dilation=1, groups=2, padding_mode="zeros", weight=np.zeros(1))]),
            Sequential([stand_in("Conv2d", out_channels=2, kernel_size=3, stride=(1, 2), padding=0,
                                 dilation=1, groups=1, padding_mode="zeros", weight=np.zeros(1))]),
            Sequential([]),
        ]
        for model in bad:
            with self.assertRaises(ValueError):
                torch_export.export(model, (1, 8, 8))


class StandInTextExport(unittest.TestCase):
    def setUp(self):
        rng = np.random.default_rng(1)
        self.emb_w = rng.standard_normal((5, 3)).astype(np.float32)
        self.conv_w = rng.standard_normal((4, 3, 2)).astype(np.float32)
        self.vocab = ["<unk>", "good", "bad", "movie", "the"]

    def conv1d(self, **kw):
        attrs = dict(out_channels=4, kernel_size=(2,), stride=(1,), padding=(1,), dilation=(1,),
                     groups=1, padding_mode="zeros", weight=self.conv_w, bias=None)
        attrs.update(kw)
        return stand_in("Conv1d", **attrs)

    def test_embedding_conv1d_and_pooling(self):
        body = Sequential([self.conv1d(), stand_in("ReLU"),
                           stand_in("AdaptiveMaxPool1d", output_size=1), stand_in("Flatten"),
                           stand_in("Linear", out_features=2, weight=np.ones((2, 4)), bias=None)])
        doc = msgpack.unpackb(torch_export.export_text(
            stand_in("Embedding", weight=self.emb_w), body, self.vocab, oov=0, lowercase=True,
            max_len=32), raw=False)
        e = doc["embedding"]
        self.assertEqual(e["vocab"], self.vocab)
        self.assertEqual((e["dim"], e["oov"], e["lowercase"], e["max_len"]), (3, 0, True, 32))
        np.testing.assert_array_equal(floats(e["weight"]), self.emb_w.reshape(-1))
        self.assertEqual(doc["input"], [3, 1, 32])
        types = [layer["type"] for layer in doc["layers"]]
        self.assertEqual(types, ["conv1d", "relu", "token_pool", "flatten", "dense"])
        conv = doc["layers"][0]
        self.assertEqual((conv["out"], conv["kernel"], conv["stride"], conv["padding"]), (4, 2, 1, 1))
        np.testing.assert_array_equal(floats(conv["weight"]), self.conv_w.reshape(-1))
        self.assertEqual(doc["layers"][2]["mode"], "max")

    def test_embedding_bag_becomes_embedding_and_token_pool(self):
        for mode in ("mean", "sum", "max"):
            bag = stand_in("EmbeddingBag", weight=self.emb_w, mode=mode)
            lin = stand_in("Linear", out_features=2, weight=np.ones((2, 3)), bias=np.zeros(2))
            doc = msgpack.unpackb(torch_export.export_text(bag, Sequential([lin]), self.vocab),
                                  raw=False)
            self.assertEqual(doc["layers"][0], {"type": "token_pool", "mode": mode})
            self.assertEqual(doc["layers"][1]["type"], "dense")
            self.assertNotIn("pattern", doc["embedding"])

    def test_refuses_what_a_text_network_cannot_hold(self):
        emb = stand_in("Embedding", weight=self.emb_w)
        lin = Sequential([stand_in("Linear", out_features=2, weight=np.ones((2, 3)), bias=None)])
        with self.assertRaises(ValueError):
            torch_export.export_text(emb, lin, self.vocab[:4])  # 4 words, 5 rows
        with self.assertRaises(ValueError):
            torch_export.export_text(emb, lin, ["a", "a", "b", "c", "d"])
        with self.assertRaises(ValueError):
            torch_export.export_text(emb, lin, ["<unk>", "Good", "b", "c", "d"], lowercase=True)
        with self.assertRaises(ValueError):
            torch_export.export_text(emb, lin, self.vocab, oov=5)
        with self.assertRaises(ValueError):
            torch_export.export_text(emb, Sequential([self.conv1d(dilation=(2,))]), self.vocab)
        with self.assertRaises(ValueError):
            torch_export.export_text(stand_in("EmbeddingBag", weight=self.emb_w, mode="x"), lin,
                                     self.vocab)


class StandInGraphExport(unittest.TestCase):
    def test_residual_and_concat_name_their_inputs(self):
        w = np.ones((2, 2, 1, 1), np.float32)

        def conv():
            return stand_in("Conv2d", out_channels=2, kernel_size=1, stride=1, padding=0,
                            dilation=1, groups=1, padding_mode="zeros", weight=w, bias=None)
        model = Sequential([
            conv(),                                                      # 0
            stand_in("Residual", body=Sequential([conv(), stand_in("ReLU")]),  # 1, 2
                     shortcut=None),                                      # add 3 = [2, 0]
            stand_in("Residual", body=Sequential([conv()]),              # 4
                     shortcut=Sequential([conv()])),                     # 5 reads 3; add 6
            stand_in("Concat", branches=[Sequential([conv()]), Sequential([conv()])]),  # 7, 8, concat 9
            stand_in("Flatten")])                                        # 10
        layers = msgpack.unpackb(torch_export.export(model, (2, 3, 3)), raw=False)["layers"]
        self.assertEqual([layer["type"] for layer in layers],
                         ["conv2d", "conv2d", "relu", "add", "conv2d", "conv2d", "add",
                          "conv2d", "conv2d", "concat", "flatten"])
        self.assertEqual(layers[3]["inputs"], [2, 0])
        self.assertNotIn("inputs", layers[4])
        self.assertEqual(layers[5]["inputs"], [3])
        self.assertEqual(layers[6]["inputs"], [4, 5])
        self.assertEqual(layers[8]["inputs"], [6])
        self.assertEqual(layers[9]["inputs"], [7, 8])
        self.assertNotIn("inputs", layers[10])


def numpy_forward(doc, x):
    """Runs a decoded xnn document on one sample x (c, h, w) in float64."""
    pending = None
    for layer in doc["layers"]:
        t = layer["type"]
        if t in ("dense", "conv2d"):
            pending = layer
        if t == "batchnorm":
            s = floats(layer["gamma"]) / np.sqrt(floats(layer["var"]) + layer["eps"])
            shift = floats(layer["beta"]) - s * floats(layer["mean"])
            x = x * s.reshape(-1, *([1] * (x.ndim - 1))) + shift.reshape(-1, *([1] * (x.ndim - 1)))
            continue
        if t == "dense":
            w = floats(layer["weight"]).reshape(layer["out"], -1)
            b = floats(layer["bias"]) if "bias" in layer else 0
            x = w @ x.reshape(-1) + b
        elif t == "conv2d":
            w = floats(layer["weight"]).reshape(layer["out"], x.shape[0], *layer["kernel"])
            p, s = layer["padding"], layer["stride"]
            xp = np.pad(x, ((0, 0), (p, p), (p, p)))
            oh = (xp.shape[1] - w.shape[2]) // s + 1
            ow = (xp.shape[2] - w.shape[3]) // s + 1
            y = np.zeros((w.shape[0], oh, ow))
            for i in range(oh):
                for j in range(ow):
                    patch = xp[:, i * s:i * s + w.shape[2], j * s:j * s + w.shape[3]]
                    y[:, i, j] = np.tensordot(w, patch, axes=3)
            x = y + (floats(layer["bias"]).reshape(-1, 1, 1) if "bias" in layer else 0)
        elif t in ("maxpool2d", "avgpool2d"):
            k, s = layer["kernel"], layer["stride"]
            oh, ow = (x.shape[1] - k) // s + 1, (x.shape[2] - k) // s + 1
            f = np.max if t == "maxpool2d" else np.mean
            x = np.array([[[f(x[c, i * s:i * s + k, j * s:j * s + k]) for j in range(ow)]
                           for i in range(oh)] for c in range(x.shape[0])])
        elif t == "relu":
            x = np.maximum(x, 0)
        elif t == "flatten":
            x = x.reshape(-1)
        elif t == "softmax":
            e = np.exp(x - x.max())
            x = e / e.sum()
    return x


@unittest.skipUnless(HAVE_TORCH, "torch is not installed (python3-torch): skipping the torch exporter tests")
class TorchExport(unittest.TestCase):
    def test_sequential_matches_torch(self):
        import torch
        torch.manual_seed(0)
        model = torch.nn.Sequential(
            torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
            torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(64, 10), torch.nn.Softmax(dim=1))
        with torch.no_grad():
            model[1].running_mean.uniform_(-1, 1)
            model[1].running_var.uniform_(0.5, 2)
        model.eval()
        x = torch.rand(1, 1, 8, 8)
        want = model(x).detach().numpy()[0]
        doc = msgpack.unpackb(torch_export.export(model, (1, 8, 8)), raw=False)
        got = numpy_forward(doc, x.numpy()[0].astype(np.float64))
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


if __name__ == "__main__":
    unittest.main()
