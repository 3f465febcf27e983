"""make_transformer_fixture.py — writes the PyTorch reference for tests/nn_attn_test.cc.

A small transformer text classifier with seeded float32 weights: Embedding
12 x 8 -> nn.TransformerEncoderLayer(d_model 8, 2 heads, feed-forward 16,
batch_first, dropout 0, eval) -> mean over the tokens -> Linear 8 -> 2,
exported with xai.torch_export.export_text (transformer.xnn). For a few
texts: torch's logits, the autograd per-token sums (saliency and
grad_x_input, summed over the embedding dimension) and the attention
weights of both heads (need_weights, average_attn_weights=False) go to
transformer_ref.msgpack. Tokens are re's \\w+ matches of ASCII texts,
lower-cased, as xaid's tokenizer gives them.

Run from the repository root with /usr/bin/python3 (needs python3-torch,
which is not a dependency of the project: the outputs are committed).
"""
import importlib.util
import os
import re

import msgpack
import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location(
    "torch_export", os.path.join(HERE, "..", "..", "lang", "python", "xai", "torch_export.py"))
torch_export = importlib.util.module_from_spec(spec)
spec.loader.exec_module(torch_export)

VOCAB = ["<unk>", "the", "movie", "good", "bad", "not", "plot", "great", "boring", "acting",
         "a", "was"]
TEXTS = [("The movie was GOOD", 0), ("a boring, bad plot", 1),
         ("Not great acting but a good movie overall", 0), ("bad", 1)]


class TokenPool(nn.Module):
    """Mean over the tokens of (N, T, D); exported as token_pool by class name."""
    mode = "mean"

    def forward(self, x):
        return x.mean(1)


def main():
    torch.manual_seed(0)
    emb = nn.Embedding(len(VOCAB), 8)
    enc = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0, batch_first=True)
    body = nn.Sequential(enc, TokenPool(), nn.Linear(8, 2))
    emb.eval(), body.eval()
    torch_export.export_text(emb, body, VOCAB, os.path.join(HERE, "transformer.xnn"), oov=0,
                             lowercase=True, max_len=64)
    index = {w: i for i, w in enumerate(VOCAB)}
    cases = []
    for text, target in TEXTS:
        ids = [index.get(t.lower(), 0) for t in re.findall(r"\w+", text)]
        e = emb(torch.tensor([ids])).detach().requires_grad_(True)  # 1 x n x dim
        z = body(e)
        z[0, target].backward()
        g = e.grad[0]
        with torch.no_grad():
            _, w = enc.self_attn(e, e, e, need_weights=True, average_attn_weights=False)
        cases.append({
            "text": text, "target": target,
            "logits": [float(v) for v in z[0].detach()],
            "saliency": [float(v) for v in g.sum(1)],
            "grad_x_input": [float(v) for v in (g * e[0].detach()).sum(1)],
            "attention": [float(v) for v in w[0].reshape(-1)],  # heads x n x n
        })
    with open(os.path.join(HERE, "transformer_ref.msgpack"), "wb") as f:
        f.write(msgpack.packb({"torch": torch.__version__, "cases": cases}, use_bin_type=True))


if __name__ == "__main__":
    main()
