# SPDX-License-Identifier: Apache-2.0
"""A zip writer that copies members of another zip without recompressing.

The CUDA release wheel holds 1.1 GB of compiled kernels; deflating them
again would take minutes on 2 cores. `RawZipWriter.copy` moves a member's
compressed bytes as they are (same method, CRC and sizes), `add` deflates
new data. Plain zip, no zip64 (a wheel over 4 GiB or 65,535 files is
refused), the format of PKWARE's APPNOTE, sections 4.3.7, 4.3.12, 4.3.16.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO

from errors import SeriesError

LOCAL = struct.Struct("<4s5H3L2H")
CENTRAL = struct.Struct("<4s6H3L5H2L")
END = struct.Struct("<4s4H2LH")
LIMIT = 0xFFFFFFFF
UTF8_FLAG = 0x800
VERSION = 20  # 2.0: deflate
MADE_BY = (3 << 8) | VERSION  # unix: external_attr carries the file mode


def dos_time(date_time: tuple[int, int, int, int, int, int]) -> tuple[int, int]:
    y, mo, d, h, mi, s = date_time
    return (h << 11) | (mi << 5) | (s // 2), ((max(y, 1980) - 1980) << 9) | (
        mo << 5
    ) | d


class RawZipWriter:
    def __init__(self, path: Path) -> None:
        self.f: BinaryIO = path.open("wb")
        self.central: list[bytes] = []

    def __enter__(self) -> RawZipWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.f.close()

    def _entry(
        self, info: zipfile.ZipInfo, method: int, crc: int, csize: int, usize: int
    ) -> None:
        name = info.filename.encode()
        flags = 0 if info.filename.isascii() else UTF8_FLAG
        t, d = dos_time(info.date_time)
        offset = self.f.tell()
        if max(offset, csize, usize) >= LIMIT or len(self.central) >= 0xFFFF:
            raise SeriesError("wheel too large for a plain zip (over 4 GiB)")
        self.f.write(
            LOCAL.pack(
                b"PK\x03\x04",
                VERSION,
                flags,
                method,
                t,
                d,
                crc,
                csize,
                usize,
                len(name),
                0,
            )
            + name
        )
        self.central.append(
            CENTRAL.pack(
                b"PK\x01\x02",
                MADE_BY,
                VERSION,
                flags,
                method,
                t,
                d,
                crc,
                csize,
                usize,
                len(name),
                0,
                0,
                0,
                0,
                info.external_attr,
                offset,
            )
            + name
        )

    def add(self, info: zipfile.ZipInfo, data: bytes) -> None:
        """`data` deflated, under `info`'s name, date and mode."""
        comp = zlib.compressobj(6, zlib.DEFLATED, -15)
        raw = comp.compress(data) + comp.flush()
        self._entry(info, zipfile.ZIP_DEFLATED, zlib.crc32(data), len(raw), len(data))
        self.f.write(raw)

    def copy(self, fp: BinaryIO, info: zipfile.ZipInfo) -> None:
        """Member `info` of the zip open as `fp`, its compressed bytes as they are."""
        fp.seek(info.header_offset)
        header = fp.read(LOCAL.size)
        if len(header) != LOCAL.size or header[:4] != b"PK\x03\x04":
            raise SeriesError(f"bad local header of {info.filename}")
        *_, name_len, extra_len = LOCAL.unpack(header)
        fp.seek(info.header_offset + LOCAL.size + name_len + extra_len)
        self._entry(
            info, info.compress_type, info.CRC, info.compress_size, info.file_size
        )
        left = info.compress_size
        while left:
            chunk = fp.read(min(left, 1 << 20))
            if not chunk:
                raise SeriesError(f"{info.filename} is truncated")
            self.f.write(chunk)
            left -= len(chunk)

    def close(self) -> None:
        start = self.f.tell()
        for entry in self.central:
            self.f.write(entry)
        size = self.f.tell() - start
        n = len(self.central)
        self.f.write(END.pack(b"PK\x05\x06", 0, 0, n, n, size, start, 0))
        self.f.close()
