"""nn_torch_attn.py — PyTorch's side of bench/nn_attn_bench.c: the same encoder
shape (TransformerEncoderLayer d_model 64, 4 heads, feed-forward 128, post-norm,
ReLU, batch_first, eval, then the mean over 32 tokens and Linear 64 -> 2) on
one CPU thread, timed like the native bench (process CPU seconds per call,
best of three ~0.07 s windows after a warm-up):
  forward        the logits, under no_grad
  grad_x_input   forward and backward of the predicted logit, times x
Usage: nn_torch_attn.py NATIVE_GXI_B1 NATIVE_GXI_B64 (seconds, for the ratio
torch_over_native: > 1 means the native engine is faster). One JSON line each.
"""
import json
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
import torch  # noqa: E402

torch.set_num_threads(1)


def best(fn):
    fn()
    out = 1e30
    for _ in range(3):
        reps, t0 = 0, time.process_time()
        while True:
            fn()
            reps += 1
            t = time.process_time() - t0
            if t >= 0.07 or reps >= 10000:
                break
        out = min(out, t / reps)
    return out


def main():
    native = [float(v) for v in sys.argv[1:3]] if len(sys.argv) >= 3 else [0, 0]
    torch.manual_seed(0)
    enc = torch.nn.TransformerEncoderLayer(64, 4, dim_feedforward=128, dropout=0.0,
                                           batch_first=True).eval()
    fc = torch.nn.Linear(64, 2).eval()
    for b, nat in zip((1, 64), native):
        x = torch.rand(b, 32, 64) - 0.5

        def fwd():
            with torch.no_grad():
                fc(enc(x).mean(1))

        def gxi():
            xi = x.clone().requires_grad_(True)
            z = fc(enc(xi).mean(1))
            z.gather(1, z.argmax(1, keepdim=True)).sum().backward()
            return xi.grad * xi

        for op, fn in (("forward", fwd), ("grad_x_input", gxi)):
            t = best(fn)
            line = {"bench": "nn_attn_torch", "op": op, "batch": b, "threads": 1,
                    "cpu_seconds": round(t, 9), "torch": torch.__version__}
            if op == "grad_x_input" and nat > 0:
                line["native_seconds"] = nat
                line["torch_over_native"] = round(t / nat, 3)
            print(json.dumps(line))


if __name__ == "__main__":
    main()
