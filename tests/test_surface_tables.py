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
    assert abs(r["accuracy"] - 0.98) < 1e-12 and r["seeds"] == 2 and abs(r["std"] - 0.0141421) < 1e-5
    assert abs(r["diff"] - (0.98 - 0.9932)) < 1e-12
    cell = wide_table(tidy).iloc[0, 0]
    assert "0.9800 ± 0.0141" in cell and "0.9932" in cell and "-0.0132" in cell
    json.dumps(spec)
