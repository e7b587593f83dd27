"""The one writer of every table product: CSV, LaTeX (booktabs) and HTML.

Every table the pipeline writes (Tables 3.1-3.3 of the paper and the minimax
table, the training cost, the second-step ablation, the stronger evaluation,
the sanity checks and the checked statements) goes through
:func:`write_table`:

- the **CSV** is the tidy frame, ``DataFrame.to_csv(index=False)``: one line
  per measured quantity, full precision, for further analysis;
- the **LaTeX** (``\\input`` it in a paper) and the **HTML** (the Snakemake
  report) show the display frame: formatted strings, the paper's layout.

Cells of the display frame are plain text.  A line break (:data:`BREAK`) in a
cell, header or index label becomes a second line of the cell in LaTeX
(``\\makecell``) and a space in HTML; every other character is escaped for
LaTeX by :func:`tex_escape` (model names such as ``mnist_e2sad_S``, ``|diff|``,
``±``).  Cells "reproduced (paper, difference)" are made by :func:`fmt_ms` and
:func:`fmt_vs_paper` and put the paper's value and the difference on the
second line.

The LaTeX tabular is wrapped in ``\\EtwoSADfit{...}``, defined by the file
itself with ``\\providecommand``: it scales the tabular down to ``\\linewidth``
only when it is wider (never up), so every table fits its page.  A document
may define ``\\EtwoSADfit`` itself first (e.g. ``\\newcommand{\\EtwoSADfit}[1]{#1}``
to keep the natural size).  Packages a document needs for ``\\input{table.tex}``:
:data:`LATEX_PACKAGES`.
"""

from __future__ import annotations

import html
import math
import os
from collections.abc import Callable
from typing import Any

import pandas as pd
from pandas.io.formats.style import Styler

from .provenance import write_text_atomic

#: a line break inside a display cell: a new line in LaTeX, a space in HTML
BREAK = "\n"

#: LaTeX packages a document needs to ``\input`` any table written here:
#: booktabs (rules), multirow (grouped row labels of Tables 3.1-3.3),
#: makecell (two-line cells), graphicx (``\resizebox`` of ``\EtwoSADfit``).
LATEX_PACKAGES = ("booktabs", "multirow", "makecell", "graphicx")

#: defines ``\EtwoSADfit{<tabular>}`` unless the document already has it: the
#: tabular at its natural width, or scaled down to ``\linewidth`` if wider.
_FIT_DEFINITION = (
    "\\providecommand{\\EtwoSADfit}[1]{\\ifdefined\\EtwoSADbox\\else\\newsavebox{\\EtwoSADbox}\\fi"
    "\\sbox{\\EtwoSADbox}{#1}\\ifdim\\wd\\EtwoSADbox>\\linewidth"
    "\\resizebox{\\linewidth}{!}{\\usebox{\\EtwoSADbox}}\\else\\usebox{\\EtwoSADbox}\\fi}\n"
)


def _missing(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def fmt_ms(mean: float, std: float, seeds: int, digits: int = 4, sci: bool = False, sep: str = " ") -> str:
    """``mean`` or ``mean ± std`` (several seeds: sample std, ddof = 1); ``""`` for a missing mean.

    ``digits``: decimals (fixed) or significant digits (``sci``: ``1.23e-06``).
    The std is shown only when more than one seed was measured and it is defined.
    ``sep`` goes before ``±``: :data:`BREAK` puts the std on a second line in LaTeX.
    """
    if _missing(mean):
        return ""
    f = f"{{:.{digits - 1}e}}" if sci else f"{{:.{digits}f}}"
    if seeds > 1 and not _missing(std):
        return f"{f.format(mean)}{sep}± {f.format(std)}"
    return f.format(mean)


def fmt_vs_paper(ours: str, paper: float | None, diff: float | None) -> str:
    """A reproduced value beside the paper's: ``ours`` then, on a second line, ``(paper, difference)``.

    ``ours`` is the formatted reproduction (:func:`fmt_ms`); without a paper
    value (a table the paper gives no numbers for) it is returned alone.
    """
    if paper is None or pd.isna(paper):
        return ours
    return f"{ours}{BREAK}({paper:.4f}, {diff:+.4f})"


def with_note(text: str, note: str | None) -> str:
    """``text [note]``: a caption with the scale note (e.g. "SMOKE OUTPUT, NOT A RESULT") appended."""
    return f"{text} [{note}]" if note else text


_TEX = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "|": r"\textbar{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "±": r"$\pm$",
}


def tex_escape(text: str) -> str:
    """Plain text (model names with underscores, |diff|, ±, a note with %) as LaTeX text."""
    return "".join(_TEX.get(ch, ch) for ch in str(text))


def tex_text(value: Any) -> str:
    """One cell, header or label as LaTeX: escaped; lines split at :data:`BREAK` stacked with ``\\makecell``."""
    lines = [tex_escape(line) for line in str(value).split(BREAK)]
    if len(lines) == 1:
        return lines[0]
    # a line after ``\\`` that starts with [ or * would be read as its optional length or star
    # (an interval "[0.97, 0.99]": "Illegal unit of measure"): an empty group in front stops that
    lines[1:] = ["{}" + line if line[:1] in "[*" else line for line in lines[1:]]
    return "\\makecell[tl]{" + " \\\\ ".join(lines) + "}"


def wrap_header(text: str, width: int = 12) -> str:
    """A column header longer than ``width`` characters split at the space nearest its middle
    (a :data:`BREAK`): two short lines instead of one line wider than the cells below it."""
    text = str(text)
    if BREAK in text or len(text) <= width or " " not in text:
        return text
    spaces = [i for i, ch in enumerate(text) if ch == " "]
    cut = min(spaces, key=lambda i: abs(i - len(text) / 2))
    return f"{text[:cut]}{BREAK}{text[cut + 1 :]}"


def html_text(value: Any) -> str:
    """One cell, header or label as HTML text: a :data:`BREAK` becomes a space (HTML cells wrap by themselves)."""
    return str(value).replace(BREAK, " ")


def _map_frame(df: pd.DataFrame, f: Callable[[Any], str]) -> pd.DataFrame:
    """``df`` with ``f`` applied to every cell, index label, column header and index name."""
    out = df.map(f)
    if isinstance(df.index, pd.MultiIndex):
        out.index = pd.MultiIndex.from_tuples(
            [tuple(f(x) for x in ix) for ix in df.index],
            names=[None if n is None else f(n) for n in df.index.names],
        )
    else:
        out.index = pd.Index([f(x) for x in df.index], name=None if df.index.name is None else f(df.index.name))
    out.columns = [f(c) for c in df.columns]
    out.columns.name = None
    return out


def _as_strings(display: pd.DataFrame, formats: dict[str, str]) -> pd.DataFrame:
    """The display frame as text: ``formats`` (column -> ``str.format`` pattern) for numbers, ``""`` for None/NaN."""
    out = display.copy().astype(object)
    for col in out.columns:
        fmt = formats.get(col)
        if fmt is not None:
            out[col] = ["nan" if pd.isna(v) else fmt.format(v) for v in display[col]]
        else:
            out[col] = ["" if _missing(v) else str(v) for v in display[col]]
    return out


def latex_table(
    display: pd.DataFrame,
    caption: str,
    label: str,
    *,
    index: bool = True,
    column_format: str | None = None,
) -> str:
    """The display frame as a booktabs ``table`` float, every text escaped, fitted to ``\\linewidth``.

    ``display`` holds text (see :func:`_as_strings`); ``column_format`` the
    tabular's column spec (default: ``l`` everywhere).
    """
    tex = _map_frame(display, tex_text)
    tex.columns = [tex_text(wrap_header(c)) for c in display.columns]
    sty = tex.style
    if not index:
        sty = sty.hide(axis="index")
    body = sty.to_latex(
        hrules=True,
        caption=tex_escape(caption),
        label=f"tab:{label}",
        multirow_align="t",
        clines=None,
        position_float="centering",
        column_format=column_format,
    )
    head, sep, rest = body.partition("\\begin{tabular}")
    tabular, sep2, tail = rest.partition("\\end{tabular}")
    if not (sep and sep2):  # pragma: no cover - pandas always writes a tabular
        raise RuntimeError("pandas wrote no tabular")
    return f"{head}{_FIT_DEFINITION}\\EtwoSADfit{{%\n\\begin{{tabular}}{tabular}\\end{{tabular}}}}{tail}"


def write_table(
    tidy: pd.DataFrame,
    display: pd.DataFrame | None = None,
    *,
    caption: str = "",
    label: str = "",
    csv: str | os.PathLike | None = None,
    tex: str | os.PathLike | None = None,
    html_path: str | os.PathLike | None = None,
    html_extra: str = "",
    index: bool = True,
    formats: dict[str, str] | None = None,
    html_style: Callable[[Styler], Styler] | None = None,
) -> None:
    """Write one table as CSV, LaTeX and/or HTML (each only if its path is given), atomically.

    ``tidy``: the CSV, written as ``tidy.to_csv(index=False)``.
    ``display``: what LaTeX and HTML show; text cells (with :data:`BREAK` for a
    second line in LaTeX), or numbers formatted by ``formats`` (column ->
    ``str.format`` pattern; those columns are right-aligned in LaTeX).
    ``caption``: plain text (escaped here for LaTeX and HTML); ``label``:
    the LaTeX label is ``tab:<label>``.  ``index``: show the index.
    ``html_extra``: HTML appended after the table (a verdict paragraph);
    ``html_style``: styles the HTML Styler (e.g. colours a verdict cell).
    """
    if csv is not None:
        write_text_atomic(csv, tidy.to_csv(index=False))
    if tex is None and html_path is None:
        return
    if display is None:
        raise ValueError("write_table: a display frame is needed for LaTeX or HTML")
    formats = formats or {}
    text = _as_strings(display, formats)
    if tex is not None:
        levels = 0 if not index else display.index.nlevels
        numeric = [c in formats and pd.api.types.is_numeric_dtype(display[c]) for c in display.columns]
        column_format = "l" * levels + "".join("r" if n else "l" for n in numeric)
        write_text_atomic(tex, latex_table(text, caption, label, index=index, column_format=column_format))
    if html_path is not None:
        sty = _map_frame(text, html_text).style
        if not index:
            sty = sty.hide(axis="index")
        if html_style is not None:
            sty = html_style(sty)
        write_text_atomic(html_path, sty.set_caption(html.escape(caption)).to_html() + html_extra)
