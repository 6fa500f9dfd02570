r"""Catalog formulas (LaTeX) as readable Unicode for terminals, tables and plot labels.

Rendering is pylatexenc's :class:`~pylatexenc.latex2text.LatexNodes2Text`, configured for the
notation the catalog uses: ``\frac{a}{b}`` (and ``\tfrac``, ``\dfrac``) as ``a/b`` with
parentheses where a side has several terms, superscripts as Unicode where they exist (``x²``) and
``^(...)`` otherwise, multi-character subscripts kept together (``d_ij``, ``_(i,j)``), ``cases``
as ``a if b; c if d``, ``\operatorname``, ``\mathbb{1}``, ``\lVert``, ``\ne`` and friends. The
catalog keeps LaTeX as its single source; this module only renders it.

>>> render(r"\frac{\partial \ell}{\partial x} = \frac{x - y}{c^2}")
'∂ℓ/∂x = (x - y)/c²'
>>> render(r"\begin{cases} \tfrac12 (x - y)^2 & |x - y| \le \delta \\ \delta & \text{otherwise} \end{cases}")
'1/2 (x - y)² if |x - y| ≤ δ; δ otherwise'
"""

from __future__ import annotations

import functools
import re

__all__ = ["render"]

_SUPERSCRIPT = str.maketrans("0123456789+-=()nipT⊤", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ⁿⁱᵖᵀᵀ")
#: function names rendered with a space before a following word (``log p``, ``cos θ``)
_FUNCTIONS = ("log", "exp", "cos", "sin", "tan", "tanh", "cosh", "sinh", "det", "max", "min")
_MARK = "\x01"  # before a function name: becomes a space after a letter or digit (``s cos θ``)
_SIMPLE = re.compile(r"^[\w∂ℓαβγδεζηθικλμνξπρστυφχψωΓΔΘΛΞΠΣΦΨΩ′'^]+$")


def _atom(text: str) -> str:
    """``text`` as one operand: parenthesised unless it is a single word or symbol run."""
    text = text.strip().replace("∂ ", "∂")
    return (
        text
        if _SIMPLE.match(text) or (text.startswith("(") and _balanced_outer(text))
        else f"({text})"
    )


def _balanced_outer(text: str) -> bool:
    """True when the opening parenthesis of ``text`` closes at its very end."""
    depth = 0
    for i, ch in enumerate(text):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0:
            return i == len(text) - 1
    return False


def _superscript(text: str) -> str:
    text = text.strip()
    if text and all(ch in "0123456789+-=()nipT⊤" for ch in text.replace(" ", "")):
        return text.replace(" ", "").translate(_SUPERSCRIPT)
    return "^" + _atom(text)


def _subscript(text: str) -> str:
    text = text.strip()
    return "_" + (text if re.match(r"^[\w,.∂ℓ]+$", text) else f"({text})")


@functools.lru_cache(maxsize=1)
def _converter():  # built on first use: pylatexenc is imported only when a formula is rendered
    from pylatexenc import latex2text as l2t
    from pylatexenc import latexwalker as lw
    from pylatexenc import macrospec as ms

    walker_db = lw.get_default_latex_context_db()
    walker_db.add_context_category(
        "losslab",
        prepend=True,
        macros=[ms.MacroSpec(m, "{{") for m in ("frac", "tfrac", "dfrac")]
        + [
            ms.MacroSpec(m, "{")
            for m in ("operatorname", "mathbb", "mathrm", "text", "mathbf", "hat", "mathcal")
        ],
        specials=[
            ms.SpecialsSpec("^", args_parser=ms.MacroStandardArgsParser("{")),
            ms.SpecialsSpec("_", args_parser=ms.MacroStandardArgsParser("{")),
        ],
    )

    class _Text(l2t.LatexNodes2Text):
        """Keeps the space written after a macro (``\\ell =``, ``s \\cos``): LaTeX drops it."""

        def macro_node_to_text(self, node):  # type: ignore[no-untyped-def]
            text = super().macro_node_to_text(node)
            if node.macroname in _FUNCTIONS:
                return _MARK + text + " "
            has_args = node.nodeargd is not None and any(
                a is not None for a in node.nodeargd.argnlist
            )
            if node.macro_post_space and not has_args and node.macroname not in ("\\", ",", ";"):
                text += " "
            return text

    converter = _Text(math_mode="text")

    def arg(n, i: int) -> str:
        return converter.nodelist_to_text([n.nodeargd.argnlist[i]])

    def frac(n, l2tobj=None) -> str:
        return f"{_atom(arg(n, 0))}/{_atom(arg(n, 1))}"

    def cases(n, l2tobj=None) -> str:
        body = converter.nodelist_to_text(n.nodelist)
        rows = [r.strip() for r in body.split("\x00ROW\x00") if r.strip()]
        parts = []
        for row in rows:
            value, _, cond = row.partition("\x00AMP\x00")
            cond = cond.strip()
            words = cond.split()
            lead = "" if words and words[0] in ("otherwise", "if") else "if "
            parts.append(f"{value.strip()} {lead}{cond}".strip())
        return "; ".join(parts)

    text_db = l2t.get_default_latex_context_db()
    text_db.add_context_category(
        "losslab",
        prepend=True,
        macros=[l2t.MacroTextSpec(m, simplify_repl=frac) for m in ("frac", "tfrac", "dfrac")]
        + [
            l2t.MacroTextSpec(m, simplify_repl=lambda n, l2tobj=None: arg(n, 0))
            for m in ("operatorname", "mathrm", "text", "mathbf")
        ]
        + [
            l2t.MacroTextSpec(
                "mathbb",
                simplify_repl=lambda n, l2tobj=None: "𝟙" if arg(n, 0).strip() == "1" else arg(n, 0),
            ),
            l2t.MacroTextSpec(
                "hat", simplify_repl=lambda n, l2tobj=None: arg(n, 0).strip() + "\u0302"
            ),
            l2t.MacroTextSpec("\\", simplify_repl="\x00ROW\x00"),
            *(
                l2t.MacroTextSpec(m, simplify_repl=s)
                for m, s in (
                    ("ne", "≠"),
                    ("neq", "≠"),
                    ("lVert", "‖"),
                    ("rVert", "‖"),
                    ("|", "‖"),
                    ("top", "⊤"),
                    ("le", "≤"),
                    ("ge", "≥"),
                    ("leq", "≤"),
                    ("geq", "≥"),
                    ("quad", "  "),
                    ("qquad", "  "),
                    (",", " "),
                    (";", " "),
                    ("!", ""),
                    ("big", ""),
                    ("Big", ""),
                    ("bigg", ""),
                    ("Bigg", ""),
                    ("mid", "|"),
                    ("cdot", "·"),
                    ("ldots", "…"),
                    ("dots", "…"),
                    ("varepsilon", "ε"),
                    ("epsilon", "ε"),
                    ("lse", "lse"),
                )
            ),
            l2t.MacroTextSpec("mathcal", simplify_repl=lambda n, l2tobj=None: arg(n, 0)),
        ],
        environments=[l2t.EnvironmentTextSpec("cases", simplify_repl=cases)],
        specials=[
            l2t.SpecialsTextSpec("^", simplify_repl=lambda n, l2tobj=None: _superscript(arg(n, 0))),
            l2t.SpecialsTextSpec("_", simplify_repl=lambda n, l2tobj=None: _subscript(arg(n, 0))),
            l2t.SpecialsTextSpec("&", simplify_repl="\x00AMP\x00"),
        ],
    )
    converter = _Text(latex_context=text_db, math_mode="text")
    return converter, walker_db


def render(latex: str) -> str:
    """A LaTeX formula as one line of Unicode text."""
    converter, walker_db = _converter()
    text = converter.latex_to_text(latex, latex_context=walker_db)
    text = text.replace("\x00AMP\x00", " ").replace("\x00ROW\x00", "; ")
    text = re.sub(rf"(?<=[\w)]){_MARK}", " ", text).replace(_MARK, "")
    text = re.sub(r"\s+", " ", text).replace("∂ ", "∂")
    text = re.sub(rf"\b({'|'.join(_FUNCTIONS)}) (?=[(_^⁰-⁹ᵀ])", r"\1", text)  # log(…), not log (…)
    text = re.sub(r"\( ", "(", text)
    return re.sub(r" ([,)])", r"\1", text).strip()
