/* anchors.c — placeholder: the anchors method is not built yet. It answers
 * XAI_ERR_UNSUPPORTED so the registry links; its issue replaces this file. */
#include "../core/core.h"
#include "method.h"

static xai_status run(const xd_method_ctx *mc, xai_result **out, xai_error *err) {
    (void)mc;
    *out = NULL;
    return xd_err(err, XAI_ERR_UNSUPPORTED, "method 'anchors' is not built yet");
}

const xd_method xd_method_anchors = {"anchors", run, NULL};
