"""xai — Python side of xaid, the daemon that explains black-box models.

* ``xai.serve(predict_fn, endpoint, kind, classes)`` serves a model to xaid
  (server.py, the model adapter);
* ``xai.Client(endpoint)`` asks xaid for explanations (client.py);
* ``xai.XaiError`` carries the protocol's stable error codes (protocol.py).

The wire contract is docs/PROTOCOL.md. Needs pyzmq, msgpack and numpy
(Debian: python3-zmq, python3-msgpack, python3-numpy).
"""

try:
    import msgpack  # noqa: F401
    import numpy  # noqa: F401
    import zmq  # noqa: F401
except ImportError as _e:  # say which Debian packages bring them
    raise ImportError(
        "xai needs pyzmq, msgpack and numpy (missing: %s). On Debian: "
        "apt-get install python3-zmq python3-msgpack python3-numpy, then use /usr/bin/python3 "
        "or a venv made with --system-site-packages" % (_e.name,)) from _e

from .protocol import ERROR_CODES, VERSION, XaiError, decode_matrix, encode_matrix
from .server import serve, serve_in_thread
from .client import Client, decode_result, per_target

__version__ = "0.1.0"
__all__ = ["serve", "serve_in_thread", "Client", "XaiError", "encode_matrix",
           "decode_matrix", "decode_result", "per_target", "ERROR_CODES", "VERSION"]
