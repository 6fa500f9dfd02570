"""A small LaTeX-to-Unicode rendering for terminals (formulas stay LaTeX in the catalog)."""

from __future__ import annotations

import re

_SYMBOLS = {
    r"\partial": "∂", r"\sigma": "σ", r"\alpha": "α", r"\beta": "β", r"\gamma": "γ",
    r"\delta": "δ", r"\varepsilon": "ε", r"\epsilon": "ε", r"\tau": "τ", r"\pi": "π",
    r"\mu": "μ", r"\ell": "ℓ", r"\lambda": "λ", r"\theta": "θ", r"\sum": "Σ", r"\log": "log",
    r"\exp": "exp", r"\tanh": "tanh", r"\cosh": "cosh", r"\max": "max", r"\min": "min",
    r"\cdot": "·", r"\times": "×", r"\leq": "≤", r"\geq": "≥", r"\le": "≤", r"\ge": "≥",
    r"\neq": "≠", r"\infty": "∞", r"\in": "∈", r"\lVert": "‖", r"\rVert": "‖", r"\|": "‖",
    r"\left": "", r"\right": "", r"\,": " ", r"\;": " ", r"\quad": "  ", r"\operatorname": "",
    r"\mathrm": "", r"\text": "", r"\mathbb{1}": "𝟙", r"\mid": "|",
}


def render(latex: str) -> str:
    s = latex
    for key in sorted(_SYMBOLS, key=len, reverse=True):
        s = s.replace(key, _SYMBOLS[key])
    rules = [
        (re.compile(r"\\frac\{([^{}]*)\}\{([^{}]*)\}"), r"(\1)/(\2)"),
        (re.compile(r"\\sqrt\{([^{}]*)\}"), r"√(\1)"),
        (re.compile(r"\^\{([^{}]*)\}"), r"^(\1)"),
        (re.compile(r"_\{([^{}]*)\}"), r"_(\1)"),
    ]
    changed = True
    while changed:
        changed = False
        for pattern, repl in rules:
            new = pattern.sub(repl, s)
            if new != s:
                s, changed = new, True
    s = s.replace("{", "").replace("}", "")
    s = re.sub(r"([_^])\(([^()\s])\)", r"\1\2", s)
    s = s.replace("\\", "")
    return re.sub(r" {2,}", " ", s).strip()
