"""Wong et al.'s released MNIST model under this engine: does the evaluation reproduce their numbers?

locuslab/fast_adversarial ships the FGSM-RS model behind its published MNIST numbers
(``MNIST/models/fgsm.pth``: a ``state_dict`` of their ``mnist_net``, an ``nn.Sequential`` whose
layers 0, 2, 5, 7 are this engine's ``wong2020_mnist`` ``features.0``, ``features.2``,
``classifier.1``, ``classifier.3``).  This script renames the keys, checks the shapes by loading
the result into ``wong2020_mnist``, writes it as this engine's model file and prints the
``python -m e2sad evaluate`` commands of the calibration's attacks (clean on the whole test set,
PGD-50 x 10 and the reference AutoAttack on the first ``--n`` images).  Measured figures:
docs/results.md, "Their released model under this engine".

    python -m e2sad prepare-data --dataset mnist --src ../shared/data/mnist --out /tmp/wong/mnist.pt
    python bench/released_wong2020.py --pth fgsm.pth --out /tmp/wong/fgsm.pt --data /tmp/wong/mnist.pt
"""

from __future__ import annotations

import argparse
import sys

import torch

from e2sad.modelfile import save_model
from e2sad.models import build_model

#: their nn.Sequential index -> this engine's module path (wong2020_mnist)
LAYERS = {"0": "features.0", "2": "features.2", "5": "classifier.1", "7": "classifier.3"}
ATTACKS = {
    "clean": "--attack none",
    "pgd50x10_0.3": "--attack pgd --eps 0.3 --k 50 --step 0.01 --restarts 10 --attack-seed 0",
    "autoattack_0.3": "--attack autoattack --eps 0.3 --version standard --steps 100 --attack-seed 0",
}


def convert(state: dict) -> dict:
    """Their keys ('0.weight', ...) renamed to wong2020_mnist's; one line naming any key it does not know."""
    out = {}
    for key, value in state.items():
        layer, _, param = key.partition(".")
        if layer not in LAYERS:
            sys.exit(f"released_wong2020: key {key!r} is not one of mnist_net's layers {sorted(LAYERS)}")
        out[f"{LAYERS[layer]}.{param}"] = value
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pth", required=True, help="their MNIST/models/fgsm.pth")
    p.add_argument("--out", required=True, help="this engine's model file to write")
    p.add_argument("--data", required=True, help="prepared MNIST (python -m e2sad prepare-data)")
    p.add_argument("--n", type=int, default=1000, help="test images for PGD and AutoAttack (clean: all)")
    a = p.parse_args()
    net = build_model("wong2020_mnist", "none", 1, 28, 10)
    net.load_state_dict(convert(torch.load(a.pth, map_location="cpu", weights_only=True)))
    save_model(net, a.out)
    common = (
        f"--dataset mnist --network wong2020_mnist --normalization none --batch-size 500 --device auto "
        f"--seed 0 --threads 1 --model {a.out} --data {a.data}"
    )
    for name, args in ATTACKS.items():
        n = 10_000 if name == "clean" else a.n
        print(
            f"python -m e2sad evaluate --name wong2020_released --attack-name {name} {args} --n {n} {common} "
            f"--out {a.out}.{name}.json"
        )


if __name__ == "__main__":
    main()
