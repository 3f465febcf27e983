"""test_e2e.py — xaid end to end: the daemon ($XAI_BUILD/san/xaid, else
$XAI_BUILD/rel/xaid), Python model servers (xai.serve in subprocesses) and
the C naive-Bayes server (examples/spam/nb_server on the fixture corpus) as
real processes on ipc:// endpoints in a temporary directory; xai.Client asks
for explanations and the numbers are checked against closed forms.

Models (defined here, so the closed forms are exact):
  text  "t":   s(x) = sum over \\w+ tokens of WEIGHTS[token.lower()] (0 if
               absent, so the mask token UNK weighs 0); outputs [-s, s].
               Occlusion of token i removes its weight:  R_i = s-part of i.
  tabular "tab": f(x) = B0 + W.x; outputs [f, -f]; background rows BG.
               Occlusion with the interventional mean over BG:
               R_i = f(x) - mean_b f(x with x_i := b_i) = W_i (x_i - mean(BG_i)),
               and for a linear model the exact Shapley values are the same.
  text "slow": the text model sleeping 50 ms per call, with max_rows 2, so
               a job makes many calls: progress events, status, cancel.
  C "nb":      multinomial naive Bayes on examples/spam/fixture.tsv; the test
               recomputes P(spam | text) from the fixture (nb_probs below).

Skipped, with the reason, when the daemon binary is not built. Fixtures are
the small files in the repository, never the downloaded corpus.
"""

import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import numpy as np
import zmq

import xai
from xai.protocol import pack, unpack

HERE = os.path.dirname(os.path.abspath(__file__))
PKG = os.path.dirname(HERE)
ROOT = os.environ.get("XAI_ROOT") or os.path.dirname(os.path.dirname(PKG))
BUILD = os.path.join(ROOT, os.environ.get("XAI_BUILD", "build"))
FIXTURE = os.path.join(ROOT, "examples", "spam", "fixture.tsv")

WEIGHTS = {"free": 2.0, "money": 1.0, "meeting": -1.5}
W = np.array([1.0, -2.0, 0.5, 3.0])
B0 = 0.25
BG = np.array([[0.0, 1.0, 2.0, -1.0],
               [2.0, 0.0, 0.0, 1.0],
               [1.0, 2.0, -2.0, 3.0]])
TOKEN = re.compile(r"\w+")


def text_model(texts):
    s = np.array([sum(WEIGHTS.get(t.lower(), 0.0) for t in TOKEN.findall(x)) for x in texts])
    return np.stack([-s, s], axis=1)


def tab_model(rows):
    f = B0 + rows @ W
    return np.stack([f, -f], axis=1)


def nb_probs(text, corpus=FIXTURE, alpha=1.0):
    """P(ham), P(spam) of nb_server's model (its header gives the formula)."""
    docs, counts = {"ham": 0, "spam": 0}, {"ham": {}, "spam": {}}
    with open(corpus, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            label, text_ = line.split("\t", 1)
            text_ = text_.replace("\\n", "\n").replace("\\t", "\t")
            docs[label] += 1
            for tok in TOKEN.findall(text_.lower()):
                counts[label][tok] = counts[label].get(tok, 0) + 1
    vocab = set(counts["ham"]) | set(counts["spam"])
    logp = {}
    for c in ("ham", "spam"):
        total = sum(counts[c].values())
        logp[c] = math.log(docs[c] / (docs["ham"] + docs["spam"]))
        for tok in TOKEN.findall(text.lower()):
            if tok in vocab:
                logp[c] += math.log((counts[c].get(tok, 0) + alpha) / (total + alpha * len(vocab)))
    top = max(logp.values())
    z = sum(math.exp(v - top) for v in logp.values())
    return {c: math.exp(v - top) / z for c, v in logp.items()}


def find_binary(*rel):
    for flavour in ("san", "rel"):
        p = os.path.join(BUILD, flavour, *rel)
        if os.access(p, os.X_OK):
            return p
    return None


def slow_text_model(texts):
    time.sleep(0.05)
    return text_model(texts)


SERVE_CODE = """
import sys, xai
from tests.test_e2e import text_model, tab_model, slow_text_model
ep, kind = sys.argv[1], sys.argv[2]
if kind in ("text", "slow"):
    fn = text_model if kind == "text" else slow_text_model
    xai.serve(fn, ep, kind="text", classes=["neg", "pos"], log=False)
else:
    xai.serve(tab_model, ep, kind="tabular", classes=["f", "minus_f"], n_features=4, log=False)
"""


class Stack:
    """xaid plus model servers in a temporary directory; stop() ends them all."""

    def __init__(self, with_nb=True, timeout_ms=3000, retries=1):
        self.dir = tempfile.mkdtemp(prefix="xai-e2e-")
        self.procs = {}
        self.logs = {}
        self.exit_codes = {}
        self.ep = {name: "ipc://%s/%s.sock" % (self.dir, name)
                   for name in ("front", "t", "tab", "nb", "slow")}
        bg = os.path.join(self.dir, "bg.csv")
        with open(bg, "w") as f:
            f.write("a,b,c,d\n")
            for r in BG:
                f.write(",".join(repr(float(x)) for x in r) + "\n")
        lines = ["bind = %s" % self.ep["front"], "workers = 2", "log_level = info",
                 "model t = text@%s" % self.ep["t"],
                 "model tab = tabular@%s" % self.ep["tab"],
                 "model tab.background = %s" % bg,
                 "model slow = text@%s" % self.ep["slow"],
                 "model slow.max_rows = 2"]       # many 50 ms calls: progress events
        self.nb_bin = find_binary("examples", "spam", "nb_server") if with_nb else None
        if self.nb_bin:
            lines.append("model nb = text@%s" % self.ep["nb"])
        for m in ("t", "tab", "nb", "slow"):
            lines += ["model %s.timeout_ms = %d" % (m, timeout_ms),
                      "model %s.retries = %d" % (m, retries)]
        if not self.nb_bin:
            lines = [ln for ln in lines if not ln.startswith("model nb.")]
        self.conf = os.path.join(self.dir, "xaid.conf")
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")

    def spawn(self, name, argv, env=None):
        log = open(os.path.join(self.dir, name + ".log"), "ab")
        self.logs[name] = log
        self.procs[name] = subprocess.Popen(argv, stdout=log, stderr=log, cwd=ROOT,
                                            env=env, stdin=subprocess.DEVNULL)

    def start_model(self, name):
        env = dict(os.environ, PYTHONPATH=PKG, OPENBLAS_NUM_THREADS="1")
        kind = {"t": "text", "tab": "tabular", "slow": "slow"}[name]
        self.spawn(name, [sys.executable, "-c", SERVE_CODE, self.ep[name], kind], env)

    def start(self, xaid, models=("t", "tab", "slow")):
        for name in models:
            self.start_model(name)
        if self.nb_bin:
            self.spawn("nb", [self.nb_bin, "--corpus", FIXTURE, "--endpoint", self.ep["nb"]])
        self.spawn("xaid", [xaid, "--config", self.conf])
        self.client = xai.Client(self.ep["front"], timeout=5.0)

    def kill(self, name):
        """SIGTERM, up to 10 s to exit, then SIGKILL; returns the exit status."""
        p = self.procs.pop(name, None)
        if p is None:
            return None
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.logs.pop(name).close()
        return p.returncode

    def log(self, name):
        try:
            with open(os.path.join(self.dir, name + ".log"), errors="replace") as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def wait_ready(self, names, timeout=30.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                ready = {m["name"] for m in self.client.models() if m.get("ready")}
                if set(names) <= ready:
                    return
            except xai.XaiError:
                pass
            if self.procs["xaid"].poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError("models %s not ready; xaid log:\n%s" % (names, self.log("xaid")))

    def stop(self):
        """Stops everything; returns (xaid's exit status, the end of its log)."""
        if getattr(self, "client", None):
            self.client.close()
        # xaid first, so it does not log reconnect attempts to dead models
        rc = self.kill("xaid")
        log = self.log("xaid")
        for name in list(self.procs):
            self.exit_codes[name] = self.kill(name)
        shutil.rmtree(self.dir, ignore_errors=True)
        return rc, log


def xaid_or_skip():
    xaid = find_binary("xaid")
    if xaid is None:
        raise unittest.SkipTest("xaid is not built (looked for %s/san/xaid and %s/rel/xaid; "
                                "run make test)" % (BUILD, BUILD))
    return xaid


class EndToEnd(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        xaid = xaid_or_skip()
        cls.stack = Stack()
        try:
            cls.stack.start(xaid)
            cls.stack.wait_ready(["t", "tab", "slow"] + (["nb"] if cls.stack.nb_bin else []))
        except BaseException:
            cls.stack.stop()
            raise
        cls.client = cls.stack.client

    @classmethod
    def tearDownClass(cls):
        # SIGTERM: xaid exits 0 (under ASan also: no leak, no error report)
        rc, log = cls.stack.stop()
        if rc != 0:
            raise AssertionError("xaid exited with %s on SIGTERM:\n%s" % (rc, log))
        if cls.stack.exit_codes.get("nb", 0) != 0:
            raise AssertionError("nb_server exited with %s on SIGTERM"
                                 % cls.stack.exit_codes["nb"])

    def test_ping_and_models(self):
        self.assertTrue(self.client.ping()["pong"])
        models = {m["name"]: m for m in self.client.models()}
        self.assertEqual(models["t"]["kind"], "text")
        self.assertEqual(list(models["t"]["classes"]), ["neg", "pos"])
        self.assertEqual(models["tab"]["kind"], "tabular")
        self.assertTrue(models["tab"]["ready"])

    def test_cache_clear_and_per_model_counters(self):
        text = "free money for a cache test"
        self.client.explain("t", "occlusion", text=text, target=1, seed=0)
        entries = self.client.stats()["models"]["t"]["cache_entries"]
        self.assertGreaterEqual(entries, 7)   # x, 6 leave-one-out, all removed
        self.assertEqual(self.client.cache_clear("t"), entries)
        self.assertEqual(self.client.stats()["models"]["t"]["cache_entries"], 0)
        with self.assertRaises(xai.XaiError) as e:
            self.client.cache_clear("nope")
        self.assertEqual(e.exception.code, "unknown_model")
        r = self.client.explain("t", "occlusion", text=text, target=1, seed=0)
        self.assertEqual(r["stats"]["cache_hits"], 0)   # cold again

    def test_text_occlusion_leave_one_out(self):
        text = "Free money, free MEETING now"
        r = self.client.explain("t", "occlusion", text=text, target=1, seed=0)
        # tokens Free money free MEETING now -> weights 2, 1, 2, -1.5, 0
        self.assertEqual(list(r["features"]), ["Free", "money", "free", "MEETING", "now"])
        np.testing.assert_allclose(r["values"], [2.0, 1.0, 2.0, -1.5, 0.0], atol=1e-12)
        self.assertAlmostEqual(r["fx"], 3.5)
        self.assertAlmostEqual(r["base_value"], 0.0)   # every token UNK: s = 0
        self.assertEqual(r["target"], 1)
        self.assertEqual(r["text"], text)
        # byte offsets of each token and its feature
        spans = [(s, e) for s, e, feat in r["tokens"] if feat >= 0]
        self.assertEqual([text[s:e] for s, e in spans], ["Free", "money", "free", "MEETING", "now"])

    def test_text_occlusion_all_targets(self):
        text = "Free money, free MEETING now"
        r = self.client.explain("t", "occlusion", text=text, target="all", seed=0)
        # outputs [-s, s]: class 1's row is the weights, class 0's their negative
        self.assertEqual(r["targets"], [0, 1])
        self.assertEqual(r["target_names"], ["neg", "pos"])
        self.assertEqual(r["values"].shape, (2, 5))
        np.testing.assert_allclose(r["values"][1], [2.0, 1.0, 2.0, -1.5, 0.0], atol=1e-12)
        np.testing.assert_allclose(r["values"][0], -r["values"][1], atol=1e-12)
        np.testing.assert_allclose(r["fx"], [-3.5, 3.5], atol=1e-12)
        np.testing.assert_allclose(r["base_value"], [0.0, 0.0], atol=1e-12)
        self.assertEqual(r["target"], 0)
        rows = xai.per_target(r)
        self.assertEqual([t["target_name"] for t in rows], ["neg", "pos"])
        r = self.client.explain("t", "occlusion", text=text, target=["pos"])
        self.assertEqual(r["values"].shape, (1, 5))

    def test_text_occlusion_windows(self):
        r = self.client.explain("t", "occlusion", text="free money meeting free",
                                params={"window": 2, "stride": 1}, target="pos")
        # windows {0,1} {1,2} {2,3}: R = 2+1, 1-1.5, -1.5+2 = 3, -0.5, 0.5;
        # a token scores the mean over its windows: 3, (3-0.5)/2, (-0.5+0.5)/2, 0.5
        np.testing.assert_allclose(r["values"], [3.0, 1.25, 0.0, 0.5], atol=1e-12)

    def test_text_default_target_is_predicted_class(self):
        r = self.client.explain("t", "occlusion", text="meeting money")
        # s = -1.5 + 1 = -0.5: outputs [0.5, -0.5], so class 0 ("neg"), whose
        # output is -s: removing "meeting" changes it by -(-1.5) = 1.5
        self.assertEqual(r["target"], 0)
        self.assertEqual(r["target_name"], "neg")
        np.testing.assert_allclose(r["values"], [1.5, -1.0], atol=1e-12)

    def test_tabular_occlusion_interventional(self):
        x = np.array([1.0, 2.0, 3.0, 4.0])
        r = self.client.explain("tab", "occlusion", row=x, target=0)
        want = W * (x - BG.mean(axis=0))
        np.testing.assert_allclose(r["values"], want, atol=1e-9)
        self.assertAlmostEqual(r["fx"], B0 + W @ x)
        self.assertAlmostEqual(r["base_value"], B0 + W @ BG.mean(axis=0))
        self.assertEqual(list(r["features"]), ["a", "b", "c", "d"])

    def test_tabular_exact_shapley_linear(self):
        x = np.array([-1.0, 0.5, 2.0, 0.0])
        r = self.client.explain("tab", "exact_shapley", row=x, target="f")
        want = W * (x - BG.mean(axis=0))
        np.testing.assert_allclose(r["values"], want, atol=1e-9)
        # efficiency: the values add up to f(x) - E f(background)
        self.assertAlmostEqual(float(np.sum(r["values"])), r["fx"] - r["base_value"], places=9)

    def test_errors_and_daemon_stays_up(self):
        for kw, code in ((dict(model="nope", method="occlusion", text="x"), "unknown_model"),
                         (dict(model="t", method="nope", text="x"), "unknown_method"),
                         (dict(model="t", method="occlusion", text="x", target=7),
                          "invalid_argument")):
            with self.subTest(code=code):
                with self.assertRaises(xai.XaiError) as cm:
                    self.client.explain(**kw)
                self.assertEqual(cm.exception.code, code)
        self.assertTrue(self.client.ping()["pong"])

    def test_malformed_requests_get_errors(self):
        sock = zmq.Context.instance().socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(self.stack.ep["front"])
        self.addCleanup(sock.close, 0)
        frames = [
            (b"\x83\xa1v\x01\xa2op", "bad_request"),                 # truncated map
            (b"\xdd\x10\x00\x00\x00", "bad_request"),                # 2^28-element array header
            (b"\x91" * 1000 + b"\xc0", "bad_request"),               # nested 1000 deep
            (pack({"op": "frobnicate", "req": 5}), "unknown_op"),
            (pack({"op": "explain", "req": 6, "model": 3}), "bad_request"),
            (pack({"v": 9, "op": "ping", "req": 7}), "unsupported_version"),
        ]
        for frame, code in frames:
            with self.subTest(code=code, frame=frame[:6]):
                sock.send(frame)
                self.assertTrue(sock.poll(5000), "no answer to a malformed request")
                msg = unpack(sock.recv(), check_version=False)
                self.assertEqual(msg.get("event"), "error")
                self.assertEqual(msg.get("code"), code, msg)
                self.assertTrue(msg.get("message"))
        self.assertTrue(self.client.ping()["pong"])

    def test_progress_events_then_result(self):
        text = " ".join(["free", "money", "now"] * 10)     # 30 tokens: 31 masks, 16 calls
        seen = []
        r = self.client.explain("slow", "occlusion", text=text, target=1,
                                progress=lambda f, stats: seen.append((f, stats)))
        np.testing.assert_allclose(r["values"], [2.0, 1.0, 0.0] * 10, atol=1e-12)
        # 16 calls of >= 50 ms take >= 0.8 s; progress comes at most every 100 ms
        self.assertGreaterEqual(len(seen), 1)
        self.assertLessEqual(len(seen), 16)
        fractions = [f for f, _ in seen]
        self.assertTrue(all(0.0 <= f <= 1.0 for f in fractions), fractions)
        self.assertEqual(fractions, sorted(fractions))
        self.assertGreaterEqual(r["stats"]["model_calls"], 16)

    def test_status_and_cancel(self):
        job = self.client.submit("slow", "occlusion", text=" ".join(["money"] * 200))
        self.assertIn(self.client.status(job)["state"], ("queued", "running"))
        self.assertTrue(self.client.cancel(job))
        with self.assertRaises(xai.XaiError) as cm:
            self.client.wait(job, timeout=30)
        self.assertEqual(cm.exception.code, "cancelled")
        self.assertEqual(self.client.status(job)["state"], "cancelled")
        with self.assertRaises(xai.XaiError) as cm:
            self.client.status(10 ** 9)
        self.assertEqual(cm.exception.code, "not_found")

    def test_c_model_server_naive_bayes(self):
        if not self.stack.nb_bin:
            self.skipTest("examples/spam/nb_server is not built")
        text = "free money for the meeting"
        r = self.client.explain("nb", "occlusion", text=text, target="spam")
        p = nb_probs(text)["spam"]
        self.assertAlmostEqual(r["fx"], p, places=12)
        words = text.split()
        # R_i = P(spam | x) - P(spam | x with word i replaced by UNK)
        want = [p - nb_probs(" ".join(w if j != i else "UNK" for j, w in enumerate(words)))["spam"]
                for i in range(len(words))]
        np.testing.assert_allclose(r["values"], want, atol=1e-12)
        self.assertGreater(r["values"][0], 0)     # "free" is a spam word in the fixture
        self.assertLess(r["values"][4], 0)        # "meeting" a ham word


class ModelRestart(unittest.TestCase):
    """A model server that dies in the middle of a job makes that job fail
    with model_unavailable within the call timeout and its retries, while
    other models go on; restarted, it is served again without restarting
    xaid."""

    def test_model_killed_mid_job_then_restarted(self):
        xaid = xaid_or_skip()
        stack = Stack(with_nb=False, timeout_ms=500, retries=1)
        self.addCleanup(stack.stop)
        stack.start(xaid, models=("tab", "slow"))
        stack.wait_ready(["tab", "slow"])
        c = stack.client
        # 201 masks in calls of 2 rows, >= 50 ms each: about 5 s of work
        job = c.submit("slow", "occlusion", text=" ".join(["money"] * 200), target=1)
        time.sleep(0.5)
        self.assertEqual(c.status(job)["state"], "running")
        stack.kill("slow")
        t0 = time.monotonic()
        with self.assertRaises(xai.XaiError) as cm:
            c.wait(job, timeout=30)
        self.assertEqual(cm.exception.code, "model_unavailable")
        # two attempts of 500 ms each, plus slack for a loaded machine
        self.assertLess(time.monotonic() - t0, 10.0)
        r = c.explain("tab", "occlusion", row=[0, 0, 0, 0], target=0)   # others go on
        np.testing.assert_allclose(r["values"], -W * BG.mean(axis=0), atol=1e-9)
        stack.start_model("slow")
        end = time.monotonic() + 30
        while True:
            try:
                r = c.explain("slow", "occlusion", text="free money", target=1)
                break
            except xai.XaiError as e:
                if e.code != "model_unavailable" or time.monotonic() > end:
                    raise
                time.sleep(0.2)
        np.testing.assert_allclose(r["values"], [2.0, 1.0])
        rc, log = stack.stop()
        self.assertEqual(rc, 0, log)


if __name__ == "__main__":
    unittest.main()
