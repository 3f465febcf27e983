"""test_server.py — xai.serve answers the model side of the protocol over a
real ipc:// socket: info, predict for text and tabular models, both
envelopes (with and without the empty delimiter frame), and an error answer
— never a crash — for every malformed request or misbehaving predict_fn.
A served model in a subprocess exits 0 on SIGTERM.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import msgpack
import numpy as np
import zmq

import xai
from xai.protocol import decode_matrix, pack

HERE = os.path.dirname(os.path.abspath(__file__))
PKG = os.path.dirname(HERE)


def word_count_model(texts):
    """Output 0: number of words "bad"; output 1: number of words."""
    out = np.zeros((len(texts), 2))
    for i, t in enumerate(texts):
        words = t.split()
        out[i] = [words.count("bad"), len(words)]
    return out


W = np.array([[1.0, -1.0], [2.0, 0.5], [0.0, 3.0]])   # 3 features -> 2 outputs


def linear_model(rows):
    return rows @ W


class _Peer:
    """A DEALER socket talking to a served model, like xaid does."""

    def __init__(self, endpoint, delimiter=True, kind=zmq.DEALER):
        self.sock = zmq.Context.instance().socket(kind)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(endpoint)
        self.delimiter = delimiter and kind == zmq.DEALER

    def raw(self, frame):
        self.sock.send_multipart(([b""] if self.delimiter else []) + [frame])
        self.assertion_poll()
        parts = self.sock.recv_multipart()
        if self.delimiter:
            assert parts[0] == b"", parts
            parts = parts[1:]
        assert len(parts) == 1, parts
        return msgpack.unpackb(parts[0], raw=False)

    def assertion_poll(self):
        if not self.sock.poll(5000):
            raise AssertionError("no answer within 5 s")

    def ask(self, **msg):
        return self.raw(pack(msg))

    def close(self):
        self.sock.close(0)


class ServedModels(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="xai-py-")
        cls.text_ep = "ipc://%s/text.sock" % cls.dir
        cls.tab_ep = "ipc://%s/tab.sock" % cls.dir
        cls.servers = [
            xai.serve_in_thread(word_count_model, cls.text_ep, kind="text",
                                classes=["bad", "len"]),
            xai.serve_in_thread(linear_model, cls.tab_ep, kind="tabular",
                                classes=["a", "b"], feature_names=["x", "y", "z"]),
        ]

    @classmethod
    def tearDownClass(cls):
        for t, stop in cls.servers:
            stop.set()
            t.join(5)
        shutil.rmtree(cls.dir, ignore_errors=True)

    def peer(self, ep, **kw):
        p = _Peer(ep, **kw)
        self.addCleanup(p.close)
        return p

    def test_info(self):
        a = self.peer(self.tab_ep).ask(op="info", id=1)
        self.assertEqual(a["id"], 1)
        self.assertEqual(a["kind"], "tabular")
        self.assertEqual(a["classes"], ["a", "b"])
        self.assertEqual(a["n_outputs"], 2)
        self.assertEqual(a["n_features"], 3)
        self.assertEqual(a["feature_names"], ["x", "y", "z"])
        self.assertEqual(a["v"], 1)

    def test_text_predict(self):
        a = self.peer(self.text_ep).ask(op="predict", id=9,
                                        texts=["a bad day", "bad bad", ""])
        self.assertEqual(a["id"], 9)
        # "a bad day": one "bad" of 3 words; "bad bad": 2 of 2; "": 0 of 0.
        np.testing.assert_array_equal(decode_matrix(a["outputs"]),
                                      [[1, 3], [2, 2], [0, 0]])

    def test_tabular_predict_both_matrix_forms(self):
        rows = np.array([[1.0, 2.0, 3.0], [0.5, 0.0, -1.0]])
        # by hand: [1,2,3] @ W = [1+4+0, -1+1+9] = [5, 9];
        #          [.5,0,-1] @ W = [.5, -.5-3] = [.5, -3.5]
        want = [[5.0, 9.0], [0.5, -3.5]]
        p = self.peer(self.tab_ep)
        a = p.ask(op="predict", id=2, rows=xai.encode_matrix(rows))
        np.testing.assert_array_equal(decode_matrix(a["outputs"]), want)
        a = p.ask(op="predict", id=3, rows=rows.tolist())
        np.testing.assert_array_equal(decode_matrix(a["outputs"]), want)

    def test_bare_dealer_and_req_envelopes(self):
        a = self.peer(self.text_ep, delimiter=False).ask(op="predict", id=4, texts=["bad"])
        np.testing.assert_array_equal(decode_matrix(a["outputs"]), [[1, 1]])
        a = self.peer(self.text_ep, kind=zmq.REQ).ask(op="info", id=5)
        self.assertEqual(a["classes"], ["bad", "len"])

    def test_bad_requests_get_errors(self):
        p = self.peer(self.tab_ep)
        cases = [
            (dict(op="predict", id=1, rows=[[1, 2]]), "bad_request"),      # 2 columns, not 3
            (dict(op="predict", id=1), "bad_request"),                     # no rows
            (dict(op="predict", id=1, rows={"shape": [1, 3], "dtype": "f64",
                                            "data": b"\0" * 8}), "bad_request"),
            (dict(op="frobnicate", id=1), "unknown_op"),
            (dict(op="info", id="one"), "bad_request"),
            (dict(op="info", id=1, v=7), "unsupported_version"),
        ]
        for msg, code in cases:
            with self.subTest(msg=msg):
                a = p.ask(**msg)
                self.assertEqual(a["error"]["code"], code)
                self.assertTrue(a["error"]["message"])
        for frame in (b"\xc1", b"\x93\x01\x02\x03", b"\x81\xa2op"):
            self.assertEqual(p.raw(frame)["error"]["code"], "bad_request")
        a = self.peer(self.text_ep).ask(op="predict", id=1, texts=["a", 3])
        self.assertEqual(a["error"]["code"], "bad_request")
        # still serving
        self.assertEqual(p.ask(op="info", id=77)["id"], 77)


class MisbehavingModels(unittest.TestCase):
    def check(self, fn, code, texts=("x", "y")):
        d = tempfile.mkdtemp(prefix="xai-py-")
        self.addCleanup(shutil.rmtree, d, True)
        ep = "ipc://%s/m.sock" % d
        t, stop = xai.serve_in_thread(fn, ep, kind="text", classes=["p", "q"])
        self.addCleanup(t.join, 5)
        self.addCleanup(stop.set)
        p = _Peer(ep)
        self.addCleanup(p.close)
        a = p.ask(op="predict", id=11, texts=list(texts))
        self.assertEqual(a["id"], 11)
        self.assertEqual(a["error"]["code"], code, a)
        return a["error"]["message"]

    def test_exception_becomes_model_error(self):
        def boom(texts):
            raise ValueError("no way")
        self.assertIn("no way", self.check(boom, "model_error"))

    def test_wrong_shape(self):
        self.check(lambda t: np.zeros((len(t), 3)), "bad_model_output")
        self.check(lambda t: np.zeros((len(t) + 1, 2)), "bad_model_output")
        self.check(lambda t: np.zeros(len(t)), "bad_model_output")

    def test_non_finite_and_non_numeric(self):
        self.check(lambda t: np.full((len(t), 2), np.nan), "bad_model_output")
        self.check(lambda t: [[np.inf, 0]] * len(t), "bad_model_output")
        self.check(lambda t: [["a", "b"]] * len(t), "bad_model_output")

    def test_bad_arguments_refused_at_start(self):
        with self.assertRaises(ValueError):
            xai.serve(word_count_model, "ipc:///nonexistent", kind="image", classes=["a"])
        with self.assertRaises(ValueError):
            xai.serve(word_count_model, "ipc:///nonexistent", kind="text")


class _Linear:
    """A picklable model whose weights are its parameters."""

    def __init__(self, w):
        self.w = np.asarray(w, dtype=float)

    def predict(self, rows):
        return np.asarray(rows) @ self.w[:, None]


class Version(unittest.TestCase):
    """The `version` in info: a digest of the pickled model by default, so
    xaid's cache (keyed by it) tells other weights apart."""

    def test_digest_follows_the_weights(self):
        a, b, a2 = _Linear([1, 2]), _Linear([1, 3]), _Linear([1, 2])
        va = xai.server.model_version(a.predict)
        self.assertTrue(va.startswith("sha256:"))
        self.assertEqual(len(va), len("sha256:") + 64)
        self.assertNotEqual(va, xai.server.model_version(b.predict))
        self.assertEqual(va, xai.server.model_version(a2.predict))
        self.assertIsNone(xai.server.model_version(lambda t: t))   # not picklable

    def test_info_carries_the_version(self):
        d = tempfile.mkdtemp(prefix="xai-py-")
        self.addCleanup(shutil.rmtree, d, True)
        for version, want in (("v7", "v7"),
                              (None, xai.server.model_version(_Linear([1, 2]).predict))):
            ep = "ipc://%s/v%s.sock" % (d, len(str(version)))
            th, stop = xai.serve_in_thread(_Linear([1, 2]).predict, ep, kind="tabular",
                                           classes=["y"], n_features=2, version=version)
            try:
                p = _Peer(ep)
                a = p.ask(op="info", id=1)
                p.close()
                self.assertEqual(a["version"], want)
            finally:
                stop.set()
                th.join(5)
        with self.assertRaises(ValueError):
            xai.serve(word_count_model, "ipc://%s/x.sock" % d, classes=["a"], version="")


class Signals(unittest.TestCase):
    def test_sigterm_stops_cleanly(self):
        d = tempfile.mkdtemp(prefix="xai-py-")
        self.addCleanup(shutil.rmtree, d, True)
        ep = "ipc://%s/s.sock" % d
        code = ("import sys, xai, numpy as np\n"
                "c = xai.serve(lambda t: np.ones((len(t), 1)), %r, classes=['one'])\n"
                "sys.exit(0 if c['requests'] == 1 else 3)\n" % ep)
        env = dict(os.environ, PYTHONPATH=PKG)
        proc = subprocess.Popen([sys.executable, "-c", code], env=env,
                                stderr=subprocess.PIPE)
        try:
            p = _Peer(ep)
            self.addCleanup(p.close)
            a = p.ask(op="predict", id=1, texts=["a"])   # waits until it is up
            np.testing.assert_array_equal(decode_matrix(a["outputs"]), [[1.0]])
            t0 = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            rc = proc.wait(10)
            self.assertEqual(rc, 0, proc.stderr.read().decode())
            self.assertLess(time.monotonic() - t0, 5.0)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stderr.close()


if __name__ == "__main__":
    unittest.main()
