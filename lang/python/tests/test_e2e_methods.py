"""test_e2e_methods.py — every sampling method end to end through xaid
(lime, kernelshap, shapley_sampling, anchors, plus occlusion and
exact_shapley as ground truth) against real Python model servers.

Processes, on ipc:// endpoints in a temporary directory:
  xaid     $XAI_BUILD/san/xaid (else rel/) with a config written here;
  spam     examples/spam/serve.py serving the TF-IDF + logistic regression
           of examples/spam/train.py, trained here on the repository's
           fixture (examples/spam/fixture.tsv), never the downloaded corpus;
  cancer   a StandardScaler + LogisticRegression on the first D_TAB columns
           of sklearn's bundled breast-cancer data (a local fixture), served
           with xai.serve; its background is BG_ROWS rows of that data;
  lin      a text model linear in its word indicators (LIN_WEIGHTS), for
           LIME's surrogate, which must then recover it.

What is checked is what the methods promise, not that they ran: occlusion
and exact Shapley against the pickled model evaluated in this process on
the masked texts; KernelSHAP at its default budget (d <= 11 enumerates every
coalition) equal to exact Shapley to 1e-9; efficiency of KernelSHAP and
permutation sampling at small budgets (sum phi = fx - base_value); the same
seed giving the same bytes and another seed other estimates; LIME's
surrogate recovering a linear model (score ~ 1, local_pred ~ fx); anchors
whose tokens are in the text, whose precision is above its lower bound, whose
predicates x satisfies, with rows_sent <= rows_asked and cache hits; unknown
options refused with invalid_argument, budgets above the daemon's max_samples
(max_evals included) with limit_exceeded.

Skipped, saying why, when xaid is not built or sklearn is missing. Budgets
are small (num_samples 500 and the like) so the file runs in well under a
minute under ASan on a loaded machine.
"""

import itertools
import os
import pickle
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import numpy as np

import xai
from tests.test_e2e import FIXTURE, PKG, ROOT, find_binary

TOKEN = re.compile(r"\w+")
D_TAB = 8                        # columns of the tabular model: exact Shapley is 2^8 coalitions
BG_ROWS = 20
MAX_SAMPLES = 100000             # the daemon's limit on sample and evaluation counts
LIN_WEIGHTS = {"free": 0.3, "money": 0.2, "now": 0.1, "meeting": -0.25}
SHORT_SPAM = "Win FREE money now"                                   # fixture line 1
EMAIL = "Free offer, click now to win! Meeting notes for the project"  # 11 tokens
LONG = ("Cheap money: click here free gift inside, win free money now and "
        "bring the project notes to the meeting at noon")          # 20 tokens

SERVE_CODE = """
import pickle, sys, numpy as np, xai
from tests.test_e2e_methods import lin_model
ep, kind = sys.argv[1], sys.argv[2]
if kind == "lin":
    xai.serve(lin_model, ep, kind="text", classes=["minus", "plus"], log=False)
else:
    with open(sys.argv[3], "rb") as f:
        m = pickle.load(f)
    xai.serve(m.predict_proba, ep, kind="tabular", classes=["malignant", "benign"],
              n_features=%d, log=False)
""" % D_TAB


def lin_model(texts):
    s = np.array([sum(LIN_WEIGHTS.get(t.lower(), 0.0) for t in TOKEN.findall(x)) for x in texts])
    return np.stack([-s, s], axis=1)


def render(text, tokens, keep):
    """The text with every token whose feature is not in `keep` replaced by
    UNK, as xaid's default text space renders a mask (byte offsets; ASCII)."""
    out, at = [], 0
    for start, end, feat in tokens:
        if feat >= 0 and feat not in keep:
            out += [text[at:start], "UNK"]
            at = end
    return "".join(out) + text[at:]


def shapley_by_enumeration(v, d):
    """Exact Shapley values of the game v (a dict frozenset -> value)."""
    fact = [1.0]
    for i in range(1, d + 1):
        fact.append(fact[-1] * i)
    phi = np.zeros(d)
    for s in v:
        for i in range(d):
            if i not in s:
                w = fact[len(s)] * fact[d - len(s) - 1] / fact[d]
                phi[i] += w * (v[s | {i}] - v[s])
    return phi


class Stack:
    """The fixtures, the model servers and xaid; stop() ends them all."""

    def __init__(self):
        """Trains both models and writes the background and the config."""
        from sklearn.datasets import load_breast_cancer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        sys.path.insert(0, os.path.join(ROOT, "examples", "spam"))
        import train as spam_train
        self.dir = tempfile.mkdtemp(prefix="xai-e2e-methods-")
        self.procs, self.logs = {}, []
        self.ep = {n: "ipc://%s/%s.sock" % (self.dir, n) for n in ("front", "spam", "cancer", "lin")}
        self.spam_pkl = os.path.join(self.dir, "spam.pkl")
        self.spam = spam_train.train(FIXTURE, self.spam_pkl)
        data = load_breast_cancer()
        x, y = data.data[:, :D_TAB], data.target
        self.cancer = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x, y)
        cancer_pkl = os.path.join(self.dir, "cancer.pkl")
        with open(cancer_pkl, "wb") as f:
            pickle.dump(self.cancer, f)
        self.bg = x[np.random.default_rng(0).choice(len(x), BG_ROWS, replace=False)]
        self.rows = x[:3]
        bg_csv = os.path.join(self.dir, "bg.csv")
        with open(bg_csv, "w") as f:
            f.write(",".join(n.replace(" ", "_") for n in data.feature_names[:D_TAB]) + "\n")
            f.writelines(",".join(repr(float(v)) for v in r) + "\n" for r in self.bg)
        conf = os.path.join(self.dir, "xaid.conf")
        with open(conf, "w") as f:
            f.write("bind = %s\nworkers = 2\njob_deadline_ms = 60000\nmax_samples = %d\n"
                    % (self.ep["front"], MAX_SAMPLES))
            f.write("model spam = text@%s\n" % self.ep["spam"])
            f.write("model lin = text@%s\n" % self.ep["lin"])
            f.write("model cancer = tabular@%s\nmodel cancer.background = %s\n"
                    % (self.ep["cancer"], bg_csv))
            for m in ("spam", "lin", "cancer"):
                f.write("model %s.timeout_ms = 10000\nmodel %s.retries = 1\n" % (m, m))
        self.client = None
        self.conf = conf

    def start(self, xaid):
        """Starts the three model servers and xaid."""
        env = dict(os.environ, PYTHONPATH=PKG, OPENBLAS_NUM_THREADS="1")
        py = sys.executable
        cancer_pkl = os.path.join(self.dir, "cancer.pkl")
        self.spawn("spam", [py, os.path.join(ROOT, "examples", "spam", "serve.py"),
                            "--endpoint", self.ep["spam"], "--model", self.spam_pkl], env)
        self.spawn("lin", [py, "-c", SERVE_CODE, self.ep["lin"], "lin"], env)
        self.spawn("cancer", [py, "-c", SERVE_CODE, self.ep["cancer"], "tab", cancer_pkl], env)
        self.spawn("xaid", [xaid, "--config", self.conf], None)
        self.client = xai.Client(self.ep["front"], timeout=10.0)

    def spawn(self, name, argv, env):
        log = open(os.path.join(self.dir, name + ".log"), "ab")
        self.logs.append(log)
        self.procs[name] = subprocess.Popen(argv, stdout=log, stderr=log, cwd=ROOT, env=env,
                                            stdin=subprocess.DEVNULL)

    def log(self, name):
        try:
            with open(os.path.join(self.dir, name + ".log"), errors="replace") as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def wait_ready(self, timeout=40.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end and self.procs["xaid"].poll() is None:
            try:
                if all(m.get("ready") for m in self.client.models()):
                    return
            except xai.XaiError:
                pass
            time.sleep(0.1)
        raise AssertionError("models not ready; xaid log:\n%s" % self.log("xaid"))

    def stop(self):
        """Ends every process (xaid first); returns xaid's exit status and log."""
        if self.client is not None:
            self.client.close()
        rc, log = None, ""
        for name in sorted(self.procs, key=lambda n: n != "xaid"):   # xaid first
            p = self.procs[name]
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            if name == "xaid":
                rc, log = p.returncode, self.log("xaid")
        for f in self.logs:
            f.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        return rc, log


class Methods(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        xaid = find_binary("xaid")
        if xaid is None:
            raise unittest.SkipTest("xaid is not built (no %s/{san,rel}/xaid)"
                                    % os.environ.get("XAI_BUILD", "build"))
        try:
            import sklearn  # noqa: F401
        except ImportError:
            raise unittest.SkipTest("python3 sklearn is missing (apt install python3-sklearn)")
        cls.stack = Stack()
        try:
            cls.stack.start(xaid)
            cls.stack.wait_ready()
        except BaseException:
            cls.stack.stop()
            raise
        cls.c = cls.stack.client

    @classmethod
    def tearDownClass(cls):
        rc, log = cls.stack.stop()
        if rc != 0:
            raise AssertionError("xaid exited with %s on SIGTERM:\n%s" % (rc, log))

    def explain(self, model, method, **kw):
        return self.c.explain(model, method, timeout=60.0, **kw)

    def p_spam(self, texts):
        return self.stack.spam.predict_proba(texts)[:, 1]

    def assert_efficient(self, r, tol):
        self.assertAlmostEqual(float(np.sum(r["values"])), r["fx"] - r["base_value"], delta=tol)

    # ---- ground truth from the pickled model ----------------------------------

    def test_occlusion_matches_model_on_masked_text(self):
        r = self.explain("spam", "occlusion", text=EMAIL, target="spam")
        d = len(r["features"])
        self.assertEqual(d, 11)
        masked = [render(EMAIL, r["tokens"], set(range(d)) - {i}) for i in range(d)]
        p = self.p_spam([EMAIL] + masked)
        self.assertAlmostEqual(r["fx"], p[0], places=12)
        np.testing.assert_allclose(r["values"], p[0] - p[1:], atol=1e-12)

    def test_kernelshap_default_budget_is_exact_shapley_text(self):
        # d = 11 <= 11: the default budget (2d + 2048, capped at 2^d - 2)
        # enumerates every coalition, so KernelSHAP is exact Shapley
        ks = self.explain("spam", "kernelshap", text=EMAIL, target="spam")
        ex = self.explain("spam", "exact_shapley", text=EMAIL, target="spam")
        d = len(ex["features"])
        np.testing.assert_allclose(ks["values"], ex["values"], atol=1e-9)
        self.assertAlmostEqual(ks["base_value"], ex["base_value"], places=12)
        np.testing.assert_allclose(ks["stderrs"], np.zeros(d), atol=1e-12)
        self.assertTrue(ks["extra"]["converged"])
        # exact Shapley of the pickled model on the 2^d masked texts
        subsets = [frozenset(s) for k in range(d + 1)
                   for s in itertools.combinations(range(d), k)]
        p = self.p_spam([render(EMAIL, ex["tokens"], s) for s in subsets])
        phi = shapley_by_enumeration(dict(zip(subsets, p)), d)
        np.testing.assert_allclose(ex["values"], phi, atol=1e-9)
        self.assertAlmostEqual(ex["base_value"], p[0], places=12)
        self.assert_efficient(ks, 1e-9)

    def test_kernelshap_default_budget_is_exact_shapley_tabular(self):
        x = self.stack.rows[0]
        ks = self.explain("cancer", "kernelshap", row=x, target=1)
        ex = self.explain("cancer", "exact_shapley", row=x, target=1)
        np.testing.assert_allclose(ks["values"], ex["values"], atol=1e-9)
        # base value = mean model output over the background rows
        base = self.stack.cancer.predict_proba(self.stack.bg)[:, 1].mean()
        self.assertAlmostEqual(ex["base_value"], base, places=9)
        self.assertAlmostEqual(ks["fx"], self.stack.cancer.predict_proba([x])[0, 1], places=12)
        self.assert_efficient(ks, 1e-9)
        self.assertEqual(list(ks["features"])[0], "mean_radius")   # from the CSV header

    # ---- efficiency and seeds at small budgets ---------------------------------

    def test_sampled_values_are_efficient(self):
        x = self.stack.rows[1]
        cases = [("spam", "kernelshap", dict(text=LONG, params={"nsamples": 300})),
                 ("spam", "shapley_sampling", dict(text=LONG, params={"max_evals": 400})),
                 ("spam", "shapley_sampling",
                  dict(text=LONG, params={"max_evals": 400, "estimator": "per_feature"})),
                 ("cancer", "kernelshap", dict(row=x, params={"nsamples": 60})),
                 ("cancer", "shapley_sampling", dict(row=x, params={"max_evals": 100}))]
        for model, method, kw in cases:
            with self.subTest(model=model, method=method, params=kw["params"]):
                r = self.explain(model, method, seed=3, **kw)
                self.assert_efficient(r, 1e-6)
                se = np.asarray(r["stderrs"])
                self.assertEqual(se.shape, np.asarray(r["values"]).shape)
                self.assertTrue(np.all(np.isfinite(se)) and np.all(se >= 0))
                self.assertGreater(se.max(), 0.0)       # sampled, so uncertain
                self.assertLessEqual(r["extra"]["n_evals"], 2 + 2 * 400)

    def test_same_seed_same_bytes_other_seed_other_values(self):
        for method, params in (("lime", {"num_samples": 500}),
                               ("shapley_sampling", {"max_evals": 300}),
                               ("kernelshap", {"nsamples": 200})):
            with self.subTest(method=method):
                a, b, c = (self.explain("spam", method, text=LONG, params=params, seed=s,
                                        target="spam") for s in (7, 7, 8))
                self.assertEqual(a["values"].tobytes(), b["values"].tobytes())
                self.assertEqual(a["stderrs"].tobytes(), b["stderrs"].tobytes())
                self.assertEqual(a["seed"], 7)
                self.assertNotEqual(a["values"].tobytes(), c["values"].tobytes())

    # ---- LIME ------------------------------------------------------------------

    def test_lime_recovers_a_linear_text_model(self):
        text = "free money now for the meeting"
        r = self.explain("lin", "lime", text=text, target="plus",
                         params={"num_samples": 500, "feature_selection": "none"})
        ex = r["extra"]
        for key in ("intercept", "score", "local_pred", "selected", "num_samples"):
            self.assertIn(key, ex)
        self.assertEqual(ex["num_samples"], 500)
        self.assertAlmostEqual(r["fx"], 0.35, places=12)     # 0.3 + 0.2 + 0.1 - 0.25
        # f is exactly linear in the kept words, so the ridge surrogate is the
        # model up to its alpha = 1 shrinkage (~ 1/(n * weight * var) ~ 2%)
        want = [LIN_WEIGHTS.get(w, 0.0) for w in text.split()]
        np.testing.assert_allclose(r["values"], want, atol=0.02)
        self.assertGreater(ex["score"], 0.98)
        self.assertAlmostEqual(ex["local_pred"], r["fx"], delta=0.02)
        self.assertAlmostEqual(ex["local_pred"], ex["intercept"] + float(np.sum(r["values"])),
                               places=9)

    def test_lime_on_spam_and_tabular(self):
        r = self.explain("spam", "lime", text=LONG, params={"num_samples": 500}, target="spam")
        ex = r["extra"]
        self.assertEqual(ex["mode"], "text")
        self.assertEqual(len(ex["selected"]), 10)            # num_features default 10 of d
        self.assertEqual(int(np.count_nonzero(r["values"])), 10)
        self.assertTrue(0.0 <= ex["score"] <= 1.0)
        # the surrogate at x is its intercept plus every selected coefficient
        self.assertAlmostEqual(ex["local_pred"], ex["intercept"] + float(np.sum(r["values"])),
                               places=9)
        # bag of words (lime's LimeTextExplainer default): a feature per
        # distinct word; removing it removes every occurrence
        text = "free money free money now"
        r = self.explain("lin", "lime", text=text, target="plus", space={"bag_of_words": True},
                         params={"num_samples": 500, "feature_selection": "none"})
        self.assertEqual(list(r["features"]), ["free", "money", "now"])
        self.assertEqual([f for _, _, f in r["tokens"]], [0, 1, 0, 1, 2])
        # ... and it is the default for lime when the request leaves it out,
        # while other methods keep one feature per token position
        r0 = self.explain("lin", "lime", text=text, target="plus",
                          params={"num_samples": 500, "feature_selection": "none"})
        self.assertEqual(list(r0["features"]), ["free", "money", "now"])
        self.assertEqual(r0["values"].tobytes(), r["values"].tobytes())
        occ = self.explain("lin", "occlusion", text=text, target="plus")
        self.assertEqual(len(occ["features"]), 5)
        r5 = self.explain("lin", "lime", text=text, target="plus", space={"bag_of_words": False},
                          params={"num_samples": 500, "feature_selection": "none"})
        self.assertEqual(len(r5["features"]), 5)
        # f = 0.6 z_free + 0.4 z_money + 0.1 z_now (two copies each of the first
        # two). With d = 3 the samples keep mostly 2 words, so the all-ones
        # direction is nearly collinear with the intercept and ridge shrinks
        # it (the values fall ~10% short); the contrasts between words do not
        v = r["values"]
        np.testing.assert_allclose([v[0] - v[1], v[1] - v[2]], [0.2, 0.3], atol=0.02)
        self.assertAlmostEqual(r["fx"], 1.1, places=12)
        x = self.stack.rows[0]
        t = self.explain("cancer", "lime", row=x, params={"num_samples": 500}, target=1)
        self.assertEqual(t["extra"]["mode"], "tabular")
        self.assertEqual(len(t["extra"]["conditions"]), D_TAB)
        self.assertTrue(np.all(np.isfinite(t["values"])))
        self.assertTrue(np.all(np.asarray(t["stderrs"]) >= 0))

    # ---- anchors -----------------------------------------------------------------

    def check_text_anchor(self, text, r):
        """The anchor's tokens are the text's, its values mark them, its
        precision is the model's (enumerated over every perturbation of the
        other tokens) and the counters add up; returns the stats."""
        ex, target = r["extra"], r["target"]
        words = [text[s:e] for s, e, f in r["tokens"] if f >= 0]
        d = len(words)
        self.assertTrue(ex["success"], ex.get("message"))
        self.assertGreater(ex["size"], 0)                 # these texts need an anchor
        self.assertEqual(ex["size"], len(ex["anchor"]))
        self.assertLessEqual(ex["precision_lower"], ex["precision"])
        self.assertLessEqual(ex["precision"], ex["precision_upper"])
        self.assertGreaterEqual(ex["precision"], 0.95 - 0.05)   # fresh samples: lower bound >= 0.95
        for item in ex["anchor"]:
            self.assertIn(item["name"], words)
            for pos in item["positions"]:
                self.assertEqual(words[pos], item["name"])
        anchor = {item["feature"] for item in ex["anchor"]}
        self.assertEqual({i for i, v in enumerate(r["values"]) if v == 1.0}, anchor)
        self.assertAlmostEqual(ex["coverage"], 0.5 ** len(anchor), places=12)  # exact for text
        # exact precision: each other token is UNK with probability 1/2, so
        # every subset of the others kept is equally likely
        rest = [i for i in range(d) if i not in anchor]
        kept = [anchor | set(s) for k in range(len(rest) + 1)
                for s in itertools.combinations(rest, k)]
        pred = self.stack.spam.predict_proba([render(text, r["tokens"], s) for s in kept])
        self.assertGreaterEqual(np.mean(pred.argmax(axis=1) == target), 0.9)
        held = ex["examples"]["held"]
        if held:
            self.assertTrue(np.all(self.stack.spam.predict_proba(held).argmax(axis=1) == target))
        st = r["stats"]
        self.assertLessEqual(st["rows_sent"], 2 ** d)         # distinct masks at most
        self.assertLessEqual(st["cache_hits"] + st["rows_sent"], st["rows_asked"])
        for k in ("rows_sent", "cache_hits", "model_calls", "eval_seconds"):
            self.assertNotIn(k, ex)      # counters and timings: stats only (extra is deterministic)
        self.assertEqual(ex["rows_asked"], st["masks_asked"])
        self.assertGreater(ex["rows_asked"], st["rows_sent"])  # sampled rows vs model rows
        return st

    def test_anchors_on_fixture_emails(self):
        # a ham email of the fixture (the empty text leans spam, so it needs
        # an anchor) and a mixed one; short, so masks repeat: cache hits
        for text, target in (("Meeting notes for the project", "ham"),
                             ("Win free money now at the meeting", "spam")):
            with self.subTest(text=text):
                r = self.explain("spam", "anchors", text=text, seed=1)
                self.assertEqual(r["target_name"], target)
                st = self.check_text_anchor(text, r)
                self.assertGreater(st["cache_hits"], 0)

    def test_anchors_tabular_predicates_hold_at_x(self):
        x = self.stack.rows[2]
        r = self.explain("cancer", "anchors", row=x, seed=2,
                         params={"coverage_samples": 2000})
        ex = r["extra"]
        self.assertGreaterEqual(ex["precision"], ex["precision_lower"])
        self.assertTrue(0.0 <= ex["coverage"] <= 1.0)
        for item in ex["anchor"]:
            v, lim = x[item["column"]], item["value"]
            ok = {">": v > lim, "<=": v <= lim, "==": v == lim}[item["op"]]
            self.assertTrue(ok, item)
        self.assertLessEqual(r["stats"]["rows_sent"], r["stats"]["rows_asked"])

    # ---- errors --------------------------------------------------------------------

    def test_unknown_options_are_invalid_argument(self):
        for method in ("lime", "kernelshap", "shapley_sampling", "anchors", "occlusion",
                       "exact_shapley"):
            with self.subTest(method=method):
                with self.assertRaises(xai.XaiError) as cm:
                    self.explain("spam", method, text=SHORT_SPAM, params={"no_such_option": 1})
                self.assertEqual(cm.exception.code, "invalid_argument")
                self.assertIn("no_such_option", str(cm.exception))
        with self.assertRaises(xai.XaiError) as cm:
            self.explain("spam", "lime", text=SHORT_SPAM, space={"bag_of_wurds": True})
        self.assertEqual(cm.exception.code, "invalid_argument")
        with self.assertRaises(xai.XaiError) as cm:
            self.explain("cancer", "kernelshap", row=self.stack.rows[0],
                         params={"link": "probit"})
        self.assertEqual(cm.exception.code, "invalid_argument")

    def test_budgets_above_max_samples_are_refused(self):
        # refused before the job is accepted, so a huge budget never reaches
        # a method (shapley_sampling would allocate max_evals masks at once)
        for method, key in (("lime", "num_samples"), ("kernelshap", "nsamples"),
                            ("shapley_sampling", "max_evals")):
            with self.subTest(method=method):
                with self.assertRaises(xai.XaiError) as cm:
                    self.c.submit("spam", method, text=LONG, params={key: 10 * MAX_SAMPLES})
                self.assertEqual(cm.exception.code, "limit_exceeded")
                self.assertIn(key, str(cm.exception))
        self.assertTrue(self.c.ping()["pong"])


if __name__ == "__main__":
    unittest.main()
