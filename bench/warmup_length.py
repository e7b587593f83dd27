"""How long an eps warm-up do PGD-AT and TRADES need to leave chance on the calibrated network?

Issue 30 item 2a: on Wong et al.'s MNIST network with the verdict's recipe (batch 100, Adam, cyclic
lr to 5e-3) at the x1 equal-cost budget, PGD-AT and TRADES at eps 0.3 stay at chance (loss ln 10).
This trains each with ``eps_warmup`` in a grid, for a few seeds, with the verdict's own models'
hyperparameters and steps (read from the plan of config/verdict.yaml), and prints per run the
final training loss, the clean accuracy and the PGD-20 accuracy on a seeded sample of test images,
and whether the run trained (:mod:`e2sad.science.trained`).  Run it alone on the machine.

    python bench/warmup_length.py --fractions 0 0.1 0.2 0.4 --seeds 0 1 --n 500
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import yaml  # noqa: E402
from snakemake.utils import update_config  # noqa: E402

from e2sad.attacks import run_attack  # noqa: E402
from e2sad.config.schema import MODEL_META  # noqa: E402
from e2sad.data import load_prepared, prepare  # noqa: E402
from e2sad.evaluate import accuracy, evaluation_images  # noqa: E402
from e2sad.plan import Plan, load_study  # noqa: E402
from e2sad.science.trained import did_it_train, final_loss  # noqa: E402
from e2sad.train import Recipe, RunOptions, train  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="+", default=["mnist_pgd_at_H__equal_cost", "mnist_trades_H__equal_cost"])
    ap.add_argument("--fractions", nargs="+", type=float, default=[0.0, 0.1, 0.2, 0.4])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    ap.add_argument("--n", type=int, default=500, help="test images (a sample drawn with seed 0)")
    ap.add_argument("--data", default="/tmp/warmup/mnist.pt")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    update_config(cfg, yaml.safe_load((REPO / "config/verdict.yaml").read_text()))
    plan = Plan.of(load_study(cfg, base_dir=REPO))
    st = plan.study
    if not Path(a.data).is_file():
        Path(a.data).parent.mkdir(parents=True, exist_ok=True)
        prepare("mnist", "idx", REPO / "../shared/data/mnist", a.data, channels=1, size=28, classes=10)
    data = load_prepared(a.data)
    x, y = evaluation_images(data, a.n, sample_seed=0)
    print("model | eps_warmup | seed | steps | final loss | clean | PGD-20 | trained | seconds")
    for name in a.models:
        m, t = st.models[name], st.training_of(name)
        hp = {k: v for k, v in m.items() if k not in MODEL_META}
        for frac in a.fractions:
            for seed in a.seeds:
                recipe = Recipe(
                    dataset="mnist", defense=m["defense"], hparams=hp, steps=st.steps_of(name),
                    batch_size=t["batch_size"], optimizer=t["optimizer"], lr=t["lr"], schedule=t["schedule"],
                    seed=seed, network=st.config["data"]["mnist"]["network"], eps_warmup=frac,
                )  # fmt: skip
                started = time.time()
                model, summary = train(data=data, recipe=recipe, options=RunOptions(progress_every=0))
                model.eval()
                clean = accuracy(model, x, y)
                adv = run_attack(model, x, y, "pgd", {"eps": 0.3, "k": 20, "step": 0.025}, batch_size=500)
                robust = accuracy(model, adv, y)
                loss = final_loss(summary["final_terms"])
                ok = did_it_train(name, seed, clean, loss, 10)
                print(
                    f"{name} | {frac:g} | {seed} | {recipe.steps} | {loss:.3f} | {clean:.3f} | {robust:.3f} | "
                    f"{'yes' if ok.trained else 'NO'} | {time.time() - started:.0f}",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
