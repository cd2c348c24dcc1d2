"""The sandbox's limits: engine settings of every connection, caps on rows, bytes and time.

:data:`SANDBOX_CONFIG` is what makes a connection safe for untrusted SQL (read-only, no
external access, no extensions, capped memory and threads, no spilling, locked settings).
The other constants bound what one query may return and how long it may run; the ``--max-*``
options of ``portfolio sql`` are checked against them. :func:`parse_size` and
:func:`human_bytes` read and write the sizes those options and messages use.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

MEMORY_LIMIT = "1GB"
THREADS = 2
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_MAX_ROWS = 10_000
#: Rows per Arrow batch taken from the engine (one DuckDB vector). CSV and JSON hold one batch
#: at a time, so their memory stays near a fixed ceiling whatever the query returns.
BATCH_ROWS = 2_048
#: Fetched batches are gathered up to this many Arrow bytes before they are formatted.
FORMAT_BYTES = 4 * 2**20
#: Bytes of result a frame (the table format, the app's page) may hold, by Arrow size.
FRAME_MAX_BYTES = 64 * 2**20
#: Bytes a csv/json output may write unless ``--max-bytes`` says otherwise.
STREAM_MAX_BYTES = 2**30
#: Upper bounds of the options, so a typo cannot ask for more than the machine can count.
MAX_ROWS_LIMIT = 10**12
MAX_BYTES_LIMIT = 2**50
MAX_TIMEOUT_S = 86_400.0

#: Engine settings of every sandbox connection; ``lock_configuration`` comes last so nothing the
#: query does can change the others. ``temp_directory = ''`` forbids spilling to disk, so a
#: query that needs more memory than the cap fails instead of writing temporary files.
SANDBOX_CONFIG: dict[str, Any] = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "python_enable_replacements": False,
    "allow_community_extensions": False,
    "allow_unsigned_extensions": False,
    "allow_persistent_secrets": False,
    "memory_limit": MEMORY_LIMIT,
    "threads": THREADS,
    "temp_directory": "",
    "lock_configuration": True,
}


def parse_size(text: str) -> int:
    """Bytes from ``1048576``, ``512K``, ``64M``, ``1G``, ``1.5GiB`` (binary units); ValueError otherwise."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*", text, re.IGNORECASE)
    if not m:
        raise ValueError(text)
    value = Decimal(m.group(1)) * 1024 ** " kmgt".index(m.group(2).lower() or " ")
    return int(value)


def human_bytes(n: int) -> str:
    """``1 GiB``, ``64 MiB``, ``1.5 KiB``, ``12 B``."""
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.1f}".rstrip("0").rstrip(".") + f" {unit}"
    return f"{n} B"
