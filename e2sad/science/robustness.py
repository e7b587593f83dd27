"""Stronger evaluation (``snakemake robustness``): is e2SAD's robustness an artefact of a weak attack?

Per model the paper's attack (IFGSM, k = 30; Table 3.1) is set beside the
strongest attack found (the config's: PGD with random restarts, APGD-CE,
APGD-T and the standard AutoAttack); a drop of more than ``flag_drop`` FAILs the check
:func:`possible_gradient_masking` and is flagged "possible gradient masking".
"""

from __future__ import annotations

import html

import pandas as pd

from ..errors import DataError
from ..render import BREAK, fmt_ms, write_table
from ..tables import paper_values
from .common import caption, mean_std
from .verdict import Check, Verdict, decide

FLAG_TEXT = "possible gradient masking"


def possible_gradient_masking(model: str, reference_acc: float, strongest_acc: float, flag_drop: float) -> Check:
    """FAIL when the strongest attack takes more than ``flag_drop`` off the accuracy the paper's
    attack leaves: the paper's number would overstate the model's robustness (possible gradient masking)."""
    drop = reference_acc - strongest_acc
    return Check(
        "possible_gradient_masking",
        decide(drop, "<=", flag_drop),
        f"reference {reference_acc:.4f}, strongest {strongest_acc:.4f}: drop {drop:+.4f} (bound {flag_drop:g})",
        f"the strongest attack takes at most {flag_drop:g} off the paper's attack's accuracy",
        model,
    )


def robustness_table(rows: pd.DataFrame, spec: dict) -> pd.DataFrame:
    """One line per model: clean and reference accuracy, every attack's accuracy,
    the strongest attack (lowest mean accuracy), the drop, the verdict of
    :func:`possible_gradient_masking` and the flag (its FAIL).

    ``spec``: models [names], model_info {model: {column, label}}, reference
    (the paper's attack), attacks [every attack counted in "strongest",
    reference included], attack_labels, clean (name or null), flag_drop (the config's
    ``robustness.flag_drop``, resolved by the plan: the drop above which a model FAILs).
    """
    flag_drop = float(spec["flag_drop"])
    ref = spec["reference"]
    paper = {}
    if spec.get("paper_table"):
        pv = paper_values()
        pv = pv[(pv["table"] == spec["paper_table"]) & (pv["row"] == ref)]
        paper = {r.model: float(r.value) for r in pv.itertuples()}
    out = []
    for model in spec["models"]:
        line = {"model": model, **spec.get("model_info", {}).get(model, {})}
        accs = {}
        seeds = 0
        n = None
        for attack in ([spec["clean"]] if spec.get("clean") else []) + list(spec["attacks"]):
            sel = rows[(rows["model"] == model) & (rows["attack_name"] == attack)]
            if sel.empty:
                raise DataError(f"robustness: no result for model '{model}' under '{attack}'")
            mean, std, k = mean_std(sel["accuracy"])
            seeds = max(seeds, k)
            n = int(sel["n"].iloc[0])
            line[f"acc[{attack}]"] = mean
            line[f"std[{attack}]"] = std
            if attack in spec["attacks"]:
                accs[attack] = mean
        strongest = min(accs, key=lambda a: (accs[a], a != ref))
        check = possible_gradient_masking(model, accs[ref], accs[strongest], flag_drop)
        line.update(
            seeds=seeds,
            n=n,
            reference=ref,
            reference_acc=accs[ref],
            paper_reference_acc=paper.get(model),
            strongest=strongest,
            strongest_acc=accs[strongest],
            accuracy_drop=accs[ref] - accs[strongest],
            verdict=check.verdict.value,
            flag=FLAG_TEXT if check.verdict == Verdict.FAIL else "",
        )
        out.append(line)
    return pd.DataFrame(out)


def flag_masking(reference_acc: float, strongest_acc: float, flag_drop: float) -> bool:
    """True when the strongest attack takes more than ``flag_drop`` off the reference attack's accuracy
    (:func:`possible_gradient_masking` FAILs)."""
    return possible_gradient_masking("", reference_acc, strongest_acc, flag_drop).verdict == Verdict.FAIL


def render_robustness(df: pd.DataFrame, spec: dict, out_csv, out_tex, out_html) -> None:
    """Write the stronger evaluation: the tidy frame as CSV; per model (rows) the accuracy under
    every attack, the strongest attack, the drop and the verdict (PASS, or FAIL with the flag), as LaTeX
    and HTML with the verdict."""
    labels = spec.get("attack_labels", {})
    show = pd.DataFrame(index=[f"{r.column} ({r.label})" if "column" in df else r.model for r in df.itertuples()])
    show.index.name = "model"
    show["name"] = list(df["model"])
    attacks = ([spec["clean"]] if spec.get("clean") else []) + list(spec["attacks"])
    for a in attacks:
        # the std on a second line in LaTeX (a space in HTML)
        show[labels.get(a, a)] = [
            fmt_ms(m, s, k, sep=BREAK) for m, s, k in zip(df[f"acc[{a}]"], df[f"std[{a}]"], df["seeds"])
        ]
    if df["paper_reference_acc"].notna().any():
        show[f"paper: {labels.get(spec['reference'], spec['reference'])}"] = [
            "" if p is None or pd.isna(p) else f"{p:.4f}" for p in df["paper_reference_acc"]
        ]
    show["strongest attack"] = [labels.get(a, a) for a in df["strongest"]]
    show["drop vs paper's attack"] = [f"{d:+.4f}" for d in df["accuracy_drop"]]
    # the verdict word first, the flag's text below it
    show["verdict"] = [f"{v}: {f}".replace(" ", BREAK, 2) if f else v for v, f in zip(df["verdict"], df["flag"])]
    flagged = [r.model for r in df.itertuples() if r.verdict == Verdict.FAIL]
    n = int(df["n"].iloc[0]) if len(df) else 0
    verdict = (
        f"{len(flagged)} of {len(df)} models FAIL, losing more than {spec['flag_drop']:.2f} "
        f"accuracy from the paper's attack to the strongest one ({FLAG_TEXT})"
        + (f": {', '.join(flagged)}." if flagged else ".")
    )
    text = caption(
        spec,
        f"{spec['title']}: accuracy on the first {n} test images under the paper's "
        f"attack and stronger ones (one attack run per model and seed). {verdict}",
    )
    write_table(
        df,
        show,
        caption=text,
        label="robustness",
        csv=out_csv,
        tex=out_tex,
        html_path=out_html,
        html_extra=f"\n<p><b>Verdict.</b> {html.escape(verdict)}</p>\n",
    )
