"""Figures: 3-D loss surfaces (Figure 3.3) with matplotlib."""

from __future__ import annotations

import numpy as np

from .provenance import atomic_path


def plot_surfaces(inputs: list[str], labels: list[str], title: str, outputs: list[str]) -> None:
    """Figure 3.3: one 3-D loss surface per model side by side, with one colour scale and one
    z-range for all panels (a colour means the same loss in every panel) and a shared colour bar;
    the title (wrapped) above the panels; PNG at 300 dpi."""
    import textwrap

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import Normalize

    surfaces = []
    for p in inputs:
        with np.load(p, allow_pickle=False) as z:
            surfaces.append((z["t"], z["surface"]))
    zmax = max(float(s.max()) for _, s in surfaces)
    norm = Normalize(vmin=0.0, vmax=zmax)
    fig = plt.figure(figsize=(4.2 * len(inputs) + 0.8, 5.0))
    axes = []
    for i, ((t, s), label) in enumerate(zip(surfaces, labels), 1):
        ax = fig.add_subplot(1, len(inputs), i, projection="3d")
        t1, t2 = np.meshgrid(t, t, indexing="ij")
        ax.plot_surface(t1, t2, s, cmap="viridis", norm=norm, linewidth=0, antialiased=True)
        ax.set_title(f"{label}\nmean {s.mean():.1f}", fontsize=10)
        ax.set_xlabel("t1 (g1)")
        ax.set_ylabel("t2 (g2)")
        ax.set_zlabel("summed CE loss")
        ax.set_zlim(0, zmax)
        ax.view_init(elev=25, azim=-135)
        axes.append(ax)
    mappable = plt.cm.ScalarMappable(norm=norm, cmap="viridis")
    fig.subplots_adjust(left=0.03, right=0.9, top=0.80, bottom=0.05, wspace=0.15)
    fig.colorbar(mappable, cax=fig.add_axes([0.92, 0.15, 0.01, 0.55]), label="summed CE loss (all panels)")
    if title:
        fig.suptitle("\n".join(textwrap.wrap(title, 150)), fontsize=10, y=0.99)
    for out in outputs:
        suffix = out.rsplit(".", 1)[-1]
        with atomic_path(out) as tmp:
            fig.savefig(tmp, format=suffix, dpi=300)
    plt.close(fig)


def plot_eps_curves(rows, outputs: list[str], title: str = "") -> None:
    """Accuracy against eps per model and attack (sanity check: falls to 0 as eps grows)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    attacks = list(dict.fromkeys(rows["attack"]))
    fig, axes = plt.subplots(1, len(attacks), figsize=(5 * len(attacks), 4), squeeze=False)
    for ax, atk in zip(axes[0], attacks):
        sub = rows[rows["attack"] == atk]
        for model, g in sub.groupby("model", sort=False):
            g = g.sort_values("eps")
            ax.plot(g["eps"], g["accuracy"], marker="o", label=model)
        ax.set_title(atk)
        ax.set_xlabel("eps")
        ax.set_ylabel("accuracy")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    for out in outputs:
        with atomic_path(out) as tmp:
            fig.savefig(tmp, format=out.rsplit(".", 1)[-1], dpi=110)
    plt.close(fig)
