/* main.c — the xaid program: flags, config, signals, run.
 *
 * The config file (--config) is read first, whatever the flag order, and
 * the other flags then override it: --bind, --model name=kind@endpoint
 * (repeatable; adds or replaces), --workers, --log-level. Native networks
 * (`net` lines) are loaded while the file is read. SIGTERM and SIGINT
 * start a graceful shutdown (new explains get shutting_down, running jobs
 * get shutdown_grace_ms, then are cancelled) and xaid exits 0. A bad config
 * or flag exits 2 with one clear line; a failure to start (bind, files)
 * exits 1.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include "core/core.h"
#include "server/server.h"

static xd_srv *volatile running_server;

static void on_signal(int sig) {
    (void)sig;
    xd_srv *s = running_server;
    if (s) xd_srv_shutdown(s);
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: xaid [--config FILE] [--bind EP] [--model name=kind@endpoint]...\n"
            "            [--workers N] [--log-level debug|info|warn|error] [--help] [--version]\n"
            "Explains predictions of models served over ZeroMQ. See docs/CONFIG.md and\n"
            "docs/PROTOCOL.md.\n");
}

/* The value of flag argv[*i] (either "--flag value" or "--flag=value"). */
static const char *flag_value(int argc, char **argv, int *i, const char *name) {
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0) return NULL;
    if (argv[*i][n] == '=') return argv[*i] + n + 1;
    if (argv[*i][n] != '\0') return NULL;
    if (*i + 1 >= argc) return "";
    return argv[++*i];
}

/* Applies the flags after the config file. 0 ok, 1 exit 0 (help/version),
 * -1 error (message printed). */
static int apply_flags(xd_srv_config *cfg, int argc, char **argv) {
    const char *v;
    xai_error err = {0};
    for (int i = 1; i < argc; i++) {
        xai_status st = XAI_OK;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 1;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("xaid %s (protocol %d)\n", XAI_VERSION_STRING, XAI_PROTOCOL_VERSION);
            return 1;
        } else if ((v = flag_value(argc, argv, &i, "--config"))) {
            continue; /* read before */
        } else if ((v = flag_value(argc, argv, &i, "--bind"))) {
            st = xd_srv_config_set(cfg, "bind", v, &err);
        } else if ((v = flag_value(argc, argv, &i, "--model"))) {
            st = xd_srv_config_model_flag(cfg, v, &err);
        } else if ((v = flag_value(argc, argv, &i, "--workers"))) {
            st = xd_srv_config_set(cfg, "workers", v, &err);
        } else if ((v = flag_value(argc, argv, &i, "--log-level"))) {
            st = xd_srv_config_set(cfg, "log_level", v, &err);
        } else {
            fprintf(stderr, "xaid: unknown argument \"%s\"\n", argv[i]);
            usage(stderr);
            return -1;
        }
        if (st != XAI_OK) {
            fprintf(stderr, "xaid: %s\n", err.message);
            return -1;
        }
    }
    return 0;
}

static int load_config(xd_srv_config *cfg, int argc, char **argv) {
    xai_error err = {0};
    for (int i = 1; i < argc; i++) {
        const char *v = flag_value(argc, argv, &i, "--config");
        if (v && xd_srv_config_file(cfg, v, &err) != XAI_OK) {
            fprintf(stderr, "xaid: %s\n", err.message);
            return -1;
        }
    }
    int r = apply_flags(cfg, argc, argv);
    if (r != 0) return r;
    if (xd_srv_config_finish(cfg, &err) != XAI_OK) {
        fprintf(stderr, "xaid: %s\n", err.message);
        return -1;
    }
    return 0;
}

static void install_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int main(int argc, char **argv) {
    xd_blas_pick_core(argv);    /* OpenBLAS's fast kernels on CPUs it does not know */
    xd_alloc_keep_freed();      /* jobs reuse the memory of the jobs before */
    xd_srv_config cfg;
    xd_srv_config_init(&cfg);
    int r = load_config(&cfg, argc, argv);
    if (r != 0) {
        xd_srv_config_free(&cfg);
        return r > 0 ? 0 : 2;
    }
    xd_log_set_level(cfg.log_level);
    for (size_t i = 0; i < cfg.n_models; i++)
        xd_log(XD_LOG_INFO, "model configured", "name=%s kind=%s endpoint=%s timeout_ms=%d retries=%d",
               cfg.models[i].name, cfg.models[i].kind == XAI_INPUT_TEXT ? "text" : "tabular",
               cfg.models[i].endpoint, cfg.models[i].timeout_ms, cfg.models[i].retries);
    for (size_t i = 0; i < cfg.n_nets; i++) {
        size_t sh[3];
        xai_nn_layer_shape(cfg.nets[i].net, (size_t)-1, sh);
        xd_log(XD_LOG_INFO, "net loaded", "name=%s path=%s input=%zux%zux%zu layers=%zu logits=%zu",
               cfg.nets[i].name, cfg.nets[i].path, sh[0], sh[1], sh[2],
               xai_nn_n_layers(cfg.nets[i].net), xai_nn_n_logits(cfg.nets[i].net));
    }
    xai_error err = {0};
    xd_srv *s = NULL;
    int code = 0;
    if (xd_srv_new(&cfg, &s, &err) != XAI_OK) {
        xd_log(XD_LOG_ERROR, "cannot start", "error=\"%s\"", err.message);
        code = 1;
    } else {
        running_server = s;
        install_signals();
        if (xd_srv_run(s, &err) != XAI_OK) {
            xd_log(XD_LOG_ERROR, "stopped on an error", "error=\"%s\"", err.message);
            code = 1;
        }
        running_server = NULL;
        xd_srv_free(s);
        xd_log(XD_LOG_INFO, "xaid stopped", "code=%d", code);
    }
    xd_srv_config_free(&cfg);
    return code;
}
