"""Building Delta tables with deletion vectors, as Spark / Databricks would write them.

delta-rs never writes deletion vectors, so these helpers write the Delta log by hand: a protocol
with the ``deletionVectors`` reader/writer feature, Parquet files written with pyarrow, and
commits whose add actions carry a ``deletionVector`` descriptor, either inline (``"i"``, a Z85
encoded ``RoaringBitmapArray``) or in a ``deletion_vector_<uuid>.bin`` file (``"u"``).
"""

import json
import os
import struct
import time
import uuid
import zlib
from pathlib import Path
from typing import Iterable, Optional, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROARING_ARRAY_MAGIC = 1681511377
_Z85_ALPHABET = (
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"
)


def z85_encode(data: bytes) -> str:
    """Z85 text (ZeroMQ RFC 32) of ``data``, zero-padded to a multiple of 4 bytes as Delta does."""
    padded = data + b"\0" * (-len(data) % 4)
    chars = []
    for (word,) in struct.iter_unpack(">I", padded):
        block = []
        for _ in range(5):
            word, digit = divmod(word, 85)
            block.append(_Z85_ALPHABET[digit])
        chars.extend(reversed(block))
    return "".join(chars)


def encode_roaring32(values: Iterable[int], runs: bool = False) -> bytes:
    """A portable 32-bit Roaring bitmap: array containers (<= 4096 values), bitmap containers
    otherwise, or run containers for every container when ``runs``."""
    values = np.unique(np.asarray(list(values), dtype=np.uint64)).astype(np.uint32)
    keys = np.unique(values >> 16)
    containers = [(int(key), (values[(values >> 16) == key] & 0xFFFF).astype(np.uint16))
                  for key in keys]
    bodies = []
    for _, low in containers:
        if runs:
            breaks = np.flatnonzero(np.diff(low.astype(np.int64)) != 1) + 1
            starts = np.concatenate([[0], breaks])
            ends = np.concatenate([breaks, [len(low)]])
            pairs = [(int(low[s]), int(e - s - 1)) for s, e in zip(starts, ends)]
            body = struct.pack("<H", len(pairs)) + b"".join(struct.pack("<HH", *p) for p in pairs)
        elif len(low) <= 4096:
            body = low.astype("<u2").tobytes()
        else:
            bits = np.zeros(65536, dtype=np.uint8)
            bits[low] = 1
            body = np.packbits(bits, bitorder="little").tobytes()
        bodies.append(body)
    size = len(containers)
    if runs:
        header = struct.pack("<I", 12347 | ((size - 1) << 16))
        header += bytes([0xFF] * ((size + 7) // 8))
    else:
        header = struct.pack("<II", 12346, size)
    header += b"".join(struct.pack("<HH", key, len(low) - 1) for key, low in containers)
    with_offsets = not runs or size >= 4
    offset = len(header) + (4 * size if with_offsets else 0)
    if with_offsets:
        for body in bodies:
            header += struct.pack("<I", offset)
            offset += len(body)
    return header + b"".join(bodies)


def encode_bitmap_array(rows: Iterable[int], runs: bool = False) -> bytes:
    """A ``RoaringBitmapArray`` in Delta's portable format: magic, count, (high key, bitmap)*."""
    rows = np.unique(np.asarray(list(rows), dtype=np.uint64))
    highs = np.unique(rows >> np.uint64(32))
    body = struct.pack("<IQ", ROARING_ARRAY_MAGIC, len(highs))
    for high in highs:
        low = rows[(rows >> np.uint64(32)) == high] & np.uint64(0xFFFFFFFF)
        body += struct.pack("<I", int(high)) + encode_roaring32(low, runs=runs)
    return body


def inline_dv(rows: Sequence[int], runs: bool = False) -> dict:
    """A ``deletionVector`` descriptor holding ``rows`` inline in the log."""
    payload = encode_bitmap_array(rows, runs=runs)
    return {"storageType": "i", "pathOrInlineDv": z85_encode(payload),
            "sizeInBytes": len(payload), "cardinality": len(set(rows))}


def file_dvs(table: Path, row_sets: Sequence[Sequence[int]], prefix: str = "",
             runs: bool = False) -> list:
    """Write one DV file holding a DV per entry of ``row_sets``; return their ``"u"`` descriptors.

    Layout (Delta protocol): format version byte 1, then per DV its size (int32 big-endian), the
    serialized bitmap array and its CRC-32 (big-endian); ``offset`` points at the size field.
    """
    dv_id = uuid.uuid4()
    folder = table / prefix if prefix else table
    folder.mkdir(parents=True, exist_ok=True)
    blob = b"\x01"
    descriptors = []
    for rows in row_sets:
        payload = encode_bitmap_array(rows, runs=runs)
        descriptors.append({"storageType": "u", "pathOrInlineDv": prefix + z85_encode(dv_id.bytes),
                            "offset": len(blob), "sizeInBytes": len(payload),
                            "cardinality": len(set(rows))})
        blob += struct.pack(">I", len(payload)) + payload + struct.pack(">I", zlib.crc32(payload))
    (folder / f"deletion_vector_{dv_id}.bin").write_bytes(blob)
    return descriptors


class HandWrittenTable:
    """A Delta table whose log is written line by line, like another engine would."""

    def __init__(self, root: Path, schema: pa.Schema, partition_by: Sequence[str] = (),
                 features: Sequence[str] = ("deletionVectors",),
                 schema_string: Optional[str] = None, configuration: Optional[dict] = None
                 ) -> None:
        self.root = root
        self.schema = schema
        self.partition_by = list(partition_by)
        self.features = list(features)
        self.schema_string = schema_string or _schema_string(schema)
        self.configuration = configuration or {"delta.enableDeletionVectors": "true"}
        self.version = -1
        (root / "_delta_log").mkdir(parents=True, exist_ok=True)

    def write_file(self, data: pa.Table, partition: Optional[dict] = None,
                   row_group_size: Optional[int] = None) -> dict:
        """Write a Parquet file (partition columns dropped) and return its add action."""
        partition = partition or {}
        folder = "/".join(f"{k}={v}" for k, v in partition.items())
        name = f"part-{uuid.uuid4()}.snappy.parquet"
        relative = f"{folder}/{name}" if folder else name
        (self.root / relative).parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(data.drop_columns(list(partition)), self.root / relative,
                       row_group_size=row_group_size)
        return {"path": relative, "partitionValues": {k: str(v) for k, v in partition.items()},
                "size": os.path.getsize(self.root / relative),
                "modificationTime": int(time.time() * 1000), "dataChange": True,
                "stats": json.dumps({"numRecords": data.num_rows})}

    def commit(self, actions: list, operation: str = "WRITE") -> int:
        """Write the next commit file with ``actions`` (plus commitInfo)."""
        self.version += 1
        lines = [{"commitInfo": {"timestamp": int(time.time() * 1000), "operation": operation,
                                 "engineInfo": "hand-written test engine"}}]
        if self.version == 0:
            lines.append({"protocol": {"minReaderVersion": 3, "minWriterVersion": 7,
                                       "readerFeatures": self.features,
                                       "writerFeatures": self.features}})
            lines.append({"metaData": {
                "id": str(uuid.uuid4()), "format": {"provider": "parquet", "options": {}},
                "schemaString": self.schema_string, "partitionColumns": self.partition_by,
                "configuration": self.configuration,
                "createdTime": int(time.time() * 1000)}})
        lines.extend(actions)
        path = self.root / "_delta_log" / f"{self.version:020d}.json"
        path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
        time.sleep(0.01)  # distinct commit timestamps
        return self.version

    @staticmethod
    def add(action: dict, dv: Optional[dict] = None) -> dict:
        """An add action for ``action``'s file, with ``dv`` attached."""
        body = dict(action)
        if dv is not None:
            body["deletionVector"] = dv
        return {"add": body}

    @staticmethod
    def remove(action: dict) -> dict:
        """A remove action for ``action``'s file (the version of it with any old DV)."""
        body = {"path": action["path"], "deletionTimestamp": int(time.time() * 1000),
                "dataChange": True, "extendedFileMetadata": True,
                "partitionValues": action["partitionValues"], "size": action["size"]}
        if "deletionVector" in action:
            body["deletionVector"] = action["deletionVector"]
        return {"remove": body}


_ARROW_TO_DELTA = {pa.int64(): "long", pa.int32(): "integer", pa.float64(): "double",
                   pa.string(): "string", pa.bool_(): "boolean", pa.date32(): "date"}


def _schema_string(schema: pa.Schema) -> str:
    fields = [{"name": f.name, "type": _ARROW_TO_DELTA[f.type], "nullable": True, "metadata": {}}
              for f in schema]
    return json.dumps({"type": "struct", "fields": fields})
