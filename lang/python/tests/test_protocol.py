"""test_protocol.py — the matrix codec and message packing of xai.protocol.

Round trips are exact: f64 values go through the bin form bit for bit, and
f32 data decodes to the float32-rounded values; every malformed matrix
(wrong byte count, bad shape or dtype, ragged nested rows) is refused with
bad_request instead of being guessed at.
"""

import struct
import unittest

import msgpack
import numpy as np

from xai.protocol import XaiError, decode_matrix, encode_matrix, pack, unpack


class MatrixCodec(unittest.TestCase):
    def test_f64_round_trip_is_bit_exact(self):
        rng = np.random.default_rng(7)
        a = rng.normal(size=(5, 3)) * 1e6
        a[0, 0] = -0.0
        a[1, 1] = 5e-324                       # the smallest subnormal
        m = encode_matrix(a)
        self.assertEqual(m["shape"], [5, 3])
        self.assertEqual(m["dtype"], "f64")
        self.assertEqual(len(m["data"]), 5 * 3 * 8)
        b = decode_matrix(msgpack.unpackb(msgpack.packb(m, use_bin_type=True), raw=False))
        self.assertEqual(a.tobytes(), b.tobytes())

    def test_data_is_little_endian_row_major(self):
        m = encode_matrix([[1.0, 2.0], [3.0, 4.0]])
        self.assertEqual(m["data"], struct.pack("<4d", 1.0, 2.0, 3.0, 4.0))

    def test_f32_decodes_to_rounded_values(self):
        vals = [0.1, -2.5, 1e30]
        m = {"shape": [1, 3], "dtype": "f32", "data": struct.pack("<3f", *vals)}
        got = decode_matrix(m)
        want = np.array([vals], dtype=np.float32).astype(np.float64)
        np.testing.assert_array_equal(got, want)

    def test_one_element_shape_is_one_row(self):
        m = {"shape": [3], "dtype": "f64", "data": struct.pack("<3d", 1, 2, 3)}
        np.testing.assert_array_equal(decode_matrix(m), [[1.0, 2.0, 3.0]])
        self.assertEqual(encode_matrix([1.0, 2.0])["shape"], [1, 2])

    def test_nested_arrays_accepted(self):
        got = decode_matrix([[1, 2.5], [3, 4]])
        np.testing.assert_array_equal(got, [[1.0, 2.5], [3.0, 4.0]])
        np.testing.assert_array_equal(decode_matrix([1, 2, 3]), [[1.0, 2.0, 3.0]])
        self.assertEqual(decode_matrix([]).shape, (0, 0))

    def test_empty_matrix(self):
        m = encode_matrix(np.zeros((0, 4)))
        self.assertEqual(m["shape"], [0, 4])
        self.assertEqual(decode_matrix(m).shape, (0, 4))

    def test_malformed_matrices_refused(self):
        bad = [
            {"shape": [2, 2], "dtype": "f64", "data": b"\0" * 31},   # short data
            {"shape": [2, 2], "dtype": "f64", "data": b"\0" * 33},   # long data
            {"shape": [1 << 28, 1 << 28], "dtype": "f64", "data": b""},
            {"shape": [2, -1], "dtype": "f64", "data": b""},
            {"shape": [1, 2, 3], "dtype": "f64", "data": b""},
            {"shape": "2x2", "dtype": "f64", "data": b""},
            {"shape": [1, 1], "dtype": "i32", "data": b"\0" * 4},
            {"shape": [1, 1], "dtype": "f64", "data": "12345678"},
            [[1, 2], [3]],                                         # ragged
            [[1, "x"]],
            [[1, 2], 3],
            [True, False],
            "matrix",
            42,
        ]
        for m in bad:
            with self.subTest(m=repr(m)[:60]):
                with self.assertRaises(XaiError) as cm:
                    decode_matrix(m)
                self.assertEqual(cm.exception.code, "bad_request")


class Messages(unittest.TestCase):
    def test_pack_adds_version_and_round_trips(self):
        msg = unpack(pack({"op": "ping", "req": 3}))
        self.assertEqual(msg, {"v": 1, "op": "ping", "req": 3})

    def test_wrong_version(self):
        with self.assertRaises(XaiError) as cm:
            unpack(msgpack.packb({"v": 2, "op": "ping"}))
        self.assertEqual(cm.exception.code, "unsupported_version")
        self.assertEqual(cm.exception.number, 23)

    def test_malformed_frames(self):
        frames = [
            b"\x81\xa1v",                        # truncated map
            msgpack.packb([1, 2, 3]),            # not a map
            b"\xdd\x10\x00\x00\x00",             # array header claiming 2^28 elements
            b"\x91" * 1000 + b"\x01",            # nested 1000 deep
            b"\x81\xa1v\x01\xc1",                # trailing reserved byte
            b"\x81\x01\x01",                     # int key
        ]
        for f in frames:
            with self.subTest(f=f[:8]):
                with self.assertRaises(XaiError) as cm:
                    unpack(f)
                self.assertEqual(cm.exception.code, "bad_request")

    def test_size_limit(self):
        with self.assertRaises(XaiError) as cm:
            unpack(pack({"op": "x", "pad": "a" * 100}), max_bytes=50)
        self.assertEqual(cm.exception.code, "limit_exceeded")


if __name__ == "__main__":
    unittest.main()
