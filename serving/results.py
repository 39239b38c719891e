"""What a reply holds: a worker's answer cut into its requests' rows, a
finished request's rows as one array, and the meta of an error reply.

A worker answers a batch with `[json meta, array bytes]` (see
`serving.worker`); `read_result` checks it against the batch's pieces and
cuts it into one `Chunk` per piece. `encode_reply` puts a finished job's
chunks in request order; for 3-D outputs (token embeddings) every chunk is
padded or cut to one sequence length: -max_seq_len, else the model's
max_position_embeddings with -fixed_embed_length, else the longest text's.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from serving import features
from serving.scheduler import Chunk, Job


def read_result(pieces: list, frames: list) -> list:
  """A RESULT's `[meta, array]` frames as one Chunk per piece, in order.

  Raises:
    ValueError, KeyError, TypeError, IndexError: the answer is malformed or
      does not hold one row per text.
  """
  meta = json.loads(frames[0])
  array = np.frombuffer(frames[1], dtype=meta["dtype"]).reshape(meta["shape"])
  lengths, tokens, labels = meta["lengths"], meta.get("tokens"), meta.get("labels")
  expected = sum(p.stop - p.start for p in pieces)
  if len(array) != expected:
    raise ValueError("%d rows for %d texts" % (len(array), expected))
  if labels is not None and len(labels) != len(array):
    raise ValueError("%d label lists for %d rows" % (len(labels), len(array)))
  chunks, offset = [], 0
  for piece in pieces:
    rows = slice(offset, offset + piece.stop - piece.start)
    chunks.append(
      Chunk(
        piece.start,
        array[rows],
        lengths[rows],
        tokens[rows] if tokens else None,
        labels[rows] if labels is not None else None,
      )
    )
    offset = rows.stop
  return chunks


def _assemble(chunks: list, num_texts: int, args: argparse.Namespace, max_positions: int):
  """The chunks' rows in request order, T made uniform for 3-D outputs."""
  first = chunks[0].rows
  if first.ndim != 3:
    return np.concatenate([c.rows for c in chunks]) if len(chunks) > 1 else first
  if args.max_seq_len is not None:
    seq_len = args.max_seq_len
  elif args.fixed_embed_length:
    seq_len = max_positions
  else:
    seq_len = features.sequence_length(
      [tuple(row) for c in chunks for row in c.lengths], None, max_positions
    )
  out = np.zeros((num_texts, seq_len, first.shape[2]), first.dtype)
  for chunk in chunks:
    t = min(seq_len, chunk.rows.shape[1])
    out[chunk.start : chunk.start + chunk.rows.shape[0], :t] = chunk.rows[:, :t]
  return out


def encode_reply(job: Job, args: argparse.Namespace, max_positions: int) -> tuple[dict, np.ndarray]:
  """(meta, C-contiguous array) answering a job whose rows are all encoded."""
  chunks = sorted(job.chunks, key=lambda c: c.start)
  out = np.ascontiguousarray(_assemble(chunks, len(job.texts), args, max_positions))
  tokens = ""
  if args.show_tokens_to_client:
    tokens = [t for c in chunks for t in c.tokens]
  meta = {"dtype": str(out.dtype), "shape": list(out.shape), "tokens": tokens}
  if all(c.labels is not None for c in chunks):
    meta["labels"] = [names for c in chunks for names in c.labels]
  return meta, out


def error_meta(reason: str) -> dict:
  """Meta of an error reply; its dtype makes BertClient raise TypeError.

  numpy reads a dtype string holding a comma as a record format (and raises
  ValueError instead), so commas become semicolons there.
  """
  reason = " ".join(reason.split())[:500]
  return {
    "dtype": "error: " + reason.replace(",", ";"),
    "shape": [0],
    "tokens": "",
    "error": reason,
  }
