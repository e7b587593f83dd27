"""Like with like (issue 30 item 4): the frontier's cells on a seeded random sample of the test set
(frontier.sample_seed), the paper's tables on the first n as before; each table says which."""

from __future__ import annotations

import torch
from helpers_data import smoke_config
from test_study import study

from e2sad.evaluate import evaluation_images, first_n
from e2sad.science.common import images_text


def _data(total: int = 50) -> dict:
    return {"x_test": torch.arange(total).float().view(total, 1, 1, 1), "y_test": torch.arange(total), "dataset": "t"}


def test_a_seeded_sample_is_the_same_images_every_time_and_not_the_first_n():
    data = _data()
    x, y = evaluation_images(data, 10, sample_seed=0)
    x2, y2 = evaluation_images(data, 10, sample_seed=0)
    assert torch.equal(y, y2) and torch.equal(x, x2)  # the same images for every model and attack
    assert len(set(y.tolist())) == 10 and y.tolist() == sorted(y.tolist())  # without replacement, in order
    assert y.tolist() != list(range(10))  # not the first 10
    assert not torch.equal(y, evaluation_images(data, 10, sample_seed=1)[1])
    assert torch.equal(evaluation_images(data, 10)[1], first_n(data, 10)[1])  # no seed: the first n, as before
    assert torch.equal(evaluation_images(data, None, sample_seed=3)[1], data["y_test"])  # all: no sample to draw


def test_only_the_frontier_samples_and_its_table_says_which_images():
    cfg = smoke_config()
    cfg["frontier"]["sample_seed"] = 7
    p = study(cfg)
    fr = p.study.frontier
    assert "--sample-seed 7" in p.commands.eval_args("mnist_e2sad_S", fr)
    assert "--sample-seed" not in p.commands.eval_args("mnist_e2sad_S")  # the paper's tables: first n
    assert p.specs.frontier_spec()["config"]["sample_seed"] == 7
    assert images_text(1000, 7) == "a random sample of 1,000 test images (seed 7)"
    assert images_text(1000, None) == "the first 1,000 test images" and images_text(None) == "all test images"
    plain = study(smoke_config())
    assert "--sample-seed" not in plain.commands.eval_args("mnist_e2sad_S", plain.study.frontier)


def test_a_statements_models_take_their_own_seeds_fixed_before_the_run():
    """frontier.model_seeds: e2SAD and IFGSM-AT on more seeds than the rest (item 6), trained and
    evaluated on exactly those; a seed outside ``seeds`` or a model outside the frontier is one line."""
    import pytest

    from e2sad.errors import ConfigError

    cfg = smoke_config()
    cfg["seeds"] = [0, 1, 2]
    cfg["frontier"]["seeds"] = [0]
    cfg["frontier"]["model_seeds"] = {"mnist_e2sad_S": [0, 1, 2], "mnist_ifgsm03_H": [0, 1, 2]}
    p = study(cfg)
    files = p.frontier.model_files()
    assert {f for f in files if "/mnist_e2sad_S/" in f} == {p.study.model_file("mnist_e2sad_S", s) for s in (0, 1, 2)}
    assert [f for f in files if "/mnist_natural_H/" in f] == [p.study.model_file("mnist_natural_H", 0)]
    evals = p.frontier.inputs()
    assert sum("/mnist_ifgsm03_H/seed2/" in f for f in evals) == len(p.study.frontier["attacks"])
    for bad, match in (
        ({"mnist_e2sad_S": [5]}, r"frontier.model_seeds.mnist_e2sad_S.0: seed 5 is not in seeds"),
        ({"mnist_hamm_H": [0]}, r"frontier.model_seeds.mnist_hamm_H: model 'mnist_hamm_H' is not one of"),
    ):
        cfg["frontier"]["model_seeds"] = bad
        with pytest.raises(ConfigError, match=match):
            study(cfg)
    cfg["frontier"]["model_seeds"] = None  # an overlay drops an earlier file's: every model on seeds
    assert {f for f in study(cfg).frontier.model_files() if "/mnist_e2sad_S/" in f} == {
        p.study.model_file("mnist_e2sad_S", 0)
    }
