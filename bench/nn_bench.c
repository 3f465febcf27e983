/* nn_bench.c — speed of the native network engine on the digits networks:
 * forward, gradient x input, LRP-epsilon and integrated gradients (50 steps)
 * at batch 1, 64 and 1024, in seconds per call and GFLOP/s, next to the
 * sgemm GFLOP/s this program measures on the same machine: at 1024^3
 * (sgemm_gflops) and at the exact shapes of the network's own products for
 * that batch (shape_sgemm_gflops, the fair ceiling for small layers). For
 * integrated gradients the network sees n x steps rows (every node of every
 * sample), so its ceiling is measured at n x 50 rows, capped at IG_ROWS_CAP
 * to bound the benchmark's memory (the rate no longer grows there; the
 * line's "ceiling_rows" says which count was used).
 *
 * Networks come from examples/digits/{mlp,cnn}.xnn (run from the repository
 * root); where a file is missing, a random network of the same architecture
 * stands in (the speed does not depend on the weights). FLOPs count the
 * multiply-adds of dense and conv layers (2 per weight per output position);
 * a backward pass through a layer costs what its forward does, so gradient x
 * input and LRP-epsilon are 2x the forward count and IG is steps x that.
 * OpenBLAS runs on one thread and times are process CPU seconds (wall
 * seconds are printed too): on a shared machine CPU time is the stable
 * measure, and one thread makes the engine and sgemm comparable.
 * At the end, when /usr/bin/python3 can import torch, bench/nn_torch.py times
 * PyTorch on the same networks and inputs (passed this program's gradient x
 * input times for the ratio); otherwise one line says torch is absent.
 * One JSON object per line.
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "core/core.h"
#include "xai/nn.h"

static double clock_s(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double now(void) {
    return clock_s(CLOCK_PROCESS_CPUTIME_ID);
}

/* sgemm rate on an n x n x n product: best of 8 runs after a warm-up. */
static double sgemm_gflops(int n) {
    float *a = malloc(sizeof(float) * (size_t)n * n), *b = malloc(sizeof(float) * (size_t)n * n);
    float *c = malloc(sizeof(float) * (size_t)n * n);
    for (int i = 0; i < n * n; i++) a[i] = (float)(i % 7) * 0.1f, b[i] = (float)(i % 5) * 0.2f;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
    double best = 1e30;
    for (int r = 0; r < 8; r++) {
        double t0 = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
        double t = now() - t0;
        best = t < best ? t : best;
    }
    free(a), free(b), free(c);
    return 2.0 * n * n * (double)n / best * 1e-9;
}

/* sgemm rate at the exact shapes of a forward pass over n samples: for
 * each dense/conv layer the O x (n * out_h * out_w) x K product it runs
 * (im2col folds the batch into the columns), best of 5, total FLOPs over
 * total time. The fair reference for small layers, whose products run
 * below the n x n x n rate. */
static double shape_sgemm_gflops(const xai_nn *net, size_t n) {
    double flops = 0, secs = 0;
    for (size_t l = 0; l < xai_nn_n_layers(net); l++) {
        size_t nw, nb, s[3];
        xai_nn_get_weights(net, l, NULL, &nw, NULL, &nb);
        if (nb == 0) continue;
        xai_nn_layer_shape(net, l, s);
        int M = (int)nb, K = (int)(nw / nb), N = (int)(n * s[1] * s[2]);
        float *a = calloc((size_t)M * K, sizeof *a), *b = calloc((size_t)K * N, sizeof *b);
        float *c = calloc((size_t)M * N, sizeof *c);
        double best = 1e30;
        for (int r = 0; r < 5; r++) {
            double t0 = now();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1, a, K, b, N, 0, c, N);
            double t = now() - t0;
            best = t < best ? t : best;
        }
        free(a), free(b), free(c);
        flops += 2.0 * M * (double)N * K;
        secs += best;
    }
    return secs > 0 ? flops / secs * 1e-9 : 0;
}

/* Multiply-add FLOPs of one forward pass of one sample. */
static double forward_flops(const xai_nn *net) {
    double f = 0;
    for (size_t l = 0; l < xai_nn_n_layers(net); l++) {
        size_t nw, s[3];
        xai_nn_get_weights(net, l, NULL, &nw, NULL, NULL);
        xai_nn_layer_shape(net, l, s);
        f += 2.0 * (double)nw * (double)(s[1] * s[2]);
    }
    return f;
}

static xai_nn *digits_net(const char *path, int cnn) {
    xai_nn *net = NULL;
    xai_error e;
    if (xai_nn_load(path, &net, &e) == XAI_OK) return net;
    if (cnn) {
        xai_nn_new(1, 8, 8, &net, &e);
        xai_nn_add_conv2d(net, 16, 3, 3, 1, 1, &e), xai_nn_add_relu(net, &e);
        xai_nn_add_maxpool2d(net, 2, 0, &e);
        xai_nn_add_conv2d(net, 32, 3, 3, 1, 1, &e), xai_nn_add_relu(net, &e);
        xai_nn_add_maxpool2d(net, 2, 0, &e), xai_nn_add_flatten(net, &e);
    } else {
        xai_nn_new(64, 1, 1, &net, &e);
        xai_nn_add_dense(net, 256, &e), xai_nn_add_relu(net, &e);
        xai_nn_add_dense(net, 256, &e), xai_nn_add_relu(net, &e);
    }
    xai_nn_add_dense(net, 10, &e), xai_nn_add_softmax(net, &e);
    xai_nn_init_random(net, 1);
    return net;
}

enum { OP_FORWARD, OP_GXI, OP_LRP, OP_IG };
#define IG_STEPS 50
#define IG_ROWS_CAP 4096
static const char *const op_names[] = {"forward", "grad_x_input", "lrp_epsilon", "ig50"};

static int run_op(const xai_nn *net, int op, const float *x, size_t n, float *out) {
    xai_error e;
    switch (op) {
    case OP_FORWARD:
        return xai_nn_forward(net, x, n, out, &e);
    case OP_GXI:
        return xai_nn_grad_x_input(net, x, n, NULL, out, &e);
    case OP_LRP:
        return xai_nn_lrp(net, x, n, NULL, NULL, out, &e);
    default:
        return xai_nn_integrated_gradients(net, x, n, NULL, NULL, out, NULL, &e);
    }
}

/* CPU seconds per call (wall seconds in *wall): the best of three windows,
 * each repeating the call until ~0.07 s of CPU have passed (at least once),
 * after one warm-up call. The best window is the least disturbed by other
 * processes on a shared machine. */
static double time_op(const xai_nn *net, int op, const float *x, size_t n, float *out,
                      double *wall) {
    run_op(net, op, x, n, out);
    double best = 1e30;
    for (int w = 0; w < 3; w++) {
        int reps = 0;
        double t0 = now(), w0 = clock_s(CLOCK_MONOTONIC), t;
        do {
            if (run_op(net, op, x, n, out) != XAI_OK) return -1;
            reps++;
            t = now() - t0;
        } while (t < 0.07 && reps < 10000);
        if (t / reps < best) {
            best = t / reps;
            *wall = (clock_s(CLOCK_MONOTONIC) - w0) / reps;
        }
    }
    return best;
}

/* PyTorch on the same networks (bench/nn_torch.py), given gxi[net][batch]:
 * this program's gradient x input CPU seconds per call. */
static void torch_reference(const char *const names[2], const size_t batches[3],
                            double gxi[2][3]) {
    if (system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") != 0) {
        printf("{\"bench\":\"nn_torch\",\"torch\":\"absent\"}\n");
        return;
    }
    char cmd[1024];
    int len = snprintf(cmd, sizeof cmd, "/usr/bin/python3 bench/nn_torch.py --native ");
    for (int k = 0; k < 2; k++)
        for (int b = 0; b < 3; b++)
            len += snprintf(cmd + len, sizeof cmd - (size_t)len, "%s%s:%zu:%.6g",
                            k + b ? "," : "", names[k], batches[b], gxi[k][b]);
    fflush(stdout);
    if (system(cmd) != 0) printf("{\"bench\":\"nn_torch\",\"error\":\"nn_torch.py failed\"}\n");
}

int main(int argc, char **argv) {
    (void)argc;
    xd_blas_pick_core(argv); /* as xaid does: OpenBLAS's kernels for this CPU */
    openblas_set_num_threads(1);
    double peak = sgemm_gflops(1024);
    printf("{\"bench\":\"nn\",\"op\":\"sgemm\",\"n\":1024,\"gflops\":%.2f}\n", peak);
    const char *const names[2] = {"mlp", "cnn"};
    double gxi[2][3] = {{0}};
    const char *paths[2] = {"examples/digits/mlp.xnn", "examples/digits/cnn.xnn"};
    const size_t batches[3] = {1, 64, 1024};
    for (int k = 0; k < 2; k++) {
        xai_nn *net = digits_net(paths[k], k);
        size_t d = xai_nn_input_size(net);
        double ff = forward_flops(net);
        float *x = malloc(sizeof(float) * d * 1024), *out = malloc(sizeof(float) * d * 1024);
        for (size_t i = 0; i < d * 1024; i++) x[i] = (float)((i * 2654435761u) % 17) / 16.0f;
        for (int b = 0; b < 3; b++) {
            size_t n = batches[b];
            size_t ig_rows = n * IG_STEPS < IG_ROWS_CAP ? n * IG_STEPS : IG_ROWS_CAP;
            double tf = 0, shape_n = shape_sgemm_gflops(net, n);
            double shape_ig = shape_sgemm_gflops(net, ig_rows);
            for (int op = 0; op < 4; op++) {
                double wall = 0, t = time_op(net, op, x, n, out, &wall);
                double mult = op == OP_FORWARD ? 1 : op == OP_IG ? 2 * IG_STEPS + 2 : 2;
                double shape = op == OP_IG ? shape_ig : shape_n;
                double gf = mult * ff * (double)n / t * 1e-9;
                if (op == OP_FORWARD) tf = t;
                if (op == OP_GXI) gxi[k][b] = t;
                printf("{\"bench\":\"nn\",\"net\":\"%s\",\"op\":\"%s\",\"batch\":%zu,\"cpu_"
                       "seconds\":%.6g,"
                       "\"wall_seconds\":%.6g,"
                       "\"gflops\":%.3f,\"sgemm_gflops\":%.2f,\"fraction_of_sgemm\":%.3f,"
                       "\"shape_sgemm_gflops\":%.2f,\"fraction_of_shape_sgemm\":%.3f,"
                       "\"ceiling_rows\":%zu",
                       names[k], op_names[op], n, t, wall, gf, peak, gf / peak, shape,
                       gf / shape, op == OP_IG ? ig_rows : n);
                if (op == OP_GXI || op == OP_LRP)
                    printf(",\"backward_over_forward\":%.2f", (t - tf) / tf);
                printf("}\n");
                fflush(stdout);
            }
        }
        free(x);
        free(out);
        xai_nn_free(net);
    }
    torch_reference(names, batches, gxi);
    return 0;
}
