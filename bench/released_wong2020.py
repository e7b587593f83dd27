"""Wong et al.'s released MNIST model under this engine: does the evaluation reproduce their numbers?

locuslab/fast_adversarial ships the FGSM-RS model behind its published MNIST numbers
(``MNIST/models/fgsm.pth``) and a PGD-AT one (``MNIST/models/pgd_madry.pth``): ``state_dict``s of
their ``mnist_net``.  The conversion is the library's now (:func:`e2sad.released.convert_released`,
release format ``wong2020_mnist_net``; on the command line ``python -m e2sad convert-released``,
in the workflow ``snakemake released --configfile ... config/released.yaml``, which also evaluates
them and writes their table).  This thin wrapper converts one file and prints the ``python -m e2sad
evaluate`` commands of the calibration's attacks (clean on the whole test set, PGD-50 x 10 and the
reference AutoAttack on the first ``--n`` images).  Measured figures: docs/results.md, "Their
released model under this engine".

    python -m e2sad prepare-data --dataset mnist --src ../shared/data/mnist --out /tmp/wong/mnist.pt
    python bench/released_wong2020.py --pth fgsm.pth --out /tmp/wong/fgsm.pt --data /tmp/wong/mnist.pt
"""

from __future__ import annotations

import argparse
import sys

from e2sad.errors import E2sadError
from e2sad.modelfile import save_model
from e2sad.released import RELEASES, released_model

#: the release format of their MNIST files (e2sad.released.RELEASES)
RELEASE = "wong2020_mnist_net"
#: their nn.Sequential index -> this engine's module path (wong2020_mnist): the declaration's
LAYERS = RELEASES[RELEASE].layers
ATTACKS = {
    "clean": "--attack none",
    "pgd50x10_0.3": "--attack pgd --eps 0.3 --k 50 --step 0.01 --restarts 10 --attack-seed 0",
    "autoattack_0.3": "--attack autoattack --eps 0.3 --version standard --steps 100 --attack-seed 0",
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pth", required=True, help="their MNIST/models/fgsm.pth (or pgd_madry.pth)")
    p.add_argument("--out", required=True, help="this engine's model file to write")
    p.add_argument("--data", required=True, help="prepared MNIST (python -m e2sad prepare-data)")
    p.add_argument("--n", type=int, default=1000, help="test images for PGD and AutoAttack (clean: all)")
    a = p.parse_args()
    try:
        net = released_model(a.pth, RELEASE)
    except E2sadError as exc:
        sys.exit(f"released_wong2020: {exc}")
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
