"""make_text_fixture.py — writes the PyTorch reference for tests/nn_text_test.cc.

A small text CNN (Embedding 12 x 6 -> Conv1d 6->8, kernel 3, padding 1 ->
ReLU -> AdaptiveMaxPool1d(1) -> Flatten -> Linear 8->4 -> Tanh -> Linear
4->2) with seeded float32 weights is exported with xai.torch_export
(text_cnn.xnn), and for a few texts torch's logits and the autograd
per-token sums (saliency: sum over the embedding dimension of d logit_t /
d E; grad_x_input: sum of that times E) go to text_cnn_ref.msgpack. The
tokens are Python's re \\w+ matches of ASCII texts, lower-cased, which is
what xaid's PCRE2 tokenizer and ASCII folding give for them.

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
         ("Not great acting but a good movie overall", 0), ("bad", 1),
         ("the the plot was not boring at all", 1)]


def main():
    torch.manual_seed(0)
    emb = nn.Embedding(len(VOCAB), 6)
    body = nn.Sequential(nn.Conv1d(6, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveMaxPool1d(1),
                         nn.Flatten(), nn.Linear(8, 4), nn.Tanh(), nn.Linear(4, 2))
    emb.eval(), body.eval()
    torch_export.export_text(emb, body, VOCAB, os.path.join(HERE, "text_cnn.xnn"), oov=0,
                             lowercase=True, max_len=64)
    index = {w: i for i, w in enumerate(VOCAB)}
    cases = []
    for text, target in TEXTS:
        ids = [index.get(t.lower(), 0) for t in re.findall(r"\w+", text)]
        e = emb(torch.tensor([ids])).detach().requires_grad_(True)  # 1 x n x dim
        z = body(e.transpose(1, 2))
        z[0, target].backward()
        g = e.grad[0]
        cases.append({
            "text": text, "target": target,
            "logits": [float(v) for v in z[0].detach()],
            "saliency": [float(v) for v in g.sum(1)],
            "grad_x_input": [float(v) for v in (g * e[0].detach()).sum(1)],
        })
    with open(os.path.join(HERE, "text_cnn_ref.msgpack"), "wb") as f:
        f.write(msgpack.packb({"torch": torch.__version__, "cases": cases}, use_bin_type=True))


if __name__ == "__main__":
    main()
