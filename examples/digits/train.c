/* train.c — trains the two digits networks of the examples with the native
 * engine's SGD and saves them in the xnn format.
 *
 *   python3 examples/digits/export_data.py        # writes data/digits.csv
 *   train [data/digits.csv] [out_dir]             # writes mlp.xnn, cnn.xnn
 *
 * Data: sklearn's 8x8 digits (1797 images), pixels scaled to [0, 1], split
 * by a seeded shuffle into 1437 training and 360 test images (the same split
 * every run). Networks:
 *   mlp  64 -> 256 -> relu -> 256 -> relu -> 10 -> softmax
 *   cnn  1x8x8 -> conv 16 (3x3, pad 1) -> relu -> maxpool 2 -> conv 32 (3x3,
 *        pad 1) -> relu -> maxpool 2 -> flatten -> 10 -> softmax
 * Mini-batch SGD (batch 32) with a step size that decays linearly; the test
 * accuracy is printed as a JSON line per network and each must reach 95%.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "xai/nn.h"
#include "xai/rng.h"

#define N_MAX 2000
#define D 64

typedef struct data {
    size_t n;
    float x[N_MAX * D];
    int32_t y[N_MAX];
} data;

static int load_csv(const char *path, data *all) {
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "train: cannot open %s (run examples/digits/export_data.py)\n", path);
        return -1;
    }
    all->n = 0;
    int label;
    while (all->n < N_MAX && fscanf(f, "%d", &label) == 1) {
        for (size_t j = 0; j < D; j++) {
            int v;
            if (fscanf(f, ",%d", &v) != 1) {
                fclose(f);
                fprintf(stderr, "train: bad line %zu\n", all->n + 1);
                return -1;
            }
            all->x[all->n * D + j] = (float)v / 16.0f;
        }
        all->y[all->n++] = label;
    }
    fclose(f);
    return all->n > 100 ? 0 : -1;
}

/* Seeded shuffle, then the first 80% train and the rest test. */
static void split(const data *all, data *tr, data *te) {
    size_t idx[N_MAX];
    for (size_t i = 0; i < all->n; i++) idx[i] = i;
    xai_rng r;
    xai_rng_seed(&r, 2024, 0);
    xai_rng_shuffle(&r, idx, all->n);
    size_t ntr = all->n * 4 / 5;
    tr->n = te->n = 0;
    for (size_t i = 0; i < all->n; i++) {
        data *d = i < ntr ? tr : te;
        memcpy(d->x + d->n * D, all->x + idx[i] * D, D * sizeof(float));
        d->y[d->n++] = all->y[idx[i]];
    }
}

static double accuracy(const xai_nn *net, const data *d) {
    float z[N_MAX * 10];
    xai_error e;
    if (xai_nn_logits(net, d->x, d->n, z, &e) != XAI_OK) return -1;
    size_t ok = 0;
    for (size_t s = 0; s < d->n; s++) {
        size_t best = 0;
        for (size_t j = 1; j < 10; j++)
            if (z[s * 10 + j] > z[s * 10 + best]) best = j;
        ok += best == (size_t)d->y[s];
    }
    return (double)ok / (double)d->n;
}

static int train(xai_nn *net, const data *tr, int epochs, float lr0) {
    enum { B = 32 };
    size_t idx[N_MAX];
    float xb[B * D];
    int32_t yb[B];
    xai_rng r;
    xai_rng_seed(&r, 7, 1);
    for (size_t i = 0; i < tr->n; i++) idx[i] = i;
    for (int ep = 0; ep < epochs; ep++) {
        float lr = lr0 * (1.0f - (float)ep / (float)epochs);
        xai_rng_shuffle(&r, idx, tr->n);
        double loss_sum = 0;
        size_t steps = 0;
        for (size_t s0 = 0; s0 + B <= tr->n; s0 += B) {
            for (size_t i = 0; i < B; i++) {
                memcpy(xb + i * D, tr->x + idx[s0 + i] * D, D * sizeof(float));
                yb[i] = tr->y[idx[s0 + i]];
            }
            double loss;
            xai_error e;
            if (xai_nn_sgd_step(net, xb, yb, B, lr, &loss, &e) != XAI_OK) {
                fprintf(stderr, "train: %s\n", e.message);
                return -1;
            }
            loss_sum += loss;
            steps++;
        }
        if (ep % 10 == 9)
            fprintf(stderr, "  epoch %d loss %.4f\n", ep + 1, loss_sum / (double)steps);
    }
    return 0;
}

static xai_nn *build(int cnn) {
    xai_nn *net = NULL;
    xai_error e;
    int ok =
        cnn ? xai_nn_new(1, 8, 8, &net, &e) == XAI_OK &&
                  xai_nn_add_conv2d(net, 16, 3, 3, 1, 1, &e) == XAI_OK &&
                  xai_nn_add_relu(net, &e) == XAI_OK &&
                  xai_nn_add_maxpool2d(net, 2, 0, &e) == XAI_OK &&
                  xai_nn_add_conv2d(net, 32, 3, 3, 1, 1, &e) == XAI_OK &&
                  xai_nn_add_relu(net, &e) == XAI_OK &&
                  xai_nn_add_maxpool2d(net, 2, 0, &e) == XAI_OK &&
                  xai_nn_add_flatten(net, &e) == XAI_OK
            : xai_nn_new(D, 1, 1, &net, &e) == XAI_OK && xai_nn_add_dense(net, 256, &e) == XAI_OK &&
                  xai_nn_add_relu(net, &e) == XAI_OK && xai_nn_add_dense(net, 256, &e) == XAI_OK &&
                  xai_nn_add_relu(net, &e) == XAI_OK;
    ok = ok && xai_nn_add_dense(net, 10, &e) == XAI_OK && xai_nn_add_softmax(net, &e) == XAI_OK;
    if (!ok) {
        fprintf(stderr, "train: %s\n", e.message);
        xai_nn_free(net);
        return NULL;
    }
    xai_nn_init_random(net, cnn ? 11 : 12);
    return net;
}

int main(int argc, char **argv) {
    const char *csv = argc > 1 ? argv[1] : "examples/digits/data/digits.csv";
    const char *dir = argc > 2 ? argv[2] : "examples/digits";
    static data all, tr, te;
    if (load_csv(csv, &all) != 0) return 1;
    split(&all, &tr, &te);
    int rc = 0;
    for (int cnn = 0; cnn <= 1; cnn++) {
        const char *name = cnn ? "cnn" : "mlp";
        xai_nn *net = build(cnn);
        if (net == NULL || train(net, &tr, 40, cnn ? 0.1f : 0.05f) != 0) return 1;
        double acc = accuracy(net, &te);
        char path[512];
        snprintf(path, sizeof path, "%s/%s.xnn", dir, name);
        xai_error e;
        if (xai_nn_save(net, path, &e) != XAI_OK) {
            fprintf(stderr, "train: %s\n", e.message);
            rc = 1;
        }
        printf("{\"net\":\"%s\",\"train\":%zu,\"test\":%zu,\"train_accuracy\":%.4f,"
               "\"test_accuracy\":%.4f,\"file\":\"%s\"}\n",
               name, tr.n, te.n, accuracy(net, &tr), acc, path);
        if (acc < 0.95) rc = 1;
        xai_nn_free(net);
    }
    return rc;
}
