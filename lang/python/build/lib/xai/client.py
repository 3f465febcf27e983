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
"""

import collections
import itertools
import time
from typing import Any, Callable, Deque, Dict, List, Mapping, Optional, Union

import numpy as np
import numpy.typing as npt
import zmq

from .protocol import Message, XaiError, decode_matrix, is_matrix, pack, unpack

Progress = Callable[[float, Dict[str, Any]], None]
"""progress(fraction, stats): called for each progress event of a job."""

_DECODED = ("values", "stderrs")


def _decode_array(x: Any) -> np.ndarray:
    """A result array (nested numbers or a binary matrix) as numpy float64."""
    if is_matrix(x):
        a = decode_matrix(x, "result")
        shape = x.get("shape")
        return a.reshape(shape[0]) if len(shape) == 1 else a
    return np.asarray(x, dtype=np.float64)


def decode_result(result: Mapping[str, Any]) -> Dict[str, Any]:
    """The result map with values/stderrs as numpy arrays (stderrs may be None)."""
    out = dict(result)
    for key in _DECODED:
        if out.get(key) is not None:
            out[key] = _decode_array(out[key])
    return out


class Client:
    """A connection to xaid's front endpoint, e.g. ``ipc:///tmp/xaid.sock``."""

    def __init__(self, endpoint: str, timeout: Optional[float] = 5.0,
                 context: Optional[zmq.Context] = None) -> None:
        self.endpoint = endpoint
        self.timeout = timeout           # seconds, for replies to requests
        self._ctx = context or zmq.Context.instance()
        self._sock: Optional[zmq.Socket] = self._ctx.socket(zmq.DEALER)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.connect(endpoint)
        self._reqs = itertools.count(1)
        self._replies: Dict[Any, Message] = {}               # req -> message
        self._events: Dict[int, Deque[Message]] = collections.defaultdict(collections.deque)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close(0)
            self._sock = None

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ---- transport ---------------------------------------------------------

    def _recv_one(self, deadline: Optional[float]) -> bool:
        """Receives and files one message; False when the deadline passed."""
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            return False
        ms = -1 if left is None else max(1, int(left * 1000))
        if self._sock is None:
            raise XaiError("invalid_argument", "the client is closed")
        if not self._sock.poll(ms):
            return False
        msg = unpack(self._sock.recv(), check_version=False)
        event, job = msg.get("event"), msg.get("job")
        if job is not None and event in ("progress", "result", "error"):
            self._events[job].append(msg)      # a job's event: kept for wait()
        else:
            self._replies[msg.get("req")] = msg  # accepted, reply, request error
        return True

    def _request(self, op: str, timeout: Optional[float] = None, **fields: Any) -> Message:
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
                               % (op, self.endpoint, timeout or 0))
        msg = self._replies.pop(req)
        if msg.get("event") == "error":
            raise XaiError.from_event(msg)
        return msg

    # ---- jobs --------------------------------------------------------------

    def submit(self, model: str, method: str, text: Optional[str] = None,
               row: Optional[npt.ArrayLike] = None, params: Optional[Mapping[str, Any]] = None,
               space: Optional[Mapping[str, Any]] = None, seed: Optional[int] = None,
               target: Union[int, str, None] = None, deadline_ms: Optional[int] = None) -> int:
        """Sends an explain job; returns its job id once the daemon accepts it."""
        if (text is None) == (row is None):
            raise XaiError("invalid_argument", "give exactly one of text and row")
        inp: Dict[str, Any]
        if text is not None:
            inp = {"text": text}
        else:
            inp = {"row": [float(x) for x in np.asarray(row, dtype=np.float64).ravel()]}
        params = dict(params or {})
        if seed is not None:
            params["seed"] = int(seed)
        if target is not None:
            params["target"] = target if isinstance(target, str) else int(target)
        fields: Dict[str, Any] = {"model": model, "method": method, "input": inp, "params": params}
        if space:
            fields["space"] = space
        if deadline_ms is not None:
            fields["deadline_ms"] = int(deadline_ms)
        msg = self._request("explain", **fields)
        if msg.get("event") != "accepted" or not isinstance(msg.get("job"), int):
            raise XaiError("bad_request", "expected accepted, got %r" % (msg.get("event"),))
        return int(msg["job"])

    def wait(self, job: int, timeout: Optional[float] = None,
             progress: Optional[Progress] = None) -> Dict[str, Any]:
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
                raise XaiError.from_event(msg)
            if not self._recv_one(deadline):
                raise XaiError("timeout", "job %d has not ended within %.1f s" % (job, timeout or 0))

    def explain(self, model: str, method: str, text: Optional[str] = None,
                row: Optional[npt.ArrayLike] = None, params: Optional[Mapping[str, Any]] = None,
                space: Optional[Mapping[str, Any]] = None, seed: Optional[int] = None,
                target: Union[int, str, None] = None, deadline_ms: Optional[int] = None,
                timeout: Optional[float] = 120.0,
                progress: Optional[Progress] = None) -> Dict[str, Any]:
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

    def cancel(self, job: int) -> bool:
        """Asks the daemon to cancel a job (it then ends with `cancelled`)."""
        return bool(self._request("cancel", job=int(job)).get("ok", False))

    def status(self, job: int) -> Dict[str, Any]:
        """{"state": ..., "progress": ...} of a job."""
        msg = self._request("status", job=int(job))
        return {"state": msg.get("state"), "progress": msg.get("progress")}

    # ---- daemon ------------------------------------------------------------

    def models(self) -> List[Dict[str, Any]]:
        """The configured models: a list of maps (name, kind, ready, classes...)."""
        return list(self._request("models").get("models", []))

    def methods(self) -> List[Dict[str, Any]]:
        """Every method the daemon runs: maps of name, doc, for ("model" or
        "net") and params (name, type, default, range, doc)."""
        return list(self._request("methods").get("methods", []))

    def stats(self) -> Dict[str, Any]:
        """The daemon's counters: {"jobs": ..., "cache": ..., "models": ...}."""
        return dict(self._request("stats").get("stats", {}))

    def ping(self, timeout: Optional[float] = None) -> Dict[str, Any]:
        """The reply to ping ({"pong": True, "version": ...}) plus "seconds"."""
        t0 = time.monotonic()
        msg = self._request("ping", timeout=timeout)
        return {"pong": msg.get("pong"), "version": msg.get("version"),
                "seconds": time.monotonic() - t0}
