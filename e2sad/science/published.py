"""Published results the study is checked against, each declared once with the training that
produced it (network, steps, batch), so that the frontier draws it at its own training cost.

The paper's own numbers stay in ``e2sad/paper_values.csv`` (a point here names the table and
model to read them from); other methods' numbers are transcribed here, keyed by the attack
names of ``config.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .common import paper_column


@dataclass(frozen=True)
class Published:
    """One published model: what it is, how it was trained, what it reads under which attack.

    ``accuracies``: attack name (config.yaml) -> published accuracy; ``paper``: (table, model) of
    ``paper_values.csv`` to read them from instead; ``tolerance``: attack name -> how close a
    reproduction must land (its source's words, or the issue's target); ``n_test``: the test images
    it was published on (a reproduction is compared on the same number of images only);
    ``recipe``: the training keys of its recipe beyond ``steps`` and ``batch_size`` (optimizer, lr,
    schedule, eps_warmup, as ``training.<dataset>`` names them): a reproduction is compared only
    when it trained by them (empty: not checked)."""

    key: str
    defense: str
    label: str
    source: str
    dataset: str
    network: str
    steps: int
    batch_size: int
    accuracies: dict = field(default_factory=dict)
    paper: tuple[str, str] | None = None
    tolerance: dict = field(default_factory=dict)
    n_test: int = 10_000
    recipe: dict = field(default_factory=dict)

    def values(self) -> dict[str, float]:
        """The published accuracies by attack name."""
        return paper_column(*self.paper) if self.paper else dict(self.accuracies)


PUBLISHED = (
    Published(
        key="wong2020_fgsm_rs",
        defense="fgsm_rs",
        label="FGSM-RS, Wong et al. 2020",
        source=(
            "Wong, Rice, Kolter 2020, 'Fast is better than free', MNIST eps 0.3 (clean 98.50 %, PGD-50 x 10 "
            "restarts 88.77 %); AutoAttack 82.88 % in Croce and Hein's MNIST table (their released model)"
        ),
        dataset="mnist",
        network="wong2020_mnist",
        steps=6000,  # 10 epochs of 60,000 / 100
        batch_size=100,
        accuracies={"clean": 0.9850, "pgd50x10_0.3": 0.8877, "autoattack_0.3": 0.8288},
        # the calibration's target: within 2 points clean and PGD, within 3 under AutoAttack
        tolerance={"clean": 0.02, "pgd50x10_0.3": 0.02, "autoattack_0.3": 0.03},
        # train_mnist.py: Adam, cyclic lr 0 -> 5e-3 -> 0; eps 0.3 from the first step (no warm-up)
        recipe={"optimizer": "adam", "lr": 0.005, "schedule": "cyclic", "eps_warmup": 0.0},
    ),
    Published(
        key="paper_e2sad",
        defense="e2sad",
        label="e2SAD, the paper (Table 3.1)",
        source="the thesis, Table 3.1 (MNIST, Table A.1 network, 30,000 iterations of batch 256)",
        dataset="mnist",
        network="cnn_a1",
        steps=30000,
        batch_size=256,
        paper=("table_3_1", "mnist_e2sad_S"),
    ),
)


def published_for(defense: str) -> list[Published]:
    return [p for p in PUBLISHED if p.defense == defense]
