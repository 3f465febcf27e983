/* remote_model.c — an xai_model whose predict is a `predict` call to a model
 * server through its link.
 *
 * The evaluator calls predict from the worker's thread with a batch it has
 * already bounded by rows and bytes. Here the batch becomes one message
 * ({"v", "op": "predict", "id", "texts" | "rows"}), the link carries it,
 * and the answer's `outputs` (either matrix form) is checked for shape
 * before it is copied out; finiteness is the evaluator's check. A model's
 * `error` answer becomes XAI_ERR_MODEL with the model's message. While the
 * call waits, the job's cancellation flag is watched (the link returns
 * XAI_ERR_CANCELLED as soon as it is set). An answer that came after a
 * reconnection is used only once the model has shown (by its info answer)
 * the identity the job started with; else the job fails.
 */
#include <string.h>
#include "server.h"

static xai_value *texts_value(const xai_batch *b) {
    xai_value *a = xai_value_array();
    for (size_t i = 0; a && i < b->n; i++)
        if (xai_value_push(a, xai_value_strn(b->texts[i], b->text_lens[i])) != XAI_OK) {
            xai_value_free(a);
            return NULL;
        }
    return a;
}

/* The packed predict message for batch b with request id `id`. */
static xai_status pack_predict(const xai_batch *b, uint64_t id, char **buf, size_t *len,
                               xai_error *err) {
    xai_value *m = xai_value_map();
    xai_status st = m ? XAI_OK : XAI_ERR_NOMEM;
    if (st == XAI_OK) st = xai_value_set_int(m, "v", XAI_PROTOCOL_VERSION);
    if (st == XAI_OK) st = xai_value_set_str(m, "op", "predict");
    if (st == XAI_OK) st = xai_value_set_int(m, "id", (int64_t)id);
    if (st == XAI_OK) {
        if (b->kind == XAI_INPUT_TEXT) st = xai_value_set(m, "texts", texts_value(b));
        else st = xai_value_set(m, "rows", xai_value_from_matrix(b->rows, b->n, b->cols));
    }
    if (st != XAI_OK) {
        xai_value_free(m);
        return xd_err(err, XAI_ERR_NOMEM, "no memory for a predict request of %zu inputs", b->n);
    }
    st = xai_value_pack(m, buf, len, err);
    xai_value_free(m);
    return st;
}

/* A model's error answer {"error": {"code", "message"}} (or a string). */
static xai_status model_error(const char *name, const xai_value *e, xai_error *err) {
    const char *msg = xai_value_get_str(xai_value_get(e, "message"), NULL);
    if (msg == NULL) msg = xai_value_get_str(e, NULL);
    return xd_err(err, XAI_ERR_MODEL, "model %s answered an error: %s", name,
                  msg ? msg : "(no message)");
}

static xai_status take_outputs(const xd_srv_remote *r, const char *name, const xai_batch *b,
                               const xai_value *reply, double *out, xai_error *err) {
    const xai_value *e = xai_value_get(reply, "error");
    if (e != NULL && xai_value_type(e) != XAI_V_NIL) return model_error(name, e, err);
    const xai_value *o = xai_value_get(reply, "outputs");
    if (o == NULL) return xd_err(err, XAI_ERR_MODEL_OUTPUT, "model %s: answer has no outputs", name);
    double *m = NULL;
    size_t rows = 0, cols = 0;
    xai_error e2;
    if (xai_value_to_matrix(o, b->n == 1, false, &m, &rows, &cols, &e2) != XAI_OK)
        return xd_err(err, XAI_ERR_MODEL_OUTPUT, "model %s: outputs: %s", name, e2.message);
    xai_status st = XAI_OK;
    if (rows != b->n || cols != r->info.n_outputs)
        st = xd_err(err, XAI_ERR_MODEL_OUTPUT,
                    "model %s answered %zu x %zu outputs for %zu inputs and %zu classes", name,
                    rows, cols, b->n, r->info.n_outputs);
    else
        memcpy(out, m, rows * cols * sizeof *m);
    xai_free(m);
    return st;
}

static xai_status remote_predict(void *ctx, const xai_batch *b, double *out, xai_error *err) {
    xd_srv_remote *r = ctx;
    uint64_t id = xd_srv_link_next_id(r->link);
    char *buf = NULL;
    size_t len = 0;
    xai_status st = pack_predict(b, id, &buf, &len, err);
    if (st != XAI_OK) return st;
    xai_value *reply = NULL;
    uint64_t epoch = 0;
    st = xd_srv_link_call(r->link, id, buf, len, b->n, r->stop, &reply, &epoch, err);
    if (st != XAI_OK) return st;
    if (epoch != r->info.epoch)
        st = xd_srv_link_same_model(r->link, &r->info, xd_now() + r->ready_by, r->stop, err);
    if (st == XAI_OK) st = take_outputs(r, r->name, b, reply, out, err);
    xai_value_free(reply);
    return st;
}

uint64_t xd_srv_model_cache_id(const xd_srv_model_cfg *cfg) {
    return xd_hash64(cfg->name, strlen(cfg->name), 0x78616964);
}

void xd_srv_remote_model(xd_srv_remote *r, const xd_srv_model_cfg *cfg, uint64_t cache_id,
                         xai_model *m) {
    memset(m, 0, sizeof *m);
    r->name = cfg->name;
    m->name = cfg->name;
    m->cache_id = cache_id;
    m->identity = r->info.identity;
    m->kind = cfg->kind;
    m->n_outputs = r->info.n_outputs;
    m->class_names = (const char *const *)r->info.class_names;
    m->n_cols = cfg->kind == XAI_INPUT_ROWS ? r->info.n_features : 0;
    m->predict = remote_predict;
    m->ctx = r;
}
