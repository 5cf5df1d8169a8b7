"""One safe file-name part for any name from outside (cities, characters, titles): checkpoints and exports."""

from __future__ import annotations

import hashlib
import re
import unicodedata

NAME_BYTES = 96  # UTF-8 bytes: two names, a hash each and a suffix stay under the 255-byte file-name limit
_UNSAFE = set('/\\:*?"<>|') | {"\x00"}
DEVICES = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(10)), *(f"LPT{i}" for i in range(10))}
_HASHED = re.compile(r"-[0-9a-f]{8}$")  # what a changed name ends with: a literal name like it is hashed too


def safe_name(name: str) -> str:
    """A file-name part for any filesystem that keeps Unicode letters and emoji readable.

    Separators, control characters and leading dots are replaced; long names are cut to a number of
    UTF-8 bytes. A short hash of the exact name is appended whenever the result differs from the name,
    or the name holds ``_`` (our separator), has letters of both cases (``Paris`` and ``paris`` must not
    share a file on a case-insensitive filesystem), is a Windows device name (``CON``, ``con.txt``), or
    already ends like a hash: so two names never share a file.

    The output for a given name never changes: existing checkpoint files are found by it. (So a dotted
    device name keeps its stem: ``con.txt`` gives ``con.txt-<hash>``; see :func:`file_name_part`.)
    """
    nfc = unicodedata.normalize("NFC", name)
    cleaned = "".join(
        "-" if ch in _UNSAFE or unicodedata.category(ch)[0] == "C" or ch.isspace() else ch for ch in nfc
    ).lstrip(".-")
    while len(cleaned.encode("utf-8")) > NAME_BYTES:
        cleaned = cleaned[:-1]
    plain = (
        nfc
        and cleaned == nfc
        and "_" not in nfc
        and nfc == nfc.casefold()
        and nfc.split(".")[0].upper() not in DEVICES
        and not _HASHED.search(nfc)
    )
    if plain:
        return nfc
    digest = hashlib.sha256(nfc.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{cleaned}-{digest}" if cleaned else digest


def file_name_part(name: str) -> str:
    """:func:`safe_name` for a new file (an export): a result whose stem is still a Windows device name
    (``con.txt-<hash>``, which Windows would open as the console) gets a leading ``_``."""
    part = safe_name(name)
    return "_" + part if part.split(".")[0].upper() in DEVICES else part
