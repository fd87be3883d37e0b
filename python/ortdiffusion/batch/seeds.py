"""Seeds of rows that give none: derived from the batch seed and the row's id, so a row makes the same picture in
any subset of the file, in any order, on any worker."""

from __future__ import annotations

import hashlib


def derived_seed(batch_seed: int, row_id: str) -> int:
    """A 32-bit seed (AUTOMATIC1111's range) from sha256("<batch seed>:<row id>")."""
    digest = hashlib.sha256(f"{int(batch_seed)}:{row_id}".encode()).digest()
    return int.from_bytes(digest[:4], "little")
