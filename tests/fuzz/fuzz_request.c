/* fuzz_request.c — libFuzzer target for the request -> job-input path
 * (daemon/server/job_input.c): what the front and a worker do with an
 * `explain` message's `input`, `params` and `space` before a model is
 * asked anything.
 *
 * Any bytes are decoded as a client message (the front's limits); a map
 * goes through xd_srv_input_precheck for a text and a tabular model (with
 * a 3-row background) and, when that accepts it, xd_srv_input_build with
 * the model info a model would have sent, and each space built renders
 * its all-kept and all-removed masks. Errors are fine; crashes, leaks,
 * UB and a space wider than max_features are not.
 */
#include <stdlib.h>
#include <string.h>
#include "server/server.h"
#include "space/space_impl.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static xd_srv_config cfg;
static xd_srv_model_cfg models[2];
static xai_tokenizer *tok;
static double background[3 * 4] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};

static void setup(void) {
    xd_srv_config_init(&cfg);
    cfg.max_tokens = 500;
    cfg.max_features = 500;
    cfg.max_samples = 10000;
    cfg.max_background = 50;
    cfg.max_mask_token_bytes = 64;
    for (int i = 0; i < 2; i++) {
        models[i].name = i ? "tab" : "text";
        models[i].kind = i ? XAI_INPUT_ROWS : XAI_INPUT_TEXT;
        models[i].max_rows = 100;
        models[i].max_bytes = 1 << 16;
        models[i].max_answer_bytes = 1 << 20;
    }
    models[1].background = background;
    models[1].n_background = 3;
    models[1].bg_cols = 4;
    xai_tokenizer_new(NULL, NULL, &tok, NULL);
}

static void render_extremes(const xai_space *sp) {
    size_t d = xai_space_n_features(sp);
    if (d > cfg.max_features) abort();
    uint8_t *mask = calloc(d ? d : 1, 1);
    xd_inputs in;
    xd_inputs_init(&in, sp->input_kind, sp->n_cols);
    for (int full = 0; mask && full < 2; full++) {
        memset(mask, full, d);
        sp->vt->render(sp, mask, &in, NULL);
    }
    xd_inputs_release(&in);
    free(mask);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    if (tok == NULL) setup();
    xai_unpack_limits lim = {64, 1 << 16, 1 << 20};
    xai_value *msg = NULL;
    if (xai_value_unpack(data, size, &lim, &msg, NULL) != XAI_OK) return 0;
    const xai_value *input = xai_value_get(msg, "input"), *params = xai_value_get(msg, "params");
    const xai_value *space = xai_value_get(msg, "space");
    const char *method = xai_value_get_str(xai_value_get(msg, "method"), NULL);
    char *names[4] = {"a", "b", "c", "d"}, *classes[2] = {"no", "yes"};
    xd_srv_model_info info = {.n_outputs = 2, .class_names = classes, .n_features = 4,
                              .feature_names = names};
    for (int i = 0; i < 2; i++) {
        xai_error err;
        if (xd_srv_input_precheck(&cfg, &models[i], tok, input, params, space, NULL, &err) != XAI_OK)
            continue;
        xd_srv_input in;
        if (xd_srv_input_build(&in, &cfg, &models[i], &info, tok, input, space, method, &err) !=
            XAI_OK)
            continue;
        render_extremes(in.space);
        xd_srv_input_free(&in);
    }
    xai_value_free(msg);
    return 0;
}
