"""The subcommands of released models (:mod:`e2sad.released`, ``snakemake released``): a released
file converted into this engine's model file, and the table of their accuracies beside the
published ones (:mod:`e2sad.science.released`).

Imports inside a command function are only those that keep torch, pandas and matplotlib out of the
start-up of a job that does not need them.
"""

from __future__ import annotations

import hashlib
import sys

from .options import TABLE_OUTS, command, names, opt, rows, spec, write_sidecars


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@command(
    "convert-released",
    "convert a released model file (another author's) into this engine's model file",
    opt("--release", required=True, choices=names("released", "RELEASES"), help="the file's release format"),
    opt("--pth", required=True, help="the released file, as its authors ship it (supplied by the user)"),
    opt("--out", required=True, help="this engine's model file (.pt) to write"),
)
def cmd_convert_released(a):
    from ..modelfile import save_model
    from ..released import release_format, released_model

    fmt = release_format(a.release)
    net = released_model(a.pth, a.release)
    save_model(net, a.out)
    record = {
        "release": fmt.name,
        "source": fmt.source,
        "network": fmt.network,
        "normalization": fmt.normalization,
        "file": a.pth,
        "sha256": _sha256(a.pth),
    }
    write_sidecars([a.out], a, extra={"released": record})
    print(
        f"converted {a.pth} ({fmt.name}) into {a.out}: evaluate it with --network {fmt.network} "
        f"--normalization {fmt.normalization}",
        file=sys.stderr,
    )


@command(
    "released-table",
    "released models' accuracies with 95 %% intervals beside the published numbers",
    spec("models, attacks, model_info (label, release, published), attack_labels, n_test, title, note"),
    rows("JSON result rows of the released models (evaluate)"),
    TABLE_OUTS,
)
def cmd_released_table(a):
    import pandas as pd

    from ..science import load_json_rows
    from ..science.released import released_table, render_released

    tidy = released_table(load_json_rows(a.rows), a.spec)
    render_released(tidy, a.spec, a.out_csv, a.out_tex, a.out_html)
    write_sidecars([a.out_csv, a.out_tex, a.out_html], a, inputs=a.rows)
    for r in tidy.itertuples():
        pub = "" if pd.isna(r.published) else f", published {r.published:.4f}"
        acc = f"{r.accuracy:.4f} [{r.lo:.4f}, {r.hi:.4f}] (n={r.n})" if r.n else "not run"
        print(f"{r.model} under {r.attack_name}: {acc}{pub}", file=sys.stderr)
