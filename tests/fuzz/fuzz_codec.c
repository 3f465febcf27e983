/* fuzz_codec.c — libFuzzer target for the msgpack decoder (daemon/core/codec.c).
 *
 * Any bytes: xai_value_unpack under the daemon's client limits must return
 * a value or an error, never crash, leak or read out of bounds; a decoded
 * value must pack and decode again to the same bytes (the encoder writes
 * the smallest forms, so pack(unpack(pack(v))) == pack(v)); and
 * xd_msgpack_peek_int (the link's look at an oversize answer) must agree
 * with the decoder on the "id" field of every map the decoder accepts.
 */
#include <stdlib.h>
#include <string.h>
#include "core/core.h"
#include "xai/value.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    xai_unpack_limits lim = {64, 1 << 16, 1 << 20};
    xai_value *v = NULL;
    xai_error err;
    int64_t peeked = 0;
    bool peek_ok = xd_msgpack_peek_int(data, size, "id", &peeked);
    if (xai_value_unpack(data, size, &lim, &v, &err) != XAI_OK) return 0;
    const xai_value *id = xai_value_get(v, "id");
    if (xai_value_type(id) == XAI_V_INT && (!peek_ok || peeked != xai_value_get_int(id))) abort();
    char *a = NULL, *b = NULL;
    size_t alen = 0, blen = 0;
    xai_value *w = NULL;
    if (xai_value_pack(v, &a, &alen, NULL) == XAI_OK) {
        if (xai_value_unpack(a, alen, NULL, &w, &err) != XAI_OK) abort();
        if (xai_value_pack(w, &b, &blen, NULL) != XAI_OK || blen != alen || memcmp(a, b, alen))
            abort();
    }
    char *js = xai_value_to_json(v, false);
    xai_free(js);
    xai_free(a);
    xai_free(b);
    xai_value_free(w);
    xai_value_free(v);
    return 0;
}
