"""Every LaTeX table the pipeline writes compiles with pdflatex and fits its page.

Each table product (a white-box table like Table 3.1, the transfer Table 3.2,
the minimax table, the training cost, the second-step ablation, the stronger
evaluation) is written by the library from small fake results whose model,
attack and note texts carry LaTeX specials (``mnist_e2sad_S``, ``fgsm_0.3``,
``10%``, ``&``), wrapped in a minimal A4 landscape document with 1 cm margins
and compiled with ``pdflatex -halt-on-error``.  The document loads exactly
:data:`e2sad.render.LATEX_PACKAGES` (plus geometry for the page), so a table
that needs another package fails here.

The white-box and transfer tables must fit at their natural size (the
document defines ``\\EtwoSADfit`` as the identity, so the file's own
shrink-to-fit does not hide an overfull box); every table must fit as written.
Skipped when pdflatex is not installed (.ci/run installs it).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from e2sad import science
from e2sad.costs import cost_table
from e2sad.render import LATEX_PACKAGES
from e2sad.tables import render, tidy_table

pytestmark = pytest.mark.skipif(
    shutil.which("pdflatex") is None,
    reason="pdflatex not on PATH (apt-get install texlive-latex-base texlive-latex-recommended texlive-latex-extra)",
)

MODELS = [
    "mnist_natural_H",
    "mnist_natural_S",
    "mnist_fgsm03_H",
    "mnist_fgsm03_S",
    "mnist_fgsm04_H",
    "mnist_fgsm04_S",
    "mnist_ifgsm03_H",
    "mnist_ifgsm03_S",
    "mnist_e2sad_S",
]
COLUMN = {
    "natural": "Natural",
    "fgsm03": "FGSM AT eps=0.3",
    "fgsm04": "FGSM AT eps=0.4",
    "ifgsm03": "IFGSM AT eps=0.3 k=30",
    "e2sad": "e2SAD",
}
INFO = {m: {"column": COLUMN[m.split("_")[1]], "label": m[-1]} for m in MODELS}
ATTACKS = ["clean", "fgsm_0.3", "fgsm_0.4", "ifgsm_0.3_k10", "ifgsm_0.3_k30"]
SUBSTITUTES = ["mnist_natural_H", "mnist_fgsm03_H", "mnist_ifgsm03_H", "mnist_natural_S", "mnist_fgsm03_S"]
SUBSTITUTES += ["mnist_ifgsm03_S"]
NOTE = "SMOKE OUTPUT, NOT A RESULT: smoke_scale, 10% of the test set & 3 seeds"
SEEDS = (0, 1, 2)


def _acc(rng) -> float:
    return float(rng.uniform(0.0, 1.0))


def _document(tex: Path, natural_size: bool) -> str:
    fit = "\\newcommand{\\EtwoSADfit}[1]{#1}\n" if natural_size else ""
    return (
        "\\documentclass{article}\n"
        "\\usepackage[a4paper,landscape,margin=1cm]{geometry}\n"
        f"\\usepackage{{{','.join(LATEX_PACKAGES)}}}\n"
        f"{fit}"
        "\\begin{document}\n"
        f"\\input{{{tex.name}}}\n"
        "\\end{document}\n"
    )


def compile_table(tex: Path, natural_size: bool = False) -> str:
    """Compile ``tex`` inside a landscape A4 document (1 cm margins); fail with the log's errors, return the log."""
    name = f"doc_{tex.stem}_{'natural' if natural_size else 'fitted'}"
    (tex.parent / f"{name}.tex").write_text(_document(tex, natural_size))
    r = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape", f"{name}.tex"],
        cwd=tex.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    log = (tex.parent / f"{name}.log").read_text(errors="replace")
    errors = [line for line in log.splitlines() if line.startswith("!")]
    assert r.returncode == 0 and not errors, f"{tex.name} does not compile: {errors}\n{log[-2000:]}"
    assert (tex.parent / f"{name}.pdf").stat().st_size > 0
    return log


def assert_fits(log: str, what: str) -> None:
    overfull = [line for line in log.splitlines() if line.startswith("Overfull \\hbox")]
    assert not overfull, f"{what}: wider than the page: {overfull}"


# --------------------------------------------------------------------------- the products


def whitebox_tex(tmp_path: Path) -> Path:
    """A Table 3.1 (9 models, 5 attacks, 3 seeds; attack names as row labels, paper values beside)."""
    rng = np.random.default_rng(1)
    rows = pd.DataFrame(
        [
            {"model": m, "attack_name": a, "seed": s, "n": 1000, "accuracy": _acc(rng)}
            for m in MODELS
            for a in ATTACKS
            for s in SEEDS
        ]
    )
    spec = {
        "name": "table_3_1",
        "kind": "whitebox",
        "title": "Table 3.1: MNIST, accuracy under white-box attacks",
        "rows": ATTACKS,
        "row_labels": {},  # raw attack names (fgsm_0.3) in the table
        "models": MODELS,
        "model_info": INFO,
        "note": NOTE,
    }
    out = tmp_path / "table_3_1.tex"
    render(tidy_table(rows, spec), spec, tmp_path / "table_3_1.csv", out, tmp_path / "table_3_1.html")
    return out


def transfer_tex(tmp_path: Path) -> Path:
    """A Table 3.2: 6 substitutes x 9 targets, 3 seeds, cells "mean ± std (paper, difference)"."""
    rng = np.random.default_rng(2)
    rows = pd.DataFrame(
        [
            {"model": m, "substitute": sub, "attack_name": "ifgsm_0.3_k30", "seed": s, "n": 1000, "accuracy": _acc(rng)}
            for m in MODELS
            for sub in SUBSTITUTES
            for s in SEEDS
        ]
    )
    spec = {
        "name": "table_3_2",
        "kind": "transfer",
        "title": "Table 3.2: MNIST, accuracy under black-box IFGSM (eps=0.3, k=30) crafted on substitutes",
        "rows": SUBSTITUTES,
        "row_labels": {s: f"{INFO[s]['column']} ({INFO[s]['label']})" for s in SUBSTITUTES},
        "models": MODELS,
        "model_info": INFO,
        "note": NOTE,
    }
    out = tmp_path / "table_3_2.tex"
    render(tidy_table(rows, spec), spec, tmp_path / "table_3_2.csv", out, tmp_path / "table_3_2.html")
    return out


def minimax_tex(tmp_path: Path) -> Path:
    """The minimax table: no paper values, a title with an apostrophe."""
    rng = np.random.default_rng(3)
    models = ["mnist_hamm_H", "mnist_fgsm03_H"]
    rows = pd.DataFrame(
        [
            {"model": m, "attack_name": a, "seed": s, "n": 1000, "accuracy": _acc(rng)}
            for m in models
            for a in ATTACKS
            for s in SEEDS
        ]
    )
    spec = {
        "name": "minimax",
        "kind": "whitebox",
        "title": "Hamm's minimax defense (paper: robust to FGSM, no defense against IFGSM)",
        "rows": ATTACKS,
        "row_labels": {"clean": "Clean data"},
        "models": models,
        "model_info": {
            "mnist_hamm_H": {"column": "Hamm minimax", "label": "H"},
            "mnist_fgsm03_H": INFO["mnist_fgsm03_H"],
        },
        "note": NOTE,
    }
    out = tmp_path / "minimax.tex"
    render(tidy_table(rows, spec), spec, tmp_path / "minimax.csv", out, tmp_path / "minimax.html")
    return out


def cost_tex(tmp_path: Path) -> Path:
    """The training-cost table from model sidecars (names, defenses and columns with underscores)."""
    rng = np.random.default_rng(4)
    defense = {"natural": "natural", "fgsm03": "fgsm_at", "fgsm04": "fgsm_at", "ifgsm03": "ifgsm_at", "e2sad": "e2sad"}
    paths = []
    for m in MODELS + ["mnist_e2sad_S__literal"]:
        p = tmp_path / "models" / m / "seed0" / "model.pt"
        p.parent.mkdir(parents=True)
        meta = {
            "values": {
                "name": m,
                "defense": defense[m.split("_")[1]],
                "hparams": {"second_step": "random_start", "alpha": 0.5},
                "batch_size": 64,
                "steps": 100,
                "precision": "fp32",
            },
            "train": {"device": "cpu", "threads": 2, "median_step_s": float(rng.uniform(0.01, 0.3))},
            "wall_time_s": float(rng.uniform(10, 1000)),
        }
        Path(f"{p}.meta.json").write_text(json.dumps(meta))
        paths.append(str(p))
    out = tmp_path / "training_cost.tex"
    cost_table(paths, {"note": NOTE}, tmp_path / "training_cost.csv", out, tmp_path / "training_cost.html")
    return out


def ablation_tex(tmp_path: Path) -> Path:
    """The second-step ablation: 4 variants (model names with ``__``), 2 seeds, g2 sizes from sidecars."""
    rng = np.random.default_rng(5)
    variants = {
        v: ("mnist_e2sad_S" if v == "entropy" else f"mnist_e2sad_S__{v}")
        for v in ("literal", "entropy", "random_start", "clean_target")
    }
    rows, models = [], []
    for m in variants.values():
        for s in (0, 1):
            rows += [{"model": m, "attack_name": a, "accuracy": _acc(rng), "seed": s, "n": 64} for a in ATTACKS]
            p = tmp_path / "ablation" / m / f"seed{s}" / "model.pt"
            p.parent.mkdir(parents=True)
            train = {"second_step_g2_abs_mean": _acc(rng) * 1e-6, "second_step_g2_over_g1_mean": _acc(rng) * 1e-2}
            Path(f"{p}.meta.json").write_text(json.dumps({"seed": s, "values": {"name": m}, "train": train}))
            models.append(str(p))
    spec = {
        "variants": variants,
        "attacks": ATTACKS,
        "attack_labels": {"ifgsm_0.3_k10": "IFGSM eps=0.3 k=10", "ifgsm_0.3_k30": "IFGSM eps=0.3 k=30"},
        "paper_table": "table_3_1",
        "paper_model": "mnist_e2sad_S",
        "title": "Second-step ablation of mnist_e2sad_S: each reading of eq. 3.2 at the same budget and seeds",
        "note": NOTE,
    }
    tidy, verdict = science.ablation_table(pd.DataFrame(rows), science.read_g2(models), spec)
    out = tmp_path / "ablation.tex"
    science.render_ablation(tidy, verdict, spec, tmp_path / "ablation.csv", out, tmp_path / "ablation.html")
    return out


def robustness_tex(tmp_path: Path) -> Path:
    """The stronger evaluation: 9 models, the paper's attack and three stronger ones, 2 seeds, flags."""
    rng = np.random.default_rng(6)
    attacks = ["ifgsm_0.3_k30", "pgd40x5_0.3", "apgd_ce_0.3", "apgd_t_0.3"]
    rows = pd.DataFrame(
        [
            {"model": m, "attack_name": a, "seed": s, "n": 500, "accuracy": _acc(rng)}
            for m in MODELS
            for a in ["clean"] + attacks
            for s in (0, 1)
        ]
    )
    spec = {
        "models": MODELS,
        "model_info": INFO,
        "reference": "ifgsm_0.3_k30",
        "attacks": attacks,
        "clean": "clean",
        "attack_labels": {"ifgsm_0.3_k30": "IFGSM eps=0.3 k=30", "pgd40x5_0.3": "PGD-40 x5 eps=0.3"},
        "paper_table": "table_3_1",
        "flag_drop": 0.05,
        "title": "Stronger evaluation: the paper's attack beside the strongest attack found",
        "note": NOTE,
    }
    df = science.robustness_table(rows, spec)
    out = tmp_path / "robustness.tex"
    science.render_robustness(df, spec, tmp_path / "robustness.csv", out, tmp_path / "robustness.html")
    return out


def frontier_tex(tmp_path: Path) -> Path:
    """The frontier: 7 defenses x 2 protocols, five attacks, 2 seeds (the smoke plan's spec)."""
    import json

    from helpers_data import smoke_config
    from test_study import study

    rng = np.random.default_rng(7)
    spec = json.loads(json.dumps(study(smoke_config()).specs.frontier_spec()))
    spec["note"] = NOTE
    trained = list(dict.fromkeys(cell[2] for cell in spec["cells"]))
    rows = pd.DataFrame(
        [
            {"model": m, "attack_name": a, "seed": s, "n": 500, "accuracy": _acc(rng)}
            for m in trained
            for a in spec["attacks"]
            for s in (0, 1)
        ]
    )
    costs = pd.DataFrame(
        [
            {"model": m, "defense": spec["model_info"][m]["defense"], "median_step_s": 0.1 + rng.uniform()}
            for m in trained
        ]
    )
    df = science.frontier_table(rows, costs, spec)
    out = tmp_path / "frontier.tex"
    st = science.frontier_statements(df, spec)
    science.render_frontier(df, st, spec, tmp_path / "frontier.csv", out, tmp_path / "frontier.html")
    return out


PRODUCTS = {
    "whitebox": whitebox_tex,
    "transfer": transfer_tex,
    "minimax": minimax_tex,
    "training_cost": cost_tex,
    "ablation": ablation_tex,
    "robustness": robustness_tex,
    "frontier": frontier_tex,
}


# --------------------------------------------------------------------------- the tests


@pytest.mark.parametrize("product", PRODUCTS)
def test_table_compiles_and_fits_the_page(tmp_path, product):
    tex = PRODUCTS[product](tmp_path)
    text = tex.read_text()
    assert "\\begin{tabular}" in text and "\\toprule" in text
    assert_fits(compile_table(tex), product)


@pytest.mark.parametrize("product", ["whitebox", "transfer"])
def test_paper_tables_fit_at_natural_size(tmp_path, product):
    """Tables 3.1 and 3.2 fit a landscape A4 page without being scaled down (two-line cells)."""
    tex = PRODUCTS[product](tmp_path)
    assert_fits(compile_table(tex, natural_size=True), f"{product} at natural size")


def test_specials_are_escaped_and_cells_keep_their_numbers(tmp_path):
    """Underscores, %, & and ± reach LaTeX escaped; a cell keeps (paper, difference) on its second line."""
    text = transfer_tex(tmp_path).read_text()
    assert "smoke\\_scale, 10\\% of the test set \\& 3 seeds" in text
    assert "$\\pm$" in text and "±" not in text
    cell = next(line for line in text.splitlines() if "\\makecell[tl]{0." in line)
    assert " \\\\ (0." in cell and " $\\pm$ 0." in cell
    cost = cost_tex(tmp_path).read_text()
    assert "mnist\\_e2sad\\_S\\_\\_literal" in cost and "fgsm\\_at" in cost and "median\\_step\\_s" in cost


def test_a_cell_line_that_starts_with_a_bracket_is_not_read_as_a_length():
    """An interval on a makecell's second line ("0.97 \\\\ [0.95, 0.99]") would be LaTeX's ``\\\\[<length>]``
    ("Illegal unit of measure"): an empty group goes between; other lines are left as they are."""
    from e2sad.render import BREAK, tex_text

    assert tex_text(f"0.970{BREAK}[0.950, 0.990]") == "\\makecell[tl]{0.970 \\\\ {}[0.950, 0.990]}"
    assert tex_text(f"0.970{BREAK}(0.9800, -0.0100)") == "\\makecell[tl]{0.970 \\\\ (0.9800, -0.0100)}"
    assert tex_text("[0.950, 0.990]") == "[0.950, 0.990]"  # one line: no \\ before it
