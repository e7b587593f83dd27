"""Fast tests of the scientific-validity checks (e2sad/science/, workflow/rules/science.smk).

No training: the checks are pure functions of result files, exercised here on
small hand-made rows and sidecars, plus one Snakemake dry run of ``science``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from helpers_data import job_stats, smoke_config  # noqa: E402

from e2sad import science
from e2sad.errors import ConfigError, DataError
from e2sad.plan import load_study
from e2sad.plan import models as plan_models
from e2sad.tables import paper_values

REPO = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- package interface


def test_public_names_are_importable_from_the_package():
    """The package exports exactly what is imported from ``e2sad.science`` elsewhere (e2sad.cli and
    these tests), each the object of the module that defines it."""
    import importlib

    used = {
        "ablation": ["ablation_table", "ablation_verdict", "read_g2", "render_ablation", "TIE_TOL"],
        "robustness": [
            "robustness_table",
            "render_robustness",
            "flag_masking",
            "possible_gradient_masking",
            "FLAG_TEXT",
        ],
        "sanity": ["sanity_checks", "sanity_report", "render_sanity"],
        "statements": ["check_statements", "render_statements"],
        "common": ["load_json_rows", "paper_column"],
        "verdict": ["Verdict"],
        "frontier.table": ["frontier_table", "render_frontier"],
        "frontier.claims": ["frontier_statements"],
        "frontier.snapshots": ["catastrophic_overfitting", "render_snapshots", "snapshot_frame", "snapshot_seeds"],
        "frontier.figure": ["plot_frontier", "plot_snapshots"],
    }
    for module, names in used.items():
        mod = importlib.import_module(f"e2sad.science.{module}")
        for name in names:
            assert getattr(science, name) is getattr(mod, name), f"e2sad.science.{name} is not {module}.{name}"
    assert sorted(science.__all__) == sorted(n for names in used.values() for n in names)
    assert set(science.__all__) <= set(dir(science))


def test_science_imports_are_at_the_top():
    """A science module imports at its top; inside a function only matplotlib (heavy, for the figures).
    The layers, the leaves and the module sizes: tests/test_imports.py."""
    import ast

    for path in sorted((REPO / "e2sad" / "science").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef):
                for inner in ast.walk(node):
                    if isinstance(inner, (ast.Import, ast.ImportFrom)):
                        module = inner.module if isinstance(inner, ast.ImportFrom) else inner.names[0].name
                        where = f"{path.relative_to(REPO)}:{inner.lineno}"
                        assert (module or "").startswith("matplotlib"), f"{where}: import of {module}"


# --------------------------------------------------------------------------- statements

DEFENSES = {
    "mnist_natural_H": "natural",
    "mnist_natural_S": "natural",
    "mnist_fgsm03_H": "fgsm_at",
    "mnist_fgsm03_S": "fgsm_at",
    "mnist_fgsm04_H": "fgsm_at",
    "mnist_fgsm04_S": "fgsm_at",
    "mnist_ifgsm03_H": "ifgsm_at",
    "mnist_ifgsm03_S": "ifgsm_at",
    "mnist_e2sad_S": "e2sad",
}


def _cost(e2sad_s=0.3, ifgsm_s=1.5) -> pd.DataFrame:
    step = {"natural": 0.1, "fgsm_at": 0.18, "ifgsm_at": ifgsm_s, "e2sad": e2sad_s}
    return pd.DataFrame(
        [{"model": m, "defense": d, "median_step_s": step[d], "x_natural": step[d] / 0.1} for m, d in DEFENSES.items()]
    )


def _paper_table() -> pd.DataFrame:
    pv = paper_values()
    pv = pv[pv["table"] == "table_3_1"]
    return pd.DataFrame({"row": pv["row"], "model": pv["model"], "accuracy": pv["value"]})


def test_statements_all_pass_on_the_papers_own_numbers():
    """The thresholds must accept the paper's Table 3.1 (else they test something else)."""
    df = science.check_statements(_paper_table(), _cost())
    assert len(df) == 6
    assert (df["verdict"] == "PASS").all(), df.to_string()


def test_statements_one_fails_one_passes(tmp_path):
    """Hand-made CSVs: e2SAD loses under IFGSM (S4 fails), the natural model stays defenseless (S1 passes)."""
    rows = [
        ("clean", "mnist_natural_H", 0.99),
        ("fgsm_0.3", "mnist_natural_H", 0.10),
        ("ifgsm_0.3_k30", "mnist_natural_H", 0.00),
        ("fgsm_0.3", "mnist_e2sad_S", 0.95),
        ("ifgsm_0.3_k30", "mnist_e2sad_S", 0.40),
    ]
    table = tmp_path / "table_3_1.csv"
    pd.DataFrame(rows, columns=["row", "model", "accuracy"]).to_csv(table, index=False)
    cost = tmp_path / "training_cost.csv"
    _cost().to_csv(cost, index=False)
    df = science.check_statements(table, cost).set_index("statement")
    s1 = df.loc[[s for s in df.index if s.startswith("Natural")][0]]
    s4 = df.loc[[s for s in df.index if s.startswith("e2SAD resists")][0]]
    assert s1.verdict == "PASS" and "0.1000" in s1.evidence
    assert s4.verdict == "FAIL" and "mnist_e2sad_S @ ifgsm_0.3_k30 = 0.4000" in s4.evidence
    # missing defenses are reported as NOT RUN (not tested), never as a silent PASS nor as a FAIL
    s3 = df.loc[[s for s in df.index if s.startswith("IFGSM adversarial")][0]]
    assert s3.verdict == "NOT RUN" and "not tested" in s3.evidence
    assert df.loc[[s for s in df.index if s.startswith("e2SAD beats")][0]].verdict == "NOT RUN"  # no eps 0.4
    assert set(df["verdict"]) == {"PASS", "FAIL", "NOT RUN"}


def test_statements_with_several_seeds_show_mean_and_std(tmp_path):
    """A table of several seeds (std and seeds columns, as the table rule writes it)."""
    rows = [
        ("clean", "mnist_natural_H", 0.99, 0.005, 3),
        ("fgsm_0.3", "mnist_natural_H", 0.10, 0.02, 3),
        ("fgsm_0.3", "mnist_e2sad_S", 0.95, 0.01, 3),
        ("ifgsm_0.3_k30", "mnist_e2sad_S", 0.40, 0.05, 3),
    ]
    table = tmp_path / "table_3_1.csv"
    pd.DataFrame(rows, columns=["row", "model", "accuracy", "std", "seeds"]).to_csv(table, index=False)
    cost = tmp_path / "training_cost.csv"
    _cost().to_csv(cost, index=False)
    df = science.check_statements(table, cost).set_index("statement")
    s4 = df.loc[[s for s in df.index if s.startswith("e2SAD resists")][0]]
    assert s4.verdict == "FAIL" and "mnist_e2sad_S @ ifgsm_0.3_k30 = 0.4000 ± 0.0500" in s4.evidence


def test_statements_cost_threshold():
    ok = science.check_statements(_paper_table(), _cost(e2sad_s=0.3, ifgsm_s=1.5))
    bad = science.check_statements(_paper_table(), _cost(e2sad_s=0.9, ifgsm_s=1.5))
    assert ok.iloc[-1]["verdict"] == "PASS" and "ratio 0.200" in ok.iloc[-1]["evidence"]
    assert bad.iloc[-1]["verdict"] == "FAIL" and "ratio 0.600" in bad.iloc[-1]["evidence"]


def test_statements_are_named_functions():
    """One function per claim, named after it; the table lists their records in order."""
    df = science.check_statements(_paper_table(), _cost())
    assert df.columns.tolist() == ["statement", "verdict", "evidence", "name"]
    assert df["name"].tolist() == [
        "natural_training_has_no_defense",
        "fgsm_at_resists_fgsm_not_ifgsm",
        "ifgsm_at_resists_ifgsm",
        "e2sad_resists_fgsm_and_ifgsm",
        "e2sad_beats_ifgsm_at_under_fgsm",
        "e2sad_step_costs_far_less_than_ifgsm_at",
    ]
    from e2sad.science import statements

    c = statements.natural_training_has_no_defense(statements._statement_inputs(_paper_table(), _cost(), None)[0])
    assert c.verdict is science.Verdict.PASS and c.name == "natural_training_has_no_defense"


def test_statements_without_the_cost_table_are_not_run():
    cost = _cost()
    df = science.check_statements(_paper_table(), cost[cost["defense"] != "ifgsm_at"])
    assert df.iloc[-1]["verdict"] == "NOT RUN" and "not tested" in df.iloc[-1]["evidence"]
    assert (df.iloc[:-1]["verdict"] != "NOT RUN").sum() == 3  # the IFGSM-AT claims of the table are not run either


def test_statements_render(tmp_path):
    df = science.check_statements(_paper_table(), _cost())
    science.render_statements(df, {"note": "SMOKE"}, tmp_path / "s.html", tmp_path / "s.md", tmp_path / "s.csv")
    md = (tmp_path / "s.md").read_text()
    assert "6 of 6 statements PASS." in md and "**PASS**" in md and "SMOKE" in md
    assert "<table>" in (tmp_path / "s.html").read_text()
    cost = _cost()
    df = science.check_statements(_paper_table(), cost[cost["defense"] != "e2sad"])
    science.render_statements(df, {}, tmp_path / "n.html", tmp_path / "n.md")
    assert "3 of 6 statements PASS (3 NOT RUN)." in (tmp_path / "n.md").read_text()
    assert "**NOT RUN**" in (tmp_path / "n.md").read_text() and "NOT RUN" in (tmp_path / "n.html").read_text()


# --------------------------------------------------------------------------- ablation

ATTACKS_3_1 = ["clean", "fgsm_0.3", "fgsm_0.4", "ifgsm_0.3_k10", "ifgsm_0.3_k30"]


def _fake_ablation(tmp_path, seeds=(0, 1)):
    paper = science.paper_column("table_3_1", "mnist_e2sad_S")
    # offsets from the paper: entropy closest, literal furthest
    offset = {"literal": -0.30, "entropy": -0.01, "random_start": -0.05, "clean_target": -0.10}
    g2 = {"literal": 1e-12, "entropy": 3e-6, "random_start": 2e-6, "clean_target": 4e-6}
    variants = {v: ("mnist_e2sad_S" if v == "entropy" else f"mnist_e2sad_S__{v}") for v in offset}
    rows, models = [], []
    for v, m in variants.items():
        for s in seeds:
            for a in ATTACKS_3_1:
                rows.append(
                    {"model": m, "attack_name": a, "accuracy": paper[a] + offset[v] + 0.002 * s, "seed": s, "n": 64}
                )
            p = tmp_path / m / f"seed{s}" / "model.pt"
            p.parent.mkdir(parents=True, exist_ok=True)
            meta = {
                "seed": s,
                "values": {"name": m},
                "train": {"second_step_g2_abs_mean": g2[v] * (1 + s), "second_step_g2_over_g1_mean": g2[v] * 1e4},
            }
            Path(f"{p}.meta.json").write_text(json.dumps(meta))
            models.append(str(p))
    spec = {
        "variants": variants,
        "attacks": ATTACKS_3_1,
        "paper_table": "table_3_1",
        "paper_model": "mnist_e2sad_S",
        "attack_labels": {a: a for a in ATTACKS_3_1},
        "title": "Second-step ablation (test)",
        "note": "test",
    }
    return pd.DataFrame(rows), models, spec


def test_ablation_table_names_the_closest_variant(tmp_path):
    rows, models, spec = _fake_ablation(tmp_path)
    tidy, verdict = science.ablation_table(rows, science.read_g2(models), spec)
    assert verdict["best"] == "entropy"
    assert [v for v, _ in verdict["ranking"]] == ["entropy", "random_start", "clean_target", "literal"]
    # two sentences, with the numbers
    assert verdict["text"].count(". ") == 1 and verdict["text"].endswith(".")
    assert "0.0090" in verdict["text"]  # mean |diff| of entropy: 0.01 - 0.001 (mean of two seeds)
    assert "literal" in verdict["text"]  # smallest g2
    ent = tidy[tidy["variant"] == "entropy"]
    assert len(ent) == 5 and (ent["seeds"] == 2).all() and ent["std"].notna().all()
    assert ent["g2_abs_mean"].iloc[0] == pytest.approx(4.5e-6)
    assert tidy.loc[tidy["best"], "variant"].unique().tolist() == ["entropy"]
    assert verdict["verdict"] == "PASS"  # entropy is 0.03 ahead of random_start


def test_ablation_verdict_tie_and_nothing_compared():
    def summary(diffs):
        return {v: {"mean_abs_diff": d, "n_compared": 5, "g2_abs": 1e-6, "g2_over_g1": 1e-2} for v, d in diffs.items()}

    tie = science.ablation_verdict(summary({"entropy": 0.0100, "literal": 0.0100 + science.TIE_TOL / 2}))
    assert tie["verdict"] == "UNDECIDED" and "a tie within" in tie["text"]
    ahead = science.ablation_verdict(summary({"entropy": 0.0100, "literal": 0.0100 + 2 * science.TIE_TOL}))
    assert ahead["verdict"] == "PASS" and "a tie" not in ahead["text"]
    none = science.ablation_verdict(summary({"entropy": float("nan")}))
    assert none["verdict"] == "NOT RUN" and none["best"] is None


def test_ablation_render_shows_mean_std_and_verdict(tmp_path):
    rows, models, spec = _fake_ablation(tmp_path)
    tidy, verdict = science.ablation_table(rows, science.read_g2(models), spec)
    out = tmp_path / "out"
    science.render_ablation(tidy, verdict, spec, out / "a.csv", out / "a.tex", out / "a.html")
    page = (out / "a.html").read_text()
    assert "±" in page and "Verdict: PASS." in page and "best" in page
    assert "entropy" in (out / "a.tex").read_text()
    assert len(pd.read_csv(out / "a.csv")) == 20


def test_ablation_missing_row_is_an_error(tmp_path):
    rows, models, spec = _fake_ablation(tmp_path, seeds=(0,))
    rows = rows[~((rows["model"] == "mnist_e2sad_S__literal") & (rows["attack_name"] == "fgsm_0.4"))]
    with pytest.raises(DataError, match="literal.*fgsm_0.4"):
        science.ablation_table(rows, science.read_g2(models), spec)


# --------------------------------------------------------------------------- robustness


def test_flag_threshold():
    assert science.flag_masking(0.90, 0.84, flag_drop=0.05)  # 6 points
    assert not science.flag_masking(0.90, 0.86, flag_drop=0.05)  # 4 points
    assert not science.flag_masking(0.90, 0.85 + 1e-9, flag_drop=0.05)
    assert science.flag_masking(0.90, 0.87, flag_drop=0.02)
    check = science.possible_gradient_masking("m", 0.90, 0.84, 0.05)
    assert check.verdict == "FAIL" and check.subject == "m" and "+0.0600" in check.numbers
    assert science.possible_gradient_masking("m", 0.90, 0.86, 0.05).verdict == "PASS"
    assert science.possible_gradient_masking("m", 0.90, float("nan"), 0.05).verdict == "NOT RUN"


def _robust_rows(ref, pgd, apgd, seeds=(0,)):
    rows = []
    for s in seeds:
        for a, acc in [("clean", 0.99), ("ifgsm_0.3_k30", ref), ("pgd", pgd), ("apgd_ce", apgd)]:
            rows.append({"model": "m", "attack_name": a, "accuracy": acc, "seed": s, "n": 100})
    return pd.DataFrame(rows)


def test_robustness_table_flags_a_drop_above_threshold():
    spec = {
        "models": ["m"],
        "reference": "ifgsm_0.3_k30",
        "attacks": ["ifgsm_0.3_k30", "pgd", "apgd_ce"],
        "clean": "clean",
        "flag_drop": 0.05,
    }
    ok = science.robustness_table(_robust_rows(0.90, 0.88, 0.87), spec).iloc[0]
    assert ok.strongest == "apgd_ce" and ok["accuracy_drop"] == pytest.approx(0.03) and ok.flag == ""
    assert ok.verdict == "PASS"
    bad = science.robustness_table(_robust_rows(0.90, 0.80, 0.87), spec).iloc[0]
    assert bad.strongest == "pgd" and bad.flag == science.FLAG_TEXT and bad.verdict == "FAIL"
    same = science.robustness_table(_robust_rows(0.50, 0.50, 0.50), spec).iloc[0]
    assert same.strongest == "ifgsm_0.3_k30" and same["accuracy_drop"] == 0


def test_robustness_render_mean_std(tmp_path):
    spec = {
        "models": ["m"],
        "model_info": {"m": {"column": "e2SAD", "label": "S"}},
        "reference": "ifgsm_0.3_k30",
        "attacks": ["ifgsm_0.3_k30", "pgd", "apgd_ce"],
        "clean": "clean",
        "flag_drop": 0.05,
        "title": "Stronger evaluation (test)",
        "note": "test",
    }
    rows = _robust_rows(0.90, 0.80, 0.87, seeds=(0, 1))
    rows.loc[rows["seed"] == 1, "accuracy"] -= 0.02
    df = science.robustness_table(rows, spec)
    science.render_robustness(df, spec, tmp_path / "r.csv", tmp_path / "r.tex", tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text()
    assert "0.7900 ± 0.0141" in page and science.FLAG_TEXT in page and "1 of 1 models FAIL" in page
    assert f"FAIL: {science.FLAG_TEXT}" in page


# --------------------------------------------------------------------------- sanity


def _sweep(model, sweep, kind, accs, eps=(0.0, 0.5, 1.0)):
    return [
        {"model": model, "sweep": sweep, "kind": kind, "eps": e, "accuracy": a, "seed": 0} for e, a in zip(eps, accs)
    ]


def test_sanity_checks_pass_and_flag():
    sweeps = pd.DataFrame(
        _sweep("good", "fgsm", "fgsm", [0.99, 0.30, 0.10])
        + _sweep("good", "pgd", "pgd", [0.99, 0.05, 0.0])
        # masked: FGSM stays high at eps 1; PGD weaker than FGSM at eps 0.5
        + _sweep("masked", "fgsm", "fgsm", [0.99, 0.60, 0.70])
        + _sweep("masked", "pgd", "pgd", [0.99, 0.70, 0.30])
    )
    wb = pd.DataFrame(
        [
            {"model": m, "attack_name": a, "accuracy": acc, "seed": 0}
            for m, a, acc in [
                ("good", "fgsm_0.3", 0.5),
                ("good", "ifgsm_0.3_k30", 0.1),
                ("masked", "fgsm_0.3", 0.5),
                ("masked", "ifgsm_0.3_k30", 0.6),
            ]
        ]
    )
    tr = pd.DataFrame(
        [
            {"model": m, "substitute": s, "attack_name": "ifgsm_0.3_k30", "accuracy": acc, "seed": 0}
            for m, s, acc in [("good", "a", 0.5), ("good", "b", 0.3), ("masked", "a", 0.4)]
        ]
    )
    spec = {
        "models": ["good", "masked", "lonely"],
        "attacks": {"fgsm_0.3": {"kind": "fgsm", "eps": 0.3}, "ifgsm_0.3_k30": {"kind": "ifgsm", "eps": 0.3}},
        "transfer_attacks": {"table_3_2": "ifgsm_0.3_k30"},
        "classes": 10,
    }
    checks = science.sanity_checks(sweeps, wb, tr, spec)
    v = {(r.model, r.check.split(":")[0]): r.verdict for r in checks.itertuples()}
    assert v[("good", "fgsm")] == v[("good", "pgd")] == "PASS"
    assert v[("good", "iterative >= single-step at the same eps")] == "PASS"
    assert v[("good", "white-box >= transfer from any substitute")] == "PASS"
    assert v[("masked", "fgsm")] == "FAIL"
    assert v[("masked", "pgd")] == "FAIL"  # 0.30 left at eps 1
    assert v[("masked", "iterative >= single-step at the same eps")] == "FAIL"
    assert v[("masked", "white-box >= transfer from any substitute")] == "FAIL"
    # a model without sweeps, table pairs or transfer rows: every check NOT RUN, none FAIL
    lonely = checks[checks["model"] == "lonely"]
    assert lonely["verdict"].tolist() == ["NOT RUN"] * 3, lonely.to_string()
    assert lonely["name"].tolist() == [
        "accuracy_survives_large_eps",
        "iterative_weaker_than_single_step",
        "transfer_stronger_than_white_box",
    ]
    assert v[("lonely", "white-box >= transfer from any substitute")] == "NOT RUN"
    ev = checks[(checks["model"] == "masked") & checks["check"].str.startswith("white-box")]["evidence"].iloc[0]
    assert "0.6000" in ev and "0.4000" in ev and "from a" in ev
    assert set(checks["verdict"]) == {"PASS", "FAIL", "NOT RUN"}


def test_sanity_check_boundaries():
    """Each check alone, at its thresholds: the bound and the slack are inclusive."""
    from e2sad.science import sanity

    def curve(kind, accs):
        return sanity.sweep_frame(pd.DataFrame(_sweep("m", kind, kind, accs)))

    at = sanity.ITERATIVE_MAX_ACC_AT_MAX_EPS
    assert sanity.accuracy_survives_large_eps("m", "pgd", curve("pgd", [0.9, 0.3, at]), 10).verdict == "PASS"
    assert sanity.accuracy_survives_large_eps("m", "pgd", curve("pgd", [0.9, 0.3, at + 1e-6]), 10).verdict == "FAIL"
    # an iterative curve that rises by more than the slack FAILs even when it ends near 0
    rise = sanity.accuracy_survives_large_eps("m", "pgd", curve("pgd", [0.0, 0.0 + 0.02, 0.03]), 10)
    assert rise.verdict == "FAIL" and "rises from" in rise.numbers
    # a single-step curve may rise; only its end counts
    assert sanity.accuracy_survives_large_eps("m", "fgsm", curve("fgsm", [0.1, 0.0, 0.2]), 10).verdict == "PASS"
    # the single-step bound is twice chance of the data's classes: 0.2 passes on 10 classes, not on 20
    assert sanity.accuracy_survives_large_eps("m", "fgsm", curve("fgsm", [0.1, 0.0, 0.2]), 20).verdict == "FAIL"
    pair = [("pgd vs fgsm @ eps 0.5 (sweep)", 0.35, 0.30)]
    assert sanity.iterative_weaker_than_single_step("m", pair).verdict == "FAIL"
    assert sanity.iterative_weaker_than_single_step("m", [("x", 0.31, 0.30)]).verdict == "PASS"
    assert sanity.iterative_weaker_than_single_step("m", []).verdict == "NOT RUN"
    case = ("table_3_2", "ifgsm_0.3_k30", 0.5, {"a": 0.45, "b": 0.6})
    assert sanity.transfer_stronger_than_white_box("m", case).verdict == "FAIL"
    assert sanity.transfer_stronger_than_white_box("m", None).verdict == "NOT RUN"


def test_sanity_render(tmp_path):
    sweeps = pd.DataFrame(_sweep("m", "fgsm", "fgsm", [0.99, 0.3, 0.1]) + _sweep("m", "pgd", "pgd", [0.99, 0.0, 0.0]))
    checks = science.sanity_checks(sweeps, pd.DataFrame(), pd.DataFrame(), {"models": ["m"], "classes": 10})
    science.render_sanity(checks, {"note": "test", "classes": 10}, tmp_path / "s.csv", tmp_path / "s.html")
    page = (tmp_path / "s.html").read_text()
    assert "PASS" in page and "NOT RUN" in page and "FLAG" not in page
    assert "Of 4 checks, 3 PASS, 1 NOT RUN." in page and "#e8e8e8" in page  # NOT RUN in grey


# --------------------------------------------------------------------------- config and workflow


def test_ablation_models_derived_and_checked():
    cfg = smoke_config()
    variants = plan_models.ablation_variant_models(cfg)
    own = cfg["models"]["mnist_e2sad_S"]["second_step"]
    assert variants[own] == "mnist_e2sad_S"  # the base's own variant is not trained twice
    others = {"literal", "entropy", "random_start", "clean_target"} - {own}
    assert all(variants[v] == f"mnist_e2sad_S__{v}" for v in others)
    derived = plan_models.ablation_models(cfg)
    assert set(derived) == {f"mnist_e2sad_S__{v}" for v in others}
    base = cfg["models"]["mnist_e2sad_S"]
    for m in derived.values():
        assert {k: v for k, v in m.items() if k not in ("second_step", "column")} == {
            k: v for k, v in base.items() if k not in ("second_step", "column")
        }
    load_study(cfg, base_dir=REPO)


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda c: c["ablation"].update(base="mnist_fgsm03_H"), "needs an e2sad model"),
        (lambda c: c["ablation"].update(base="nope"), "not declared"),
        (lambda c: c["robustness"]["attacks"]["pgd40x5_0.3"].update(eps=0.4), "differs from the reference"),
        (lambda c: c["robustness"]["attacks"]["apgd_ce_0.3"].update(k=3), "has no parameter k"),
        (lambda c: c["robustness"].update(seeds=[0, 7]), r"robustness.seeds: seed 7 is not in seeds \[0\]"),
        (lambda c: c["sanity"].update(seeds=[3]), r"sanity.seeds: seed 3 is not in seeds"),
        (lambda c: c["robustness"].update(reference="clean"), "no attack"),
        (lambda c: c["sanity"].update(eps=[0.0, 0.1]), "grow toward 1"),
        (
            lambda c: c["models"].update(mnist_e2sad_S__literal=dict(c["models"]["mnist_e2sad_S"])),
            "name taken",
        ),
    ],
)
def test_science_config_errors(edit, match):
    cfg = smoke_config()
    edit(cfg)
    with pytest.raises(ConfigError, match=match):
        load_study(cfg, base_dir=REPO)


def test_derived_models_pass_the_model_checks(monkeypatch):
    """The derived models go through the same relation checks as declared ones."""
    cfg = smoke_config()
    real = plan_models.ablation_models

    def broken(c):
        out = real(c)
        out["mnist_e2sad_S__literal"] = {**out["mnist_e2sad_S__literal"], "eps": 0.3}  # not an e2SAD key
        return out

    monkeypatch.setattr(plan_models, "ablation_models", broken)
    with pytest.raises(ConfigError, match=r"models\.mnist_e2sad_S__literal\.eps"):
        load_study(cfg, base_dir=REPO)


def test_science_dry_run():
    """The science target plans at smoke scale (no job runs)."""
    r = subprocess.run(
        [sys.executable, "-m", "snakemake", "--nolock", "-n", "science", "--configfile", "config/smoke.yaml"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-3000:]
    assert "e2sad: error" not in out and "Traceback" not in out


def _science_plan(tmp_path, overlay: dict) -> dict[str, int]:
    """Job counts of a dry run of ``science`` at smoke scale with ``overlay`` on top."""
    import yaml

    extra = tmp_path / "overlay.yaml"
    extra.write_text(yaml.safe_dump({"results": str(tmp_path / "results"), **overlay}))
    r = subprocess.run(
        [sys.executable, "-m", "snakemake", "--nolock", "-n", "science"]
        + ["--configfile", "config/smoke.yaml", str(extra)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    return job_stats(r.stdout)


def test_costly_checks_run_on_their_own_seeds(tmp_path):
    """robustness.seeds / sanity.seeds restrict the strong attacks and sweeps, nothing else."""
    cfg = smoke_config()
    both = _science_plan(tmp_path, {"seeds": [0, 1]})
    first = _science_plan(
        tmp_path,
        {
            "seeds": [0, 1],
            "robustness": {**cfg["robustness"], "seeds": [0]},
            "sanity": {**cfg["sanity"], "seeds": [0]},
        },
    )
    assert both["robust_evaluate"] == 2 * first["robust_evaluate"] > 0
    assert both["eps_sweep"] == 2 * first["eps_sweep"] > 0
    # every seed is still trained (tables, ablation); only the checks' own jobs shrink
    assert both["train"] == first["train"]
