"""make_resnet_fixture.py — writes the PyTorch reference for tests/nn_graph_test.cc.

A small ResNet-like network on 2 x 8 x 8 inputs, seeded float32 weights and
batch-norm statistics, in eval mode: conv-bn-relu, an identity block
(conv-bn-relu-conv-bn + x, relu), a strided block with a 1x1 strided conv
shortcut (relu), global average pooling, linear to 3 logits. The blocks are
modules of class Residual (body, shortcut), which xai.torch_export exports
as branches joined by add layers (resnet_block.xnn). For three inputs,
torch's logits and the autograd gradient of one logit with respect to the
input go to resnet_block_ref.msgpack.

Run from the repository root with /usr/bin/python3 (needs python3-torch,
which is not a dependency of the project: the outputs are committed).
"""
import importlib.util
import os

import msgpack
import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location(
    "torch_export", os.path.join(HERE, "..", "..", "lang", "python", "xai", "torch_export.py"))
torch_export = importlib.util.module_from_spec(spec)
spec.loader.exec_module(torch_export)


class Residual(nn.Module):
    def __init__(self, body, shortcut=None):
        super().__init__()
        self.body, self.shortcut = body, shortcut

    def forward(self, x):
        return self.body(x) + (x if self.shortcut is None else self.shortcut(x))


def main():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
        Residual(nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                               nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4))),
        nn.ReLU(),
        Residual(nn.Sequential(nn.Conv2d(4, 6, 3, stride=2, padding=1), nn.ReLU(),
                               nn.Conv2d(6, 6, 3, padding=1)),
                 shortcut=nn.Sequential(nn.Conv2d(4, 6, 1, stride=2))),
        nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 3))
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    model.eval()
    torch_export.export(model, (2, 8, 8), os.path.join(HERE, "resnet_block.xnn"))
    cases = []
    for i in range(3):
        x = torch.randn(1, 2, 8, 8, requires_grad=True)
        z = model(x)
        target = i % 3
        z[0, target].backward()
        cases.append({"x": [float(v) for v in x.detach().reshape(-1)], "target": target,
                      "logits": [float(v) for v in z[0].detach()],
                      "grad": [float(v) for v in x.grad.reshape(-1)]})
    with open(os.path.join(HERE, "resnet_block_ref.msgpack"), "wb") as f:
        f.write(msgpack.packb({"torch": torch.__version__, "cases": cases}, use_bin_type=True))


if __name__ == "__main__":
    main()
