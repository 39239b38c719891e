"""A small bitmap font of our own, for text in the report PNGs (no font library).

Each glyph is 5 pixels wide and 9 tall: capitals and digits use rows 0-6, the
x-height of lower-case letters is rows 2-6, and rows 7-8 hold the descenders
(g, j, p, q, y, the comma, the underscore). It covers printable ASCII (" " to
"~") and the ellipsis "\u2026" for truncated labels. Text is drawn with one
blank column between glyphs, so a character takes 6 pixels at scale 1.

`_GLYPH_DATA` is the whole font: per glyph, nine base-32 digits (0-9, a-v),
one per row from the top, whose five bits are the pixels from left to right.
"""

from __future__ import annotations

import numpy as np

GLYPH_WIDTH = 5
GLYPH_HEIGHT = 9
ADVANCE = GLYPH_WIDTH + 1
ELLIPSIS = "\u2026"

_CHARS = "".join(chr(c) for c in range(32, 127)) + ELLIPSIS
_GLYPH_DATA = (
  "000000000444440400aa0000000aavavaa004fke5u400pp248jj00cik8lid00440000000"
  "24888420084222480004lel4000044v4400000000cc48000v0000000000cc0011248gg00"
  "ehjlphe004c4444e00eh1248v00v2421he0026aiv2200vgu11he0068guhhe00v12488800"
  "ehhehhe00ehhf12c000cc0cc0000cc0cc480248g8420000v0v0000842124800eh1240400"
  "ehnlnge00ehhvhhh00uhhuhhu00ehggghe00sihhhis00vgguggv00vgguggg00ehgnhhf00"
  "hhhvhhh00e44444e0072222ic00hikokih00ggggggv00hrllhhh00hhpljhh00ehhhhhe00"
  "uhhuggg00ehhhlid00uhhukih00fgge11u00v44444400hhhhhhe00hhhhha400hhhllla00"
  "hha4ahh00hha444400v1248gv00e88888e00gg8421100e22222e004ah0000000000000v0"
  "84000000000e1fhf00gguhhhu0000egghe0011fhhhf0000ehvge00698s8880000fhhhf1e"
  "ggmphhh0040c444e002062222icggikoki00c44444e0000qllll0000mphhh0000ehhhe00"
  "00uhhhugg00fhhhf1100mpggg0000fge1u0088s88960000hhhjd0000hhha40000hhlla00"
  "00ha4ah0000hhhhf1e00v248v00244844200444444400844244800008l20000000000l00"
)


def _decode(data: str) -> dict:
  """Character -> bool array [GLYPH_HEIGHT, GLYPH_WIDTH] of its pixels."""
  rows = np.array([int(d, 32) for d in data], dtype=np.uint8)
  bits = (rows[:, None] >> np.arange(GLYPH_WIDTH - 1, -1, -1)) & 1
  glyphs = bits.astype(bool).reshape(len(_CHARS), GLYPH_HEIGHT, GLYPH_WIDTH)
  return dict(zip(_CHARS, glyphs))


_GLYPHS = _decode(_GLYPH_DATA)


def can_draw(text: str) -> bool:
  """True if the font has every character of `text`."""
  return all(ch in _GLYPHS for ch in text)


def text_width(text: str, scale: int = 1) -> int:
  """The width in pixels of `text` drawn at `scale` (0 for "")."""
  return max(0, len(text) * ADVANCE - 1) * scale


def truncate(text: str, max_chars: int) -> str:
  """`text` cut to at most `max_chars` characters, the last an ellipsis."""
  if len(text) <= max_chars:
    return text
  if max_chars <= 0:
    return ""
  return text[: max_chars - 1].rstrip() + ELLIPSIS


def text_mask(text: str, scale: int = 1) -> np.ndarray:
  """The pixels of `text` as a bool array [9 * scale, text_width(text, scale)].

  Raises:
    ValueError: for a character the font lacks (check with `can_draw`).
  """
  missing = sorted({ch for ch in text if ch not in _GLYPHS})
  if missing:
    raise ValueError("the bitmap font has no glyph for " + ", ".join(repr(ch) for ch in missing))
  mask = np.zeros((GLYPH_HEIGHT, max(0, len(text) * ADVANCE - 1)), dtype=bool)
  for k, ch in enumerate(text):
    mask[:, k * ADVANCE : k * ADVANCE + GLYPH_WIDTH] = _GLYPHS[ch]
  return np.kron(mask, np.ones((scale, scale), dtype=bool)).astype(bool)


def stamp(image: np.ndarray, mask: np.ndarray, x: int, y: int, color) -> None:
  """Paints the True pixels of `mask` into `image` [H, W, 3] with its top-left
  corner at (x, y); whatever falls outside the image is left out."""
  height, width = mask.shape
  x0, y0 = max(x, 0), max(y, 0)
  x1, y1 = min(x + width, image.shape[1]), min(y + height, image.shape[0])
  if x0 >= x1 or y0 >= y1:
    return
  region = mask[y0 - y : y1 - y, x0 - x : x1 - x]
  image[y0:y1, x0:x1][region] = color


def draw_text(
  image: np.ndarray,
  text: str,
  x: int,
  y: int,
  scale: int = 1,
  color=(0, 0, 0),
  vertical: bool = False,
) -> None:
  """Draws `text` with its top-left corner at (x, y); `vertical` turns it a
  quarter to the left, so that it reads from the bottom up."""
  mask = text_mask(text, scale)
  stamp(image, np.rot90(mask) if vertical else mask, x, y, color)


def render(text: str) -> str:
  """`text` as rows of "#" and "." (to look at glyphs in a terminal)."""
  return "\n".join("".join("#" if p else "." for p in row) for row in text_mask(text))
