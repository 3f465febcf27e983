"""client.py — a Python client of xaid: submit explanation jobs, collect
their progress and results, and query the daemon (models, stats, ping).

The idea mirrors libxaiclient (include/xai/client.h): one DEALER socket
connected to the daemon's front endpoint, no delimiter frame. Every request
carries a fresh ``req``; its answer (``reply``, ``accepted`` or an ``error``
naming that req) is matched by it. Jobs are asynchronous: submit() returns
the job id from ``accepted``; wait() collects ``progress`` events and the one
final ``result`` or ``error``. Events for jobs nobody is waiting on yet are
kept per job until someone does, so several jobs may be in flight on one
client. A Client is used by one thread at a time.

Failures raise XaiError(code, message) with the daemon's stable code; a wait
that runs out raises XaiError("timeout") and the job goes on.

Several targets. ``target`` may be a class index, a class name, a list of
them or ``"all"``. A result of a list or "all" (docs/PROTOCOL.md, "Several
targets") carries ``targets`` and ``target_names``; decode_result() then
gives ``values`` and ``stderrs`` as k' x d numpy arrays (row t explains
``targets[t]``) and ``fx`` and ``base_value`` as numpy vectors of k' (NaN
where the daemon sent nil). A single-target result keeps its shape: d
values, scalar fx and base_value. per_target() walks both forms alike.
"""

import collections
import itertools
import time

import numpy as np
import zmq

from .protocol import XaiError, decode_matrix, is_matrix, pack, unpack

_DECODED = ("values", "stderrs")


def _decode_array(x):
    """A result array (nested numbers, a binary matrix, or a list of rows
    that are either) as numpy float64; nil entries become NaN."""
    if is_matrix(x):
        a = decode_matrix(x, "result")
        shape = x.get("shape")
        return a.reshape(shape[0]) if len(shape) == 1 else a
    if isinstance(x, (list, tuple)) and any(is_matrix(e) or isinstance(e, (list, tuple))
                                            for e in x):
        return np.stack([_decode_array(e) for e in x]) if x else np.zeros((0, 0))
    return np.asarray([np.nan if e is None else e for e in x], dtype=np.float64)


def decode_result(result):
    """The result map with values/stderrs as numpy arrays (stderrs may be
    None): d values for one target; for several (a "targets" key) k' x d
    matrices, and fx and base_value as vectors of k'."""
    out = dict(result)
    for key in _DECODED:
        if out.get(key) is not None:
            out[key] = _decode_array(out[key])
    if out.get("targets") is not None:
        for key in ("fx", "base_value"):
            if out.get(key) is not None:
                out[key] = _decode_array(out[key])
    return out


def per_target(result):
    """The rows of a decoded result, for one target or several alike: a list
    of dicts {target, target_name, values, stderrs, fx, base_value}, one per
    explained target in the order asked."""
    if result.get("targets") is None:
        return [{k: result.get(k) for k in
                 ("target", "target_name", "values", "stderrs", "fx", "base_value")}]
    names = result.get("target_names") or [None] * len(result["targets"])
    se = result.get("stderrs")
    return [{"target": t, "target_name": names[i], "values": result["values"][i],
             "stderrs": None if se is None else se[i], "fx": float(result["fx"][i]),
             "base_value": float(result["base_value"][i])}
            for i, t in enumerate(result["targets"])]


def _target_param(target):
    """A class index, a class name, "all", or a list of indices and names."""
    if isinstance(target, (list, tuple)):
        return [t if isinstance(t, str) else int(t) for t in target]
    return target if isinstance(target, str) else int(target)


class Client:
    """A connection to xaid's front endpoint, e.g. ``ipc:///tmp/xaid.sock``."""

    def __init__(self, endpoint, timeout=5.0, context=None):
        self.endpoint = endpoint
        self.timeout = timeout           # seconds, for replies to requests
        self._ctx = context or zmq.Context.instance()
        self._sock = self._ctx.socket(zmq.DEALER)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.connect(endpoint)
        self._reqs = itertools.count(1)
        self._replies = {}                                  # req -> message
        self._events = collections.defaultdict(collections.deque)  # job -> events

    def close(self):
        if self._sock is not None:
            self._sock.close(0)
            self._sock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- transport ---------------------------------------------------------

    def _recv_one(self, deadline):
        """Receives and files one message; False when the deadline passed."""
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            return False
        ms = -1 if left is None else max(1, int(left * 1000))
        if not self._sock.poll(ms):
            return False
        msg = unpack(self._sock.recv(), check_version=False)
        event, job = msg.get("event"), msg.get("job")
        if job is not None and event in ("progress", "result", "error"):
            self._events[job].append(msg)      # a job's event: kept for wait()
        else:
            self._replies[msg.get("req")] = msg  # accepted, reply, request error
        return True

    def _request(self, op, timeout=None, **fields):
        """Sends one request and returns its answer (reply or accepted)."""
        if self._sock is None:
            raise XaiError("invalid_argument", "the client is closed")
        req = next(self._reqs)
        self._sock.send(pack(dict(fields, op=op, req=req)))
        timeout = self.timeout if timeout is None else timeout
        deadline = None if timeout is None or timeout < 0 else time.monotonic() + timeout
        while req not in self._replies:
            if not self._recv_one(deadline):
                raise XaiError("timeout", "no answer to %s from %s within %.1f s"
                               % (op, self.endpoint, timeout))
        msg = self._replies.pop(req)
        if msg.get("event") == "error":
            raise XaiError(msg.get("code", "internal_error"), msg.get("message", ""))
        return msg

    # ---- jobs --------------------------------------------------------------

    def submit(self, model, method, text=None, row=None, params=None, space=None,
               seed=None, target=None, deadline_ms=None):
        """Sends an explain job; returns its job id once the daemon accepts it.
        target: a class index or name, a list of them, or "all" (several
        targets: see the module docstring)."""
        if (text is None) == (row is None):
            raise XaiError("invalid_argument", "give exactly one of text and row")
        if text is not None:
            inp = {"text": text}
        else:
            inp = {"row": [float(x) for x in np.asarray(row, dtype=np.float64).ravel()]}
        params = dict(params or {})
        if seed is not None:
            params["seed"] = int(seed)
        if target is not None:
            params["target"] = _target_param(target)
        fields = {"model": model, "method": method, "input": inp, "params": params}
        if space:
            fields["space"] = space
        if deadline_ms is not None:
            fields["deadline_ms"] = int(deadline_ms)
        msg = self._request("explain", **fields)
        if msg.get("event") != "accepted" or not isinstance(msg.get("job"), int):
            raise XaiError("bad_request", "expected accepted, got %r" % (msg.get("event"),))
        return msg["job"]

    def wait(self, job, timeout=None, progress=None):
        """Waits for the job's result (decoded); raises XaiError if it failed,
        XaiError("timeout") if it has not ended within `timeout` seconds (None:
        forever). progress(fraction, stats) is called for progress events."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            queue = self._events.get(job)
            while queue:
                msg = queue.popleft()
                event = msg.get("event")
                if event == "progress":
                    if progress is not None:
                        progress(msg.get("progress", 0.0), msg.get("stats", {}))
                    continue
                del self._events[job]
                if event == "result":
                    return decode_result(msg.get("result", {}))
                raise XaiError(msg.get("code", "internal_error"), msg.get("message", ""))
            if not self._recv_one(deadline):
                raise XaiError("timeout", "job %d has not ended within %.1f s" % (job, timeout))

    def explain(self, model, method, text=None, row=None, params=None, space=None,
                seed=None, target=None, deadline_ms=None, timeout=120.0, progress=None):
        """submit() then wait(): the job's result map, values decoded."""
        job = self.submit(model, method, text=text, row=row, params=params, space=space,
                          seed=seed, target=target, deadline_ms=deadline_ms)
        try:
            return self.wait(job, timeout=timeout, progress=progress)
        except KeyboardInterrupt:
            try:
                self.cancel(job)
            finally:
                raise

    def cancel(self, job):
        """Asks the daemon to cancel a job (it then ends with `cancelled`)."""
        return bool(self._request("cancel", job=int(job)).get("ok", False))

    def status(self, job):
        """{"state": ..., "progress": ...} of a job."""
        msg = self._request("status", job=int(job))
        return {"state": msg.get("state"), "progress": msg.get("progress")}

    # ---- daemon ------------------------------------------------------------

    def models(self):
        """The configured models: a list of maps (name, kind, ready, classes...)."""
        return self._request("models").get("models", [])

    def stats(self):
        """The daemon's counters: {"jobs": ..., "cache": ..., "models": ...}."""
        return self._request("stats").get("stats", {})

    def cache_clear(self, model=None):
        """Drops the daemon's cached outputs of `model` (all models if None);
        returns how many entries were removed."""
        fields = {} if model is None else {"model": str(model)}
        return int(self._request("cache_clear", **fields).get("removed", 0))

    def ping(self, timeout=None):
        """The reply to ping ({"pong": True, "version": ...}) plus "seconds"."""
        t0 = time.monotonic()
        msg = self._request("ping", timeout=timeout)
        return {"pong": msg.get("pong"), "version": msg.get("version"),
                "seconds": time.monotonic() - t0}
