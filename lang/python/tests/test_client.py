"""test_client.py — xai.Client against a scripted stand-in for xaid's front
socket (a ROUTER in a thread), so the client's request matching, event
queueing per job, progress callbacks, error mapping and timeouts are checked
independently of the daemon. test_e2e.py runs the client against real xaid.
"""

import shutil
import tempfile
import threading
import unittest

import numpy as np
import zmq

import xai
from xai.protocol import pack, unpack


class FakeDaemon(threading.Thread):
    """Answers the front protocol from a script; records what it received."""

    def __init__(self, endpoint):
        super().__init__(daemon=True)
        self.sock = zmq.Context.instance().socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.bind(endpoint)
        self.stop = threading.Event()
        self.received = []
        self.next_job = 100
        self.held = []          # (ident, job) of jobs answered later, out of order

    def send(self, ident, **msg):
        self.sock.send_multipart([ident, pack(msg)])

    def run(self):
        while not self.stop.is_set():
            if not self.sock.poll(50):
                continue
            ident, frame = self.sock.recv_multipart()
            msg = unpack(frame)
            self.received.append(msg)
            self.answer(ident, msg)
        self.sock.close(0)

    def answer(self, ident, msg):
        op, req = msg["op"], msg["req"]
        if op == "ping":
            self.send(ident, event="reply", req=req, pong=True, version="0.1.0")
        elif op == "models":
            self.send(ident, event="reply", req=req, models=[{"name": "m", "ready": True}])
        elif op == "stats":
            self.send(ident, event="reply", req=req, stats={"jobs": {"done": 1}})
        elif op == "status":
            self.send(ident, event="reply", req=req, state="running", progress=0.5)
        elif op == "cancel":
            self.send(ident, event="reply", req=req, ok=True)
        elif op == "explain":
            self.explain(ident, msg)

    def explain(self, ident, msg):
        req, model = msg["req"], msg["model"]
        if model == "nope":
            self.send(ident, event="error", req=req, code="unknown_model", message="no nope")
            return
        job = self.next_job
        self.next_job += 1
        self.send(ident, event="accepted", req=req, job=job)
        if model == "slow":
            return
        if model == "held":                       # answered after the next job
            self.held.append((ident, job))
            return
        if model == "fail":
            self.send(ident, event="error", job=job, req=req, code="model_unavailable",
                      message="model fail is down")
            return
        self.send(ident, event="progress", job=job, progress=0.25, stats={"model_calls": 1})
        self.send(ident, event="progress", job=job, progress=0.75, stats={"model_calls": 2})
        self.send(ident, event="result", job=job, result=self.result(msg))
        for h_ident, h_job in self.held:
            self.send(h_ident, event="result", job=h_job,
                      result={"method": "held", "values": [float(h_job)]})
        self.held = []

    @staticmethod
    def result(msg):
        target = (msg.get("params") or {}).get("target")
        if isinstance(target, list) or target == "all":
            return FakeDaemon.multi_result(msg, target)
        # echoes the request so the test sees what the client sent
        vals = xai.encode_matrix(np.array([0.5, -0.25, 2.0]))
        vals["shape"] = [3]
        return {"method": msg["method"], "model": msg["model"], "values": vals,
                "stderrs": [0.1, 0.2, 0.3], "base_value": 0.1, "fx": 0.9,
                "features": ["a", "b", "c"], "echo_params": msg.get("params"),
                "echo_input": msg["input"]}


    @staticmethod
    def multi_result(msg, target):
        # the matrix form of docs/PROTOCOL.md: rows as binary vectors (as
        # xaid sends them) for the values, plain lists for the stderrs
        rows = [xai.encode_matrix(np.array([0.5, -0.25, 2.0]) * (t + 1)) for t in range(2)]
        for r in rows:
            r["shape"] = [3]
        return {"method": msg["method"], "targets": [1, 0], "target_names": ["spam", None],
                "target": 1, "target_name": "spam", "fx": [0.9, 0.1], "base_value": [0.2, None],
                "values": rows, "stderrs": [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]],
                "features": ["a", "b", "c"], "echo_params": msg.get("params")}


class ClientAgainstFake(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="xai-py-")
        ep = "ipc://%s/front.sock" % self.dir
        self.fake = FakeDaemon(ep)
        self.fake.start()
        self.client = xai.Client(ep, timeout=5.0)

    def tearDown(self):
        self.client.close()
        self.fake.stop.set()
        self.fake.join(5)
        shutil.rmtree(self.dir, ignore_errors=True)

    def test_replies(self):
        self.assertTrue(self.client.ping()["pong"])
        self.assertEqual(self.client.ping()["version"], "0.1.0")
        self.assertEqual(self.client.models(), [{"name": "m", "ready": True}])
        self.assertEqual(self.client.stats(), {"jobs": {"done": 1}})
        self.assertEqual(self.client.status(5), {"state": "running", "progress": 0.5})
        self.assertTrue(self.client.cancel(5))
        self.assertEqual(self.fake.received[-1]["job"], 5)

    def test_explain_decodes_and_reports_progress(self):
        seen = []
        r = self.client.explain("m", "occlusion", text="hi there", seed=3, target="spam",
                                params={"window": 2}, progress=lambda f, s: seen.append(f))
        np.testing.assert_array_equal(r["values"], [0.5, -0.25, 2.0])
        self.assertEqual(r["values"].shape, (3,))
        np.testing.assert_array_equal(r["stderrs"], [0.1, 0.2, 0.3])
        self.assertEqual(seen, [0.25, 0.75])
        self.assertEqual(r["echo_params"], {"window": 2, "seed": 3, "target": "spam"})
        self.assertEqual(r["echo_input"], {"text": "hi there"})

    def test_several_targets_decode_to_matrices(self):
        r = self.client.explain("m", "occlusion", text="x", target=["spam", 0])
        self.assertEqual(r["echo_params"], {"target": ["spam", 0]})
        self.assertEqual(r["values"].shape, (2, 3))
        np.testing.assert_array_equal(r["values"][1], [1.0, -0.5, 4.0])
        self.assertEqual(r["stderrs"].shape, (2, 3))
        np.testing.assert_array_equal(r["fx"], [0.9, 0.1])
        self.assertEqual(r["base_value"][0], 0.2)
        self.assertTrue(np.isnan(r["base_value"][1]))
        rows = xai.per_target(r)
        self.assertEqual([t["target"] for t in rows], [1, 0])
        self.assertEqual([t["target_name"] for t in rows], ["spam", None])
        np.testing.assert_array_equal(rows[1]["stderrs"], [0.4, 0.5, 0.6])
        r = self.client.explain("m", "occlusion", text="x", target="all")
        self.assertEqual(r["echo_params"], {"target": "all"})
        one = self.client.explain("m", "occlusion", text="x", target=1)
        rows = xai.per_target(one)
        self.assertEqual(len(rows), 1)
        np.testing.assert_array_equal(rows[0]["values"], [0.5, -0.25, 2.0])
        self.assertEqual(rows[0]["fx"], 0.9)

    def test_row_input(self):
        r = self.client.explain("m", "occlusion", row=np.array([1, 2.5]))
        self.assertEqual(r["echo_input"], {"row": [1.0, 2.5]})
        with self.assertRaises(xai.XaiError) as cm:
            self.client.submit("m", "occlusion")
        self.assertEqual(cm.exception.code, "invalid_argument")

    def test_errors_map_to_codes(self):
        with self.assertRaises(xai.XaiError) as cm:
            self.client.explain("nope", "occlusion", text="x")
        self.assertEqual((cm.exception.code, cm.exception.message), ("unknown_model", "no nope"))
        with self.assertRaises(xai.XaiError) as cm:
            self.client.explain("fail", "occlusion", text="x")
        self.assertEqual(cm.exception.code, "model_unavailable")
        self.assertEqual(cm.exception.number, 10)
        self.assertTrue(self.client.ping()["pong"])      # nothing left queued

    def test_wait_timeout_leaves_job_running(self):
        job = self.client.submit("slow", "occlusion", text="x")
        with self.assertRaises(xai.XaiError) as cm:
            self.client.wait(job, timeout=0.2)
        self.assertEqual(cm.exception.code, "timeout")

    def test_jobs_out_of_order(self):
        a = self.client.submit("held", "occlusion", text="x")
        b = self.client.submit("m", "occlusion", text="y")   # releases a's result too
        rb = self.client.wait(b, timeout=5)
        ra = self.client.wait(a, timeout=5)
        self.assertEqual(rb["model"], "m")
        np.testing.assert_array_equal(ra["values"], [float(a)])

    def test_no_daemon_times_out(self):
        c = xai.Client("ipc://%s/nobody.sock" % self.dir, timeout=0.2)
        self.addCleanup(c.close)
        with self.assertRaises(xai.XaiError) as cm:
            c.ping()
        self.assertEqual(cm.exception.code, "timeout")


if __name__ == "__main__":
    unittest.main()
