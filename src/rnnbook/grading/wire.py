"""What travels between the clean room and the student's process: plain data, never pickle (JSON
plus .npy buffers).
"""

from __future__ import annotations
import io
import json
import struct
from typing import Any
import numpy as np


class Opaque:
    """Stands for a value the student's function returned that is not plain data."""

    def __init__(self, type_name: str):
        self.type_name = type_name

    def __repr__(self) -> str:
        return f"<a {self.type_name} object>"


class RemoteError(Exception):
    """An exception raised in the student's process (its type name and message, nothing else)."""


def _encode(value: Any, arrays: list, depth: int = 0) -> Any:
    if depth > 20:
        return {"t": "opaque", "type": "deeply nested value"}
    if value is None or isinstance(value, (bool, int, float, str)):
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**63:
            return {"t": "opaque", "type": "huge int"}
        return {"t": "py", "v": value if not isinstance(value, str) else value[:10_000]}
    if isinstance(value, complex):
        return {"t": "complex", "v": [value.real, value.imag]}
    if isinstance(value, (tuple, list)):
        return {"t": type(value).__name__, "v": [_encode(v, arrays, depth + 1) for v in value[:100_000]]}
    if isinstance(value, dict):
        return {"t": "dict", "v": [[_encode(k, arrays, depth + 1), _encode(v, arrays, depth + 1)]
                                   for k, v in list(value.items())[:100_000]]}
    kind = "array"
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        kind, value = "tensor", value.detach().cpu().numpy()
    try:
        arr = np.asarray(value)
    except Exception:  # noqa: BLE001 - anything a student returns
        arr = None
    if arr is None or arr.dtype.hasobject:
        return {"t": "opaque", "type": type(value).__name__[:60]}
    arrays.append(np.ascontiguousarray(arr))
    return {"t": kind, "i": len(arrays) - 1}


def _decode(tree: Any, arrays: list) -> Any:
    kind = tree["t"]
    if kind == "py":
        return tree["v"]
    if kind == "complex":
        return complex(*tree["v"])
    if kind in {"tuple", "list"}:
        items = [_decode(v, arrays) for v in tree["v"]]
        return tuple(items) if kind == "tuple" else items
    if kind == "dict":
        return {_freeze(_decode(k, arrays)): _decode(v, arrays) for k, v in tree["v"]}
    if kind in {"array", "tensor"}:
        arr = arrays[int(tree["i"])]
        if kind == "tensor":
            import torch

            return torch.from_numpy(arr.copy())
        return arr if arr.ndim else arr[()]
    return Opaque(str(tree.get("type", "unknown"))[:60])


def _freeze(key: Any) -> Any:
    return tuple(key) if isinstance(key, list) else (key if not isinstance(key, np.ndarray) else key.tobytes())


def _pack(tree: Any, arrays: list) -> bytes:
    header = json.dumps(tree).encode()
    parts = [struct.pack("<QQ", len(header), len(arrays)), header]
    for arr in arrays:
        buf = io.BytesIO()
        np.save(buf, arr, allow_pickle=False)
        parts += [struct.pack("<Q", buf.tell()), buf.getvalue()]
    return b"".join(parts)


def _unpack(data: bytes) -> Any:
    """Decode a reply without pickle: JSON plus .npy buffers (allow_pickle=False)."""
    n_header, n_arrays = struct.unpack_from("<QQ", data)
    pos = 16 + n_header
    tree = json.loads(data[16:pos])
    arrays = []
    for _ in range(n_arrays):
        (size,) = struct.unpack_from("<Q", data, pos)
        arrays.append(np.load(io.BytesIO(data[pos + 8: pos + 8 + size]), allow_pickle=False))
        pos += 8 + size
    return tree, arrays


def _write_frame(stream, payload: bytes) -> None:
    stream.write(struct.pack("<Q", len(payload)) + payload)
    stream.flush()
