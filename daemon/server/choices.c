/* choices.c — errors about unknown names (model, method, parameter, space
 * key, class) that list the valid choices and the closest one.
 *
 * The error event keeps its code and message and gains two fields, so every
 * client can show them without parsing the message (docs/PROTOCOL.md,
 * "Errors"): `choices`, the valid names in their configured order, and
 * `suggestion`, the closest one by edit distance (xai_suggest), present only
 * when one is close enough. The message says the same in words.
 */
#include <stdio.h>
#include <string.h>
#include "server.h"
#include "xai/methods.h"

void xd_srv_choices_add(xd_srv_choices *c, const char *name) {
    if (name && c->n < XD_SRV_MAX_CHOICES) c->list[c->n++] = name;
}

const char *xd_srv_choices_copy(xd_srv_choices *c, const char *name) {
    size_t len = strlen(name) + 1;
    if (c->n >= XD_SRV_MAX_CHOICES || len > sizeof c->copies - c->used) return NULL;
    char *dst = c->copies + c->used;
    memcpy(dst, name, len);
    c->used += len;
    c->list[c->n++] = dst;
    return dst;
}

const char *xd_srv_choices_suggest(const xd_srv_choices *c) {
    return xai_suggest(c->word, c->list, c->n);
}

void xd_srv_choices_message(char *buf, size_t len, const char *what, const xd_srv_choices *c) {
    const char *near = xd_srv_choices_suggest(c);
    int at = snprintf(buf, len, "%s", what);
    if (near && at >= 0 && (size_t)at < len)
        at += snprintf(buf + at, len - (size_t)at, "; did you mean \"%s\"?", near);
    for (size_t i = 0; i < c->n && at >= 0 && (size_t)at < len; i++)
        at += snprintf(buf + at, len - (size_t)at, "%s%s", i ? ", " : " (choices: ", c->list[i]);
    if (c->n && at >= 0 && (size_t)at < len) snprintf(buf + at, len - (size_t)at, ")");
    if (c->n == 0 && at >= 0 && (size_t)at < len) snprintf(buf + at, len - (size_t)at, " (none configured)");
}

xai_value *xd_srv_error_event_choices(uint64_t job, int64_t req, xai_status code,
                                      const char *message, const xd_srv_choices *c) {
    xai_value *m = xd_srv_error_event(job, req, code, message);
    if (m == NULL || c == NULL) return m;
    xai_value *list = xai_value_array();
    for (size_t i = 0; list && i < c->n; i++) xai_value_push(list, xai_value_str(c->list[i]));
    const char *near = xd_srv_choices_suggest(c);
    if (xai_value_set(m, "choices", list) != XAI_OK ||
        (near && xai_value_set_str(m, "suggestion", near) != XAI_OK)) {
        xai_value_free(m);
        return NULL;
    }
    return m;
}

xai_status xd_srv_check_keys(const xai_value *m, const char *const *allowed, const char *what,
                             xd_srv_choices *ch, xai_error *err) {
    if (m == NULL || xai_value_type(m) == XAI_V_NIL) return XAI_OK;
    if (xai_value_type(m) != XAI_V_MAP)
        return xd_err(err, XAI_ERR_BAD_REQUEST, "explain: `%s` must be a map", what);
    for (size_t i = 0; i < xai_value_len(m); i++) {
        const char *k = xai_value_key_at(m, i);
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++) ok = strcmp(*a, k) == 0;
        if (ok) continue;
        xd_srv_choices local, *c = ch ? ch : &local;
        memset(c, 0, sizeof *c);
        c->word = k;
        for (const char *const *a = allowed; *a; a++) xd_srv_choices_add(c, *a);
        char what_msg[200], msg[XAI_ERRMSG_MAX];
        snprintf(what_msg, sizeof what_msg, "%s: unknown option \"%.64s\"", what, k);
        xd_srv_choices_message(msg, sizeof msg, what_msg, c);
        return xd_err(err, XAI_ERR_INVALID, "%s", msg);
    }
    return XAI_OK;
}
