"""Files the library writes and reads: atomic writes (temp file in the same folder, fsync, rename),
opens that never wait on a device, fifo or socket."""
from __future__ import annotations

import json
import os
import stat
import struct
from pathlib import Path
from typing import IO, Any


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write through a temp file of a unique name in the same folder (``mkstemp``), then
    rename: two writers of one file, in threads or processes, never share a temp file."""
    import tempfile

    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    try:
        with open(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; run files are as readable as before
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, obj: Any) -> None:
    write_bytes_atomic(path, (json.dumps(obj, indent=2) + "\n").encode())




def open_regular(path: Path) -> IO[bytes] | None:
    """``path`` opened for reading if it is a regular file (a fifo or device is never
    waited on or read), else None."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    f = os.fdopen(fd, "rb")
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        f.close()
        return None
    return f


def zip_entry_count(f: IO[bytes]) -> int | None:
    """The number of entries a zip's end-of-central-directory record declares (zip64
    aware), read from the end of the file before anything parses the central directory.
    None when there is no such record (not a zip)."""
    f.seek(0, os.SEEK_END)
    size = f.tell()
    tail_len = min(size, 22 + 65535)
    f.seek(size - tail_len)
    tail = f.read(tail_len)
    i = tail.rfind(b"PK\x05\x06")
    if i < 0 or len(tail) - i < 22:
        return None
    count = struct.unpack("<H", tail[i + 10:i + 12])[0]
    if count == 0xFFFF and i >= 20 and tail[i - 20:i - 16] == b"PK\x06\x07":
        off = struct.unpack("<Q", tail[i - 12:i - 4])[0]
        if off + 56 <= size:
            f.seek(off)
            rec = f.read(56)
            if rec[:4] == b"PK\x06\x06":
                count = struct.unpack("<Q", rec[32:40])[0]
    return count
