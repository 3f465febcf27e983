/* nn_attn_bench.c — speed of the native transformer encoder layer next to
 * PyTorch on the CPU: a network over sequences of T = 32 tokens of d = 64
 * features (attention with 4 heads, add, layer norm, feed-forward 64 -> 128
 * -> 64 as conv1d kernel 1 with ReLU, add, layer norm, mean over tokens,
 * dense to 2 logits; torch.nn.TransformerEncoderLayer's post-norm layout),
 * random weights (the speed does not depend on them), at batch 1 and 64:
 *   forward        the logits
 *   grad_x_input   the gradient of the predicted logit times the input
 *   lrp            LRP (conservative propagation through attention and
 *                  layer norm, epsilon elsewhere)
 * OpenBLAS on one thread; process CPU seconds per call, best of three
 * ~0.07 s windows after a warm-up (wall seconds too). When /usr/bin/python3
 * can import torch, bench/nn_torch_attn.py times torch's
 * TransformerEncoderLayer + mean + Linear of the same shape on one thread
 * (forward, and forward + backward for the input gradient), given this
 * program's grad_x_input seconds for the ratio. One JSON object per line.
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "core/core.h"
#include "xai/nn.h"

#define D 64
#define T 32
#define HEADS 4
#define FF 128

static double clock_s(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static xai_nn *encoder(void) {
    xai_nn *net = NULL;
    xai_error e;
    xai_nn_new(D, 1, T, &net, &e);
    xai_nn_add_attention(net, HEADS, &e);
    xai_nn_add_add(net, (size_t)-1, &e);
    xai_nn_add_layernorm(net, 1e-5f, &e);
    xai_nn_add_conv1d(net, FF, 1, 1, 0, &e);
    xai_nn_add_relu(net, &e);
    xai_nn_add_conv1d(net, D, 1, 1, 0, &e);
    xai_nn_add_add(net, 2, &e);
    xai_nn_add_layernorm(net, 1e-5f, &e);
    xai_nn_add_token_pool(net, XAI_NN_POOL_MEAN, &e);
    xai_nn_add_dense(net, 2, &e);
    xai_nn_init_random(net, 1);
    return net;
}

static int run(const xai_nn *net, int op, const float *x, size_t n, float *out) {
    xai_error e;
    if (op == 0) return xai_nn_logits(net, x, n, out, &e);
    if (op == 1) return xai_nn_grad_x_input(net, x, n, NULL, out, &e);
    return xai_nn_lrp(net, x, n, NULL, NULL, out, &e);
}

static double time_op(const xai_nn *net, int op, const float *x, size_t n, float *out,
                      double *wall) {
    run(net, op, x, n, out);
    double best = 1e30;
    for (int w = 0; w < 3; w++) {
        int reps = 0;
        double t0 = clock_s(CLOCK_PROCESS_CPUTIME_ID), w0 = clock_s(CLOCK_MONOTONIC), t;
        do {
            if (run(net, op, x, n, out) != XAI_OK) return -1;
            reps++;
            t = clock_s(CLOCK_PROCESS_CPUTIME_ID) - t0;
        } while (t < 0.07 && reps < 10000);
        if (t / reps < best) best = t / reps, *wall = (clock_s(CLOCK_MONOTONIC) - w0) / reps;
    }
    return best;
}

int main(int argc, char **argv) {
    (void)argc;
    xd_blas_pick_core(argv); /* as xaid does: OpenBLAS's kernels for this CPU */
    openblas_set_num_threads(1);
    static const char *const ops[] = {"forward", "grad_x_input", "lrp"};
    static const size_t batches[] = {1, 64};
    xai_nn *net = encoder();
    size_t d = xai_nn_input_size(net);
    float *x = malloc(sizeof(float) * d * 64), *out = malloc(sizeof(float) * d * 64);
    for (size_t i = 0; i < d * 64; i++) x[i] = (float)((i * 2654435761u) % 17) / 16.0f - 0.5f;
    double gxi[2] = {0, 0};
    for (int b = 0; b < 2; b++)
        for (int op = 0; op < 3; op++) {
            double wall = 0, t = time_op(net, op, x, batches[b], out, &wall);
            if (op == 1) gxi[b] = t;
            printf("{\"bench\":\"nn_attn\",\"d\":%d,\"tokens\":%d,\"heads\":%d,\"op\":\"%s\","
                   "\"batch\":%zu,\"cpu_seconds\":%.6g,\"wall_seconds\":%.6g}\n",
                   D, T, HEADS, ops[op], batches[b], t, wall);
            fflush(stdout);
        }
    if (system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") != 0) {
        printf("{\"bench\":\"nn_attn_torch\",\"torch\":\"absent\"}\n");
    } else {
        char cmd[256];
        snprintf(cmd, sizeof cmd, "/usr/bin/python3 bench/nn_torch_attn.py %.6g %.6g", gxi[0], gxi[1]);
        fflush(stdout);
        if (system(cmd) != 0) printf("{\"bench\":\"nn_attn_torch\",\"error\":\"nn_torch_attn.py failed\"}\n");
    }
    free(x), free(out);
    xai_nn_free(net);
    return 0;
}
