"""The confusion-matrix picture (classifier/reports.py) and its bitmap font."""

import struct
import zlib

import numpy as np
import pytest

from classifier import bitmap_font, reports

MATRIX = np.array([[5, 1, 0], [0, 6, 1], [1, 0, 2]])
LABELS = ["negative", "neutral", "positive"]


def read_png(path):
  """A minimal PNG reader for what write_png writes: 8-bit RGB, filter 0."""
  with open(path, "rb") as f:
    data = f.read()
  assert data[:8] == b"\x89PNG\r\n\x1a\n"
  chunks, pos = [], 8
  while pos < len(data):
    (length,) = struct.unpack(">I", data[pos : pos + 4])
    tag, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
    (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
    assert zlib.crc32(tag + body) & 0xFFFFFFFF == crc, tag
    chunks.append((tag, body))
    pos += 12 + length
  assert [tag for tag, _ in chunks][0] == b"IHDR"
  assert chunks[-1] == (b"IEND", b"")
  width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
  assert (depth, color, interlace) == (8, 2, 0)
  raw = zlib.decompress(b"".join(body for tag, body in chunks if tag == b"IDAT"))
  rows = np.frombuffer(raw, dtype=np.uint8).reshape(height, 1 + width * 3)
  assert (rows[:, 0] == 0).all()  # Filter type "none" on every row.
  return rows[:, 1:].reshape(height, width, 3)


def ink(image):
  """True where a pixel is not white."""
  return (image != 255).any(axis=2)


# --- the picture ----------------------------------------------------------------


def test_png_round_trip(tmp_path):
  image = reports.render_confusion_matrix(MATRIX, LABELS)
  path = str(tmp_path / "cm.png")
  reports.write_png(path, image)
  np.testing.assert_array_equal(read_png(path), image)


def test_three_labels_shape_and_matrix_cells():
  image = reports.render_confusion_matrix(MATRIX, LABELS)
  assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
  height, width, _ = image.shape
  # Three 96-pixel cells plus room for the titles and the names.
  assert 3 * 96 < width < 700 and 3 * 96 < height < 700
  # The diagonal cell of "neutral" (6 of 7) is the darkest blue.
  blue = (image[:, :, 0] < 100) & (image[:, :, 2] > 200)
  assert blue.sum() > 96 * 96 // 2


def test_title_and_axis_titles_are_drawn():
  full = reports.render_confusion_matrix(MATRIX, LABELS)
  bare = reports.render_confusion_matrix(MATRIX, LABELS, title="", true_axis="", predicted_axis="")
  assert full.shape == bare.shape
  extra = ink(full) & ~ink(bare)
  assert not (ink(bare) & ~ink(full)).any()
  # Title and "predicted" at the top, "true" upright at the left edge.
  scale, pad, gap = 2, 12, 10
  assert extra[pad : pad + 9 * scale].any()  # The title line.
  assert extra[pad + 9 * scale + gap : pad + 18 * scale + gap].any()  # predicted
  assert not extra[pad + 18 * scale + gap :].any(axis=0)[pad + 9 * scale :].any()
  rows = np.nonzero(extra[:, pad : pad + 9 * scale].any(axis=1))[0]
  # "true", turned upright, is as tall as the word is wide.
  assert rows.max() - rows.min() + 1 == bitmap_font.text_width("true", scale)


def test_default_title_is_the_accuracy():
  assert reports.confusion_title([[7, 1], [1, 7]]) == "accuracy 0.8750 (n=16)"
  assert reports.confusion_title([[0, 0], [0, 0]]) == "accuracy n/a (n=0)"
  default = reports.render_confusion_matrix([[7, 1], [1, 7]], ["a", "b"])
  explicit = reports.render_confusion_matrix(
    [[7, 1], [1, 7]], ["a", "b"], title="accuracy 0.8750 (n=16)"
  )
  np.testing.assert_array_equal(default, explicit)


def places(image, mask):
  """The (y, x) where `mask` appears exactly, with white all around it."""
  padded = np.pad(mask, 1)
  windows = np.lib.stride_tricks.sliding_window_view(ink(image), padded.shape)
  return [(y + 1, x + 1) for y, x in zip(*np.nonzero((windows == padded).all(axis=(2, 3))))]


def test_label_names_are_drawn_on_both_axes():
  image = reports.render_confusion_matrix(MATRIX, ["abc", "def", "ghi"])
  for name in ("abc", "def", "ghi"):
    found = places(image, bitmap_font.text_mask(name, 2))
    assert len(found) == 2, name  # Left of its row and above its column.
  top, left = sorted(places(image, bitmap_font.text_mask("abc", 2)))
  assert top[0] < left[0] and top[1] > left[1]
  # Names wider than a cell stand upright above their columns.
  image = reports.render_confusion_matrix(MATRIX, LABELS)
  for name in LABELS:
    mask = bitmap_font.text_mask(name, 2)
    assert len(places(image, mask)) == 1
    assert len(places(image, np.rot90(mask))) == 1


def test_long_names_end_with_an_ellipsis():
  long_name = "a_label_name_far_too_long_for_any_cell"
  cut = bitmap_font.truncate(long_name, 20)
  assert cut == "a_label_name_far_to\u2026" and len(cut) == 20
  np.testing.assert_array_equal(
    reports.render_confusion_matrix(MATRIX, [long_name, "b", "c"]),
    reports.render_confusion_matrix(MATRIX, [cut, "b", "c"]),
  )


def test_non_ascii_labels_are_drawn_by_index_with_a_note():
  chinese = reports.render_confusion_matrix(MATRIX, ["积极", "neutral", "消极"])
  by_hand = reports.render_confusion_matrix(MATRIX, ["#0", "neutral", "#2"])
  ascii_only = reports.render_confusion_matrix(MATRIX, ["pos", "neutral", "neg"])
  # The same picture, plus a note line under the matrix that says where the
  # names are; names that can be drawn need no note.
  assert chinese.shape[0] > by_hand.shape[0] == ascii_only.shape[0]
  height, width = by_hand.shape[:2]
  np.testing.assert_array_equal(chinese[: height - 12, :width], by_hand[: height - 12])
  note = bitmap_font.text_mask('#k: label k of "labels" in eval_metrics.json', 2)
  np.testing.assert_array_equal(
    ink(chinese)[-12 - note.shape[0] : -12, 12 : 12 + note.shape[1]], note
  )


@pytest.mark.parametrize("n", [2, 12, 13, 30, 50])
def test_sizes_stay_readable(n):
  rng = np.random.RandomState(n)
  matrix = rng.randint(0, 20, (n, n)) + np.eye(n, dtype=int) * 500
  labels = ["class_%d" % k for k in range(n)]
  image = reports.render_confusion_matrix(matrix, labels)
  cell, scale = reports._sizes(n)
  assert cell >= 36 and scale >= 1
  assert image.shape[0] >= n * cell and image.shape[1] >= n * cell
  assert max(image.shape[:2]) <= 2200


@pytest.mark.parametrize("n", [200, 1000])
def test_many_labels_stay_bounded(n):
  matrix = np.random.RandomState(n).randint(0, 9, (n, n))
  image = reports.render_confusion_matrix(matrix, ["l%d" % k for k in range(n)])
  assert max(image.shape[:2]) <= 4000


def test_titles_outside_the_font_are_drawn_with_question_marks():
  np.testing.assert_array_equal(
    reports.render_confusion_matrix(MATRIX, title="准确率 0.5"),
    reports.render_confusion_matrix(MATRIX, title="??? 0.5"),
  )


def test_bad_shapes_are_refused():
  with pytest.raises(ValueError, match="square"):
    reports.render_confusion_matrix(np.zeros((2, 3)))
  with pytest.raises(ValueError, match="2 labels for a 3x3 matrix"):
    reports.render_confusion_matrix(MATRIX, ["a", "b"])


# --- the font -------------------------------------------------------------------


def test_font_covers_printable_ascii_with_distinct_glyphs():
  printable = [chr(c) for c in range(32, 127)]
  assert bitmap_font.can_draw("".join(printable) + "\u2026")
  assert not bitmap_font.can_draw("中") and not bitmap_font.can_draw("é")
  glyphs = {ch: bitmap_font.text_mask(ch).tobytes() for ch in printable}
  assert len(set(glyphs.values())) == len(printable)
  assert not bitmap_font.text_mask(" ").any()
  assert all(bitmap_font.text_mask(ch).any() for ch in printable[1:])


def test_font_glyph_shapes():
  assert bitmap_font.render("T") == "\n".join(
    ["#####", "..#..", "..#..", "..#..", "..#..", "..#..", "..#..", ".....", "....."]
  )
  assert bitmap_font.text_mask("ab", 3).shape == (27, 33)
  assert bitmap_font.text_width("ab", 3) == 33 and bitmap_font.text_width("") == 0
  with pytest.raises(ValueError, match="no glyph for '中'"):
    bitmap_font.text_mask("a中")


def test_stamp_clips_at_the_edges():
  image = np.full((5, 5, 3), 255, dtype=np.uint8)
  bitmap_font.stamp(image, np.ones((4, 4), dtype=bool), 3, -2, (0, 0, 0))
  assert ink(image).sum() == 4  # 2 columns x 2 rows fall inside.


# -- multi-label: no probability reaches the threshold ---------------------------------


def test_best_f1_threshold_scores_ties_together():
  probabilities = np.array([[0.4, 0.1], [0.3, 0.3], [0.2, 0.05]])
  labels = np.array([[1, 0], [1, 0], [0, 0]])
  # >= 0.3 predicts 3 labels, 2 right: F1 0.8; >= 0.4 predicts 1 right: F1 0.667.
  assert reports.best_f1_threshold(probabilities, labels) == 0.3


def test_empty_predictions_are_warned_with_the_largest_probability(tmp_path, caplog):
  from processors import InputExample

  probabilities = np.array([[0.31, 0.05], [0.12, 0.27], [0.08, 0.02]])
  labels = np.array([[1, 0], [0, 1], [0, 0]])
  assert reports.empty_predictions_warning("dev", probabilities, 0.3) is None
  assert reports.empty_predictions_warning("dev", probabilities, 0.5, labels) == (
    "no dev example has a label at or above --multi_label_threshold=0.5 (the largest "
    "probability is 0.3100): every prediction is empty; try --multi_label_threshold=0.27 "
    "(about the best micro-F1 on these examples)"
  )
  examples = [InputExample("test-%d" % i, "text %d" % i) for i in range(3)]
  path = str(tmp_path / "test_predictions.tsv")
  with caplog.at_level("WARNING"):
    reports.write_predictions(path, examples, probabilities, ["a", "b"], 0.5)
  assert (
    "no test example has a label at or above --multi_label_threshold=0.5 (the largest "
    "probability is 0.3100): every prediction is empty; try --multi_label_threshold=0.27 "
    "(it gives about half of these examples a label)"
  ) in caplog.text
  caplog.clear()
  with caplog.at_level("WARNING"):
    reports.write_predictions(path, examples, probabilities, ["a", "b"], 0.3)
    reports.write_predictions(path, examples, probabilities, ["a", "b"])  # Single-label.
  assert caplog.text == ""
