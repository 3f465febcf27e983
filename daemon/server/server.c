/* server.c — the life cycle of the daemon: build every part from a config,
 * run the front loop, shut down in order.
 *
 * Start order: the first config generation (reload.c: one link per model,
 * each starting to ask its model `info`, and the default tokenizer), the
 * cache (shared by all jobs), the front ROUTER socket, then the workers.
 * Stop order is the reverse, after the front loop has drained the jobs:
 * workers are joined first (no job can then hold a generation), then the
 * last generation goes and its links stop, then sockets and shared state
 * are freed, and the ipc://
 * socket file of the front is removed. A socket file at the bind address
 * that a live process listens on refuses the start; one left by a crash
 * is removed (check_ipc).
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <zmq.h>
#include "server.h"

ptrdiff_t xd_srv_model_index(const xd_srv *s, const char *name) {
    for (size_t i = 0; i < s->cfg->n_models; i++)
        if (strcmp(s->cfg->models[i].name, name) == 0) return (ptrdiff_t)i;
    for (size_t i = 0; i < s->cfg->n_nets; i++)
        if (strcmp(s->cfg->nets[i].name, name) == 0) return (ptrdiff_t)(s->cfg->n_models + i);
    return -1;
}

const xd_srv_net_cfg *xd_srv_cfg_net_at(const xd_srv_config *c, size_t i) {
    return i >= c->n_models && i - c->n_models < c->n_nets ? &c->nets[i - c->n_models] : NULL;
}

const char *xd_srv_cfg_model_name(const xd_srv_config *c, size_t i) {
    const xd_srv_net_cfg *nc = xd_srv_cfg_net_at(c, i);
    return nc ? nc->name : i < c->n_models ? c->models[i].name : "?";
}

const xd_srv_net_cfg *xd_srv_net_at(const xd_srv *s, size_t i) { return xd_srv_cfg_net_at(s->cfg, i); }

const char *xd_srv_model_name(const xd_srv *s, size_t i) { return xd_srv_cfg_model_name(s->cfg, i); }

/* The socket file of an ipc:// endpoint, or NULL for another transport. */
static const char *ipc_path(const char *ep) {
    return strncmp(ep, "ipc://", 6) == 0 && ep[6] != '@' && ep[6] != '\0' ? ep + 6 : NULL;
}

/* Before binding an ipc:// endpoint: a socket file some process still
 * listens on (a connect succeeds) is another xaid, and starting would steal
 * its clients (libzmq unlinks the file and binds anew), so that is an
 * error; a file nobody listens on is left from a crash and is removed. */
static xai_status check_ipc(const char *path, xai_error *err) {
    struct stat st;
    if (stat(path, &st) != 0) return XAI_OK;
    if (!S_ISSOCK(st.st_mode))
        return xd_err(err, XAI_ERR_IO, "cannot bind ipc://%s: the file exists and is no socket", path);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path)
        return xd_err(err, XAI_ERR_IO, "ipc path %s is too long", path);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return xd_err(err, XAI_ERR_IO, "socket: %s", strerror(errno));
    int rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    int e = errno;
    close(fd);
    if (rc == 0)
        return xd_err(err, XAI_ERR_IO, "another process (an xaid?) is serving ipc://%s; stop it "
                      "first or bind elsewhere", path);
    if (e != ECONNREFUSED && e != ENOENT)
        return xd_err(err, XAI_ERR_IO, "cannot check ipc://%s: %s", path, strerror(e));
    xd_log(XD_LOG_WARN, "stale socket file removed", "path=%s", path);
    unlink(path);
    return XAI_OK;
}

static xai_status bind_front(xd_srv *s, xai_error *err) {
    int zero = 0, hwm = 100000;
    int64_t maxmsg = (int64_t)XD_MIN(s->cfg->max_message_bytes * 2 + 4096, (size_t)INT64_MAX / 4);
    s->zctx = zmq_ctx_new();
    s->sock = s->zctx ? zmq_socket(s->zctx, ZMQ_ROUTER) : NULL;
    if (s->sock == NULL) return xd_err(err, XAI_ERR_IO, "zmq: %s", zmq_strerror(zmq_errno()));
    zmq_setsockopt(s->sock, ZMQ_LINGER, &zero, sizeof zero);
    /* ROUTER drops what a peer's full pipe cannot take; allow a client that
     * reads slowly plenty of progress events before that happens. */
    zmq_setsockopt(s->sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    /* Messages up to twice the limit are read and refused with
     * limit_exceeded; larger ones make ZeroMQ drop the connection. */
    zmq_setsockopt(s->sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    const char *path = ipc_path(s->cfg->bind);
    xai_status st = path ? check_ipc(path, err) : XAI_OK;
    if (st != XAI_OK) return st;
    if (zmq_bind(s->sock, s->cfg->bind) != 0)
        return xd_err(err, XAI_ERR_IO, "cannot bind %s: %s", s->cfg->bind, zmq_strerror(zmq_errno()));
    if (path) s->ipc_file = xd_strdup(path);
    return XAI_OK;
}

xai_status xd_srv_new(xd_srv_config *cfg, xd_srv **out, xai_error *err) {
    xd_srv *s = xd_calloc(1, sizeof *s);
    *out = NULL;
    s->started = xd_now();
    atomic_init(&s->stopping, false);
    atomic_init(&s->reload, false);
    s->out = xd_srv_outbox_new();
    s->wake_fd = xd_srv_wake_new();
    xai_status st = s->wake_fd < 0 ? xd_err(err, XAI_ERR_IO, "eventfd failed") : XAI_OK;
    if (st == XAI_OK) st = xd_srv_gen_new(cfg, NULL, &s->gen, err);
    else {
        xd_srv_config_free(cfg);
        xd_free(cfg);
    }
    if (s->gen) s->cfg = s->gen->cfg, s->links = s->gen->links;
    if (st == XAI_OK && cfg->cache_bytes > 0) st = xai_cache_new(cfg->cache_bytes, &s->cache, err);
    if (st == XAI_OK) st = bind_front(s, err);
    if (st == XAI_OK) st = xd_srv_jobs_start(s, err);
    if (st != XAI_OK) {
        xd_srv_free(s);
        return st;
    }
    *out = s;
    return XAI_OK;
}

xai_status xd_srv_run(xd_srv *s, xai_error *err) {
    xd_log(XD_LOG_INFO, "xaid serving", "bind=%s workers=%d models=%zu nets=%zu version=%s",
           s->cfg->bind, s->cfg->workers, s->cfg->n_models, s->cfg->n_nets, XAI_VERSION_STRING);
    xai_status st = xd_srv_front_loop(s, s->sock);
    if (st != XAI_OK) return xd_err(err, st, "front loop: %s", zmq_strerror(zmq_errno()));
    return XAI_OK;
}

void xd_srv_shutdown(xd_srv *s) {
    atomic_store(&s->stopping, true);
    xd_srv_wake(s->wake_fd);
}

void xd_srv_free(xd_srv *s) {
    if (s == NULL) return;
    if (s->jobs) {
        xd_srv_jobs_cancel_all(s, XAI_ERR_SHUTDOWN);
        xd_srv_jobs_stop(s);
    }
    xd_srv_gen_release(s->gen);     /* the jobs' references are gone: links stop */
    if (s->sock) zmq_close(s->sock);
    if (s->zctx) zmq_ctx_term(s->zctx);
    if (s->ipc_file) unlink(s->ipc_file);   /* ours: checked free at bind */
    xd_free(s->ipc_file);
    xai_cache_free(s->cache);
    xd_srv_outbox_free(s->out);
    if (s->wake_fd >= 0) close(s->wake_fd);
    xd_free(s);
}
