"""test_service.py — what serve() hands the daemon, and what the daemon
hands clients back, end to end (xaid and xai.serve() processes):

* a tabular model served with its background (a numpy array, or a pandas
  DataFrame whose columns name the features) and configured with only
  `model NAME = tabular@ENDPOINT` gives the same KernelSHAP values, bit for
  bit, as the same model configured with the same rows as a CSV;
* errors about unknown names carry `choices` and `suggestion`
  (XaiError.choices / .suggestion), and Client.methods() lists the
  registry.

The tabular model is test_e2e's tab_model (f = B0 + W.x, outputs [f, -f])
and BG its background, so the values are also W_i (x_i - mean(BG_i)).
"""

import os
import sys
import unittest

import numpy as np

import xai
from tests.test_e2e import BG, PKG, W, Stack, xaid_or_skip

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


if __name__ == "__main__":
    unittest.main()
