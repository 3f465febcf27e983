"""test_service.py — what serve() hands the daemon, what the daemon hands
clients back, and SIGHUP reloads, end to end (xaid and xai.serve() processes):

* a tabular model served with its background (a numpy array, or a pandas
  DataFrame whose columns name the features) and configured with only
  `model NAME = tabular@ENDPOINT` gives the same KernelSHAP values, bit for
  bit, as the same model configured with the same rows as a CSV;
* errors about unknown names carry `choices` and `suggestion`
  (XaiError.choices / .suggestion), and Client.methods() lists the
  registry;
* SIGHUP: a model added, one removed and one changed while a job runs on
  a kept one (and a job on a removed one) — both jobs end with their
  results; limits apply to new jobs; a bad config is logged and the
  running one kept;
* `xai stats --prometheus` on a stats reply with replicas (from a fake
  daemon, as no daemon has replicas yet).

The tabular model is test_e2e's tab_model (f = B0 + W.x, outputs [f, -f])
and BG its background, so the values are also W_i (x_i - mean(BG_i)).
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import numpy as np
import zmq

import xai
from tests.test_e2e import BG, PKG, W, Stack, find_binary, xaid_or_skip
from xai.protocol import pack, unpack

SERVE_BG = """
import sys, numpy as np, xai
from tests.test_e2e import tab_model, BG
ep, how = sys.argv[1], sys.argv[2]
if how == "frame":
    import pandas as pd
    bg = pd.DataFrame(BG, columns=["a", "b", "c", "d"])
else:
    bg = np.array(BG)
xai.serve(tab_model, ep, kind="tabular", classes=["f", "minus_f"], background=bg, log=False)
"""


class ServedBackground(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        xaid = xaid_or_skip()
        cls.stack = st = Stack(with_nb=False)
        for name in ("arr", "frame"):
            st.ep[name] = "ipc://%s/%s.sock" % (st.dir, name)
        with open(st.conf, "a") as f:          # no background lines for these two
            f.write("model arr = tabular@%s\nmodel frame = tabular@%s\n"
                    % (st.ep["arr"], st.ep["frame"]))
        try:
            env = dict(os.environ, PYTHONPATH=PKG, OPENBLAS_NUM_THREADS="1")
            for name in ("arr", "frame"):
                st.spawn(name, [sys.executable, "-c", SERVE_BG, st.ep[name], name], env)
            st.start(xaid, models=("tab",))
            st.wait_ready(["tab", "arr", "frame"])
        except BaseException:
            st.stop()
            raise
        cls.client = st.client

    @classmethod
    def tearDownClass(cls):
        cls.stack.stop()

    def test_info_background_gives_the_same_values_as_the_csv(self):
        x = [1.0, 2.0, 3.0, 4.0]
        ref = self.client.explain("tab", "kernelshap", row=x, seed=7, target=0)
        for name in ("arr", "frame"):
            got = self.client.explain(name, "kernelshap", row=x, seed=7, target=0)
            self.assertEqual(got["values"].tobytes(), ref["values"].tobytes(), name)
            self.assertEqual(got["base_value"], ref["base_value"], name)
        np.testing.assert_allclose(ref["values"], W * (np.array(x) - BG.mean(axis=0)), atol=1e-12)
        models = {m["name"]: m for m in self.client.models()}
        self.assertEqual(models["arr"]["background_rows"], len(BG))
        self.assertEqual(models["frame"]["n_features"], 4)

    def test_a_dataframe_names_the_features(self):
        got = self.client.explain("frame", "occlusion", row=[1, 2, 3, 4])
        self.assertEqual(got["features"], ["a", "b", "c", "d"])

    def test_serve_refuses_a_background_over_the_bound(self):
        with self.assertRaises(ValueError):
            xai.serve(lambda r: r, "ipc:///nonexistent/x.sock", kind="tabular",
                      classes=["y"], background=np.zeros((10001, 2)))
        with self.assertRaises(ValueError):
            xai.serve(lambda r: r, "ipc:///nonexistent/x.sock", kind="text",
                      classes=["y"], background=np.zeros((2, 2)))

    def test_unknown_names_carry_choices_and_suggestion(self):
        with self.assertRaises(xai.XaiError) as cm:
            self.client.explain("tabb", "occlusion", row=[1, 2, 3, 4])
        e = cm.exception
        self.assertEqual(e.code, "unknown_model")
        self.assertEqual(e.suggestion, "tab")
        self.assertEqual(e.choices, ["t", "tab", "slow", "arr", "frame"])
        with self.assertRaises(xai.XaiError) as cm:
            self.client.explain("tab", "kernelshap", row=[1, 2, 3, 4], params={"nsample": 5})
        self.assertEqual(cm.exception.suggestion, "nsamples")
        self.assertEqual(cm.exception.choices[:3], ["seed", "target", "nsamples"])
        with self.assertRaises(xai.XaiError) as cm:
            self.client.explain("tab", "occlusion", row=[1, 2, 3, 4], target="minus-f")
        self.assertEqual(cm.exception.suggestion, "minus_f")
        self.assertEqual(cm.exception.choices, ["f", "minus_f"])

    def test_methods_lists_the_registry(self):
        ms = {m["name"]: m for m in self.client.methods()}
        self.assertEqual(ms["kernelshap"]["for"], "model")
        ks = {p["name"]: p for p in ms["kernelshap"]["params"]}
        self.assertEqual(ks["max_interactions"]["default"], "512")
        self.assertEqual(ks["schedule"]["range"], "improved|shap")
        self.assertEqual(ms["lrp"]["for"], "net")
        # Native methods carry their parameter tables (daemon/nn/params.c).
        lrp = {p["name"]: p for p in ms["lrp"]["params"]}
        self.assertEqual(list(lrp)[:2], ["seed", "target"])
        self.assertEqual(lrp["epsilon"]["default"], "1e-6")
        self.assertEqual(lrp["composite"]["type"], "string")
        ig = {p["name"]: p for p in ms["integrated_gradients"]["params"]}
        self.assertEqual(ig["steps"]["default"], "50")
        self.assertEqual(ig["steps"]["range"], "[1, 100000]")
        sg = {p["name"]: p for p in ms["smoothgrad"]["params"]}
        self.assertEqual(sg["n_samples"]["default"], "50")
        self.assertIn("length", {p["name"] for p in ms["activation_max"]["params"]})


if __name__ == "__main__":
    unittest.main()


class Reload(unittest.TestCase):
    """SIGHUP: models added, removed and changed while jobs run; a bad
    config is refused and the running one kept."""

    def setUp(self):
        self.xaid_bin = xaid_or_skip()
        self.st = st = Stack(with_nb=False)
        st.ep["arr"] = "ipc://%s/arr.sock" % st.dir
        env = dict(os.environ, PYTHONPATH=PKG, OPENBLAS_NUM_THREADS="1")
        st.spawn("arr", [sys.executable, "-c", SERVE_BG, st.ep["arr"], "arr"], env)
        try:
            st.start(self.xaid_bin)
            st.wait_ready(["t", "tab", "slow"])
        except BaseException:
            st.stop()
            raise
        with open(st.conf) as f:
            self.base = f.read()

    def tearDown(self):
        rc, log = self.st.stop()
        self.assertEqual(rc, 0, log)

    def reload(self, text):
        with open(self.st.conf, "w") as f:
            f.write(text)
        self.st.procs["xaid"].send_signal(signal.SIGHUP)

    def wait_models(self, pred, timeout=10.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            names = {m["name"]: m for m in self.st.client.models()}
            if pred(names):
                return names
            time.sleep(0.05)
        self.fail("models never matched; xaid log:\n" + self.st.log("xaid"))

    def slow_job(self):
        return self.st.client.submit("slow", "occlusion", text=" ".join(["free"] * 40))

    def test_models_added_removed_changed_without_dropping_jobs(self):
        c = self.st.client
        job = self.slow_job()             # ~21 calls of 50 ms on `slow`
        lines = [ln for ln in self.base.splitlines() if not ln.startswith("model tab")]
        lines = [ln.replace("model t.timeout_ms = 3000", "model t.timeout_ms = 2500") for ln in lines]
        lines.append("model arr = tabular@%s" % self.st.ep["arr"])
        self.reload("\n".join(lines) + "\n")
        self.wait_models(lambda m: "arr" in m and "tab" not in m and m["arr"]["ready"]
                         and m["t"]["ready"])
        r = c.wait(job, timeout=30)                       # not dropped by the reload
        self.assertEqual(len(r["values"]), 40)
        self.assertTrue(np.all(np.isfinite(r["values"])))
        self.assertEqual(c.explain("arr", "occlusion", row=[1, 2, 3, 4])["model"], "arr")
        self.assertEqual(len(c.explain("t", "occlusion", text="free money")["values"]), 2)
        with self.assertRaises(xai.XaiError) as cm:
            c.explain("tab", "occlusion", row=[1, 2, 3, 4])
        self.assertEqual(cm.exception.code, "unknown_model")
        self.assertIn("arr", cm.exception.choices)
        # A model removed while its job runs: the job still ends with its result.
        job = self.slow_job()
        self.reload("\n".join(ln for ln in lines if not ln.startswith("model slow")) + "\n")
        self.wait_models(lambda m: "slow" not in m)
        self.assertEqual(len(c.wait(job, timeout=30)["values"]), 40)
        self.assertEqual(c.stats()["config"]["reloads"], 2)
        self.assertIn("config reloaded", self.st.log("xaid"))

    def test_limits_apply_to_new_jobs(self):
        c = self.st.client
        self.assertEqual(len(c.explain("t", "occlusion", text="a b c d")["values"]), 4)
        self.reload(self.base + "max_tokens = 3\n")
        end = time.monotonic() + 10
        while c.stats()["config"]["reloads"] < 1 and time.monotonic() < end:
            time.sleep(0.05)
        with self.assertRaises(xai.XaiError) as cm:
            c.explain("t", "occlusion", text="a b c d")
        self.assertEqual(cm.exception.code, "limit_exceeded")
        self.assertEqual(len(c.explain("t", "occlusion", text="a b c")["values"]), 3)

    def test_a_bad_config_keeps_the_running_one(self):
        c = self.st.client
        before = [m["name"] for m in c.models()]
        self.reload(self.base + "model broken = nonsense\n")
        end = time.monotonic() + 10
        while c.stats()["config"]["reload_failures"] < 1 and time.monotonic() < end:
            time.sleep(0.05)
        self.assertEqual(c.stats()["config"]["reload_failures"], 1)
        self.assertEqual([m["name"] for m in c.models()], before)
        self.assertEqual(len(c.explain("t", "occlusion", text="free money")["values"]), 2)
        log = self.st.log("xaid")
        self.assertIn("config reload failed; the running config is kept", log)
        self.assertIn("nonsense", log)
        # bind cannot change without a restart: logged, the running one kept.
        self.reload(self.base.replace(self.st.ep["front"], "ipc://%s/other.sock" % self.st.dir))
        end = time.monotonic() + 10
        while c.stats()["config"]["reloads"] < 1 and time.monotonic() < end:
            time.sleep(0.05)
        self.assertTrue(c.ping()["pong"])
        self.assertIn("bind needs a restart", self.st.log("xaid"))


class PrometheusFromAFakeDaemon(unittest.TestCase):
    """`xai stats --prometheus` on a stats reply with replicas and a model
    name that needs escaping (no such daemon exists yet, so a fake ROUTER
    answers): one sample per model and per replica, labels escaped, every
    family typed once."""

    def test_replicas_and_escaping(self):
        cli = find_binary("xai")
        if cli is None:
            self.skipTest("xai is not built")
        tmp = tempfile.mkdtemp(prefix="xai-prom-")
        ep = "ipc://%s/fake.sock" % tmp
        stats = {"jobs": {"accepted": 5, "queued": 1},
                 "models": {'we"ird\\name': {"ready": True, "calls": 7, "rows": 70,
                                            "replicas": [{"endpoint": "tcp://a:1", "calls": 3},
                                                         {"endpoint": "tcp://b:2", "calls": 4}]},
                            "plain": {"ready": False, "calls": 0}},
                 "uptime_seconds": 1.5}
        sock = zmq.Context.instance().socket(zmq.ROUTER)
        sock.bind(ep)

        def serve():
            if sock.poll(10000):
                ident, frame = sock.recv_multipart()
                req = unpack(frame)
                sock.send_multipart([ident, pack({"event": "reply", "req": req["req"],
                                                  "stats": stats})])

        t = threading.Thread(target=serve, daemon=True)
        t.start()
        try:
            r = subprocess.run([cli, "--endpoint", ep, "stats", "--prometheus"],
                               capture_output=True, text=True, timeout=30)
        finally:
            t.join(15)
            sock.close(0)
            shutil.rmtree(tmp, ignore_errors=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        name = 'model="we\\"ird\\\\name"'
        self.assertIn("xaid_model_calls_total{%s} 7" % name, lines)
        self.assertIn('xaid_model_calls_total{%s,replica="tcp://a:1"} 3' % name, lines)
        self.assertIn('xaid_model_calls_total{%s,replica="tcp://b:2"} 4' % name, lines)
        self.assertIn('xaid_model_calls_total{model="plain"} 0', lines)
        self.assertIn('xaid_model_ready{model="plain"} 0', lines)
        self.assertIn("xaid_jobs_accepted_total 5", lines)
        self.assertIn("xaid_jobs_queued 1", lines)
        self.assertIn("xaid_uptime_seconds 1.5", lines)
        types = [ln for ln in lines if ln.startswith("# TYPE ")]
        self.assertEqual(len(types), len(set(types)))
        self.assertIn("# TYPE xaid_model_calls_total counter", types)
        self.assertIn("# TYPE xaid_model_ready gauge", types)
        self.assertNotIn("replicas", r.stdout.replace("replica=", ""))
