"""server.py — the model adapter: serve a Python predict function to xaid.

``serve(predict_fn, endpoint, kind, classes)`` binds a ZeroMQ ROUTER socket
and answers the model side of docs/PROTOCOL.md section 3:

* ``info``    -> kind, classes, n_outputs, n_features, feature_names, version, and
  for tabular models an optional ``background`` matrix (the rows that stand
  in for removed features), so the daemon needs no CSV for the model;
* ``predict`` -> ``outputs``, an n x k matrix in the binary f64 form.

predict_fn receives a batch — a list of str for text models, an (n, d)
float64 numpy array for tabular ones — and returns an (n, k) array-like.

Invariants: a request is validated before predict_fn sees it; whatever goes
wrong with one request (malformed msgpack, wrong types, an exception in
predict_fn, an output of the wrong shape or with NaN) becomes an ``error``
answer for that request and the loop goes on. Each answer goes back in the
envelope its request came in: ``[identity, "", answer]`` when the sender
used an empty delimiter frame (xaid, REQ), ``[identity, answer]`` otherwise.
SIGTERM and SIGINT (when serving from the main thread), or a set ``stop``
event, end the loop; the socket is closed and serve() returns its counters.
"""

import hashlib
import pickle
import signal
import sys
import threading
import time
import traceback
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt
import zmq

from .protocol import (Message, XaiError, decode_matrix, encode_matrix, error_fields, pack,
                       require_version, unpack)

KINDS = ("text", "tabular")
DEFAULT_MAX_MESSAGE_BYTES = 256 << 20
# The background in `info` is bounded so the answer stays small: at most
# this many rows, and this many numbers in all (8 MiB of f64).
MAX_BACKGROUND_ROWS = 10000
MAX_BACKGROUND_VALUES = 1 << 20

PredictFn = Callable[[Any], npt.ArrayLike]
"""predict_fn(batch) -> (n, k) outputs; batch: list of str, or (n, d) float64 array."""


def _names(names: Optional[Sequence[Any]], n: Optional[int], n_what: str,
           names_what: str) -> Tuple[Optional[List[str]], Optional[int]]:
    """(names as str, their count) — checked against n when both are given."""
    if names is None:
        return None, n
    names = [str(x) for x in names]
    if n is not None and n != len(names):
        raise ValueError("%s %d does not match %d %s" % (n_what, n, len(names), names_what))
    return names, len(names)


def model_version(predict_fn: Callable[..., Any]) -> Optional[str]:
    """The default `version` of a served model: "sha256:<hex>" of the pickled
    model — the object a bound method such as ``clf.predict_proba`` belongs
    to, else predict_fn itself — so other weights give another version and
    xaid's cache keeps their outputs apart. None when it cannot be pickled
    (a lambda, a closure): then pass ``version=`` to serve()."""
    target = getattr(predict_fn, "__self__", None)
    if target is None or isinstance(target, type(sys)):
        target = predict_fn
    try:
        blob = pickle.dumps(target, protocol=4)
    except Exception:  # noqa: BLE001 — any pickling failure means "no digest"
        return None
    return "sha256:" + hashlib.sha256(blob).hexdigest()


class _Model:
    """The validated description of the served model."""

    def __init__(self, predict_fn: PredictFn, kind: str, classes: Optional[Sequence[Any]],
                 feature_names: Optional[Sequence[Any]], n_features: Optional[int],
                 n_outputs: Optional[int], background: Any = None,
                 version: Optional[str] = None) -> None:
        if kind not in KINDS:
            raise ValueError("kind must be 'text' or 'tabular', not %r" % (kind,))
        if not callable(predict_fn):
            raise ValueError("predict_fn must be callable")
        classes, n_outputs = _names(classes, n_outputs, "n_outputs", "classes")
        if not n_outputs or n_outputs < 1:
            raise ValueError("give classes (or n_outputs >= 1)")
        bg = None
        if background is not None:
            if kind != "tabular":
                raise ValueError("background is for tabular models")
            if feature_names is None and hasattr(background, "columns"):  # a DataFrame
                feature_names = [str(c) for c in background.columns]
            bg = np.asarray(background, dtype=np.float64)
            if bg.ndim != 2 or bg.shape[0] < 1 or bg.shape[1] < 1:
                raise ValueError("background must be a 2-D array (or DataFrame) of rows")
            if bg.shape[0] > MAX_BACKGROUND_ROWS or bg.size > MAX_BACKGROUND_VALUES:
                raise ValueError("background of %d x %d is over the limit of %d rows and %d "
                                 "numbers; summarize it (e.g. k-means)"
                                 % (bg.shape[0], bg.shape[1], MAX_BACKGROUND_ROWS,
                                    MAX_BACKGROUND_VALUES))
            if not np.all(np.isfinite(bg)):
                raise ValueError("background holds NaN or infinity")
            if n_features is None and feature_names is None:
                n_features = int(bg.shape[1])
        feature_names, n_features = _names(feature_names, n_features, "n_features",
                                           "feature names")
        if bg is not None and n_features != bg.shape[1]:
            raise ValueError("background has %d columns, the model %s features"
                             % (bg.shape[1], n_features))
        self.background = bg
        self.predict_fn, self.kind = predict_fn, kind
        self.classes, self.n_outputs = classes, int(n_outputs)
        self.feature_names, self.n_features = feature_names, n_features
        if version is not None and (not isinstance(version, str) or not 0 < len(version) <= 256):
            raise ValueError("version must be a str of 1 to 256 characters")
        self.version = version if version is not None else model_version(predict_fn)

    def info(self) -> Message:
        out: Message = {"kind": self.kind, "n_outputs": self.n_outputs}
        if self.classes is not None:
            out["classes"] = self.classes
        if self.n_features is not None:
            out["n_features"] = int(self.n_features)
        if self.feature_names is not None:
            out["feature_names"] = self.feature_names
        if self.background is not None:
            out["background"] = encode_matrix(self.background)
        if self.version is not None:
            out["version"] = self.version
        return out

    def batch(self, msg: Message) -> Union[List[str], np.ndarray]:
        """The predict_fn input from a predict request, validated."""
        if self.kind == "text":
            texts = msg.get("texts")
            if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
                raise XaiError("bad_request", "predict: texts must be an array of strings")
            return texts
        if "rows" not in msg:
            raise XaiError("bad_request", "predict: rows is missing")
        rows = decode_matrix(msg["rows"], "rows")
        if self.n_features is not None and rows.shape[0] and rows.shape[1] != self.n_features:
            raise XaiError("bad_request", "predict: rows have %d columns, the model takes %d"
                           % (rows.shape[1], self.n_features))
        return rows

    def predict(self, batch: Union[List[str], np.ndarray]) -> np.ndarray:
        """Calls predict_fn and checks its output is n x k and finite."""
        n = len(batch)
        if n == 0:
            return np.zeros((0, self.n_outputs))
        try:
            out = self.predict_fn(batch)
        except Exception as e:  # the model's own failure, reported, never fatal
            raise XaiError("model_error", "%s: %s" % (type(e).__name__, e)) from None
        try:
            out = np.asarray(out, dtype=np.float64)
        except (TypeError, ValueError) as e:
            raise XaiError("bad_model_output", "output is not numeric: %s" % e) from None
        if out.ndim == 1 and self.n_outputs == 1 and out.shape[0] == n:
            out = out.reshape(n, 1)
        if out.shape != (n, self.n_outputs):
            raise XaiError("bad_model_output", "output has shape %s, expected (%d, %d)"
                           % (out.shape, n, self.n_outputs))
        if not np.all(np.isfinite(out)):
            raise XaiError("bad_model_output", "output holds NaN or infinity")
        return out


def _answer(model: _Model, frame: bytes, max_bytes: int, counters: Dict[str, int]) -> Message:
    """The answer map to one request frame (errors included)."""
    rid = None
    try:
        msg = unpack(frame, max_bytes, check_version=False)
        rid = msg.get("id")
        if not isinstance(rid, int) or isinstance(rid, bool):
            rid = None
            raise XaiError("bad_request", "id must be an integer")
        require_version(msg)
        op = msg.get("op")
        if op == "info":
            return dict(model.info(), id=rid)
        if op != "predict":
            raise XaiError("unknown_op" if isinstance(op, str) else "bad_request",
                           "unknown op %r" % (op,))
        batch = model.batch(msg)
        out = model.predict(batch)
        counters["rows"] += len(batch)
        return {"id": rid, "outputs": encode_matrix(out)}
    except XaiError as e:
        counters["errors"] += 1
        return {"id": rid, "error": error_fields(e.code, e.message)}
    except Exception as e:  # a bug here must not stop the server
        counters["errors"] += 1
        traceback.print_exc(file=sys.stderr)
        return {"id": rid, "error": error_fields("internal_error", str(e))}


def _handle(sock: zmq.Socket, model: _Model, parts: List[bytes], max_bytes: int,
            counters: Dict[str, int]) -> None:
    """Answers one multipart message in the envelope it came in: every frame
    before the last (the identities, and the empty delimiter if any) goes
    back in front of the answer."""
    if len(parts) < 2:
        return
    counters["requests"] += 1
    answer = _answer(model, parts[-1], max_bytes, counters)
    sock.send_multipart(parts[:-1] + [pack(answer)])


def _install_signals(stop: threading.Event) -> Optional[Dict[Any, Any]]:
    """SIGTERM/SIGINT set `stop` (main thread only); returns the old handlers."""
    if threading.current_thread() is not threading.main_thread():
        return None
    old = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        old[sig] = signal.signal(sig, lambda *_: stop.set())
    return old


def serve(predict_fn: PredictFn, endpoint: str, kind: str = "text",
          classes: Optional[Sequence[Any]] = None,
          feature_names: Optional[Sequence[Any]] = None, n_features: Optional[int] = None,
          n_outputs: Optional[int] = None, stop: Optional[threading.Event] = None,
          ready: Optional[threading.Event] = None,
          max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES, log: bool = True,
          background: Any = None, version: Optional[str] = None) -> Dict[str, int]:
    """Serves predict_fn at `endpoint` until SIGTERM/SIGINT or `stop` is set.

    predict_fn(batch) -> (n, k) array; batch is a list of str (kind "text")
    or an (n, d) float64 array (kind "tabular"). `classes` names the k
    outputs (or give n_outputs). `background` (tabular: an (m, d) array or a
    pandas DataFrame, whose columns name the features unless feature_names
    does) travels in the `info` answer, so the daemon needs no CSV for this
    model; at most 10,000 rows and 2^20 numbers. `stop` is an optional threading.Event;
    `ready`, if given, is set once the socket is bound. Returns the counters
    {"requests", "rows", "errors"}. Raises zmq.ZMQError if the bind fails.
    `version` (a str) is the model's identity in the info answer; by default
    model_version(predict_fn), a digest of the pickled model.
    """
    model = _Model(predict_fn, kind, classes, feature_names, n_features, n_outputs, background,
                   version)
    stop = stop or threading.Event()
    counters = {"requests": 0, "rows": 0, "errors": 0}
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.ROUTER)
    sock.setsockopt(zmq.LINGER, 0)
    old = None
    try:
        sock.bind(endpoint)
        old = _install_signals(stop)
        if log:
            print("xai.serve: %s model (%d outputs) at %s"
                  % (kind, model.n_outputs, endpoint), file=sys.stderr, flush=True)
        if ready is not None:
            ready.set()
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)
        while not stop.is_set():
            try:
                if not poller.poll(100):
                    continue
            except zmq.ZMQError as e:   # EINTR from a signal: re-check stop
                if e.errno == zmq.EINTR:  # type: ignore[attr-defined]
                    continue
                raise
            _handle(sock, model, sock.recv_multipart(), max_message_bytes, counters)
    finally:
        if old:
            for sig, h in old.items():
                signal.signal(sig, h)
        sock.close(0)
    if log:
        print("xai.serve: stopped after %(requests)d requests, %(rows)d rows, "
              "%(errors)d errors" % counters, file=sys.stderr, flush=True)
    return counters


def serve_in_thread(predict_fn: PredictFn, endpoint: str, timeout: float = 5.0,
                    **kw: Any) -> Tuple[threading.Thread, threading.Event]:
    """Starts serve() on a daemon thread; returns (thread, stop_event) once
    the socket is bound. For tests and notebooks."""
    stop, ready = threading.Event(), threading.Event()
    kw.setdefault("log", False)
    t = threading.Thread(target=serve, args=(predict_fn, endpoint),
                         kwargs=dict(kw, stop=stop, ready=ready), daemon=True)
    t.start()
    deadline = time.monotonic() + timeout
    while not ready.wait(0.05):
        if not t.is_alive() or time.monotonic() > deadline:
            stop.set()
            raise RuntimeError("xai.serve did not start at %s" % endpoint)
    return t, stop
