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
from typing import (Any, Callable, Deque, Dict, Iterable, Iterator, List, Mapping, Optional,
                    Tuple, Union)

import numpy as np
import numpy.typing as npt
import zmq

from .protocol import Message, XaiError, decode_matrix, is_matrix, pack, unpack

Progress = Callable[[float, Dict[str, Any]], None]
"""progress(fraction, stats): called for each progress event of a job."""

_DECODED = ("values", "stderrs")


def _decode_array(x: Any) -> np.ndarray:
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


def decode_result(result: Mapping[str, Any]) -> Dict[str, Any]:
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


def per_target(result: Mapping[str, Any]) -> List[Dict[str, Any]]:
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


def _target_param(target: Any) -> Any:
    """A class index, a class name, "all", or a list of indices and names."""
    if isinstance(target, (list, tuple)):
        return [t if isinstance(t, str) else int(t) for t in target]
    return target if isinstance(target, str) else int(target)


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
               target: Union[int, str, List[Union[int, str]], None] = None, deadline_ms: Optional[int] = None) -> int:
        """Sends an explain job; returns its job id once the daemon accepts it.
        target: a class index or name, a list of them, or "all" (several
        targets: see the module docstring)."""
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
            params["target"] = _target_param(target)
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
                target: Union[int, str, List[Union[int, str]], None] = None, deadline_ms: Optional[int] = None,
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

    # ---- many jobs ----------------------------------------------------------

    def _wait_any(self, jobs: List[int], timeout: float) -> Optional[Tuple[int, Dict[str, Any]]]:
        """The first of `jobs` to end within `timeout` s: (job, msg) or None."""
        deadline = time.monotonic() + timeout
        while True:
            for job in jobs:
                queue = self._events.get(job)
                while queue:
                    msg = queue.popleft()
                    if msg.get("event") in ("result", "error"):
                        del self._events[job]
                        return job, msg
            if not self._recv_one(deadline):
                return None

    def _window(self) -> int:
        """workers + min(workers, max_queue) from stats (4 if not said)."""
        try:
            jobs = self.stats().get("jobs", {})
        except XaiError:
            return 4
        w = int(jobs.get("workers", 0))
        q = int(jobs.get("max_queue", w))
        return max(1, w + min(w, q)) if w > 0 else 4

    def explain_many(self, model: str, method: str, inputs: Iterable[Union[str, Any]],
                     params: Optional[Mapping[str, Any]] = None,
                     space: Optional[Mapping[str, Any]] = None, seed: Optional[int] = None,
                     target: Optional[Union[int, str, List[Union[int, str]]]] = None,
                     window: int = 0, max_retries: int = 4, backoff: float = 0.1,
                     ordered: bool = True,
                     progress: Optional[Callable[[int, int, int], None]] = None,
                     job_timeout: Optional[float] = None,
                     ) -> Iterator[Tuple[int, Union[Dict[str, Any], "XaiError"]]]:
        """Explains many inputs with a window of jobs in flight; yields
        (index, result) — or (index, XaiError) for an input that failed —
        in input order (ordered=True) or as they complete.

        inputs: texts (str) or rows (sequences of numbers); each may also be
        a dict {"text"|"row": ..., "params": {...}} for per-input params.
        The window, back-off and retries match libxaiclient's
        xai_client_explain_many: window 0 is sized from the daemon's stats;
        `busy` backs off (doubling from `backoff` s to 1 s) and submits
        again, never an error; `model_unavailable` is retried `max_retries`
        times (back-off doubling to 5 s), then yielded as that input's
        error. progress(done, total, errors) after each completion. Closing
        the iterator early (or Ctrl-C) cancels the jobs in flight."""
        items = list(inputs)
        n = len(items)
        win = window or self._window()
        fly: Dict[int, Tuple[int, float]] = {}       # job -> (index, submitted)
        waiting: List[Tuple[float, int]] = []        # (not_before, index)
        tries = [0] * n
        ready: Dict[int, Any] = {}                   # index -> outcome
        cursor = next_out = done = errors = 0
        busy = 0.0

        def request(i: int) -> Dict[str, Any]:
            it = items[i]
            kw = dict(it) if isinstance(it, dict) else ({"text": it} if isinstance(it, str) else {"row": it})
            p = dict(params or {})
            p.update(kw.pop("params", {}) or {})
            return dict(kw, params=p, space=space, seed=seed, target=target)

        def finish(i: int, outcome: Any) -> None:
            nonlocal done, errors
            done += 1
            errors += isinstance(outcome, XaiError)
            if progress is not None:
                progress(done, n, errors)
            ready[i] = outcome

        def retry_unavailable(i: int, err: XaiError) -> None:
            if tries[i] < max_retries:
                waiting.append((time.monotonic() + min(backoff * 2 ** tries[i], 5.0), i))
                tries[i] += 1
            else:
                finish(i, err)

        try:
            while done < n or ready:
                # hand out what is ready
                if ordered:
                    while next_out in ready:
                        yield next_out, ready.pop(next_out)
                        next_out += 1
                else:
                    for i in sorted(ready):
                        yield i, ready.pop(i)
                if done >= n:
                    continue
                # fill the window
                now = time.monotonic()
                while len(fly) < win:
                    due = [w for w in waiting if w[0] <= now]
                    if due:
                        waiting.remove(due[0])
                        i = due[0][1]
                    elif cursor < n:
                        i, cursor = cursor, cursor + 1
                    else:
                        break
                    try:
                        job = self.submit(model, method, **request(i))
                        fly[job] = (i, now)
                        busy = 0.0
                    except XaiError as e:
                        if e.code in ("busy", "shutting_down"):
                            busy = min(2 * busy if busy else backoff, 1.0)
                            waiting.append((now + busy, i))
                            break
                        if e.code == "model_unavailable":
                            retry_unavailable(i, e)
                        elif e.code == "timeout":
                            raise
                        else:
                            finish(i, e)
                if not fly:
                    time.sleep(0.02)
                    continue
                got = self._wait_any(list(fly), 0.2)
                if got is None:
                    if job_timeout is not None:
                        for job, (i, t0) in list(fly.items()):
                            if time.monotonic() - t0 > job_timeout:
                                del fly[job]
                                self.cancel(job)
                                finish(i, XaiError("timeout", "no result within %.1f s; job cancelled"
                                                   % job_timeout))
                    continue
                job, msg = got
                i, _ = fly.pop(job)
                if msg.get("event") == "result":
                    finish(i, decode_result(msg.get("result", {})))
                else:
                    err = XaiError(msg.get("code", "internal_error"), msg.get("message", ""))
                    if err.code == "model_unavailable":
                        retry_unavailable(i, err)
                    else:
                        finish(i, err)
        finally:
            for job in fly:
                try:
                    self.cancel(job)
                except XaiError:
                    pass

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

    def cache_clear(self, model: Optional[str] = None) -> int:
        """Drops the daemon's cached outputs of `model` (all models if None);
        returns how many entries were removed."""
        fields: Dict[str, Any] = {} if model is None else {"model": str(model)}
        return int(self._request("cache_clear", **fields).get("removed", 0))

    def ping(self, timeout: Optional[float] = None) -> Dict[str, Any]:
        """The reply to ping ({"pong": True, "version": ...}) plus "seconds"."""
        t0 = time.monotonic()
        msg = self._request("ping", timeout=timeout)
        return {"pong": msg.get("pong"), "version": msg.get("version"),
                "seconds": time.monotonic() - t0}
