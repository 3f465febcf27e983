"""protocol.py — the pieces of the xaid wire protocol shared by the model
adapter (server.py) and the client (client.py): message packing, the matrix
codec, error codes and the exception type.

The contract is docs/PROTOCOL.md. Every message is one ZeroMQ frame holding
one msgpack map with string keys and ``"v": 1``. A matrix travels either as
``{"shape": [n, k], "dtype": "f64"|"f32", "data": <bin, little-endian,
row-major>}`` or as nested arrays of numbers; receivers accept both, senders
here always use the binary f64 form.

Invariants: decode_matrix() never trusts a declared size — the byte length
of ``data`` must equal n * k * width exactly — and always returns a C-contiguous
2-D float64 array it owns (a copy, never a view on the message buffer).
"""

from typing import Any, Dict, Mapping, Optional

import msgpack
import numpy as np
import numpy.typing as npt

VERSION = 1

Message = Dict[str, Any]
"""A decoded protocol message: a map with string keys."""

# Stable error codes (docs/PROTOCOL.md section 4), code -> number.
ERROR_CODES: Dict[str, int] = {
    "out_of_memory": 1, "invalid_argument": 2, "bad_request": 3,
    "limit_exceeded": 4, "invalid_utf8": 5, "bad_pattern": 6,
    "pattern_limit": 7, "model_error": 8, "bad_model_output": 9,
    "model_unavailable": 10, "deadline_exceeded": 11, "cancelled": 12,
    "unknown_model": 13, "unknown_method": 14, "unknown_op": 15,
    "not_found": 16, "busy": 17, "io_error": 18, "bad_format": 19,
    "numeric_error": 20, "unsupported": 21, "shutting_down": 22,
    "unsupported_version": 23, "timeout": 24, "internal_error": 25,
}

_DTYPES: Dict[str, str] = {"f64": "<f8", "f32": "<f4"}


class XaiError(Exception):
    """An error with one of the protocol's stable codes and a message."""

    def __init__(self, code: str, message: str = "",
                 choices: Optional[list] = None, suggestion: Optional[str] = None) -> None:
        super().__init__("%s: %s" % (code, message) if message else code)
        self.code = code
        self.message = message
        # For unknown names (model, method, parameter, class): the valid
        # ones, and the closest when one is close (docs/PROTOCOL.md).
        self.choices = list(choices) if choices else []
        self.suggestion = suggestion

    @classmethod
    def from_event(cls, msg: Mapping[str, Any]) -> "XaiError":
        """The error of an `error` event, its choices and suggestion included."""
        choices = msg.get("choices")
        suggestion = msg.get("suggestion")
        return cls(str(msg.get("code", "internal_error")), str(msg.get("message", "")),
                   [str(c) for c in choices] if isinstance(choices, list) else None,
                   suggestion if isinstance(suggestion, str) else None)

    @property
    def number(self) -> int:
        """The xai_status number of the code (25, internal_error, if unknown)."""
        return ERROR_CODES.get(self.code, 25)


def pack(msg: Mapping[str, Any]) -> bytes:
    """Serializes one message map (adds the version field if missing)."""
    if "v" not in msg:
        msg = dict(msg, v=VERSION)
    out: bytes = msgpack.packb(msg, use_bin_type=True)
    return out


def unpack(frame: bytes, max_bytes: Optional[int] = None, check_version: bool = True) -> Message:
    """Decodes one frame into a map; XaiError(bad_request) if it is not one,
    XaiError(unsupported_version) if its ``v`` is not 1 (when checked).

    msgpack-python checks every declared length against the bytes present,
    so a lying header cannot make it allocate beyond the frame's size.
    """
    if max_bytes is not None and len(frame) > max_bytes:
        raise XaiError("limit_exceeded", "message of %d bytes is over the limit of %d"
                       % (len(frame), max_bytes))
    try:
        msg = msgpack.unpackb(frame, raw=False, strict_map_key=True)
    except (ValueError, msgpack.ExtraData, msgpack.FormatError,
            msgpack.StackError, TypeError) as e:
        raise XaiError("bad_request", "malformed msgpack: %s" % e) from None
    if not isinstance(msg, dict):
        raise XaiError("bad_request", "a message must be a msgpack map")
    if check_version:
        require_version(msg)
    return msg


def require_version(msg: Mapping[str, Any]) -> None:
    """XaiError(unsupported_version) unless msg["v"] is 1."""
    if msg.get("v") != VERSION or isinstance(msg.get("v"), bool):
        raise XaiError("unsupported_version",
                       "protocol version %r is not %d" % (msg.get("v"), VERSION))


def encode_matrix(a: npt.ArrayLike) -> Message:
    """A 2-D (or 1-D: one row) array of numbers in the binary f64 form."""
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 1:
        a = a.reshape(1, -1)
    if a.ndim != 2:
        raise ValueError("a matrix must have 1 or 2 dimensions, not %d" % a.ndim)
    data = np.ascontiguousarray(a, dtype="<f8").tobytes()
    return {"shape": [int(a.shape[0]), int(a.shape[1])], "dtype": "f64", "data": data}


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _decode_bin(m: Mapping[str, Any], what: str) -> np.ndarray:
    shape, dtype, data = m.get("shape"), m.get("dtype", "f64"), m.get("data")
    if (not isinstance(shape, list) or len(shape) not in (1, 2)
            or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0
                       for s in shape)):
        raise XaiError("bad_request", "%s: shape must be [n, k] or [k]" % what)
    if dtype not in _DTYPES:
        raise XaiError("bad_request", "%s: dtype must be f64 or f32, not %r" % (what, dtype))
    if not isinstance(data, (bytes, bytearray)):
        raise XaiError("bad_request", "%s: data must be bin" % what)
    n, k = (1, shape[0]) if len(shape) == 1 else shape
    width = np.dtype(_DTYPES[dtype]).itemsize
    if len(data) != n * k * width:
        raise XaiError("bad_request", "%s: %d data bytes for shape %s of %s"
                       % (what, len(data), shape, dtype))
    a = np.frombuffer(data, dtype=_DTYPES[dtype]).astype(np.float64)
    return a.reshape(n, k)


def _decode_nested(m: list, what: str) -> np.ndarray:
    if not m:
        return np.zeros((0, 0))
    if all(_is_number(x) for x in m):          # a flat list: one row
        return np.array(m, dtype=np.float64).reshape(1, len(m))
    if not all(isinstance(r, list) for r in m):
        raise XaiError("bad_request", "%s: nested arrays must hold rows of numbers" % what)
    k = len(m[0]) if m else 0
    for r in m:
        if len(r) != k:
            raise XaiError("bad_request", "%s: rows of different lengths" % what)
        if not all(_is_number(x) for x in r):
            raise XaiError("bad_request", "%s: a row holds a non-number" % what)
    return np.array(m, dtype=np.float64).reshape(len(m), k)


def decode_matrix(m: Any, what: str = "matrix") -> np.ndarray:
    """An n x k float64 array from either wire form; XaiError(bad_request)
    when the value is neither, or its sizes do not add up."""
    if isinstance(m, dict):
        return _decode_bin(m, what)
    if isinstance(m, list):
        return _decode_nested(m, what)
    raise XaiError("bad_request", "%s must be a matrix map or nested arrays" % what)


def is_matrix(m: Any) -> bool:
    """True for a map in the binary matrix form."""
    return isinstance(m, dict) and "shape" in m and "data" in m


def error_fields(code: str, message: str) -> Message:
    """The `error` member of a model's answer."""
    return {"code": code, "message": message}
