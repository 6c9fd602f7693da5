"""Reading what the user gives: one place that checks an input path and reads arrays.

Every input file goes through :func:`input_file` before it is opened, so an empty path,
a directory, a FIFO or process substitution (which would block or could be read only
once), a device or an unreadable file is one line naming the flag, not a hang or a
traceback. :func:`read_arrays` reads ``.npy`` and ``.npz`` files member by member: each
array's header is read first, so an object array, a corrupt stream, a member that is not
an array or an array larger than the memory free (a zip bomb's declared shape) is refused
before anything is decompressed.
"""

from __future__ import annotations

import os
import stat
import zipfile
import zlib
from pathlib import Path

import numpy as np

from .errors import AccelError
from .limits import check_bytes

__all__ = ["input_file", "read_arrays", "read_text_file", "shown"]

_NPY_MAGIC = b"\x93NUMPY"


def shown(path: str | os.PathLike) -> str:
    """A path as it can be printed: bytes that are not UTF-8 (a file name in another
    encoding) become escapes instead of a ``UnicodeEncodeError`` at the print."""
    return os.fsdecode(path).encode("utf-8", "backslashreplace").decode("utf-8")


def input_file(value: str | os.PathLike, flag: str) -> Path:
    """``value`` as a path to a regular, readable file, or one error line that names
    ``flag``."""
    text = os.fspath(value)
    where = f"{flag} {shown(text)}" if flag else shown(text)
    if not str(text).strip():
        raise AccelError(f"{flag} needs a file path, not an empty string")
    path = Path(text)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise AccelError(f"{where}: no such file") from None
    except OSError as err:
        raise AccelError(f"{where}: cannot read ({err.strerror})") from None
    if stat.S_ISDIR(st.st_mode):
        raise AccelError(f"{where}: is a directory, expected a file")
    if not stat.S_ISREG(st.st_mode):
        kind = "a FIFO or pipe" if stat.S_ISFIFO(st.st_mode) else "not a regular file"
        raise AccelError(f"{where}: is {kind}; give a file on disk (it is read more than once)")
    if not os.access(path, os.R_OK):
        raise AccelError(f"{where}: cannot read (permission denied)")
    return path


def read_text_file(value: str | os.PathLike, flag: str, max_bytes: int) -> str:
    """A UTF-8 text file of at most ``max_bytes``, checked like every input."""
    path = input_file(value, flag)
    size = path.stat().st_size
    if size > max_bytes:
        raise AccelError(
            f"{flag} {shown(path)}: is {size:,} bytes, more than the {max_bytes:,} accepted"
        )
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise AccelError(
            f"{flag} {shown(path)}: not UTF-8 text (byte {err.start}: {err.reason})"
        ) from None
    except OSError as err:
        raise AccelError(f"{flag} {shown(path)}: cannot read ({err.strerror})") from None


def _read_npy(f, where: str) -> np.ndarray:
    """One array from an open ``.npy`` stream, its size checked from the header first."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(f)
        else:
            shape, fortran, dtype = fmt.read_array_header_2_0(f)
    except (ValueError, EOFError, OSError) as err:
        raise AccelError(f"{where}: not a NumPy array ({err})") from None
    if dtype.hasobject:
        raise AccelError(f"{where}: holds Python objects ({dtype}), not numbers")
    count = 1
    for n in shape:
        count *= int(n)
    check_bytes(count * dtype.itemsize, f"{where}: a {dtype} array of shape {tuple(shape)}")
    f.seek(0)  # a zip member seeks too (backwards by decompressing the header again)
    return fmt.read_array(f, allow_pickle=False)


def read_arrays(value: str | os.PathLike, flag: str) -> tuple[dict[str, np.ndarray], bool]:
    """The arrays of an ``.npz`` (by name) or of a ``.npy`` (under ``""``), and whether the
    file was an ``.npz``. Every way a file can be broken is one line naming ``flag``."""
    path = input_file(value, flag)
    where = f"{flag} {shown(path)}"
    try:
        with path.open("rb") as f:
            head = f.read(len(_NPY_MAGIC))
            if head == _NPY_MAGIC:
                f.seek(0)
                return {"": _read_npy(f, where)}, False
        if not zipfile.is_zipfile(path):
            raise AccelError(
                f"{where}: not a .npy or .npz file (it starts with {head[:6]!r})"
            )
        arrays = {}
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                name = info.filename
                if info.is_dir():
                    continue
                key = name[:-4] if name.endswith(".npy") else name
                with zf.open(info) as member:
                    arrays[key] = _read_npy(member, f"{where}: {name}")
        return arrays, True
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, NotImplementedError) as err:
        raise AccelError(f"{where}: corrupt or truncated ({err})") from None
    except OSError as err:
        raise AccelError(f"{where}: cannot read ({err.strerror or err})") from None
