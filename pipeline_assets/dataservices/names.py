"""Naming rules of the Data Analyst Assistant and how published file names are versioned.

The assistant's documentation asks for dataset file names in lowercase letters and underscores
(`this_notation.csv`). Versions and chunk numbers are therefore spelled with letters too, so a
versioned name such as `customer_health_v_kbfaoecdpm_part_ab` obeys the documented rule exactly
instead of relying on digits being tolerated.
"""

from __future__ import annotations

import re
import string

# Documented: dataset (CSV file) names use lowercase letters and underscores only.
DATASET_NAME = re.compile(r"^[a-z]+(_[a-z]+)*$")
# Not documented for columns; we hold them to dbt's own convention (snake_case, may carry digits)
# so that the dispatcher's generated SQL never needs quoting.
COLUMN_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
# Logical assistant names in dbt meta; the secret maps them to the assistant id per environment.
ASSISTANT_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")

_HEX_AS_LETTERS = str.maketrans("0123456789abcdef", "abcdefghijklmnop")
VERSION_LENGTH = 10


def version_code(digest_hex: str, length: int = VERSION_LENGTH) -> str:
    """A content digest spelled in letters: the same content always gets the same version name."""
    head = digest_hex.lower()[:length]
    if len(head) < length or any(c not in string.hexdigits.lower() for c in head):
        raise ValueError(f"need at least {length} hexadecimal characters, got {digest_hex!r}")
    return head.translate(_HEX_AS_LETTERS)


def part_code(index: int) -> str:
    """Chunk index 0..675 as two letters (aa, ab, ...), so part names sort in upload order."""
    if not 0 <= index < 26 * 26:
        raise ValueError(f"a dataset is cut into at most {26 * 26} parts, got part index {index}")
    return string.ascii_lowercase[index // 26] + string.ascii_lowercase[index % 26]


def versioned_name(dataset: str, digest_hex: str, part: int, parts: int) -> str:
    """The file stem (and dataframe name) one part of one published version is uploaded under."""
    stem = f"{dataset}_v_{version_code(digest_hex)}"
    return stem if parts == 1 else f"{stem}_part_{part_code(part)}"
