"""Importing ledgers (台账): reading, header mapping, parsing, validation, rejects, upsert, audit.

The path of a file: :func:`read_ledger` finds the header row under the title rows and keeps
every data row's Excel row number; :func:`validate` parses and checks every cell with polars
expressions (no Python loop per row) and returns the valid rows and one error per failed check;
:func:`upsert` writes the inserted and changed rows with their audit trail; :func:`ingest_file`
does all three in one transaction and writes the rejects file. File-level problems raise
:class:`FileProblem` before anything is written.

One module per step, each owning its rules:

- :mod:`.catalogue`: the ledger kinds, their fields, accepted headers and spellings.
- :mod:`.safe_read` and :mod:`.child`: the import limits and the capped reader process.
- :mod:`.reading`: a file to a :class:`Ledger` (header row, row numbers, total rows).
- :mod:`.parsing`: the polars expressions that parse amounts, dates, months, 是/否.
- :mod:`.validation`: every check as (field, failing expression, reason).
- :mod:`.writing`: the upsert with its audit rows, and the rejects file.
- :mod:`.plans`: a projects ledger written by plan year (current year, history, carried plans).
- :mod:`.importer`: the whole import in one transaction (:func:`ingest_file`).
- :mod:`.template`: the blank xlsx templates.
- :mod:`.errors`: :class:`FileProblem` and :class:`ImportFailed`.

This package re-exports the names callers use, so ``from portfolio import ingest`` then
``ingest.ingest_file(...)`` keeps working.
"""

from .catalogue import (
    ENUM_ALIASES,
    FIELDS,
    HEADER_MAPS,
    KEYS,
    KIND_LABELS,
    KINDS,
    METRIC_LABELS,
    TABLE_KEYS,
    Field,
    normalize_header,
)
from .errors import FileProblem, ImportFailed, first_line
from .importer import IngestResult, ingest_file
from .parsing import (
    CONTROL_RE,
    DASHES,
    MONEY,
    NO_PROBLEM_RE,
    PCT,
    parse_amount,
    parse_bool,
    parse_date,
    parse_growth,
    parse_month,
    parse_pct,
    parse_period,
    parse_year,
)
from .plans import write_projects
from .reading import EXCEL_SUFFIXES, HEADER_SCAN_ROWS, Ledger, read_ledger
from .template import template_xlsx
from .validation import GROWTH_RANGE, MAX_CELL_CHARS, MIN_PROJECT_WAN, validate
from .writing import upsert, write_rejects

__all__ = [
    "CONTROL_RE", "DASHES", "ENUM_ALIASES", "EXCEL_SUFFIXES", "FIELDS", "GROWTH_RANGE", "HEADER_MAPS",
    "HEADER_SCAN_ROWS", "KEYS", "KINDS", "KIND_LABELS", "MAX_CELL_CHARS", "METRIC_LABELS", "MIN_PROJECT_WAN",
    "MONEY", "NO_PROBLEM_RE", "PCT", "TABLE_KEYS",
    "Field", "FileProblem", "ImportFailed", "IngestResult", "Ledger", "first_line", "ingest_file",
    "normalize_header", "parse_amount", "parse_bool", "parse_date", "parse_growth", "parse_month", "parse_pct",
    "parse_period", "parse_year", "read_ledger", "template_xlsx", "upsert", "validate", "write_projects",
    "write_rejects",
]
