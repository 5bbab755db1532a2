"""Files outside the database, under generated names.

The sender's file name never touches the filesystem (a name like ``../../x`` or
``CON`` is just text in the database); the stored name is random and the folder is
fanned out so no directory grows huge.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from flask import current_app

from ucmail_ext.i18n import gettext as _

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class StoredFile:
    storage_key: str
    size: int
    sha256: str


class FileTooLarge(ValueError):
    def __init__(self, limit: int) -> None:
        super().__init__(
            _("the file is larger than the %(mb)s MB allowed", mb=limit // (1024 * 1024))
        )
        self.limit = limit


def storage_root() -> Path:
    configured = current_app.config["UCMAIL_ATTACHMENT_DIR"]
    root = Path(configured) if configured else Path(current_app.instance_path) / "ucmail-files"
    root.mkdir(parents=True, exist_ok=True)
    return root


def _path_for(key: str) -> Path:
    if not key or not all(c in "0123456789abcdef" for c in key):
        raise ValueError("not a storage key")
    return storage_root() / key[:2] / key


def new_key() -> str:
    return secrets.token_hex(20)


def store_bytes(data: bytes) -> StoredFile:
    key = new_key()
    path = _path_for(key)
    path.parent.mkdir(exist_ok=True)
    tmp = path.with_suffix(".part")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return StoredFile(key, len(data), hashlib.sha256(data).hexdigest())


def store_stream(stream: BinaryIO, max_bytes: int) -> StoredFile:
    """Copy in chunks; over ``max_bytes`` the partial file is removed and FileTooLarge raised."""
    key = new_key()
    path = _path_for(key)
    path.parent.mkdir(exist_ok=True)
    tmp = path.with_suffix(".part")
    digest = hashlib.sha256()
    size = 0
    try:
        with open(tmp, "wb") as out:
            while chunk := stream.read(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise FileTooLarge(max_bytes)
                digest.update(chunk)
                out.write(chunk)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return StoredFile(key, size, digest.hexdigest())


def read_stored(key: str) -> bytes:
    return _path_for(key).read_bytes()


def path_of(key: str) -> Path:
    return _path_for(key)


def delete_stored(key: str) -> None:
    _path_for(key).unlink(missing_ok=True)
