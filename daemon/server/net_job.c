/* net_job.c — jobs on native networks (`net NAME = path` in the config): the
 * input checks, the `models` entry, and running a method on a loaded network.
 *
 * A network is loaded once at start (config.c) and is read-only from then
 * on; include/xai/nn.h guarantees that forward passes and every explanation
 * function only read it and may run on one network from several threads at
 * once, so workers share it without a lock.
 *
 * The input is `{"tensor": x}` (or `{"row": x}`): a matrix or a flat array
 * of exactly c*h*w numbers, read in NCHW order. Two kinds of method run:
 *  - native methods (xai_nn_method_names(): saliency, grad_x_input, lrp,
 *    ...; and lrp_<composite> shorthands, lrp with `composite` set) are one
 *    call of xai_nn_explain on the float input; they are short and run to
 *    the end once started (the job's stop flag is checked before, and by
 *    the caller after);
 *  - every sampling method of the registry runs through xai_explain on a
 *    tensor space (space: `patch`, `baseline`, `fill`, `outputs`) and the
 *    network as an in-process model (xai_nn_model), with the shared cache
 *    and the job's check callback, exactly as for remote models.
 * The numbers are laid out as a "view" c x h x w (view_shape: space.shape,
 * else the rows x cols of a matrix input, else the network's input shape,
 * a vector taken as 1 x 1 x d): the tensor space is built over the view, and
 * results carry it as their shape (a native map of the whole input is
 * relabelled "c,y,x" of the view; Grad-CAM keeps its own shape); sampling
 * results are 1 x grid_h x grid_w (one feature per pixel position or patch).
 *
 * A text network (xai_nn_is_text) takes `{"text": "..."}` instead and is
 * explained like a remote text model: native methods give one value per
 * token (xai_nn_explain_text), sampling methods run on a text space over
 * the network's own tokens (space: `mask_token`, `delete`, `bag_of_words`,
 * `outputs`; the tokenizer is the network's, so no `pattern`) with the
 * network as an in-process text model; both results carry the text, the
 * tokens and their spans.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "server.h"
#include "xai/methods.h"
#include "xai/result.h"

static const char *const net_space_keys[] = {"shape", "patch", "baseline", "fill", "outputs", NULL};
static const char *const text_space_keys[] = {"mask_token", "delete", "bag_of_words", "outputs",
                                              NULL};

/* Shorthands for `lrp` with a composite: lrp_epsilon is composite "none"
 * (epsilon everywhere), the others are "lrp_" + the composite's name. */
static const char *const lrp_aliases[] = {"lrp_epsilon", "lrp_epsilon_plus", "lrp_epsilon_plus_flat",
                                          "lrp_epsilon_gamma_box", "lrp_epsilon_alpha2_beta1", NULL};
static const char *const lrp_composites[] = {"none", "epsilon_plus", "epsilon_plus_flat",
                                             "epsilon_gamma_box", "epsilon_alpha2_beta1"};

static int lrp_alias(const char *name) {
    for (int i = 0; lrp_aliases[i]; i++)
        if (strcmp(lrp_aliases[i], name) == 0) return i;
    return -1;
}

xai_status xd_srv_net_check_params(const char *method, const xai_value *params, xai_error *err) {
    return xai_nn_check_params(lrp_alias(method) >= 0 ? "lrp" : method, params, err);
}

bool xd_srv_net_method(const char *name) {
    for (const char *const *m = xai_nn_method_names(); *m; m++)
        if (strcmp(*m, name) == 0) return true;
    return lrp_alias(name) >= 0;
}

/* The layout of the input: space.shape [c, h, w] if given; else the
 * matrix form of the tensor (rows x cols, when rows > 1) as 1 x rows x cols;
 * else the network's input shape, a vector c x 1 x 1 laid out as 1 x 1 x c
 * so that its entries are separate features. */
static xai_status view_shape(const xd_srv_net_cfg *nc, const xai_value *space, size_t rows,
                             size_t cols, size_t shape[3], xai_error *err) {
    const xai_value *sv = xai_value_get(space, "shape");
    size_t d = xai_nn_input_size(nc->net);
    if (sv != NULL && xai_value_type(sv) != XAI_V_NIL) {
        size_t n = xai_value_len(sv);
        if (xai_value_type(sv) != XAI_V_ARRAY || n < 2 || n > 3)
            return xd_err(err, XAI_ERR_INVALID, "space.shape must be [c, h, w] or [h, w]");
        shape[0] = 1;
        for (size_t i = 0; i < n; i++) {
            const xai_value *e = xai_value_at(sv, i);
            if (xai_value_type(e) != XAI_V_INT || xai_value_get_int(e) < 1)
                return xd_err(err, XAI_ERR_INVALID, "space.shape must hold positive ints");
            shape[3 - n + i] = (size_t)xai_value_get_int(e);
        }
    } else if (rows > 1) {
        shape[0] = 1, shape[1] = rows, shape[2] = cols;
    } else {
        xai_nn_layer_shape(nc->net, (size_t)-1, shape);
        if (shape[1] == 1 && shape[2] == 1) shape[2] = shape[0], shape[0] = 1;
    }
    if (shape[0] * shape[1] * shape[2] != d)
        return xd_err(err, XAI_ERR_INVALID, "space.shape %zu x %zu x %zu does not hold the %zu inputs of %s",
                      shape[0], shape[1], shape[2], d, nc->name);
    return XAI_OK;
}

/* The input tensor as doubles: input.tensor, else input.row; exactly
 * c*h*w numbers in any matrix form. *x is malloc'd (xai_free); shape gets
 * the layout (view_shape). */
static xai_status read_tensor(const xd_srv_net_cfg *nc, const xai_value *input,
                              const xai_value *space, double **x, size_t shape[3],
                              xai_error *err) {
    const xai_value *t = xai_value_get(input, "tensor");
    if (t == NULL || xai_value_type(t) == XAI_V_NIL) t = xai_value_get(input, "row");
    xai_vtype ty = xai_value_type(t);
    *x = NULL;
    if (ty != XAI_V_ARRAY && ty != XAI_V_MAP)
        return xd_err(err, XAI_ERR_BAD_REQUEST,
                      "explain: %s is a network: `input` needs \"tensor\" (numbers)", nc->name);
    size_t rows, cols, d = xai_nn_input_size(nc->net), in[3];
    xai_status st = xai_value_to_matrix(t, true, true, x, &rows, &cols, err);
    if (st != XAI_OK) return st;
    if (rows * cols != d) {
        xai_nn_layer_shape(nc->net, (size_t)-1, in);
        st = xd_err(err, XAI_ERR_INVALID,
                    "input.tensor has %zu x %zu = %zu numbers; network %s takes %zu x %zu x %zu = %zu",
                    rows, cols, rows * cols, nc->name, in[0], in[1], in[2], d);
    }
    if (st == XAI_OK) st = view_shape(nc, space, rows, cols, shape, err);
    if (st != XAI_OK) {
        xai_free(*x);
        *x = NULL;
    }
    return st;
}

/* activation_max with no input: it starts from seeded noise. */
static bool no_input(const char *method, const xai_value *input) {
    return method && strcmp(method, "activation_max") == 0 && xai_value_get(input, "tensor") == NULL &&
           xai_value_get(input, "row") == NULL && xai_value_get(input, "text") == NULL;
}

xai_status xd_srv_net_precheck(const xd_srv_config *cfg, const xd_srv_net_cfg *nc,
                               const char *method, const xai_value *input,
                               const xai_value *space, xd_srv_choices *ch, xai_error *err) {
    if (input == NULL && method && strcmp(method, "activation_max") == 0) return XAI_OK;
    if (xai_value_type(input) != XAI_V_MAP)
        return xd_err(err, XAI_ERR_BAD_REQUEST, "explain: `input` must be a map");
    if (no_input(method, input)) return XAI_OK;
    if (!xai_nn_is_text(nc->net) && xai_nn_input_size(nc->net) > cfg->max_features)
        return xd_err(err, XAI_ERR_LIMIT, "network %s takes %zu inputs, more than max_features = %zu",
                      nc->name, xai_nn_input_size(nc->net), cfg->max_features);
    bool text = xai_nn_is_text(nc->net);
    xai_status st = xd_srv_check_keys(space, text ? text_space_keys : net_space_keys, "space", ch, err);
    if (st != XAI_OK) return st;
    if (text) {
        if (xai_value_type(xai_value_get(input, "text")) != XAI_V_STR)
            return xd_err(err, XAI_ERR_BAD_REQUEST,
                          "explain: %s is a text network: `input` needs \"text\" (a string)",
                          nc->name);
        return XAI_OK;
    }
    double *x = NULL;
    size_t shape[3];
    st = read_tensor(nc, input, space, &x, shape, err);
    xai_free(x);
    return st;
}

xai_value *xd_srv_net_entry(const xd_srv_net_cfg *nc) {
    xai_value *e = xai_value_map(), *shape = xai_value_array();
    size_t s[3];
    xai_nn_layer_shape(nc->net, (size_t)-1, s);
    for (size_t i = 0; shape && i < 3; i++) xai_value_push(shape, xai_value_int((int64_t)s[i]));
    if (e == NULL || shape == NULL) {
        xai_value_free(e);
        xai_value_free(shape);
        return NULL;
    }
    xai_value_set_str(e, "name", nc->name);
    xai_value_set_str(e, "kind", xai_nn_is_text(nc->net) ? "text" : "tensor");
    if (xai_nn_is_text(nc->net)) {
        size_t v, dim;
        xai_nn_get_embedding(nc->net, NULL, &v, &dim);
        xai_value_set_int(e, "vocab_size", (int64_t)v);
        xai_value_set_int(e, "embedding_dim", (int64_t)dim);
    }
    xai_value_set_str(e, "path", nc->path);
    xai_value_set_bool(e, "ready", true);
    xai_value_set_bool(e, "native", true);
    xai_value_set(e, "input_shape", shape);
    xai_value_set_int(e, "n_features", (int64_t)xai_nn_input_size(nc->net));
    xai_value_set_int(e, "n_outputs", (int64_t)xai_nn_n_logits(nc->net));
    return e;
}

/* ---- native methods ------------------------------------------------------ */

/* Gives a map of the whole input the view's shape and "c,y,x" names. */
static void relabel(xai_result *r, const size_t shape[3]) {
    r->rank = 3;
    memcpy(r->shape, shape, 3 * sizeof *shape);
    for (size_t i = 0; r->feature_names && i < r->d; i++) {
        char name[64];
        snprintf(name, sizeof name, "%zu,%zu,%zu", i / (shape[1] * shape[2]), i / shape[2] % shape[1],
                 i % shape[2]);
        xd_free(r->feature_names[i]);
        r->feature_names[i] = xd_strdup(name);
    }
}

/* The method xai_nn_explain runs for `method` and its params: an lrp_*
 * shorthand becomes lrp with the composite set in *own (a copy of params,
 * freed by the caller). */
static xai_status native_call(const char *method, const xai_value **params, xai_value **own,
                              const char **name, xai_error *err) {
    int alias = lrp_alias(method);
    *own = NULL;
    *name = method;
    if (alias < 0) return XAI_OK;
    if (xai_value_get(*params, "composite") != NULL)
        return xd_err(err, XAI_ERR_INVALID, "%s sets the composite; use lrp to choose one", method);
    *own = *params ? xai_value_clone(*params) : xai_value_map();
    if (*own == NULL || xai_value_set_str(*own, "composite", lrp_composites[alias]))
        return xd_err(err, XAI_ERR_NOMEM, "%s: parameters", method);
    *params = *own;
    *name = "lrp";
    return XAI_OK;
}

/* Runs a native method (tensor input x, or text) and names the result after
 * the method asked for. */
static xai_status run_native(const xd_srv_net_cfg *nc, const char *method, const double *x,
                             const char *text, size_t len, const xai_value *params,
                             xai_result **out, xai_error *err) {
    size_t d = xai_nn_input_size(nc->net);
    xai_value *own = NULL;
    const char *name = method;
    float *xf = NULL;
    xai_status st = native_call(method, &params, &own, &name, err);
    if (st == XAI_OK && text) {
        st = xai_nn_explain_text(nc->net, name, text, len, params, out, err);
    } else if (st == XAI_OK && x == NULL) { /* activation_max from noise */
        st = xai_nn_explain(nc->net, name, NULL, params, out, err);
    } else if (st == XAI_OK) {
        if ((xf = xd_try_malloc(xd_mul(d, sizeof *xf))) == NULL)
            st = xd_err(err, XAI_ERR_NOMEM, "input of %zu floats", d);
        for (size_t i = 0; st == XAI_OK && i < d; i++) xf[i] = (float)x[i];
        if (st == XAI_OK) st = xai_nn_explain(nc->net, name, xf, params, out, err);
    }
    if (st == XAI_OK && name != method) {
        xd_free((*out)->method);
        (*out)->method = xd_strdup(method);
    }
    xai_value_free(own);
    xd_free(xf);
    return st;
}

/* ---- sampling methods ------------------------------------------------------ */

/* The tensor space options from `space`; *baseline is malloc'd or NULL. */
static xai_status space_opts(const size_t shape[3], const xai_value *space,
                             xai_tensor_space_opts *o, double **baseline, bool *logits,
                             xai_error *err) {
    size_t d = shape[0] * shape[1] * shape[2];
    int64_t patch;
    const char *outputs;
    xai_status st;
    *baseline = NULL;
    memset(o, 0, sizeof *o);
    if ((st = xai_opt_int(space, "patch", 1, 1, (int64_t)XD_MAX(shape[1], shape[2]), &patch, err)) ||
        (st = xai_opt_float(space, "fill", 0, -HUGE_VAL, HUGE_VAL, &o->fill, err)) ||
        (st = xai_opt_str(space, "outputs", "logits", &outputs, err)))
        return st;
    if (strcmp(outputs, "logits") != 0 && strcmp(outputs, "probabilities") != 0)
        return xd_err(err, XAI_ERR_INVALID, "space.outputs must be \"logits\" or \"probabilities\"");
    *logits = strcmp(outputs, "logits") == 0;
    o->patch = (size_t)patch;
    const xai_value *b = xai_value_get(space, "baseline");
    if (b == NULL || xai_value_type(b) == XAI_V_NIL) return XAI_OK;
    if (xai_value_is_number(b)) {
        o->fill = xai_value_get_number(b);
        return XAI_OK;
    }
    size_t rows, cols;
    if ((st = xai_value_to_matrix(b, true, true, baseline, &rows, &cols, err)) != XAI_OK) return st;
    if (rows * cols != d)
        return xd_err(err, XAI_ERR_INVALID, "space.baseline has %zu numbers; the network takes %zu",
                      rows * cols, d);
    o->baseline = *baseline;
    return XAI_OK;
}

/* A registry method over a tensor space of the view, the network as the
 * model; the result's shape is the feature grid, 1 x grid_h x grid_w. */
static xai_status run_sampling(const xd_srv_net_cfg *nc, const xd_srv_net_run *run,
                               const double *x, const size_t shape[3], xai_result **out,
                               xai_error *err) {
    size_t gh = 0, gw = 0;
    xai_tensor_space_opts o;
    double *baseline = NULL;
    bool logits = true;
    xai_space *space = NULL;
    xai_eval *ev = NULL;
    xai_model model;
    xai_status st = space_opts(shape, run->space, &o, &baseline, &logits, err);
    if (st == XAI_OK) st = xai_space_tensor_new(x, shape[0], shape[1], shape[2], &o, &space, err);
    if (st != XAI_OK) goto cleanup;
    xai_nn_model(nc->net, logits, nc->name, &model);
    xai_eval_opts eo = {0, 0, run->cache, 0, false};
    if ((st = xai_eval_new(&model, space, &eo, &ev, err)) != XAI_OK) goto cleanup;
    xai_eval_set_check(ev, run->check, run->check_ctx);
    if ((st = xai_explain(ev, run->method, run->params, out, err)) != XAI_OK) goto cleanup;
    xai_space_tensor_grid(space, &gh, &gw);
    if (gh * gw == (*out)->d) {
        (*out)->rank = 3;
        (*out)->shape[0] = 1, (*out)->shape[1] = gh, (*out)->shape[2] = gw;
    }
cleanup:
    xai_eval_free(ev);
    xai_space_free(space);
    xai_free(baseline);
    return st;
}

/* A registry method over a text space of the network's tokens, the network
 * as a text model. */
static xai_status run_text_sampling(const xd_srv_net_cfg *nc, const xd_srv_net_run *run,
                                    const char *text, size_t len, xai_result **out,
                                    xai_error *err) {
    bool bow_default = strcmp(run->method, "lime") == 0, del, bow;
    const char *mask, *outputs;
    xai_tokens *toks = NULL;
    int64_t *ids = NULL;
    xai_space *space = NULL;
    xai_eval *ev = NULL;
    xai_model model;
    xai_status st;
    if ((st = xai_opt_str(run->space, "mask_token", NULL, &mask, err)) ||
        (st = xai_opt_bool(run->space, "delete", false, &del, err)) ||
        (st = xai_opt_bool(run->space, "bag_of_words", bow_default, &bow, err)) ||
        (st = xai_opt_str(run->space, "outputs", "logits", &outputs, err)))
        return st;
    if (strcmp(outputs, "logits") != 0 && strcmp(outputs, "probabilities") != 0)
        return xd_err(err, XAI_ERR_INVALID, "space.outputs must be \"logits\" or \"probabilities\"");
    xai_text_space_opts o = {mask, del, bow};
    if ((st = xai_nn_text_ids(nc->net, text, len, &toks, &ids, err)) != XAI_OK) goto cleanup;
    if ((st = xai_space_text_new(toks, &o, &space, err)) != XAI_OK) goto cleanup;
    xai_nn_text_model(nc->net, strcmp(outputs, "logits") == 0, nc->name, &model);
    xai_eval_opts eo = {0, 0, run->cache, 0, false};
    if ((st = xai_eval_new(&model, space, &eo, &ev, err)) != XAI_OK) goto cleanup;
    xai_eval_set_check(ev, run->check, run->check_ctx);
    st = xai_explain(ev, run->method, run->params, out, err);
cleanup:
    xai_eval_free(ev);
    xai_space_free(space);
    xai_free(ids);
    xai_tokens_free(toks);
    return st;
}

/* A text network's job: native per-token methods or sampling on tokens. */
static xai_status explain_text(const xd_srv_net_cfg *nc, const xd_srv_net_run *run,
                               xai_result **out, xai_error *err) {
    size_t len = 0;
    const char *text = xai_value_get_str(xai_value_get(run->input, "text"), &len);
    xai_eval_stats none = {0};
    if (text == NULL && strcmp(run->method, "activation_max") == 0) text = "", len = 0;
    if (text == NULL)
        return xd_err(err, XAI_ERR_BAD_REQUEST, "explain: %s is a text network: `input` needs \"text\"",
                      nc->name);
    xai_status st = run->check(run->check_ctx, &none, 0, err);
    if (st != XAI_OK) return st;
    if (xd_srv_net_method(run->method))
        return run_native(nc, run->method, NULL, text, len, run->params, out, err);
    return run_text_sampling(nc, run, text, len, out, err);
}

xai_status xd_srv_net_explain(const xd_srv_net_cfg *nc, const xd_srv_net_run *run,
                              xai_result **out, xai_error *err) {
    if (xai_nn_is_text(nc->net)) {
        *out = NULL;
        xai_status st = explain_text(nc, run, out, err);
        if (st == XAI_OK && (*out)->model == NULL) (*out)->model = xd_strdup(nc->name);
        return st;
    }
    double *x = NULL;
    size_t shape[3];
    xai_eval_stats none = {0};
    *out = NULL;
    if (no_input(run->method, run->input) || run->input == NULL) {
        xai_status st = run->check(run->check_ctx, &none, 0, err);
        if (st == XAI_OK) st = run_native(nc, run->method, NULL, NULL, 0, run->params, out, err);
        if (st == XAI_OK) (*out)->model = xd_strdup(nc->name);
        return st;
    }
    xai_status st = read_tensor(nc, run->input, run->space, &x, shape, err);
    if (st == XAI_OK) st = run->check(run->check_ctx, &none, 0, err);
    if (st != XAI_OK) goto cleanup;
    if (xd_srv_net_method(run->method)) {
        st = run_native(nc, run->method, x, NULL, 0, run->params, out, err);
        /* a map of the whole input takes the view's shape; Grad-CAM's keeps its own */
        if (st == XAI_OK && (*out)->d == xai_nn_input_size(nc->net) &&
            strcmp(run->method, "gradcam") != 0)
            relabel(*out, shape);
    } else
        st = run_sampling(nc, run, x, shape, out, err);
    if (st == XAI_OK && (*out)->model == NULL) (*out)->model = xd_strdup(nc->name);
cleanup:
    xai_free(x);
    return st;
}
