/* log.c — clocks and structured log lines on stderr.
 *
 * A log line is `ts=<unix seconds> level=<level> msg="<msg>" <k=v tail>`,
 * written with one write() so lines from threads never interleave. The level
 * threshold is process-wide configuration set once at start-up by the
 * program (not by the library), the one piece of global state here.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "core.h"

static volatile int log_threshold = XD_LOG_INFO;

void xd_log_set_level(xd_log_level level) { log_threshold = (int)level; }

double xd_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double xd_thread_cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void xd_log(xd_log_level level, const char *msg, const char *fmt, ...) {
    static const char *const names[] = {"debug", "info", "warn", "error"};
    if ((int)level < log_threshold) return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char line[1024];
    int n = snprintf(line, sizeof line, "ts=%lld.%03ld level=%s msg=\"%s\"",
                     (long long)ts.tv_sec, ts.tv_nsec / 1000000L, names[level], msg);
    if (n < 0) return;
    if ((size_t)n < sizeof line - 2 && fmt != NULL && fmt[0] != '\0') {
        line[n++] = ' ';
        va_list ap;
        va_start(ap, fmt);
        int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
        va_end(ap);
        if (m > 0) n += m;
    }
    if ((size_t)n > sizeof line - 2) n = (int)sizeof line - 2;
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, (size_t)n);
    (void)w;
}
