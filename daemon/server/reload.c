/* reload.c — config generations and SIGHUP: read the config again and
 * switch to it without dropping a running job.
 *
 * A generation is a config plus one link per model and the default
 * tokenizer under its max_tokens (server.h). The front
 * thread holds the current one; a job takes a reference to it when it is
 * accepted and drops it when it ends, so a job runs start to end on the
 * models, networks and limits it was accepted with. On SIGHUP the front
 * thread asks the loader (main.c: the file and the flags, as at start) for
 * a new config, builds a generation from it — keeping the link of every
 * model whose endpoint, kind, timeout and retries are unchanged, so it stays
 * connected and ready — and swaps it in; the old generation dies with its
 * last job, and with it the links of removed or changed models.
 *
 * What a reload cannot change: `bind`, `workers` and `cache_bytes` (the
 * socket, the threads and the cache exist once); a new value is logged as
 * needing a restart and the running one kept. A config that does not load
 * (a syntax error, a missing file, a bad network) or whose links cannot
 * start is logged with the reason and changes nothing.
 */
#include <string.h>
#include "server.h"

xai_status xd_srv_gen_new(xd_srv_config *cfg, const xd_srv_gen *old, xd_srv_gen **out,
                          xai_error *err) {
    xd_srv_gen *g = xd_calloc(1, sizeof *g);
    g->cfg = cfg;
    atomic_init(&g->refs, 1);
    g->links = xd_calloc(cfg->n_models ? cfg->n_models : 1, sizeof *g->links);
    xai_regex_limits lim = {0, 0, 0, cfg->max_tokens};
    xai_status st = xai_tokenizer_new(NULL, &lim, &g->tok, err);
    for (size_t i = 0; st == XAI_OK && i < cfg->n_models; i++) {
        const xd_srv_model_cfg *m = &cfg->models[i];
        for (size_t j = 0; old && j < old->cfg->n_models && !g->links[i]; j++)
            if (strcmp(old->cfg->models[j].name, m->name) == 0 && xd_srv_link_same(old->links[j], m))
                g->links[i] = xd_srv_link_retain(old->links[j]);
        if (!g->links[i]) st = xd_srv_link_start(m, &g->links[i], err);
    }
    if (st != XAI_OK) {
        xd_srv_gen_release(g);
        g = NULL;
    }
    *out = g;
    return st;
}

xd_srv_gen *xd_srv_gen_retain(xd_srv_gen *g) {
    if (g) atomic_fetch_add(&g->refs, 1);
    return g;
}

void xd_srv_gen_release(xd_srv_gen *g) {
    if (g == NULL || atomic_fetch_sub(&g->refs, 1) != 1) return;
    for (size_t i = 0; i < g->cfg->n_models; i++) xd_srv_link_release(g->links[i]);
    xd_free(g->links);
    xai_tokenizer_free(g->tok);
    xd_srv_config_free(g->cfg);
    xd_free(g->cfg);
    xd_free(g);
}

void xd_srv_set_loader(xd_srv *s, xd_srv_loader fn, void *ctx) {
    s->loader = fn;
    s->loader_ctx = ctx;
}

void xd_srv_request_reload(xd_srv *s) {
    atomic_store(&s->reload, true);
    xd_srv_wake(s->wake_fd);
}

/* Keeps the settings a reload cannot change, logging any new value. */
static void keep_fixed(const xd_srv_config *old, xd_srv_config *c) {
    if (strcmp(old->bind, c->bind) != 0) {
        xd_log(XD_LOG_WARN, "config reload: bind needs a restart", "running=%s new=%s", old->bind, c->bind);
        xd_free(c->bind);
        c->bind = xd_strdup(old->bind);
    }
    if (old->workers != c->workers)
        xd_log(XD_LOG_WARN, "config reload: workers needs a restart", "running=%d new=%d", old->workers,
               c->workers);
    if (old->cache_bytes != c->cache_bytes)
        xd_log(XD_LOG_WARN, "config reload: cache_bytes needs a restart", "running=%zu new=%zu",
               old->cache_bytes, c->cache_bytes);
    c->workers = old->workers;
    c->cache_bytes = old->cache_bytes;
}

/* Counts models of b missing from a (by name). */
static size_t missing(const xd_srv_config *a, const xd_srv_config *b) {
    size_t n = 0;
    for (size_t i = 0; i < b->n_models; i++) {
        bool found = false;
        for (size_t j = 0; j < a->n_models && !found; j++) found = strcmp(a->models[j].name, b->models[i].name) == 0;
        n += !found;
    }
    return n;
}

void xd_srv_reload(xd_srv *s) {
    xai_error err = {0};
    xd_srv_config *c = NULL;
    if (s->loader == NULL) {
        xd_log(XD_LOG_WARN, "config reload ignored", "reason=\"no config loader\"");
        return;
    }
    xai_status st = s->loader(s->loader_ctx, &c, &err);
    xd_srv_gen *g = NULL;
    if (st == XAI_OK) {
        keep_fixed(s->cfg, c);
        st = xd_srv_gen_new(c, s->gen, &g, &err);   /* takes c */
    }
    if (st != XAI_OK) {
        s->reload_failures++;
        xd_log(XD_LOG_ERROR, "config reload failed; the running config is kept", "error=\"%s\"",
               err.message);
        return;
    }
    size_t added = missing(s->cfg, g->cfg), removed = missing(g->cfg, s->cfg), kept = 0;
    for (size_t i = 0; i < g->cfg->n_models; i++)
        for (size_t j = 0; j < s->cfg->n_models; j++) kept += g->links[i] == s->links[j];
    xd_srv_gen *old = s->gen;
    s->gen = g;
    s->cfg = g->cfg;
    s->links = g->links;
    xd_log_set_level(g->cfg->log_level);
    s->reloads++;
    xd_log(XD_LOG_INFO, "config reloaded", "models=%zu added=%zu removed=%zu links_kept=%zu nets=%zu",
           g->cfg->n_models, added, removed, kept, g->cfg->n_nets);
    xd_srv_gen_release(old);
}
