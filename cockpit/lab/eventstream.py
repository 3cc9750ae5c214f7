"""AWS event stream framing (``application/vnd.amazon.eventstream``), the encoding side.

What StartLiveTail answers with: each message is a prelude (total length, headers length,
the prelude's CRC32), string headers (``:message-type``, ``:event-type``,
``:content-type``), a JSON payload and the whole message's CRC32. botocore decodes it. Used
by the lab's StartLiveTail and by the tests' live tail stub.
"""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any


def _header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode(), value.encode()
    # name length (1 byte), name, value type 7 (string), value length (2 bytes), value
    return (
        struct.pack("!B", len(raw_name))
        + raw_name
        + struct.pack("!BH", 7, len(raw_value))
        + raw_value
    )


def frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One event stream message: prelude, prelude CRC, headers, payload, message CRC."""
    raw_headers = b"".join(_header(k, v) for k, v in headers.items())
    total = 12 + len(raw_headers) + len(payload) + 4
    prelude = struct.pack("!II", total, len(raw_headers))
    head = prelude + struct.pack("!I", zlib.crc32(prelude))
    body = head + raw_headers + payload
    return body + struct.pack("!I", zlib.crc32(body))


def event(kind: str, body: dict[str, Any]) -> bytes:
    return frame(
        {":event-type": kind, ":message-type": "event", ":content-type": "application/json"},
        json.dumps(body).encode(),
    )


def exception(kind: str, message: str) -> bytes:
    return frame(
        {
            ":exception-type": kind,
            ":message-type": "exception",
            ":content-type": "application/json",
        },
        json.dumps({"message": message}).encode(),
    )
