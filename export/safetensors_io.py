"""Reads and writes `.safetensors` files with NumPy only (no torch).

The format: an 8-byte little-endian unsigned header length N, then N bytes of
JSON mapping each tensor name to `{"dtype", "shape", "data_offsets": [begin,
end]}` (offsets relative to the byte after the header; an optional
`"__metadata__"` entry maps strings to strings), then the raw little-endian
tensor bytes, row-major.

Floating-point tensors (F64, F32, F16, BF16) can be decoded to float32, BF16 by
shifting its 16 bits into the high half of a float32 (exact).
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Iterable, Mapping

import numpy as np

from bert.errors import InputError

# safetensors' own reader refuses headers above 100 MB.
MAX_HEADER_BYTES = 100 * 1000 * 1000

# dtype tag -> little-endian NumPy dtype. BF16 is read as its raw uint16 bits.
_DTYPES = {
  "F64": np.dtype("<f8"),
  "F32": np.dtype("<f4"),
  "F16": np.dtype("<f2"),
  "BF16": np.dtype("<u2"),
  "I64": np.dtype("<i8"),
  "I32": np.dtype("<i4"),
  "I16": np.dtype("<i2"),
  "I8": np.dtype("i1"),
  "U64": np.dtype("<u8"),
  "U32": np.dtype("<u4"),
  "U16": np.dtype("<u2"),
  "U8": np.dtype("u1"),
  "BOOL": np.dtype("?"),
}
FLOAT_DTYPES = ("F64", "F32", "F16", "BF16")


class SafetensorsError(InputError):
  """A file is not a readable safetensors file (an InputError, so also a ValueError)."""


def bf16_bits_to_float32(bits: np.ndarray) -> np.ndarray:
  """uint16 bfloat16 bit patterns -> float32 (exact)."""
  bits = np.asarray(bits, dtype=np.uint16)
  return (bits.astype(np.uint32) << np.uint32(16)).view(np.float32)


def float32_to_bf16_bits(values: np.ndarray) -> np.ndarray:
  """float32 -> uint16 bfloat16 bit patterns, rounding to nearest even."""
  bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32)
  rounding = ((bits >> np.uint32(16)) & np.uint32(1)) + np.uint32(0x7FFF)
  rounded = ((bits + rounding) >> np.uint32(16)).astype(np.uint16)
  nan = np.isnan(values)
  if np.any(nan):  # keep NaNs NaN (rounding could carry them to inf)
    rounded = np.where(nan, np.uint16(0x7FC0), rounded)
  return rounded


class SafetensorsFile:
  """A parsed safetensors file; tensors are read lazily via a memory map."""

  def __init__(self, path: str):
    self.path = path
    try:
      file_size = os.path.getsize(path)
      with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
          raise SafetensorsError(
            "%s is not a safetensors file: it is only %d bytes long" % (path, len(head))
          )
        (header_len,) = struct.unpack("<Q", head)
        if header_len > MAX_HEADER_BYTES or 8 + header_len > file_size:
          raise SafetensorsError(
            "%s is not a safetensors file (or is truncated): header length "
            "%d does not fit a file of %d bytes" % (path, header_len, file_size)
          )
        header_bytes = f.read(header_len)
    except OSError as e:
      raise SafetensorsError("cannot read %s: %s" % (path, e)) from e
    try:
      header = json.loads(header_bytes.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
      raise SafetensorsError(
        "%s is not a safetensors file: its header is not JSON (%s)" % (path, e)
      ) from e
    if not isinstance(header, dict):
      raise SafetensorsError("%s: the safetensors header is not a JSON object" % path)
    self.metadata = header.pop("__metadata__", None) or {}
    self._data_start = 8 + header_len
    data_size = file_size - self._data_start
    self._entries = {}
    for name, entry in header.items():
      try:
        dtype_tag = entry["dtype"]
        shape = [int(d) for d in entry["shape"]]
        begin, end = (int(o) for o in entry["data_offsets"])
      except (TypeError, KeyError, ValueError) as e:
        raise SafetensorsError(
          "%s: bad header entry for tensor %r: %r" % (path, name, entry)
        ) from e
      if dtype_tag not in _DTYPES:
        raise SafetensorsError(
          "%s: tensor %r has dtype %s; supported: %s"
          % (path, name, dtype_tag, ", ".join(sorted(_DTYPES)))
        )
      if any(d < 0 for d in shape):
        raise SafetensorsError("%s: tensor %r has a negative dimension %s" % (path, name, shape))
      expected = int(np.prod(shape, dtype=np.int64)) * _DTYPES[dtype_tag].itemsize
      if not 0 <= begin <= end <= data_size or end - begin != expected:
        raise SafetensorsError(
          "%s: tensor %r (%s %s) has data_offsets [%d, %d], which do not "
          "fit %d bytes of data (the file may be truncated)"
          % (path, name, dtype_tag, shape, begin, end, data_size)
        )
      self._entries[name] = (dtype_tag, tuple(shape), begin, end)
    self._mmap = None

  def keys(self) -> list[str]:
    """Tensor names, in header order."""
    return list(self._entries)

  def __contains__(self, name) -> bool:
    return name in self._entries

  def dtype(self, name: str) -> str:
    """The safetensors dtype tag of `name` (e.g. "BF16")."""
    return self._entries[name][0]

  def shape(self, name: str) -> tuple:
    return self._entries[name][1]

  def _buffer(self):
    if self._mmap is None:
      if os.path.getsize(self.path) == self._data_start:
        self._mmap = np.zeros([0], np.uint8)
      else:
        self._mmap = np.memmap(self.path, dtype=np.uint8, mode="r")
    return self._mmap

  def get_raw(self, name: str) -> np.ndarray:
    """The stored array as is (read-only; BF16 as uint16 bits)."""
    dtype_tag, shape, begin, end = self._entries[name]
    dtype = _DTYPES[dtype_tag]
    count = (end - begin) // dtype.itemsize
    if count == 0:
      return np.zeros(shape, dtype)
    array = np.frombuffer(self._buffer(), dtype=dtype, count=count, offset=self._data_start + begin)
    return array.reshape(shape)

  def get(self, name: str, float_dtype=None) -> np.ndarray:
    """The tensor as a NumPy array in native byte order.

    Args:
      name: tensor name.
      float_dtype: if given, floating-point tensors (BF16 included) are
        converted to it; otherwise BF16 becomes float32 and the others keep
        their dtype.
    """
    dtype_tag = self._entries[name][0]
    raw = self.get_raw(name)
    if dtype_tag == "BF16":
      array = bf16_bits_to_float32(raw)
    else:
      array = raw.astype(raw.dtype.newbyteorder("="), copy=False)
    if float_dtype is not None and dtype_tag in FLOAT_DTYPES:
      array = array.astype(float_dtype, copy=False)
    return array


def read_safetensors(
  path: str, names: Iterable[str] | None = None, float_dtype=None
) -> dict[str, np.ndarray]:
  """name -> array for the tensors of `path` (all, or those in `names`)."""
  f = SafetensorsFile(path)
  return {n: f.get(n, float_dtype) for n in (f.keys() if names is None else names)}


def _dtype_tag(array: np.ndarray) -> str:
  for tag, dtype in _DTYPES.items():
    if tag == "BF16":
      continue
    if array.dtype.newbyteorder("<") == dtype or array.dtype == dtype:
      return tag
  raise SafetensorsError("cannot write dtype %s to safetensors" % array.dtype)


def write_safetensors(
  path: str,
  tensors: Mapping[str, np.ndarray],
  dtypes: Mapping[str, str] | None = None,
  metadata: Mapping[str, str] | None = None,
) -> None:
  """Writes `tensors` (name -> array) to `path` in the safetensors format.

  Args:
    path: output file.
    tensors: name -> array, written in this order.
    dtypes: optional name -> tag ("F32", "F16", "BF16", ...) to store a tensor
      as; floating-point arrays are converted (BF16 rounds to nearest even).
    metadata: optional str -> str map stored as `__metadata__`.
  """
  dtypes = dict(dtypes or {})
  header, chunks, offset = {}, [], 0
  if metadata:
    header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
  for name, value in tensors.items():
    array = np.asarray(value)
    tag = dtypes.get(name) or _dtype_tag(array)
    if tag == "BF16":
      data = float32_to_bf16_bits(array) if array.dtype != np.uint16 else array
      data = np.ascontiguousarray(data, dtype="<u2")
    elif tag in _DTYPES:
      data = np.ascontiguousarray(array, dtype=_DTYPES[tag])
    else:
      raise SafetensorsError("unknown safetensors dtype %s" % tag)
    raw = data.tobytes()
    header[name] = {
      "dtype": tag,
      "shape": list(array.shape),
      "data_offsets": [offset, offset + len(raw)],
    }
    chunks.append(raw)
    offset += len(raw)
  header_bytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
  header_bytes += b" " * (-len(header_bytes) % 8)  # as safetensors pads
  with open(path, "wb") as f:
    f.write(struct.pack("<Q", len(header_bytes)))
    f.write(header_bytes)
    for raw in chunks:
      f.write(raw)
