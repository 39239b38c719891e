"""TFRecord files of int64 `tf.train.Example`s, written without TensorFlow.

The framing bytes equal `tf.io.TFRecordWriter`'s and each payload parses to
the same `tf.train.Example` (pinned by a test); map entries are written in
Google's fixed feature order, where TF's protobuf uses a per-process hash
order. So feature conversion can run in processes that never import TF.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

try:  # A C implementation, when installed; the table version otherwise.
  import google_crc32c as _google_crc32c  # type: ignore
except ImportError:  # pragma: no cover - depends on the environment
  _google_crc32c = None


def _make_crc32c_table():
  table = []
  for byte in range(256):
    crc = byte
    for _ in range(8):
      crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    table.append(crc)
  return table


_CRC32C_TABLE = _make_crc32c_table()


def crc32c(data: bytes) -> int:
  """CRC-32C (Castagnoli) of `data`."""
  if _google_crc32c is not None:
    return _google_crc32c.value(data)
  crc = 0xFFFFFFFF
  table = _CRC32C_TABLE
  for byte in data:
    crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
  return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
  """The masked CRC that TFRecord stores."""
  crc = crc32c(data)
  return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(value: int) -> bytes:
  if value < 0:
    value += 1 << 64
  out = bytearray()
  while True:
    bits = value & 0x7F
    value >>= 7
    if value:
      out.append(bits | 0x80)
    else:
      out.append(bits)
      return bytes(out)


# Varint bytes of every id below 2**17 (covers BERT vocabularies up to 131072),
# so a list encodes with one C-level `map` + `join`.
_VARINT_TABLE_SIZE = 1 << 17
_VARINTS = [_varint(i) for i in range(_VARINT_TABLE_SIZE)]


def packed_varints(values: Sequence[int]) -> bytes:
  """The packed-repeated varint bytes of non-empty int64 `values`."""
  try:
    if min(values) >= 0:
      return b"".join(map(_VARINTS.__getitem__, values))
  except (IndexError, ValueError):
    pass
  return b"".join(map(_varint, values))


def _length_delimited(field_tag: bytes, payload: bytes) -> bytes:
  n = len(payload)
  return field_tag + (_VARINTS[n] if n < _VARINT_TABLE_SIZE else _varint(n)) + payload


_NAME_FIELDS: dict = {}


def _name_field(name: str) -> bytes:
  field = _NAME_FIELDS.get(name)
  if field is None:
    field = _NAME_FIELDS[name] = _length_delimited(b"\x0a", name.encode("utf-8"))
  return field


def encode_int64_example(features: Sequence[tuple[str, Sequence[int]]]) -> bytes:
  """Serialized `tf.train.Example` of (name, int64 values) features, in order."""
  return encode_packed_int64_example(
    [(name, packed_varints(values) if values else b"") for name, values in features]
  )


def encode_packed_int64_example(features: Sequence[tuple[str, bytes]]) -> bytes:
  """`encode_int64_example` for values given as `packed_varints` bytes."""
  return example_from_entries([int64_feature_entry(name, packed) for name, packed in features])


def int64_feature_entry(name: str, packed: bytes) -> bytes:
  """One `Features.feature` map entry (name -> Int64List of `packed`)."""
  int64_list = _length_delimited(b"\x0a", packed) if packed else b""
  feature = _length_delimited(b"\x1a", int64_list)
  return _length_delimited(b"\x0a", _name_field(name) + _length_delimited(b"\x12", feature))


def example_from_entries(entries: Sequence[bytes]) -> bytes:
  """Serialized `tf.train.Example` whose `Features` has these map entries."""
  return _length_delimited(b"\x0a", b"".join(entries))


def frame_record(data: bytes) -> bytes:
  """One TFRecord frame: length, masked CRC of length, data, masked CRC."""
  length = struct.pack("<Q", len(data))
  return (
    length
    + struct.pack("<I", masked_crc32c(length))
    + data
    + struct.pack("<I", masked_crc32c(data))
  )


class TFRecordFileWriter:
  """Writes TFRecord frames to a local file (uncompressed)."""

  def __init__(self, path: str):
    self._file = open(path, "wb")

  def write(self, record: bytes) -> None:
    """Appends one record."""
    self._file.write(frame_record(record))

  def close(self) -> None:
    """Flushes and closes the file."""
    self._file.close()

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.close()
