"""User text is data: showing it on a terminal and writing it for spreadsheets, safely.

Two hazards, one home:

* **Terminal.** A project name can hold ESC sequences, a bell, a carriage return that hides
  what came before, or a right-to-left override that reverses what follows. :func:`visible`
  turns every such character into a visible escape (``\\x1b``, ``\\u202e``) so the terminal
  shows the data instead of obeying it. Rich markup is never applied to user text: the CLI's
  consoles are created with ``markup=False`` and styles are given as ``style=``.
* **Spreadsheets.** A CSV cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
  return is run as a formula by Excel and LibreOffice (CSV injection). Cells written for people
  are neutralised as OWASP advises: a single quote is put in front, so the spreadsheet shows
  the text as text (:func:`formula_safe`, :func:`formula_safe_expr`). Plain numbers such as
  ``-1200`` or ``+3.5`` cannot be formulas and are left alone. xlsx files need none of this:
  their cells are written as strings, never as formulas.
"""

from __future__ import annotations

import re
import unicodedata

import polars as pl

#: Characters that make a spreadsheet read a cell as a formula (OWASP CSV injection).
FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_RE = r"^[=+\-@\t\r]"
_PLAIN_NUMBER_RE = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$"
_PLAIN_NUMBER = re.compile(_PLAIN_NUMBER_RE)

# Format characters that reorder or hide text on a terminal (bidi overrides and isolates,
# zero-width joiners are harmless and stay).
_BIDI = {0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069, 0x200E,
         0x200F, 0x061C}


def _escape(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _build_table(keep_newlines: bool) -> dict[int, str]:
    table: dict[int, str] = {}
    for code in list(range(0x00, 0x20)) + list(range(0x7F, 0xA0)):
        if keep_newlines and code == 0x0A:
            continue
        table[code] = _escape(chr(code))
    for code in _BIDI:
        table[code] = _escape(chr(code))
    for code in (0x2028, 0x2029):  # line and paragraph separators
        table[code] = _escape(chr(code))
    return table


_TABLE_ONE_LINE = _build_table(keep_newlines=False)
_TABLE_LINES = _build_table(keep_newlines=True)
#: Characters JSON may carry raw that a terminal obeys (DEL, the C1 controls such as CSI) or that
#: reorder or split text (bidi overrides, line separators), as ``\uXXXX`` escapes. JSON already
#: escapes C0 controls; with these escaped too, JSON printed on a terminal is inert and still
#: reads back as exactly the same strings.
JSON_ESCAPES = {code: f"\\u{code:04x}" for code in [0x7F, *range(0x80, 0xA0), *sorted(_BIDI), 0x2028, 0x2029]}


def visible(value: object, *, keep_newlines: bool = False) -> str:
    """The text with every control or direction-changing character written as an escape.

    ``visible("a\\x1b[31mb")`` is ``"a\\\\x1b[31mb"``: the terminal prints the backslash
    form instead of turning red. Tabs and newlines are escaped too unless ``keep_newlines``
    (then only the newline stays, for multi-line messages).
    """
    text = "" if value is None else str(value)
    return text.translate(_TABLE_LINES if keep_newlines else _TABLE_ONE_LINE)


def json_visible(text: str) -> str:
    """JSON text with :data:`JSON_ESCAPES` applied: inert on a terminal, the same value when parsed."""
    return text.translate(JSON_ESCAPES)


def has_control(value: object) -> bool:
    """True when :func:`visible` would change the text."""
    text = "" if value is None else str(value)
    return any(unicodedata.category(ch) == "Cc" or ord(ch) in _BIDI for ch in text)


def formula_safe(value: object) -> object:
    """A CSV cell a spreadsheet cannot run: text starting with = + - @ tab CR gets a leading '.

    Non-text values and plain numbers are returned unchanged.
    """
    if not isinstance(value, str) or not value or value[0] not in FORMULA_LEADS:
        return value
    if _PLAIN_NUMBER.match(value):
        return value
    return "'" + value


def formula_safe_expr(expr: pl.Expr) -> pl.Expr:
    """:func:`formula_safe` as a polars expression over a String column (vectorised)."""
    risky = expr.str.contains(_FORMULA_RE) & ~expr.str.contains(_PLAIN_NUMBER_RE)
    return pl.when(risky).then(pl.lit("'") + expr).otherwise(expr)


def formula_safe_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """Every String column of ``frame`` neutralised with :func:`formula_safe_expr`."""
    text = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    if not text:
        return frame
    return frame.with_columns(formula_safe_expr(pl.col(c)).alias(c) for c in text)
