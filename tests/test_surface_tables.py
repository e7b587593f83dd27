import json

import numpy as np
import torch
import torch.nn.functional as F

from e2sad.surface import loss_surface, orthogonal_sign_direction
from e2sad.tables import paper_values, tidy_table, wide_table


def test_g2_is_an_exactly_orthogonal_sign_vector():
    gen = torch.Generator().manual_seed(0)
    g1 = torch.randint(-1, 2, (16, 1, 28, 28)).float()
    g2 = orthogonal_sign_direction(g1, gen)
    dots = (g1.flatten(1) * g2.flatten(1)).sum(1)
    assert torch.equal(dots, torch.zeros(16))
    assert set(g2.unique().tolist()) <= {-1.0, 0.0, 1.0}
    assert float((g2 != 0).float().mean()) > 0.99


def test_surface_origin_is_the_clean_summed_loss(natural_model, mnist):
    x, y = mnist["x_test"][:32], mnist["y_test"][:32]
    t, s, g1, g2 = loss_surface(natural_model, x, y, attack="fgsm", attack_params={"eps": 0.3}, points=3)
    assert s.shape == (3, 3) and float(t[-1]) == np.float32(0.4)
    with torch.no_grad():
        clean = float(F.cross_entropy(natural_model(x), y, reduction="sum"))
    assert abs(float(s[0, 0]) - clean) < 1e-3 * max(1.0, clean)
    assert float(s[-1, 0]) > float(s[0, 0])  # loss grows along the attack direction for a natural model


def test_paper_values_have_the_tables_shapes():
    pv = paper_values()
    counts = pv.groupby("table").size().to_dict()
    assert counts == {"table_3_1": 45, "table_3_2": 54, "table_3_3": 20}
    t31 = pv[pv.table == "table_3_1"]
    assert t31.model.nunique() == 9 and t31.row.nunique() == 5
    assert ((pv.value >= 0) & (pv.value <= 1)).all()
    assert float(t31[(t31.row == "ifgsm_0.3_k30") & (t31.model == "mnist_e2sad_S")].value.iloc[0]) == 0.8633


def test_table_shows_paper_value_and_difference_with_seed_stats():
    import pandas as pd

    rows = pd.DataFrame(
        [
            {"model": "mnist_e2sad_S", "attack_name": "clean", "seed": 0, "n": 10, "accuracy": 0.99},
            {"model": "mnist_e2sad_S", "attack_name": "clean", "seed": 1, "n": 10, "accuracy": 0.97},
        ]
    )
    spec = {
        "name": "table_3_1",
        "kind": "whitebox",
        "rows": ["clean"],
        "row_labels": {"clean": "Clean"},
        "models": ["mnist_e2sad_S"],
        "model_info": {"mnist_e2sad_S": {"column": "e2SAD", "label": "S"}},
    }
    tidy = tidy_table(rows, spec)
    r = tidy.iloc[0]
    assert abs(r["accuracy"] - 0.98) < 1e-12 and r["seeds"] == 2 and abs(r["std"] - 0.0141421) < 1e-6
    assert r["diff"] == round(0.98 - 0.9932, 4)
    cell = wide_table(tidy).iloc[0, 0]
    assert "0.9800 ± 0.0141" in cell and "0.9932" in cell and "-0.0132" in cell
    json.dumps(spec)


def _two_model_rows():
    import pandas as pd

    acc = {("mnist_e2sad_S", "clean"): (0.99, 0.97), ("mnist_e2sad_S", "fgsm_0.3"): (0.9, 0.8)}
    acc |= {("mnist_hamm_H", "clean"): (0.1, 0.2), ("mnist_hamm_H", "fgsm_0.3"): (1 / 3, 0.3)}
    rows = pd.DataFrame(
        [
            {"model": m, "attack_name": a, "seed": s, "n": 10, "accuracy": v[s]}
            for (m, a), v in acc.items()
            for s in (0, 1)
        ]
    )
    spec = {
        "name": "table_3_1",
        "kind": "whitebox",
        "title": "T",
        "rows": ["clean", "fgsm_0.3"],
        "row_labels": {"clean": "Clean, data"},
        "models": ["mnist_e2sad_S", "mnist_hamm_H"],
        "model_info": {
            "mnist_e2sad_S": {"column": "e2SAD", "label": "S"},
            "mnist_hamm_H": {"column": 'Hamm "minimax"', "label": "H"},
        },
    }
    return rows, spec


# The CSV of a table from _two_model_rows(), byte for byte (later analyses diff tables/*.csv across
# versions).  Pinned from the code before e2sad/render.py (commit 6a5e493), then changed on purpose by the
# new-user issue: a scale column, the difference rounded to 4 decimals, mean and std to 6.
PINNED_TABLE_CSV = (
    "table,scale,row,row_label,model,column,label,accuracy,std,seeds,n,paper,diff\n"
    'table_3_1,reduced,clean,"Clean, data",mnist_e2sad_S,e2SAD,S,0.98,0.014142,2,10,0.9932,-0.0132\n'
    'table_3_1,reduced,clean,"Clean, data",mnist_hamm_H,"Hamm ""minimax""",H,0.15,0.070711,2,10,,\n'
    "table_3_1,reduced,fgsm_0.3,fgsm_0.3,mnist_e2sad_S,e2SAD,S,0.85,0.070711,2,10,0.9641,-0.1141\n"
    'table_3_1,reduced,fgsm_0.3,fgsm_0.3,mnist_hamm_H,"Hamm ""minimax""",H,0.316667,0.02357,2,10,,\n'
)


def test_table_csv_is_byte_identical_to_the_pinned_one_and_html_tex_show_the_same_cells(tmp_path):
    from e2sad.tables import render

    rows, spec = _two_model_rows()
    spec["config"] = {"scale": "reduced"}
    render(tidy_table(rows, spec), spec, tmp_path / "t.csv", tmp_path / "t.tex", tmp_path / "t.html")
    assert (tmp_path / "t.csv").read_bytes() == PINNED_TABLE_CSV.encode()
    page = (tmp_path / "t.html").read_text()
    # HTML: one line per cell, as before; no paper value for the minimax model
    assert ">0.9800 ± 0.0141 (0.9932, -0.0132)</td>" in page and ">0.1500 ± 0.0707</td>" in page
    tex = (tmp_path / "t.tex").read_text()
    # LaTeX: the paper's value and the difference on a second line, specials escaped
    assert "\\makecell[tl]{0.9800 $\\pm$ 0.0141 \\\\ (0.9932, -0.0132)}" in tex
    assert "fgsm\\_0.3" in tex and "& 0.1500 $\\pm$ 0.0707 \\\\" in tex
