"""nn_torch.py — the native engine's reference point: PyTorch on the CPU
running the same digits networks, timed the way bench/nn_bench.c times the
native engine.

The .xnn files (docs/NN_FORMAT.md) are decoded here and their float32
weights copied into an equivalent torch.nn.Sequential, so both engines run
identical networks on identical inputs (the bench's x[i] = (i * 2654435761
mod 17) / 16). Timed per call, best of three ~0.1 s windows after a warm-up:
  forward        model(x) up to the softmax
  grad_x_input   the gradient of each sample's predicted logit times x
at batch 1, 64 and 1024, with torch.set_num_threads(1) (against the native
engine's single-threaded OpenBLAS) and with every core. Times are wall
seconds (torch's threads make process CPU time a sum over cores) and process
CPU seconds.

Torch's BLAS and OpenMP pools size themselves when torch is imported, so
each thread setting runs in its own child process: "1" with
OMP_NUM_THREADS=OPENBLAS_NUM_THREADS=MKL_NUM_THREADS=1 and
torch.set_num_threads(1) (its process CPU time then equals its wall time),
"all" with the environment as given and every core.

Usage: python3 bench/nn_torch.py [--native NET:BATCH:SECONDS,...]
With --native (nn_bench.c passes its gradient x input CPU seconds per call),
grad_x_input lines also carry native_seconds and torch_over_native (> 1: the
native engine is faster): torch's CPU seconds over the native CPU seconds on
one thread (like against like: on a shared machine wall time also counts the
time other processes held the core), its wall seconds with every core.
One JSON object per line; a line saying torch is absent when it cannot be
imported.
"""

import json
import os
import subprocess
import sys
import time

import msgpack
import numpy as np

try:
    import torch
except ImportError:
    torch = None

NETS = (("mlp", "examples/digits/mlp.xnn"), ("cnn", "examples/digits/cnn.xnn"))
BATCHES = (1, 64, 1024)


def floats(b, shape):
    return torch.from_numpy(np.frombuffer(b, dtype="<f4").astype(np.float32).reshape(shape))


def set_params(mod, layer, wshape):
    with torch.no_grad():
        mod.weight.copy_(floats(layer["weight"], wshape))
        if "bias" in layer:
            mod.bias.copy_(floats(layer["bias"], (layer["out"],)))
        else:
            mod.bias.zero_()


def build(doc):
    """torch.nn.Sequential equal to the decoded file, and its input shape."""
    c, h, w = doc["input"]
    mods = []
    for L in doc["layers"]:
        t = L["type"]
        if t == "dense":
            m = torch.nn.Linear(c * h * w, L["out"])
            set_params(m, L, (L["out"], c * h * w))
            c, h, w = L["out"], 1, 1
        elif t == "conv2d":
            kh, kw = L["kernel"]
            s, p = L.get("stride", 1), L.get("padding", 0)
            m = torch.nn.Conv2d(c, L["out"], (kh, kw), stride=s, padding=p)
            set_params(m, L, (L["out"], c, kh, kw))
            c, h, w = L["out"], (h + 2 * p - kh) // s + 1, (w + 2 * p - kw) // s + 1
        elif t in ("maxpool2d", "avgpool2d"):
            k = L["kernel"]
            s = L.get("stride", k)
            cls = torch.nn.MaxPool2d if t == "maxpool2d" else torch.nn.AvgPool2d
            m = cls(k, stride=s)
            h, w = (h - k) // s + 1, (w - k) // s + 1
        elif t == "global_avgpool":
            m, h, w = torch.nn.AdaptiveAvgPool2d(1), 1, 1
        elif t == "flatten":
            m, c, h, w = torch.nn.Flatten(), c * h * w, 1, 1
        elif t == "softmax":
            m = torch.nn.Softmax(dim=1)
        else:
            m = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh,
                 "sigmoid": torch.nn.Sigmoid}[t]()
        mods.append(m)
    return torch.nn.Sequential(*mods), doc["input"]


def inputs(shape, n):
    d = shape[0] * shape[1] * shape[2]
    i = np.arange(d * n, dtype=np.uint64)
    x = ((i * np.uint64(2654435761)) % np.uint64(17)).astype(np.float32) / 16.0
    if shape[1] == 1 and shape[2] == 1:
        return torch.from_numpy(x.reshape(n, d))
    return torch.from_numpy(x.reshape(n, *shape))


def grad_x_input(logits_net, x):
    xg = x.clone().requires_grad_(True)
    z = logits_net(xg)
    z.gather(1, z.argmax(1, keepdim=True)).sum().backward()
    return xg.grad * x


def time_call(fn):
    """(wall, cpu) seconds per call: best of three windows of ~0.1 s."""
    fn()
    best = (1e30, 1e30)
    for _ in range(3):
        reps, w0, c0 = 0, time.perf_counter(), time.process_time()
        while True:
            fn()
            reps += 1
            wall = time.perf_counter() - w0
            if wall >= 0.1 or reps >= 10000:
                break
        cpu = time.process_time() - c0
        if wall / reps < best[0]:
            best = (wall / reps, cpu / reps)
    return best


def parse_native(argv):
    native = {}
    if "--native" in argv and argv.index("--native") + 1 < len(argv):
        for item in argv[argv.index("--native") + 1].split(","):
            name, batch, secs = item.split(":")
            native[(name, int(batch))] = float(secs)
    return native


def run_children(argv):
    """One child per thread setting (see the top), their lines passed on."""
    one = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    status = 0
    for env, threads in ((one, "1"), (dict(os.environ), "all")):
        status |= subprocess.call([sys.executable, argv[0], "--threads", threads] + argv[1:],
                                  env=env)
    return status


def main(argv):
    if torch is None:
        print(json.dumps({"bench": "nn_torch", "torch": "absent"}))
        return 0
    if "--threads" not in argv:
        return run_children(argv)
    native = parse_native(argv)
    setting = argv[argv.index("--threads") + 1]
    threads = 1 if setting == "1" else (os.cpu_count() or 1)
    torch.set_num_threads(threads)
    for name, path in NETS:
        if not os.path.exists(path):
            print(json.dumps({"bench": "nn_torch", "net": name, "skipped": path + " missing"}))
            continue
        with open(path, "rb") as f:
            model, shape = build(msgpack.unpackb(f.read(), raw=False))
        model.eval()
        has_softmax = isinstance(model[-1], torch.nn.Softmax)
        logits_net = model[:-1] if has_softmax else model
        for n in BATCHES:
            x = inputs(shape, n)
            for op in ("forward", "grad_x_input"):
                if op == "forward":
                    def fn():
                        with torch.no_grad():
                            return model(x)
                else:
                    def fn():
                        return grad_x_input(logits_net, x)
                wall, cpu = time_call(fn)
                line = {"bench": "nn_torch", "torch": torch.__version__, "net": name, "op": op,
                        "batch": n, "threads": threads, "wall_seconds": float("%.6g" % wall),
                        "cpu_seconds": float("%.6g" % cpu)}
                if op == "grad_x_input" and (name, n) in native:
                    line["native_seconds"] = native[(name, n)]
                    torch_s = cpu if threads == 1 else wall
                    line["torch_over_native"] = round(torch_s / native[(name, n)], 2)
                print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
