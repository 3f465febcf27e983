// codec_test.cc — msgpack and JSON codecs of xai_value (daemon/core/codec.c).
//
// Expected bytes are derived by hand from the msgpack specification
// (https://github.com/msgpack/msgpack/blob/master/spec.md); the comments
// next to each expectation spell the derivation out.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

extern "C" {
#include "xai/rng.h"
#include "xai/value.h"
#include "core/core.h"
}

namespace {

using Bytes = std::vector<uint8_t>;

struct ValueDeleter {
    void operator()(xai_value *v) const { xai_value_free(v); }
};
using Value = std::unique_ptr<xai_value, ValueDeleter>;

bool same(const xai_value *a, const xai_value *b) {
    if (xai_value_type(a) != xai_value_type(b)) return false;
    size_t la = 0, lb = 0;
    switch (xai_value_type(a)) {
    case XAI_V_NIL: return true;
    case XAI_V_BOOL: return xai_value_get_bool(a) == xai_value_get_bool(b);
    case XAI_V_INT: return xai_value_get_int(a) == xai_value_get_int(b);
    case XAI_V_FLOAT: {
        double x = xai_value_get_number(a), y = xai_value_get_number(b);
        return std::memcmp(&x, &y, sizeof x) == 0;  // bit-exact, NaN included
    }
    case XAI_V_STR: {
        const char *x = xai_value_get_str(a, &la), *y = xai_value_get_str(b, &lb);
        return la == lb && std::memcmp(x, y, la) == 0;
    }
    case XAI_V_BIN: {
        const void *x = xai_value_get_bin(a, &la), *y = xai_value_get_bin(b, &lb);
        return la == lb && (la == 0 || std::memcmp(x, y, la) == 0);
    }
    case XAI_V_ARRAY:
        if (xai_value_len(a) != xai_value_len(b)) return false;
        for (size_t i = 0; i < xai_value_len(a); i++)
            if (!same(xai_value_at(a, i), xai_value_at(b, i))) return false;
        return true;
    case XAI_V_MAP:
        if (xai_value_len(a) != xai_value_len(b)) return false;
        for (size_t i = 0; i < xai_value_len(a); i++)
            if (std::strcmp(xai_value_key_at(a, i), xai_value_key_at(b, i)) != 0 ||
                !same(xai_value_val_at(a, i), xai_value_val_at(b, i)))
                return false;
        return true;
    }
    return false;
}

Bytes pack(const xai_value *v) {
    char *buf = nullptr;
    size_t len = 0;
    xai_error err{};
    EXPECT_EQ(xai_value_pack(v, &buf, &len, &err), XAI_OK) << err.message;
    Bytes out(buf, buf + len);
    xai_free(buf);
    return out;
}

xai_status unpack(const Bytes &b, Value *out, xai_error *err,
                  const xai_unpack_limits *lim = nullptr) {
    xai_value *v = nullptr;
    xai_status st = xai_value_unpack(b.data(), b.size(), lim, &v, err);
    out->reset(v);
    return st;
}

std::string json(const xai_value *v, bool pretty = false) {
    char *s = xai_value_to_json(v, pretty);
    std::string out(s);
    xai_free(s);
    return out;
}

Value roundtrip(const xai_value *v) {
    Value back;
    xai_error err{};
    EXPECT_EQ(unpack(pack(v), &back, &err), XAI_OK) << err.message;
    return back;
}

}  // namespace

TEST(Codec, KnownBytesDecodeAndEncode) {
    // {"a": 1, "b": [true, nil]}: fixmap of 2 = 0x82; fixstr "a" = a1 61;
    // positive fixint 1 = 01; fixarray of 2 = 0x92; true = c3; nil = c0.
    Bytes msg = {0x82, 0xa1, 0x61, 0x01, 0xa1, 0x62, 0x92, 0xc3, 0xc0};
    Value v;
    xai_error err{};
    ASSERT_EQ(unpack(msg, &v, &err), XAI_OK) << err.message;
    EXPECT_EQ(xai_value_get_int(xai_value_get(v.get(), "a")), 1);
    const xai_value *b = xai_value_get(v.get(), "b");
    ASSERT_EQ(xai_value_len(b), 2u);
    EXPECT_TRUE(xai_value_get_bool(xai_value_at(b, 0)));
    EXPECT_EQ(xai_value_type(xai_value_at(b, 1)), XAI_V_NIL);
    EXPECT_EQ(pack(v.get()), msg);
}

TEST(Codec, IntegersUseTheSmallestForm) {
    // Boundaries of each msgpack int family and the encoded size:
    // fixint 0..127 and -32..-1 (1 byte), uint8 (2), uint16 (3), uint32 (5),
    // uint64 (9), int8 (2), int16 (3), int32 (5), int64 (9).
    struct Case { int64_t i; size_t size; } cases[] = {
        {0, 1}, {127, 1}, {128, 2}, {255, 2}, {256, 3}, {65535, 3}, {65536, 5},
        {4294967295LL, 5}, {4294967296LL, 9}, {INT64_MAX, 9}, {-1, 1}, {-32, 1}, {-33, 2},
        {-128, 2}, {-129, 3}, {-32768, 3}, {-32769, 5}, {INT32_MIN, 5},
        {(int64_t)INT32_MIN - 1, 9}, {INT64_MIN, 9}};
    for (const Case &c : cases) {
        Value v(xai_value_int(c.i));
        Bytes b = pack(v.get());
        EXPECT_EQ(b.size(), c.size) << c.i;
        Value back = roundtrip(v.get());
        EXPECT_EQ(xai_value_type(back.get()), XAI_V_INT);
        EXPECT_EQ(xai_value_get_int(back.get()), c.i);
    }
}

TEST(Codec, FloatsRoundTripBitExact) {
    double cases[] = {0.0, -0.0, 0.1, -2.5, 1e308, 4.9e-324, INFINITY, -INFINITY, NAN};
    for (double d : cases) {
        Value v(xai_value_float(d));
        EXPECT_EQ(pack(v.get()).size(), 9u);  // 0xcb + 8 bytes
        Value back = roundtrip(v.get());
        EXPECT_TRUE(same(v.get(), back.get())) << d;
    }
    // float32 1.5 = 0x3fc00000 decodes to the double 1.5.
    Bytes f32 = {0xca, 0x3f, 0xc0, 0x00, 0x00};
    Value v;
    xai_error err{};
    ASSERT_EQ(unpack(f32, &v, &err), XAI_OK);
    EXPECT_EQ(xai_value_get_number(v.get()), 1.5);
}

TEST(Codec, StringsBinsArraysMapsAtEveryHeaderSize) {
    // str: fixstr <= 31 (1-byte header), str8 <= 255 (2), str16 (3), str32 (5).
    // bin: bin8 (2), bin16 (3), bin32 (5). array/map: fix <= 15 (1), 16-bit (3), 32-bit (5).
    struct Case { size_t n, str_hdr, bin_hdr, arr_hdr; } cases[] = {
        {0, 1, 2, 1}, {15, 1, 2, 1}, {16, 1, 2, 3}, {31, 1, 2, 3}, {32, 2, 2, 3},
        {255, 2, 2, 3}, {256, 3, 3, 3}, {65535, 3, 3, 3}, {65536, 5, 5, 5}};
    for (const Case &c : cases) {
        std::string s(c.n, 'x');
        Value str(xai_value_strn(s.data(), s.size()));
        EXPECT_EQ(pack(str.get()).size(), c.str_hdr + c.n);
        EXPECT_TRUE(same(str.get(), roundtrip(str.get()).get()));
        Value bin(xai_value_bin(s.data(), s.size()));
        EXPECT_EQ(pack(bin.get()).size(), c.bin_hdr + c.n);
        EXPECT_TRUE(same(bin.get(), roundtrip(bin.get()).get()));
        Value arr(xai_value_array());
        for (size_t i = 0; i < c.n; i++) xai_value_push(arr.get(), xai_value_int(1));
        EXPECT_EQ(pack(arr.get()).size(), c.arr_hdr + c.n);  // each 1 is one byte
        EXPECT_TRUE(same(arr.get(), roundtrip(arr.get()).get()));
    }
    Value map(xai_value_map());
    for (int i = 0; i < 40; i++)  // past the 16-key threshold of the dup table
        xai_value_set_int(map.get(), ("k" + std::to_string(i)).c_str(), i);
    xai_value *inner = xai_value_map();
    xai_value_set(inner, "nested", xai_value_float_array((const double[]){1, 2}, 2));
    xai_value_set(map.get(), "inner", inner);
    xai_value_set(map.get(), "nil", xai_value_nil());
    xai_value_set_bool(map.get(), "t", true);
    EXPECT_TRUE(same(map.get(), roundtrip(map.get()).get()));
}

TEST(Codec, TruncationAtEveryByteIsAnError) {
    Value v(xai_value_map());
    xai_value_set_str(v.get(), "op", "explain");
    xai_value_set_int(v.get(), "v", 1);
    xai_value_set_int(v.get(), "req", 70000);
    xai_value_set_float(v.get(), "x", 0.25);
    xai_value *input = xai_value_map();
    xai_value_set_str(input, "text", std::string(40, 'a').c_str());
    xai_value_set(input, "bin", xai_value_bin("\x01\x02\x03", 3));
    xai_value_set(v.get(), "input", input);
    Bytes full = pack(v.get());
    for (size_t n = 0; n < full.size(); n++) {
        Bytes part(full.begin(), full.begin() + n);
        Value out;
        xai_error err{};
        EXPECT_EQ(unpack(part, &out, &err), XAI_ERR_BAD_REQUEST) << "prefix " << n;
        EXPECT_EQ(out.get(), nullptr);
        EXPECT_NE(err.message[0], '\0');
    }
}

TEST(Codec, HugeDeclaredCountsFailFast) {
    // array32 (0xdd) declaring 2^28 elements with nothing after it; map32
    // (0xdf) declaring 2^31 entries; str32 (0xdb) declaring 2^32-1 bytes;
    // bin32 (0xc6) 2^30 bytes. Each must fail on the length check, before
    // allocating: a few microseconds, not the seconds 2 GiB would take.
    const Bytes cases[] = {{0xdd, 0x10, 0x00, 0x00, 0x00},
                           {0xdf, 0x80, 0x00, 0x00, 0x00, 0xc0},
                           {0xdb, 0xff, 0xff, 0xff, 0xff, 'a'},
                           {0xc6, 0x40, 0x00, 0x00, 0x00},
                           {0x91, 0xdd, 0x10, 0x00, 0x00, 0x00}};
    for (const Bytes &b : cases) {
        Value out;
        xai_error err{};
        auto t0 = std::chrono::steady_clock::now();
        EXPECT_EQ(unpack(b, &out, &err), XAI_ERR_BAD_REQUEST);
        double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        EXPECT_LT(s, 0.05);
        EXPECT_NE(std::strstr(err.message, "truncated"), nullptr) << err.message;
    }
}

TEST(Codec, NestingLimit) {
    // k fixarrays of one element (0x91) around a nil: k nested containers.
    // With the default max_depth 64, k = 64 decodes and k = 65 does not.
    auto nested = [](size_t k) {
        Bytes b(k, 0x91);
        b.push_back(0xc0);
        return b;
    };
    Value out;
    xai_error err{};
    EXPECT_EQ(unpack(nested(64), &out, &err), XAI_OK) << err.message;
    EXPECT_EQ(unpack(nested(65), &out, &err), XAI_ERR_BAD_REQUEST);
    EXPECT_NE(std::strstr(err.message, "nested deeper than 64"), nullptr) << err.message;
    EXPECT_EQ(unpack(nested(1000), &out, &err), XAI_ERR_BAD_REQUEST);
    xai_unpack_limits lim = {4, 0, 0};
    EXPECT_EQ(unpack(nested(4), &out, &err, &lim), XAI_OK);
    EXPECT_EQ(unpack(nested(5), &out, &err, &lim), XAI_ERR_BAD_REQUEST);
    // Maps count as well: {"a": {"a": ... nil}} with 5 maps under limit 4.
    Bytes maps;
    for (int i = 0; i < 5; i++) maps.insert(maps.end(), {0x81, 0xa1, 'a'});
    maps.push_back(0xc0);
    EXPECT_EQ(unpack(maps, &out, &err, &lim), XAI_ERR_BAD_REQUEST);
    maps.erase(maps.begin(), maps.begin() + 3);
    EXPECT_EQ(unpack(maps, &out, &err, &lim), XAI_OK) << err.message;
}

TEST(Codec, RefusesWhatTheProtocolForbids) {
    struct Case { Bytes b; xai_status st; const char *needle; } cases[] = {
        {{0xc0, 0xc0}, XAI_ERR_BAD_REQUEST, "trailing"},                 // two values
        {{0xd4, 0x01, 0x02}, XAI_ERR_BAD_REQUEST, "extension"},          // fixext1
        {{0xc7, 0x01, 0x05, 0x00}, XAI_ERR_BAD_REQUEST, "extension"},    // ext8
        {{0xc1}, XAI_ERR_BAD_REQUEST, "0xc1"},                           // never used
        {{0x81, 0x01, 0x02}, XAI_ERR_BAD_REQUEST, "not a string"},       // {1: 2}
        {{0x82, 0xa1, 'a', 0x01, 0xa1, 'a', 0x02}, XAI_ERR_BAD_REQUEST, "duplicate"},
        {{0x81, 0xa2, 'a', 0x00, 0x01}, XAI_ERR_BAD_REQUEST, "NUL"},     // key "a\0"
        {{0xcf, 0x80, 0, 0, 0, 0, 0, 0, 0}, XAI_ERR_BAD_REQUEST, "int64"},  // uint64 2^63
        {{}, XAI_ERR_BAD_REQUEST, "empty"},
    };
    for (const Case &c : cases) {
        Value out;
        xai_error err{};
        EXPECT_EQ(unpack(c.b, &out, &err), c.st);
        EXPECT_NE(std::strstr(err.message, c.needle), nullptr) << err.message;
    }
    // A duplicate key in a large map (the hashed path): 20 distinct keys then
    // "k3" again.
    Bytes big = {0xde, 0x00, 21};
    for (int i = 0; i < 21; i++) {
        std::string k = "k" + std::to_string(i == 20 ? 3 : i);
        big.push_back((uint8_t)(0xa0 | k.size()));
        big.insert(big.end(), k.begin(), k.end());
        big.push_back(0x00);
    }
    Value out;
    xai_error err{};
    EXPECT_EQ(unpack(big, &out, &err), XAI_ERR_BAD_REQUEST);
    EXPECT_NE(std::strstr(err.message, "duplicate map key \"k3\""), nullptr) << err.message;
}

TEST(Codec, SizeAndItemLimits) {
    Bytes arr = {0x93, 0x01, 0x02, 0x03};  // 4 values: the array and 3 ints
    Value out;
    xai_error err{};
    xai_unpack_limits lim = {0, 4, 0};
    EXPECT_EQ(unpack(arr, &out, &err, &lim), XAI_OK);
    lim.max_items = 3;
    EXPECT_EQ(unpack(arr, &out, &err, &lim), XAI_ERR_LIMIT);
    lim = {0, 0, 3};
    EXPECT_EQ(unpack(arr, &out, &err, &lim), XAI_ERR_LIMIT);
    EXPECT_NE(std::strstr(err.message, "exceeds"), nullptr) << err.message;
}

TEST(Codec, RandomGarbageNeverCrashesAndRepacksStably) {
    // Fixed seed; half pure noise, half single-byte mutations of a valid
    // message. Whatever decodes must re-encode to bytes that decode to the
    // same tree (pack . unpack is idempotent).
    Value sample(xai_value_map());
    xai_value_set_str(sample.get(), "op", "predict");
    xai_value_set_int(sample.get(), "id", 300);
    xai_value_set(sample.get(), "rows",
                  xai_value_from_matrix((const double[]){1, 2, 3, 4}, 2, 2));
    xai_value *texts = xai_value_array();
    xai_value_push(texts, xai_value_str("hello"));
    xai_value_push(texts, xai_value_float(-1.5));
    xai_value_set(sample.get(), "texts", texts);
    Bytes base = pack(sample.get());
    xai_rng rng;
    xai_rng_seed(&rng, 12345, 0);
    int decoded = 0;
    for (int it = 0; it < 4000; it++) {
        Bytes b;
        if (it % 2 == 0) {
            b.resize(xai_rng_below(&rng, 48));
            for (uint8_t &c : b) c = (uint8_t)xai_rng_below(&rng, 256);
        } else {
            b = base;
            int flips = 1 + (int)xai_rng_below(&rng, 3);
            for (int f = 0; f < flips; f++)
                b[xai_rng_below(&rng, b.size())] = (uint8_t)xai_rng_below(&rng, 256);
        }
        Value v;
        xai_error err{};
        xai_status st = unpack(b, &v, &err);
        if (st != XAI_OK) {
            EXPECT_NE(err.message[0], '\0');
            EXPECT_EQ(v.get(), nullptr);
            continue;
        }
        decoded++;
        Value again = roundtrip(v.get());
        ASSERT_TRUE(same(v.get(), again.get())) << "iteration " << it;
        std::string j = json(v.get());  // never fails on a decoded tree
        EXPECT_FALSE(j.empty());
    }
    EXPECT_GT(decoded, 50);  // the mutations of a valid message often stay valid
}

TEST(Codec, JsonEscapesAndSpecialValues) {
    // quote, backslash, newline, tab, 0x01, e-acute (valid 2-byte UTF-8),
    // 0xff (invalid: U+FFFD), DEL.
    const char raw[] = "a\"b\\c\nd\te\x01" "\xc3\xa9" "\xff" "\x7f";
    Value s(xai_value_strn(raw, sizeof raw - 1));
    EXPECT_EQ(json(s.get()), "\"a\\\"b\\\\c\\nd\\te\\u0001\xc3\xa9\xef\xbf\xbd\\u007f\"");
    Value m(xai_value_map());
    xai_value_set_float(m.get(), "nan", NAN);
    xai_value_set_float(m.get(), "inf", -INFINITY);
    xai_value_set_float(m.get(), "tenth", 0.1);
    xai_value_set_float(m.get(), "one", 1.0);
    xai_value_set_int(m.get(), "min", INT64_MIN);
    xai_value_set(m.get(), "b3", xai_value_bin("Man", 3));  // base64 "TWFu"
    xai_value_set(m.get(), "b2", xai_value_bin("Ma", 2));   // "TWE="
    xai_value_set(m.get(), "b1", xai_value_bin("M", 1));    // "TQ=="
    xai_value_set(m.get(), "e", xai_value_array());
    EXPECT_EQ(json(m.get()),
              "{\"nan\":null,\"inf\":null,\"tenth\":0.1,\"one\":1,"
              "\"min\":-9223372036854775808,\"b3\":\"TWFu\",\"b2\":\"TWE=\",\"b1\":\"TQ==\","
              "\"e\":[]}");
    Value small(xai_value_map());
    xai_value_set(small.get(), "a", xai_value_float_array((const double[]){1, 2.5}, 2));
    EXPECT_EQ(json(small.get(), true), "{\n  \"a\": [\n    1,\n    2.5\n  ]\n}");
    // A float that needs all 17 digits to read back exactly.
    Value third(xai_value_float(1.0 / 3.0));
    EXPECT_EQ(std::strtod(json(third.get()).c_str(), nullptr), 1.0 / 3.0);
}

// xd_msgpack_peek_int finds a top-level int field past values of every
// kind without decoding them, and refuses what the decoder would refuse
// before reaching it.
TEST(Codec, PeekIntSkipsOtherValues) {
    xai_value *m = xai_value_map();
    xai_value *nested = xai_value_array(), *inner = xai_value_map();
    xai_value_set_str(inner, "k", std::string(300, 'x').c_str());
    xai_value_push(nested, inner);
    xai_value_push(nested, xai_value_float(2.5));
    xai_value_push(nested, xai_value_int(-70000));
    xai_value_set(m, "outputs", nested);
    xai_value_set(m, "blob", xai_value_bin(std::string(70000, 'b').data(), 70000));
    xai_value_set_bool(m, "flag", true);
    xai_value_set_int(m, "id", -5);
    xai_value_set_int(m, "big", INT64_C(1) << 40);
    char *buf = nullptr;
    size_t len = 0;
    ASSERT_EQ(XAI_OK, xai_value_pack(m, &buf, &len, nullptr));
    int64_t v = 0;
    EXPECT_TRUE(xd_msgpack_peek_int(buf, len, "id", &v));
    EXPECT_EQ(-5, v);
    EXPECT_TRUE(xd_msgpack_peek_int(buf, len, "big", &v));
    EXPECT_EQ(INT64_C(1) << 40, v);
    EXPECT_FALSE(xd_msgpack_peek_int(buf, len, "flag", &v));     // not an int
    EXPECT_FALSE(xd_msgpack_peek_int(buf, len, "nope", &v));
    // Every truncation before "id"'s value ends is refused, never read past.
    size_t id_end = 0;
    for (size_t n = 0; n < len; n++)
        if (xd_msgpack_peek_int(buf, n, "id", &v)) {
            id_end = n;
            break;
        }
    EXPECT_GT(id_end, 70000u);
    EXPECT_FALSE(xd_msgpack_peek_int(buf, id_end - 1, "id", &v));
    const unsigned char arr[] = {0x91, 0x01};                     // not a map
    EXPECT_FALSE(xd_msgpack_peek_int(arr, sizeof arr, "id", &v));
    const unsigned char ext[] = {0x82, 0xa1, 'x', 0xd4, 0x01, 0x02, 0xa2, 'i', 'd', 0x07};
    EXPECT_FALSE(xd_msgpack_peek_int(ext, sizeof ext, "id", &v));  // ext before id
    const unsigned char ok[] = {0x82, 0xa1, 'x', 0xc0, 0xa2, 'i', 'd', 0x07};
    EXPECT_TRUE(xd_msgpack_peek_int(ok, sizeof ok, "id", &v));
    EXPECT_EQ(7, v);
    xai_free(buf);
    xai_value_free(m);
}
