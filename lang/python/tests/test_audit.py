"""test_audit.py — `xai audit` end to end: xaid, Python model servers and
the `xai` CLI as real processes (the Stack of test_e2e.py), driven through
xai.audit (which runs the CLI and reads its files).

The model is test_e2e's additive text model "t": s(x) = sum of the weights
of its \\w+ tokens (free 2, money 1, meeting -1.5, others 0), outputs
[-s, s], classes neg/pos; "slow" is the same model sleeping 50 ms per call
with at most 2 rows a call, so an audit runs long enough to be interrupted.
Occlusion of a token in class pos's output is exactly its weight w, in
neg's exactly -w; the default target is the predicted class (pos when
s > 0, neg when s < 0; the corpus has no ties). So each class's per-token
aggregate is known in closed form: mean = +-w, mean |value| = |w|, standard
error 0, count = occurrences in documents of that class, docs = how many of
those documents hold it.

"t3" is a three-class additive text model for `--target all`: output c is
the sum of its tokens' weights W3[token][c] (classes spam, work, news), so
occlusion of a token in class c is exactly W3[token][c] for every class at
once, and class c's aggregate over every document's row for c is known in
closed form too.

Skipped, with the reason, when xaid or xai is not built.
"""

import json
import os
import re
import struct
import zlib
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import numpy as np

import xai
from xai import audit
from tests.test_e2e import B0, BG, Stack, W, WEIGHTS, find_binary, xaid_or_skip

TOKEN = re.compile(r"\w+")
VOCAB = ["free", "money", "meeting", "hello", "world", "Free", "report"]
# wall times, and the evaluator's counters (cache hits depend on what the
# daemon's cache held from earlier jobs): not part of an explanation
TIMING = ("seconds", "stats")


CLASSES3 = ["spam", "work", "news"]
W3 = {"free": (2.0, -1.0, 0.5), "money": (1.0, 0.0, -2.0), "meeting": (-1.5, 3.0, 0.0),
      "report": (0.0, 0.5, 1.0), "hello": (0.25, 0.25, -0.5)}
SERVE3 = """
import sys, xai
from tests.test_audit import three_class_model, CLASSES3
xai.serve(three_class_model, sys.argv[1], kind="text", classes=CLASSES3, log=False)
"""


def three_class_model(texts):
    return np.array([[sum(W3.get(t.lower(), (0.0, 0.0, 0.0))[c] for t in TOKEN.findall(x))
                      for c in range(3)] for x in texts])


def make_corpus3(n, seed=5):
    """n documents of 2-7 tokens whose three outputs have one largest:
    (text, outputs) pairs."""
    rng = np.random.RandomState(seed)
    docs = []
    while len(docs) < n:
        words = [VOCAB[i] for i in rng.randint(0, len(VOCAB), size=rng.randint(2, 8))]
        f = three_class_model([" ".join(words)])[0]
        if (f == f.max()).sum() == 1:
            docs.append((" ".join(words), f))
    return docs


def closed_form3(docs):
    """Per class name, over every document's row for it: token -> (count,
    docs, mean, mean |value|); and "overall" (each document's predicted
    class's row)."""
    acc = {c: {} for c in CLASSES3 + ["overall"]}
    for text, f in docs:
        words = TOKEN.findall(text)
        for cls, c in [(name, i) for i, name in enumerate(CLASSES3)] + [("overall", int(f.argmax()))]:
            for j, w in enumerate(words):
                n, d, vs = acc[cls].get(w, (0, 0, []))
                acc[cls][w] = (n + 1, d + (w not in words[:j]), vs + [W3.get(w.lower(), (0, 0, 0))[c]])
    return {cls: {w: (n, d, float(np.mean(vs)), float(np.mean(np.abs(vs)))) for w, (n, d, vs) in t.items()}
            for cls, t in acc.items()}


def make_corpus(n, seed=0):
    """n documents of 2-7 tokens with s != 0: (text, s) pairs."""
    rng = np.random.RandomState(seed)
    docs = []
    while len(docs) < n:
        words = [VOCAB[i] for i in rng.randint(0, len(VOCAB), size=rng.randint(2, 8))]
        s = sum(WEIGHTS.get(w.lower(), 0.0) for w in words)
        if s != 0:
            docs.append((" ".join(words), s))
    return docs


def closed_form(docs):
    """Per class name: token -> (count, docs, mean)."""
    out = {"neg": {}, "pos": {}}
    for text, s in docs:
        cls = "pos" if s > 0 else "neg"
        seen = set()
        for w in TOKEN.findall(text):
            c, d, _ = out[cls].get(w, (0, 0, 0.0))
            mean = WEIGHTS.get(w.lower(), 0.0) * (1 if cls == "pos" else -1)
            out[cls][w] = (c + 1, d + (w not in seen), mean)
            seen.add(w)
    return out


def strip_timing(x):
    """x without wall-time fields and evaluator counters."""
    if isinstance(x, dict):
        return {k: strip_timing(v) for k, v in x.items()
                if k not in TIMING and not k.endswith("_seconds")}
    if isinstance(x, list):
        return [strip_timing(v) for v in x]
    if isinstance(x, np.ndarray):
        return x.tolist()
    return x


def comparable(summary, drop=("run",)):
    return {k: v for k, v in summary.items() if k not in drop}


CHROMIUM = "/usr/bin/chromium"


def png_pixels(path):
    """An 8-bit RGB/RGBA PNG as an h x w x c uint8 array (zlib + the five
    PNG row filters; enough for chromium's screenshots)."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    assert depth == 8 and ctype in (2, 6), (depth, ctype)
    c = 3 if ctype == 2 else 4
    raw = zlib.decompress(idat)
    out = np.zeros((h, w * c), dtype=np.int32)
    stride = w * c
    prev = np.zeros(stride, dtype=np.int32)
    for y in range(h):
        ft = raw[y * (stride + 1)]
        line = np.frombuffer(raw, dtype=np.uint8, count=stride, offset=y * (stride + 1) + 1).astype(np.int32)
        cur = line.copy()
        if ft == 1:
            cur = (np.cumsum(line.reshape(w, c), axis=0) & 255).ravel()
        elif ft == 2:
            cur = (line + prev) & 255
        elif ft == 3:
            for x in range(stride):
                left = cur[x - c] if x >= c else 0
                cur[x] = (line[x] + (left + prev[x]) // 2) & 255
        elif ft == 4:
            for x in range(stride):
                a = cur[x - c] if x >= c else 0
                b = prev[x]
                cc = prev[x - c] if x >= c else 0
                p = a + b - cc
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - cc)
                pr = a if pa <= pb and pa <= pc else (b if pb <= pc else cc)
                cur[x] = (line[x] + pr) & 255
        out[y] = cur
        prev = cur
    return out.reshape(h, w, c).astype(np.uint8)


def chromium(args, tmp):
    prof = tempfile.mkdtemp(prefix="chromium-", dir=tmp)
    argv = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--user-data-dir=" + prof] + args
    return subprocess.run(argv, capture_output=True, timeout=120)


def xai_or_skip():
    p = find_binary("xai")
    if p is None:
        raise unittest.SkipTest("xai is not built")
    return p


class AuditE2E(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        xaid = xaid_or_skip()
        cls.xai = xai_or_skip()
        cls.stack = Stack(with_nb=False)
        # no shared output cache: a document audited twice (resumed, or by
        # another test) costs model calls again, so "slow" stays slow
        cls.stack.ep["t3"] = "ipc://%s/t3.sock" % cls.stack.dir
        with open(cls.stack.conf, "a") as f:
            f.write("cache_bytes = 0\nmodel t3 = text@%s\n" % cls.stack.ep["t3"])
        try:
            cls.stack.spawn("t3", [sys.executable, "-c", SERVE3, cls.stack.ep["t3"]],
                            dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(
                                os.path.abspath(__file__))), OPENBLAS_NUM_THREADS="1"))
            cls.stack.start(xaid, models=("t", "slow", "tab"))
            cls.stack.wait_ready(["t", "slow", "tab", "t3"])
        except BaseException:
            cls.stack.stop()
            raise
        cls.ep = cls.stack.ep["front"]
        cls.tmp = tempfile.mkdtemp(prefix="xai-audit-")
        cls.docs = make_corpus(40)
        cls.input = os.path.join(cls.tmp, "in.txt")
        with open(cls.input, "w") as f:
            f.write("".join(t + "\n" for t, _ in cls.docs))

    @classmethod
    def tearDownClass(cls):
        cls.stack.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def out(self, name):
        return os.path.join(self.tmp, name)

    def audit(self, out, model="t", input=None, **kw):
        kw.setdefault("quiet", True)
        kw.setdefault("top", 100)
        return audit.run(model, input or self.input, out, endpoint=self.ep, xai=self.xai,
                         timeout=300, **kw)

    def reference(self):
        """One uninterrupted audit on the fast model (cached per class)."""
        ref = self.out("reference")
        if not os.path.exists(os.path.join(ref, "summary.json")):
            self.audit(ref)
        return audit.load(ref)

    # ---- closed forms ----------------------------------------------------

    def test_aggregates_equal_the_closed_form(self):
        a = self.reference()
        s = a.summary
        self.assertEqual((s["n_inputs"], s["n_done"], s["n_errors"]), (40, 40, 0))
        want = closed_form(self.docs)
        for cls in ("neg", "pos"):
            got = {e["name"]: e for e in a.top(cls)}
            self.assertEqual(set(got), set(want[cls]))
            for tok, (count, docs, mean) in want[cls].items():
                e = got[tok]
                self.assertEqual((e["count"], e["docs"]), (count, docs), tok)
                self.assertEqual(e["mean"], mean, tok)
                self.assertEqual(e["mean_abs"], abs(mean), tok)
                if count > 1:
                    self.assertEqual(e["se"], 0.0, tok)
        t = a.table("pos")                          # the same as a numpy structured array
        self.assertEqual(list(t["name"]), [e["name"] for e in a.top("pos")])
        np.testing.assert_array_equal(t["mean"], [e["mean"] for e in a.top("pos")])
        self.assertEqual(t["count"].sum(), sum(c for c, _, _ in want["pos"].values()))
        # one line per document, each its predicted class and its weights
        self.assertEqual([r["id"] for r in a.results], list(range(1, 41)))
        for r, (text, sc) in zip(a.results, self.docs):
            self.assertEqual(r["predicted_name"], "pos" if sc > 0 else "neg")
            sign = 1 if sc > 0 else -1
            np.testing.assert_array_equal(
                r["result"]["values"], [sign * WEIGHTS.get(w.lower(), 0.0) for w in TOKEN.findall(text)])

    def test_target_all_per_class_closed_form(self):
        # one job per document explains the three classes; each class's
        # table takes every document's row for it, the overall table the
        # predicted class's row; the model rows equal a single-target audit's
        docs = make_corpus3(30)
        path = self.out("three.txt")
        with open(path, "w") as f:
            f.write("".join(t + "\n" for t, _ in docs))
        one, every, listed = self.out("t3_one"), self.out("t3_all"), self.out("t3_list")
        self.audit(one, model="t3", input=path)
        self.audit(every, model="t3", input=path, target="all")
        self.audit(listed, model="t3", input=path, target=["news", "spam", "work"])
        a, single, lst = audit.load(every), audit.load(one), audit.load(listed)
        want = closed_form3(docs)
        self.assertEqual([(c["index"], c["name"], c["n_rows"]) for c in a.summary["classes"]],
                         [(0, "spam", 30), (1, "work", 30), (2, "news", 30)])
        for cls in CLASSES3 + [None]:
            got = {e["name"]: e for e in a.top(cls)}
            w = want[cls or "overall"]
            self.assertEqual(set(got), set(w), cls)
            for tok, (count, nd, mean, mean_abs) in w.items():
                e = got[tok]
                self.assertEqual((e["count"], e["docs"]), (count, nd), (cls, tok))
                self.assertAlmostEqual(e["mean"], mean, places=12, msg=(cls, tok))
                self.assertAlmostEqual(e["mean_abs"], mean_abs, places=12, msg=(cls, tok))
                if count > 1 and cls:      # one class: every occurrence has the same value
                    self.assertEqual(e["se"], 0.0, (cls, tok))
        # the overall table is the single-target audit's (its rows are the predicted class's)
        self.assertEqual(a.summary["overall"], single.summary["overall"])
        for r, (text, f), r1 in zip(a.results, docs, single.results):
            self.assertEqual(r["predicted_name"], CLASSES3[int(f.argmax())])
            self.assertEqual(r["result"]["targets"], [0, 1, 2])
            np.testing.assert_array_equal(
                r["result"]["values"], [[W3.get(t.lower(), (0, 0, 0))[c] for t in TOKEN.findall(text)]
                                        for c in range(3)])
            np.testing.assert_array_equal(r["result"]["fx"], f)
            self.assertEqual(r["result"]["stats"]["rows_sent"], r1["result"]["stats"]["rows_sent"])
        self.assertEqual(sum(r["result"]["stats"]["rows_sent"] for r in a.results),
                         sum(len(TOKEN.findall(t)) + 2 for t, _ in docs))
        # a list asks the same classes in another order: the same class tables
        self.assertEqual(lst.results[0]["result"]["targets"], [2, 0, 1])
        self.assertEqual(lst.summary["classes"], a.summary["classes"])
        # the report: a chart per class, each document shown once per class
        with open(os.path.join(every, "report.html"), encoding="utf-8") as f:
            html = f.read()
        for cls in CLASSES3:
            self.assertIn("<h2>Class %s: top tokens (30 explanation rows)</h2>" % cls, html)
        first = html.index("<h3>1 ")
        block = html[first:html.index("<h3>", first + 1)]
        pred = CLASSES3[int(docs[0][1].argmax())]
        self.assertEqual(block.count("explained class: "), 3)
        self.assertIn("explained class: %s (predicted); f(x) = %.4g" % (pred, docs[0][1].max()), block)
        if os.access(CHROMIUM, os.X_OK):            # and the browser shows every class's chart
            dom = chromium(["--dump-dom", "file://" + os.path.join(every, "report.html")],
                           self.tmp).stdout.decode("utf-8")
            for cls in CLASSES3:
                top = a.top(cls)[0]
                self.assertIn("Class %s: top tokens" % cls, dom)
                self.assertIn(">%s</text>" % top["name"], dom)
                self.assertIn(">%.4g" % top["mean"], dom)

    def test_explain_many_all_targets(self):
        docs = make_corpus3(6)
        c = xai.Client(self.ep)
        try:
            out = list(c.explain_many("t3", "occlusion", [t for t, _ in docs], target="all"))
        finally:
            c.close()
        self.assertEqual([i for i, _ in out], list(range(6)))
        for (i, r), (text, f) in zip(out, docs):
            self.assertEqual(r["target_names"], CLASSES3)
            np.testing.assert_array_equal(r["fx"], f)
            np.testing.assert_array_equal(
                r["values"], [[W3.get(t.lower(), (0, 0, 0))[c] for t in TOKEN.findall(text)]
                              for c in range(3)])

    def test_casefold_joins_free_and_Free(self):
        out = self.out("fold")
        self.audit(out, casefold=True)
        pos = {e["name"]: e for e in audit.load(out).top("pos")}
        want = closed_form(self.docs)["pos"]
        self.assertNotIn("Free", pos)
        self.assertEqual(pos["free"]["count"], want.get("free", (0,))[0] + want.get("Free", (0,))[0])

    def test_labels_accuracy_and_confusion(self):
        path = self.out("labelled.jsonl")
        truth, pred = [], []
        with open(path, "w") as f:
            for i, (text, s) in enumerate(self.docs):
                p = "pos" if s > 0 else "neg"
                label = ("neg" if p == "pos" else "pos") if i % 5 == 0 else p   # every 5th wrong
                truth.append(label)
                pred.append(p)
                f.write(json.dumps({"id": "d%02d" % i, "text": text, "label": label}) + "\n")
            f.write("{broken\n")
        out = self.out("labelled")
        self.audit(out, input=path)
        a = audit.load(out)
        lab = a.summary["labels"]
        self.assertEqual(lab["n_labelled"], 40)
        self.assertEqual(lab["n_correct"], sum(t == p for t, p in zip(truth, pred)))
        self.assertAlmostEqual(lab["accuracy"], lab["n_correct"] / 40.0)
        classes = lab["classes"]
        self.assertEqual(classes, ["neg", "pos"])
        conf = [[sum(1 for t, p in zip(truth, pred) if t == a_ and p == b_) for b_ in classes]
                for a_ in classes]
        self.assertEqual(lab["confusion"], conf)
        self.assertEqual(lab["misclassified"], ["d%02d" % i for i in range(0, 40, 5)])
        # the malformed line is that id's error, and the audit went on
        self.assertEqual((a.summary["n_inputs"], a.summary["n_done"], a.summary["n_errors"]),
                         (41, 40, 1))
        self.assertEqual(a.errors[0]["id"], 41)
        self.assertEqual(a.errors[0]["error"]["code"], "bad_format")

    def test_tabular_csv_closed_form(self):
        # tab: f = B0 + W.x, outputs [f, -f]; occlusion with the mean of the
        # background BG gives W_i (x_i - mean BG_i) for class f, minus that
        # for minus_f; the default target is the larger output.
        rng = np.random.RandomState(3)
        xs = rng.normal(size=(25, 4)).round(3)
        path = self.out("tab.csv")
        with open(path, "w") as f:
            f.write("id,a,b,c,d,label\n")
            for i, x in enumerate(xs):
                f.write("r%d,%s,%s\n" % (i, ",".join(repr(float(v)) for v in x), "f"))
        out = self.out("tab")
        self.audit(out, model="tab", input=path)
        a = audit.load(out)
        self.assertEqual((a.summary["n_done"], a.summary["kind"]), (25, "tabular"))
        sign = np.where(B0 + xs @ W >= 0, 1.0, -1.0)
        vals = sign[:, None] * W * (xs - BG.mean(axis=0))
        top = {e["name"]: e for e in a.top()}
        for j, name in enumerate("abcd"):
            self.assertAlmostEqual(top[name]["mean"], vals[:, j].mean(), places=9)
            self.assertAlmostEqual(top[name]["mean_abs"], np.abs(vals[:, j]).mean(), places=9)
            self.assertAlmostEqual(top[name]["se"], vals[:, j].std(ddof=1) / 5.0, places=9)
            bins = top[name]["bins"]
            self.assertEqual(sum(b["count"] for b in bins), 25)
            self.assertEqual(bins[0]["x_lo"], xs[:, j].min())
            self.assertEqual(bins[-1]["x_hi"], xs[:, j].max())
        lab = a.summary["labels"]
        self.assertEqual(lab["n_correct"], int((sign > 0).sum()))

    def test_faithfulness_aopc_closed_form(self):
        # Deletion in decreasing-value order (ties by index) of an additive
        # model whose occlusion values are its weights: deletion[k] =
        # f(x) - (sum of the first k ranked values), so AOPC is the mean over
        # k = 0..d of those partial sums.
        path = self.out("faith.txt")
        docs = self.docs[:10]
        with open(path, "w") as f:
            f.write("".join(t + "\n" for t, _ in docs))
        out = self.out("faith")
        self.audit(out, input=path, faithfulness=True)
        want = []
        for text, s in docs:
            sign = 1 if s > 0 else -1
            v = [sign * WEIGHTS.get(w.lower(), 0.0) for w in TOKEN.findall(text)]
            order = sorted(range(len(v)), key=lambda i: (-v[i], i))
            partial = np.concatenate([[0.0], np.cumsum([v[i] for i in order])])
            want.append(partial.mean())
        with open(os.path.join(out, "faithfulness.jsonl")) as f:
            got = sorted((json.loads(l) for l in f), key=lambda l: l["n"])
        self.assertEqual([g["id"] for g in got], list(range(1, 11)))
        np.testing.assert_allclose([g["aopc"] for g in got], want, rtol=0, atol=1e-12)
        fs = audit.load(out).summary["faithfulness"]
        self.assertEqual(fs["n"], 10)
        self.assertAlmostEqual(fs["mean"], float(np.mean(want)), places=12)
        self.assertAlmostEqual(fs["sd"], float(np.std(want, ddof=1)), places=12)
        self.assertAlmostEqual(fs["min"], min(want), places=12)

    # ---- Client.explain_many ---------------------------------------------------

    def test_explain_many_in_order_and_as_completed(self):
        texts = [t for t, _ in self.docs[:12]]
        inputs = texts[:5] + [{"text": "free", "params": {"window": -1}}] + texts[5:]
        seen = []
        c = xai.Client(self.ep)
        try:
            out = list(c.explain_many("t", "occlusion", inputs, progress=lambda *a: seen.append(a)))
            self.assertEqual([i for i, _ in out], list(range(13)))
            self.assertIsInstance(out[5][1], xai.XaiError)
            self.assertEqual(out[5][1].code, "invalid_argument")
            for (i, r), text in zip([o for o in out if o[0] != 5], texts):
                s = sum(WEIGHTS.get(w.lower(), 0.0) for w in TOKEN.findall(text))
                sign = 1 if s > 0 else -1
                np.testing.assert_array_equal(
                    r["values"], [sign * WEIGHTS.get(w.lower(), 0.0) for w in TOKEN.findall(text)])
            self.assertEqual(len(seen), 13)
            self.assertEqual(seen[-1], (13, 13, 1))
            done = list(c.explain_many("slow", "occlusion", texts, ordered=False, window=3))
            self.assertEqual(sorted(i for i, _ in done), list(range(12)))
            for i, r in done:
                self.assertEqual(list(r["features"]), TOKEN.findall(texts[i]))
        finally:
            c.close()

    # ---- the report in a browser -------------------------------------------------

    def test_report_renders_in_chromium(self):
        ref = self.reference()
        html_path = os.path.join(ref.path, "report.html")
        with open(html_path, encoding="utf-8") as f:
            html = f.read()
        # self-contained: no element that loads anything, no URL in any tag
        # or in the style (text from the documents may mention URLs: that is
        # content, not a reference)
        self.assertIsNone(re.search(r"<(link|script|img|iframe|object|embed|image|use|base)\b", html, re.I))
        for tag in re.findall(r"<[^>]*>", html) + re.findall(r"<style>.*?</style>", html, re.S):
            self.assertIsNone(re.search(r"https?:|//|\b(src|href|srcset|action|poster)\s*=|url\(|@import",
                                        tag, re.I), tag)
        if not os.access(CHROMIUM, os.X_OK):
            self.skipTest("no %s: the browser check needs Debian's chromium" % CHROMIUM)
        shot = os.path.join(self.tmp, "report.png")
        p = chromium(["--window-size=900,900", "--screenshot=" + shot, "file://" + html_path], self.tmp)
        self.assertTrue(os.path.exists(shot), p.stderr[-2000:])
        px = png_pixels(shot)[:, :, :3].astype(int)
        ink = (px.sum(axis=2) < 600).mean()         # pixels that are not (near) white
        coloured = ((px[:, :, 0] > 150) & (px[:, :, 1] < 100)).mean()   # the red bars/highlights
        self.assertGreater(ink, 0.01)
        self.assertGreater(coloured, 0.001)
        dom = chromium(["--dump-dom", "file://" + html_path], self.tmp).stdout.decode("utf-8")
        for e in ref.top("pos")[:5]:
            self.assertIn(">%s</text>" % e["name"], dom)
            self.assertIn(">%.4g" % e["mean"], dom)
        self.assertIn("title=\"free: 2\"", dom)      # a highlighted token's value on hover

    # ---- determinism, shards ------------------------------------------------

    def test_window_does_not_change_results(self):
        out = self.out("window1")
        self.audit(out, window=1, seed=0)
        a, ref = audit.load(out), self.reference()
        self.assertEqual(comparable(a.summary), comparable(ref.summary))
        self.assertEqual(strip_timing(a.results), strip_timing(ref.results))

    def test_shards_merge_to_the_single_run(self):
        d0, d1, merged = self.out("sh0"), self.out("sh1"), self.out("merged")
        self.audit(d0, shard="0/2")
        self.audit(d1, shard="1/2")
        n0 = audit.load(d0).summary["n_inputs"]
        n1 = audit.load(d1).summary["n_inputs"]
        self.assertEqual(n0 + n1, 40)
        self.assertTrue(0 < n0 < 40)
        s = audit.merge(merged, [d0, d1], xai=self.xai)
        ref = self.reference()
        self.assertEqual(comparable(s), comparable(ref.summary))
        self.assertEqual(strip_timing(audit.load(merged).results), strip_timing(ref.results))
        self.assertTrue(os.path.getsize(os.path.join(merged, "report.html")) > 1000)

    def test_shards_by_line_merge_to_the_single_run(self):
        d0, d1, merged = self.out("ln0"), self.out("ln1"), self.out("ln_merged")
        self.audit(d0, shard="0/2", shard_by="line")
        self.audit(d1, shard="1/2", shard_by="line")
        # (n - 1) mod 2: the odd lines, then the even ones
        self.assertEqual([r["n"] for r in audit.load(d0).results], list(range(1, 41, 2)))
        self.assertEqual([r["n"] for r in audit.load(d1).results], list(range(2, 41, 2)))
        s = audit.merge(merged, [d0, d1], xai=self.xai)
        ref = self.reference()
        self.assertEqual(comparable(s), comparable(ref.summary))
        self.assertEqual(strip_timing(audit.load(merged).results), strip_timing(ref.results))
        # a line shard and an id shard are not slices of one audit
        by_id = self.out("ln_by_id")
        self.audit(by_id, shard="1/2")
        with self.assertRaises(xai.XaiError) as cm:
            audit.merge(self.out("ln_mixed"), [d0, by_id], xai=self.xai)
        self.assertIn("shard_by", str(cm.exception))

    def test_retry_errors_redoes_error_lines_only(self):
        ref = self.reference()
        out = self.out("retry")
        shutil.rmtree(out, ignore_errors=True)
        shutil.copytree(ref.path, out)
        path = os.path.join(out, "results.jsonl")
        with open(path) as f:
            lines = [json.loads(l) for l in f]
        for l in lines:              # ids 3 and 7 ran out of retries in "an earlier run"
            if l["id"] in (3, 7):
                l.pop("result")
                l.pop("predicted", None)
                l.pop("predicted_name", None)
                l["error"] = {"code": "model_unavailable", "message": "model t: no reply"}
        with open(path, "w") as f:
            f.write("".join(json.dumps(l) + "\n" for l in lines))
        self.audit(out)              # a plain resume keeps the errors
        a = audit.load(out)
        self.assertEqual((a.summary["n_errors"], a.summary["run"]["jobs"]), (2, 0))
        self.assertEqual([e["id"] for e in a.errors], [3, 7])
        self.audit(out, retry_errors=True)
        a = audit.load(out)
        self.assertEqual((a.summary["n_errors"], a.summary["run"]["jobs"]), (0, 2))
        self.assertEqual(comparable(a.summary), comparable(ref.summary))
        self.assertEqual(strip_timing(a.results), strip_timing(ref.results))
        with open(path) as f:
            self.assertEqual(sum(1 for _ in f), 42)      # appended: the error lines stay
        self.audit(out, retry_errors=True)                # nothing left to retry
        self.assertEqual(audit.load(out).summary["run"]["jobs"], 0)

    def test_shards_with_faithfulness_merge(self):
        path = self.out("faith20.txt")
        with open(path, "w") as f:
            f.write("".join(t + "\n" for t, _ in self.docs[:20]))
        one, d0, d1, merged = (self.out(n) for n in ("f_one", "f_sh0", "f_sh1", "f_merged"))
        self.audit(one, input=path, faithfulness=True)
        self.audit(d0, input=path, faithfulness=True, shard="0/2")
        self.audit(d1, input=path, faithfulness=True, shard="1/2")
        s = audit.merge(merged, [d0, d1], xai=self.xai)
        ref = audit.load(one).summary
        self.assertEqual(s["faithfulness"]["n"], 20)
        self.assertEqual(comparable(s), comparable(ref))

    def test_resume_with_other_settings_is_refused(self):
        out = self.out("settings")
        self.audit(out, seed=1)
        p = audit.run("t", self.input, out, endpoint=self.ep, xai=self.xai, seed=2, quiet=True,
                      check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("another `seed`", p.stderr)
        self.audit(out, seed=1)        # the same settings resume (nothing left to do)
        self.assertEqual(audit.load(out).summary["run"]["jobs"], 0)

    # ---- interruptions ---------------------------------------------------------

    def start_cli(self, out, model="slow", extra=(), quiet=True):
        argv = [self.xai, "--endpoint", self.ep, "audit", "--model", model, "--input", self.input,
                "--out", out, "--top", "100"] + (["--quiet"] if quiet else []) + list(extra)
        return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def wait_lines(self, out, n, proc, timeout=60):
        path = os.path.join(out, "results.jsonl")
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if os.path.exists(path):
                with open(path, "rb") as f:
                    if f.read().count(b"\n") >= n:
                        return
            self.assertIsNone(proc.poll(), proc.stderr.read() if proc.poll() is not None else "")
            time.sleep(0.05)
        self.fail("no %d lines in %s" % (n, path))

    def assert_complete(self, out):
        with open(os.path.join(out, "results.jsonl"), "rb") as f:
            raw = f.read()
        self.assertTrue(raw.endswith(b"\n"))
        ids = [json.loads(l)["id"] for l in raw.split(b"\n")[:-1]]
        self.assertEqual(sorted(ids), list(range(1, 41)))     # every id exactly once

    def test_sigkill_then_resume(self):
        out = self.out("killed")
        p = self.start_cli(out)
        self.wait_lines(out, 6, p)
        p.send_signal(signal.SIGKILL)
        p.communicate()
        with open(os.path.join(out, "results.jsonl"), "rb") as f:
            before = f.read().count(b"\n")
        self.assertLess(before, 40)
        self.audit(out, model="slow")
        self.assert_complete(out)
        a, ref = audit.load(out), self.reference()
        self.assertEqual(comparable(a.summary, ("run", "audit")), comparable(ref.summary, ("run", "audit")))
        self.assertEqual(a.summary["run"]["resumed_from"], before)

    def test_sigkill_three_times_then_resume(self):
        # killed at three different points: still every id exactly once
        out = self.out("killed3")
        for lines in (2, 9, 17):
            p = self.start_cli(out)
            self.wait_lines(out, lines, p)
            p.send_signal(signal.SIGKILL)
            p.communicate()
        self.audit(out, model="slow")
        self.assert_complete(out)
        self.assertEqual(comparable(audit.load(out).summary, ("run", "audit")),
                         comparable(self.reference().summary, ("run", "audit")))

    def test_progress_bar_on_a_terminal(self):
        import pty
        path = self.out("ten.txt")
        with open(path, "w") as f:
            f.write("".join(t + "\n" for t, _ in self.docs[:10]))
        master, slave = pty.openpty()
        p = subprocess.Popen([self.xai, "--endpoint", self.ep, "audit", "--model", "slow", "--input",
                              path, "--out", self.out("tty")], stdout=subprocess.PIPE,
                             stderr=slave, stdin=subprocess.DEVNULL)
        os.close(slave)
        err = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:       # EIO: the child closed the terminal
                break
            if not chunk:
                break
            err += chunk
        p.wait(60)
        os.close(master)
        self.assertEqual(p.returncode, 0, err)
        text = err.decode("utf-8", "replace")
        self.assertIn("\r", text)                       # the bar redraws in place
        self.assertRegex(text, r"\[#+-*\] \d+/10  [0-9.]+ doc/s  ETA \d+s  errors 0")
        self.assertIn("10/10", text)

    def test_ctrl_c_cancels_jobs_and_leaves_dir_resumable(self):
        out = self.out("interrupted")
        p = self.start_cli(out)
        self.wait_lines(out, 4, p)
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=30)
        self.assertEqual(p.returncode, 130, err)
        self.assertIn(b"resume", err)
        self.assertFalse(os.path.exists(os.path.join(out, "summary.json")))
        c = xai.Client(self.ep)
        try:   # the audit's jobs were cancelled, not left running
            ok = False
            for _ in range(100):
                j = c.stats()["jobs"]
                if j["running"] == 0 and j["queued"] == 0:
                    ok = True
                    break
                time.sleep(0.05)
            self.assertTrue(ok, j)
            self.assertGreater(j["cancelled"], 0)
        finally:
            c.close()
        self.audit(out, model="slow")
        self.assert_complete(out)

    def test_model_killed_and_restarted_mid_audit(self):
        out = self.out("restarted")
        p = self.start_cli(out, extra=["--retries", "6"], quiet=False)
        self.wait_lines(out, 3, p)
        self.stack.procs["slow"].kill()
        self.stack.procs["slow"].wait()
        self.stack.procs.pop("slow")
        self.stack.logs.pop("slow").close()
        time.sleep(1.0)
        self.stack.start_model("slow")
        _, err = p.communicate(timeout=240)
        self.assertEqual(p.returncode, 0, err)
        self.assert_complete(out)
        # not a terminal: a plain progress line every few seconds, and a last one
        text = err.decode()
        self.assertRegex(text, r"audit: \d+/40 done, [0-9.]+ doc/s, ETA \d+s, \d+ errors\n")
        self.assertRegex(text, r"audit: all 40/40 done, [0-9.]+ doc/s, \d+ errors\n")
        s = audit.load(out).summary
        self.assertEqual(s["n_done"] + s["n_errors"], 40)
        self.assertGreater(s["n_done"], 3)
        self.assertTrue(set(s["errors"]) <= {"model_unavailable"}, s["errors"])
        self.stack.wait_ready(["slow"])


class AuditFiles(unittest.TestCase):
    """xai.audit.read_results without a daemon: order, repeats, a torn tail."""

    def test_read_results(self):
        tmp = tempfile.mkdtemp(prefix="xai-audit-files-")
        try:
            path = os.path.join(tmp, "results.jsonl")
            with open(path, "w") as f:
                f.write('{"id": "b", "n": 2, "result": {"values": [[1, 2], [3, 4]]}}\n'
                        '{"id": "a", "n": 1, "result": {"values": [0.5], "stderrs": null}}\n'
                        '{"id": "a", "n": 1, "error": {"code": "x"}}\n'
                        '{"id": "c", "n": 3, "res')
            rs = audit.read_results(path)
            self.assertEqual([r["id"] for r in rs], ["a", "b"])
            self.assertEqual(rs[1]["result"]["values"].shape, (2, 2))   # multi-target: k' x d
            self.assertIsNone(rs[0]["result"]["stderrs"])
            self.assertEqual(rs[0]["result"]["values"].dtype, np.float64)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


class AuditBusyE2E(unittest.TestCase):
    """A daemon with max_queue = 4 and a window far larger: busy is paced."""

    def test_small_queue_completes(self):
        xaid = xaid_or_skip()
        xai_bin = xai_or_skip()
        st = Stack(with_nb=False)
        with open(st.conf, "a") as f:
            f.write("max_queue = 4\n")
        tmp = tempfile.mkdtemp(prefix="xai-audit-busy-")
        try:
            st.start(xaid, models=("t", "slow"))
            st.wait_ready(["t", "slow"])
            self.assertEqual(st.client.stats()["jobs"]["max_queue"], 4)
            docs = make_corpus(30, seed=1)
            path = os.path.join(tmp, "in.txt")
            with open(path, "w") as f:
                f.write("".join(t + "\n" for t, _ in docs))
            out = os.path.join(tmp, "out")
            audit.run("t", path, out, endpoint=st.ep["front"], xai=xai_bin, window=16, quiet=True)
            s = audit.load(out).summary
            self.assertEqual((s["n_done"], s["n_errors"]), (30, 0))
            busy = st.client.stats()["jobs"]["rejected_busy"]
            self.assertGreater(busy, 0)
            # Client.explain_many paces the same way (slow jobs: the queue fills)
            got = list(st.client.explain_many("slow", "occlusion", [t for t, _ in docs[:12]],
                                              window=16))
            self.assertEqual([i for i, _ in got], list(range(12)))
            self.assertFalse(any(isinstance(r, xai.XaiError) for _, r in got))
            self.assertGreater(st.client.stats()["jobs"]["rejected_busy"], busy)
        finally:
            st.stop()
            shutil.rmtree(tmp, ignore_errors=True)


def free_port():
    import socket
    with socket.socket() as so:
        so.bind(("127.0.0.1", 0))
        return so.getsockname()[1]


def tcp_stack():
    """A Stack whose front listens on tcp://127.0.0.1 (loopback)."""
    st = Stack(with_nb=False)
    tcp = "tcp://127.0.0.1:%d" % free_port()
    with open(st.conf) as f:
        conf = f.read().replace(st.ep["front"], tcp)
    with open(st.conf, "w") as f:
        f.write(conf)
    st.ep["front"] = tcp
    return st


class AuditDask(unittest.TestCase):
    """Shards on a Dask LocalCluster of 2 workers, each worker using its own
    xaid (with its own model server) on loopback; merged = one daemon's run."""

    def test_two_workers_two_daemons(self):
        try:
            from distributed import Client as DaskClient, LocalCluster
        except ImportError:
            self.skipTest("python3-distributed is not installed")
        xaid = xaid_or_skip()
        xai_bin = xai_or_skip()
        stacks = [tcp_stack(), tcp_stack()]
        tmp = tempfile.mkdtemp(prefix="xai-audit-dask-")
        cluster = None
        try:
            for st in stacks:
                st.start(xaid, models=("t",))
                st.wait_ready(["t"])
            docs = make_corpus(30, seed=2)
            path = os.path.join(tmp, "in.txt")
            with open(path, "w") as f:
                f.write("".join(t + "\n" for t, _ in docs))
            single = os.path.join(tmp, "single")
            audit.run("t", path, single, endpoint=stacks[0].ep["front"], xai=xai_bin, quiet=True, seed=7)
            before = [st.client.stats()["jobs"]["done"] for st in stacks]
            cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                   dashboard_address=None)
            with DaskClient(cluster) as dc:
                addrs = sorted(dc.scheduler_info()["workers"])
                self.assertEqual(len(addrs), 2)
                mapping = {a: st.ep["front"] for a, st in zip(addrs, stacks)}
                merged = os.path.join(tmp, "merged")
                s = audit.run_dask(dc, "t", path, merged, 4, mapping, xai=xai_bin, seed=7,
                                   workers=[[addrs[i % 2]] for i in range(4)])
            self.assertEqual(comparable(s), comparable(audit.load(single).summary))
            self.assertEqual((s["n_inputs"], s["n_done"]), (30, 30))
            # both daemons did part of the work, together all of it
            did = [st.client.stats()["jobs"]["done"] - b for st, b in zip(stacks, before)]
            self.assertTrue(all(d > 0 for d in did), did)
            self.assertEqual(sum(did), 30)
        finally:
            if cluster is not None:
                cluster.close()
            for st in stacks:
                st.stop()
            shutil.rmtree(tmp, ignore_errors=True)


class AuditModelDown(unittest.TestCase):
    """A model that never comes back: inputs past their retries are errors."""

    def test_retries_run_out(self):
        xaid = xaid_or_skip()
        xai_bin = xai_or_skip()
        st = Stack(with_nb=False, timeout_ms=300, retries=0)
        tmp = tempfile.mkdtemp(prefix="xai-audit-down-")
        try:
            st.start(xaid, models=("t",))
            st.wait_ready(["t"])
            st.kill("t")
            path = os.path.join(tmp, "in.txt")
            with open(path, "w") as f:
                f.write("free money\nmeeting\nfree\n")
            out = os.path.join(tmp, "out")
            t0 = time.monotonic()
            audit.run("t", path, out, endpoint=st.ep["front"], xai=xai_bin, retries=2, quiet=True,
                      timeout=120)
            s = audit.load(out).summary
            self.assertEqual((s["n_inputs"], s["n_done"], s["n_errors"]), (3, 0, 3))
            self.assertEqual(s["errors"], {"model_unavailable": 3})
            self.assertLess(time.monotonic() - t0, 60)
        finally:
            st.stop()
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
