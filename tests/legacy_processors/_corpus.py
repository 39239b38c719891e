# -*- coding: utf-8 -*-
"""Test corpus of legacy (TF1-era) DataProcessor plugins: cases and their data.

Not a plugin (the leading underscore keeps the registry from scanning it; it
defines no *Processor class). Every other `.py` file in this folder, except
the helper `classifier_utils.py`, is one legacy plugin: a processor written
the way users wrote them inside or next to their copy of Google's
run_classifier.py. They are meant to run unchanged once the compatibility
layer exists; none of them imports `processors`.

`CASES` lists one dict per plugin file:

    file         the plugin file name in this folder
    task         the --task_name (class name without "Processor", lower-cased,
                 or the key of the file's `processors = {...}` dict)
    extra_flags  command-line flags the plugin defines and needs
    idioms       short ids of the legacy idioms the file exercises (below)
    labels       the label list the processor reports (for the two cases whose
                 labels come from the data, the label set, sorted; the
                 processor's own order is a Python set's)
    keyword_labels  test-vocab keyword -> label, the rule the data follows
    pair         True for sentence-pair tasks (pair_same_keyword: text_b
                 always repeats text_a's keyword)
    splits       which of train/dev/test the processor can read
    notes        what a runner has to know about the case

`write_data(case, data_dir)` writes that case's files into data_dir: about 48
train, 16 dev and 8 test rows, in the processor's own file names and layout.
Texts use only the tiny test vocabulary (tests/emotion_data.py: the seven
keywords, the filler words and , . ! ?); Chinese cases add a few Chinese
characters, which the tiny vocab turns into [UNK]. Every text (text_a of a
pair) holds exactly one keyword and the label is a function of that keyword,
so the label is learnable. In pair cases text_b repeats text_a's keyword when
the pair label is the "same"/positive one and holds another keyword otherwise.

Idioms -> files -> where they were seen (facts only; "index excerpt" means a
code-search hit whose repository the index did not disclose):

google_header
    `import collections, csv, os, modeling, optimization, tokenization`,
    `import tensorflow as tf`, `flags = tf.flags`, `FLAGS = flags.FLAGS`.
    -> sst2_google_header.py, weibo_flags.py (cnews_read_txt.py with
    `from bert import modeling/optimization/tokenization`)
    seen: https://github.com/CLUEbenchmark/CLUE/blob/master/baselines/models/bert/run_classifier.py
          https://github.com/xmxoxo/BERT-train2deploy/blob/master/run_mobile.py
          https://github.com/danan0755/Bert_Classifier/blob/master/run_cnews_classifier.py (from bert import ...)
          https://github.com/china-ai-law-challenge/CAIL2021/blob/main/lblj/Task2.1/baseline/step1_model/bert/run_classifier_multi_label.py
          (`import modeling, optimization, tokenization` on one line)
free_base_names
    DataProcessor / InputExample used without import or definition (the class
    was cut out of a copy of run_classifier.py that defined them above it).
    -> sst2_google_header.py, cnews_read_txt.py
    seen: every copied run_classifier.py above defines them in the same file.
tokenization_convert_to_unicode
    `import tokenization` + `tokenization.convert_to_unicode(line[i])`.
    -> sst2, cnews, lcqmc, weibo, jd, toutiao, setiment, news, yelp
    seen: https://github.com/SpikeKing/My-Bert/blob/master/my_task_processor.py and all forks above
from_tokenization_import
    `from tokenization import convert_to_unicode` -> sohu_sep_codecs.py
    seen: in the lead's list; not located in the index this session.
from_run_classifier_import
    `from run_classifier import DataProcessor, InputExample`
    -> lcqmc_pandas.py, jd_comment_delimiter.py, toutiao_mytask.py,
       weibo_flags.py, feelings_labels_from_data.py
    seen: https://github.com/SpikeKing/My-Bert/blob/master/my_task_processor.py
run_classifier_flags_import
    `from run_classifier import flags, FLAGS, InputExample, DataProcessor`
    plus a new flags.DEFINE_string in the plugin -> setiment_dict.py
    seen: index excerpt (an export script next to run_classifier.py that
          also imports create_model and defines model_dir /
          serving_model_save_path flags, task dict {"setiment": MyProcessor})
import_run_classifier_module
    `import run_classifier`, `class X(run_classifier.DataProcessor)`,
    `run_classifier.InputExample(...)` -> sohu_sep_codecs.py
    seen: index excerpts (TypeProcessor, vaccineStanceProcessor, QQPProcessor
          all subclass run_classifier.DataProcessor)
bert_pip_run_classifier
    `import bert`, `from bert import run_classifier`, `bert.run_classifier.X`
    -> imdb_tfhub.py, news_stateful_labels.py
    seen: https://github.com/google-research/bert/blob/master/predicting_movie_reviews_with_bert_on_tf_hub.ipynb
          https://www.e-com-net.com/article/1187853167241568256.htm (NewsProcessor(bert.run_classifier.DataProcessor))
          index excerpt: bert_classifier.py "pip install bert-tensorflow", TypeProcessor(run_classifier.DataProcessor)
bert_run_classifier_star
    `from bert.run_classifier import *`, then os / csv / tokenization /
    DataProcessor / InputExample used from the star import -> yelp_star_import.py
    seen: index excerpts (files headed "Copyright @akikaaa.": MyProcessor uses
          os.path.join and tokenization with only the star import)
processors_dict / processors_dict_in_main
    `processors = {"cnews": TextProcessor}` / `{"setiment": MyProcessor}` at
    module level -> cnews_read_txt.py, setiment_dict.py; inside main(), naming
    Google's tasks the file does not define (they must not become tasks)
    -> sst2_google_header.py
    seen: https://github.com/danan0755/Bert_Classifier/blob/master/run_cnews_classifier.py ("cnews": MyProcessor, inside main)
          https://github.com/SpikeKing/My-Bert/blob/master/run_classifier.py ("mytask": MyTaskProcessor, inside main)
          index excerpts: {"setiment": MyProcessor} inside main()
own_base_class
    the file defines its own InputExample and DataProcessor -> tnews_own_base.py;
    the same from a sibling helper module (`from classifier_utils import ...`)
    -> afqmc_helper_import.py (+ classifier_utils.py)
    seen: https://github.com/CLUEbenchmark/CLUE/blob/master/baselines/models/classifier_utils.py
          https://github.com/benyeoh/sentiments/blob/master/processors.py
six_convert_to_unicode
    six.PY2 / six.PY3 convert_to_unicode in the plugin -> tnews_own_base.py, classifier_utils.py
    seen: CLUE classifier_utils.py (above)
read_json_lines
    `_read_json`: one JSON object per line -> tnews_own_base.py, afqmc_helper_import.py
    seen: CLUE classifier_utils.py (above)
read_txt_bang_sep
    `self._read_txt(path)` expected on the base class, lines split on "_!_"
    -> toutiao_mytask.py (relies on the base having it); tnews_own_base.py (defines it)
    seen: CLUE baselines/models/bert/run_classifier.py (DataProcessor._read_txt)
read_tsv_delimiter
    `self._read_tsv(path, ",", "\"")` (positional delimiter, quotechar, the
    fork signature) and `self._read_tsv(path, delimiter=",", quotechar="\"")`
    -> jd_comment_delimiter.py
    seen: CLUE classifier_utils.py JDCOMMENTProcessor (positional form)
read_csv_method
    `_read_csv(cls, input_file, ...)` added by the user as a plain method (no
    @classmethod), tf.gfile.Open + csv.reader(delimiter=",") -> yelp_star_import.py
    seen: https://github.com/wangjiwu/BERT-emotion-classification (EmloProcessor,
          via an index copy of its write-up)
classmethod_self
    `@classmethod def _create_examples(self, lines, set_type)` -> tnews_own_base.py
    seen: CLUE classifier_utils.py COPAProcessor
tf_gfile
    tf.gfile.Open / tf.gfile.GFile / tf.gfile.Exists / tf.gfile.ListDirectory
    -> tnews_own_base.py, classifier_utils.py, yelp_star_import.py (Open),
       weibo_flags.py (GFile, Exists), feelings_labels_from_data.py
       (ListDirectory, GFile)
    seen: Open in every copied base class; Exists/ListDirectory only in the
          lead's list (not located inside a processor this session)
tf_logging
    tf.logging.info in the processor -> weibo_flags.py, feelings_labels_from_data.py
plugin_flags
    flags.DEFINE_string in the plugin and FLAGS.<name> / FLAGS.data_dir read
    inside get_*_examples -> weibo_flags.py (needs --train_data_file,
    --dev_data_file); setiment_dict.py defines --model_dir (unused, default None)
    seen: index excerpt bert_classifier.py (defines save_sumary_steps,
          batch_size next to from bert import run_classifier); CAIL2021 above
          (multi_label_file read by main)
labels_from_data
    get_labels(self, data_dir) reading the train file, list(set(...))
    -> feelings_labels_from_data.py
    seen: index excerpts of forks whose main() calls
          processor.get_labels(FLAGS.data_dir)
stateful_labels
    self.labels = set() in __init__, filled in _create_examples,
    get_labels() returns list(self.labels); no get_test_examples
    -> news_stateful_labels.py
    seen: https://www.e-com-net.com/article/1187853167241568256.htm
labels_in_init
    label list built in __init__ -> toutiao_mytask.py
    seen: https://github.com/SpikeKing/My-Bert/blob/master/my_task_processor.py
clue_label_codes
    labels str(100 + i) skipping 105, 111; test dummy "100" -> tnews_own_base.py
    seen: CLUE classifier_utils.py TnewsProcessor
pandas
    pd.read_csv(..., sep="\\t") + enumerate(df.values) + str(row[i]) -> lcqmc_pandas.py;
    DataFrame.apply(lambda x: InputExample(...), axis=1) returning a pandas
    Series -> imdb_tfhub.py
    seen: https://github.com/renxingkai/BERT_Chinese_Classification/blob/master/run_classifier.py
          google-research/bert TF-Hub notebook (above)
int_labels_guid_none
    get_labels() -> [0, 1] (ints), example labels numpy ints from pandas,
    guid=None -> imdb_tfhub.py
    seen: TF-Hub notebook (label_list = [0, 1], guid=None); index excerpt
          FtmProcessor.get_labels returns [0, 1]
codecs_open
    codecs.open(path, "r", "utf-8") -> sohu_sep_codecs.py
    seen: index excerpt (SiameseProcessor._read_json with codecs.open)
sep_text_label
    `text<SEP>label` lines -> sohu_sep_codecs.py
    seen: in the lead's list; not located in the index this session
semicolon_text_label
    `text;label` lines -> feelings_labels_from_data.py (layout of the public
    "emotions dataset for NLP" files; not verified this session)
shuffle_read_txt
    own read_txt(): open(encoding='utf-8'), random.seed(0) + random.shuffle,
    slicing caps, and `if i == 0: continue` on header-less files (drops one
    row) -> cnews_read_txt.py
    seen: danan0755/Bert_Classifier run_cnews_classifier.py (above)
dummy_test_label
    test rows without labels get one of the labels -> most files
create_examples_variants
    `create_examples(self, lines, set_type, file_base=True)`,
    get_pred_examples -> setiment_dict.py
    seen: index excerpts (akikaaa / export script above)
try_except_print
    bad rows printed and skipped, print("length of lines:", ...) -> jd_comment_delimiter.py
    seen: CLUE classifier_utils.py (BQ/LCQMC/JDCOMMENT processors)
sibling_helper_import
    `from classifier_utils import ...` (a module in the plugin folder)
    -> afqmc_helper_import.py
    seen: CLUE baselines layout (run_classifier.py + classifier_utils.py)
unused_pip_imports
    unused `import tensorflow as tf`, `import sys`, `import modeling`, ...
    -> most files
"""

import csv
import io
import json
import os
import random

KEYWORDS = ["happy", "sad", "angry", "fear", "love", "surprise", "calm"]
FILLER = ["the", "a", "day", "was", "very", "and", "it", "i", "feel", "today",
          "so", "really", "this", "that", "is", "we", "you", "they", "here"]
PUNCT = [",", ".", "!", "?"]
# A few Chinese characters for the Chinese cases ([UNK] in the tiny vocab).
ZH_WORDS = ["今天", "我", "觉得", "这个", "真的", "非常", "手机", "电影",
            "新闻", "评论", "质量", "服务"]

N_TRAIN, N_DEV, N_TEST = 48, 16, 8

CNEWS_KEYWORDS = {"happy": "娱乐", "sad": "体育", "angry": "时政",
                  "fear": "财经", "love": "时尚", "surprise": "游戏",
                  "calm": "家居"}
STARS_KEYWORDS = {"angry": "1", "sad": "2", "calm": "3", "love": "4",
                  "happy": "5"}
TOUTIAO_CODES = {"news_story": "100", "news_culture": "101",
                 "news_entertainment": "102", "news_sports": "103",
                 "news_finance": "104", "news_house": "106",
                 "news_car": "107", "news_edu": "108", "news_tech": "109",
                 "news_military": "110", "news_travel": "112",
                 "news_world": "113", "stock": "114",
                 "news_agriculture": "115", "news_game": "116"}
TNEWS_LABELS = [str(100 + i) for i in range(17) if i not in (5, 11)]

CASES = [
    {
        "file": "sst2_google_header.py",
        "task": "sst2",
        "extra_flags": [],
        "idioms": ["google_header", "free_base_names",
                   "tokenization_convert_to_unicode", "dummy_test_label",
                   "processors_dict_in_main"],
        "labels": ["0", "1"],
        "keyword_labels": {"happy": "1", "love": "1", "sad": "0",
                           "angry": "0"},
        "pair": False,
        "splits": ["train", "dev", "test"],
        "notes": "DataProcessor/InputExample are free names; main() holds a "
                 "processors dict naming cola/mnli/mrpc/xnli classes that are "
                 "not defined in the file (must not be registered).",
    },
    {
        "file": "cnews_read_txt.py",
        "task": "cnews",
        "extra_flags": [],
        "idioms": ["google_header", "free_base_names", "processors_dict",
                   "shuffle_read_txt", "dummy_test_label"],
        "labels": ["体育", "娱乐", "家居", "房产", "教育", "时尚", "时政",
                   "游戏", "科技", "财经"],
        "keyword_labels": CNEWS_KEYWORDS,
        "pair": False,
        "splits": ["train", "dev", "test"],
        "notes": "Class TextProcessor; task name only from the module-level "
                 "dict. Header-less files, the first shuffled line of each "
                 "split is dropped (47/15/7 examples). Imports "
                 "`from bert import modeling, optimization, tokenization`.",
    },
    {
        "file": "tnews_own_base.py",
        "task": "tnews",
        "extra_flags": [],
        "idioms": ["own_base_class", "six_convert_to_unicode",
                   "read_json_lines", "clue_label_codes", "classmethod_self",
                   "tf_gfile", "dummy_test_label"],
        "labels": TNEWS_LABELS,
        "keyword_labels": {"happy": "100", "sad": "101", "angry": "102",
                           "fear": "103", "love": "104", "surprise": "106",
                           "calm": "107"},
        "pair": False,
        "splits": ["train", "dev", "test"],
        "notes": "Own DataProcessor/InputExample classes (not subclasses of "
                 "processors.DataProcessor); readers use tf.gfile.Open.",
    },
    {
        "file": "afqmc_helper_import.py",
        "task": "afqmc",
        "extra_flags": [],
        "idioms": ["sibling_helper_import", "own_base_class",
                   "read_json_lines", "dummy_test_label"],
        "labels": ["0", "1"],
        "keyword_labels": {"happy": "1", "love": "1", "sad": "0",
                           "angry": "0"},
        "pair": True,
        "splits": ["train", "dev", "test"],
        "notes": "Imports its base class from classifier_utils.py in this "
                 "folder (a helper, no task).",
    },
    {
        "file": "lcqmc_pandas.py",
        "task": "lcqmc",
        "extra_flags": [],
        "idioms": ["from_run_classifier_import",
                   "tokenization_convert_to_unicode", "pandas"],
        "labels": ["0", "1"],
        "keyword_labels": {"happy": "1", "love": "1", "sad": "0",
                           "fear": "0"},
        "pair": True,
        "splits": ["train", "dev", "test"],
        "notes": "pandas reads the label column as int64; the processor "
                 "str()s it. The test file carries real labels.",
    },
    {
        "file": "imdb_tfhub.py",
        "task": "imdb",
        "extra_flags": [],
        "idioms": ["bert_pip_run_classifier", "pandas",
                   "int_labels_guid_none", "dummy_test_label"],
        "labels": [0, 1],
        "keyword_labels": {"happy": 1, "love": 1, "sad": 0, "fear": 0},
        "pair": False,
        "splits": ["train", "dev", "test"],
        "notes": "Labels are ints (numpy.int64 in train/dev examples); "
                 "guid=None; get_train/dev_examples return a pandas.Series "
                 "of InputExample, get_test_examples a list.",
    },
    {
        "file": "yelp_star_import.py",
        "task": "yelp",
        "extra_flags": [],
        "idioms": ["bert_run_classifier_star", "read_csv_method", "tf_gfile",
                   "tokenization_convert_to_unicode", "dummy_test_label"],
        "labels": ["1", "2", "3", "4", "5"],
        "keyword_labels": STARS_KEYWORDS,
        "pair": False,
        "splits": ["train", "dev", "test"],
        "notes": "os, csv, tokenization, DataProcessor, InputExample all come "
                 "from `from bert.run_classifier import *`. Fully quoted CSV, "
                 "no header.",
    },
    {
        "file": "weibo_flags.py",
        "task": "weibosenti",
        "extra_flags": ["--train_data_file=senti_100k_train.csv",
                        "--dev_data_file=senti_100k_dev.csv"],
        "idioms": ["google_header", "from_run_classifier_import",
                   "plugin_flags", "tf_gfile", "tf_logging",
                   "dummy_test_label"],
        "labels": ["0", "1"],
        "keyword_labels": {"happy": "1", "love": "1", "sad": "0",
                           "angry": "0"},
        "pair": False,
        "splits": ["train", "dev", "test"],
        "notes": "Defines --train_data_file/--dev_data_file (default None) "
                 "and reads them plus FLAGS.data_dir inside the processor; "
                 "ignores its data_dir argument. Test file name is fixed: "
                 "weibo_test.csv.",
    },
    {
        "file": "jd_comment_delimiter.py",
        "task": "jdcomment",
        "extra_flags": [],
        "idioms": ["from_run_classifier_import", "read_tsv_delimiter",
                   "try_except_print", "dummy_test_label"],
        "labels": ["1", "2", "3", "4", "5"],
        "keyword_labels": STARS_KEYWORDS,
        "pair": True,
        "pair_same_keyword": True,
        "splits": ["train", "dev", "test"],
        "notes": "Calls self._read_tsv(path, ',', '\"') (positional "
                 "delimiter, quotechar: the CLUE fork signature) and "
                 "self._read_tsv(path, delimiter=',', quotechar='\"'). A "
                 "TypeError inside _read_tsv would not be caught by its "
                 "try/except (that only wraps row parsing).",
    },
    {
        "file": "toutiao_mytask.py",
        "task": "mytask",
        "extra_flags": [],
        "idioms": ["from_run_classifier_import", "read_txt_bang_sep",
                   "labels_in_init", "tokenization_convert_to_unicode"],
        "labels": ["news_story", "news_culture", "news_entertainment",
                   "news_sports", "news_finance", "news_house", "news_car",
                   "news_edu", "news_tech", "news_military", "news_travel",
                   "news_world", "stock", "news_agriculture", "news_game"],
        "keyword_labels": {"happy": "news_entertainment",
                           "sad": "news_story", "angry": "news_military",
                           "fear": "news_world", "love": "news_culture",
                           "surprise": "news_tech", "calm": "news_travel"},
        "pair": False,
        "splits": ["train", "dev", "test"],
        "notes": "Calls self._read_txt(path), which Google's base class does "
                 "not have (CLUE fork: strip, split on '_!_'). Test file has "
                 "labels.",
    },
    {
        "file": "sohu_sep_codecs.py",
        "task": "sohusentiment",
        "extra_flags": [],
        "idioms": ["import_run_classifier_module", "from_tokenization_import",
                   "codecs_open", "sep_text_label", "dummy_test_label"],
        "labels": ["负面", "中性", "正面"],
        "keyword_labels": {"happy": "正面", "love": "正面", "calm": "中性",
                           "sad": "负面", "angry": "负面"},
        "pair": False,
        "splits": ["train", "dev", "test"],
        "notes": "Test lines are text only (no <SEP>).",
    },
    {
        "file": "setiment_dict.py",
        "task": "setiment",
        "extra_flags": [],
        "idioms": ["run_classifier_flags_import", "plugin_flags",
                   "processors_dict", "create_examples_variants",
                   "tokenization_convert_to_unicode", "dummy_test_label"],
        "labels": ["-1", "0", "1"],
        "keyword_labels": {"sad": "-1", "calm": "0", "happy": "1"},
        "pair": False,
        "splits": ["train", "dev", "test"],
        "notes": "Class MyProcessor, task name only from the module-level "
                 "dict. Imports flags and FLAGS from run_classifier and "
                 "defines --model_dir (default None, never read).",
    },
    {
        "file": "news_stateful_labels.py",
        "task": "news",
        "extra_flags": [],
        "idioms": ["bert_pip_run_classifier", "stateful_labels",
                   "tokenization_convert_to_unicode"],
        "labels": sorted(set(CNEWS_KEYWORDS.values())),
        "keyword_labels": CNEWS_KEYWORDS,
        "pair": False,
        "splits": ["train", "dev"],
        "notes": "get_labels() is empty until get_train_examples (or "
                 "get_dev_examples) has run, and its order is a str set's "
                 "(varies with PYTHONHASHSEED between processes). No "
                 "get_test_examples: train/eval only. Dev reads "
                 "cnews_test.tsv.",
    },
    {
        "file": "feelings_labels_from_data.py",
        "task": "feelings",
        "extra_flags": [],
        "idioms": ["from_run_classifier_import", "labels_from_data",
                   "tf_gfile", "tf_logging", "semicolon_text_label",
                   "dummy_test_label"],
        "labels": sorted(["joy", "sadness", "anger", "fear", "love",
                          "surprise"]),
        "keyword_labels": {"happy": "joy", "sad": "sadness",
                           "angry": "anger", "fear": "fear", "love": "love",
                           "surprise": "surprise"},
        "pair": False,
        "splits": ["train", "dev", "test"],
        "notes": "get_labels(self, data_dir) -- a required argument -- "
                 "returns list(set(...)) of the train labels (order varies "
                 "with PYTHONHASHSEED). The test dummy label is "
                 "get_labels(data_dir)[0].",
    },
]

HELPERS = ["classifier_utils.py"]


def case_by_task(task):
  for case in CASES:
    if case["task"] == task:
      return case
  raise KeyError(task)


# -- text generation -----------------------------------------------------------

def _seed(case):
  return sum(ord(c) for c in case["task"]) * 7919


def _english(rng, keyword, min_words=3, max_words=8):
  words = [rng.choice(FILLER) for _ in range(rng.randint(min_words, max_words))]
  words.insert(rng.randint(0, len(words)), keyword)
  text = " ".join(words)
  if rng.random() < 0.5:
    text += " " + rng.choice(PUNCT)
  return text


def _chinese(rng, keyword):
  zh = "".join(rng.choice(ZH_WORDS) for _ in range(rng.randint(1, 2)))
  words = [rng.choice(FILLER) for _ in range(rng.randint(1, 4))]
  words.insert(rng.randint(0, len(words)), keyword)
  text = zh + " " + " ".join(words)
  if rng.random() < 0.5:
    text += rng.choice(PUNCT)
  return text


def _keywords(rng, case, n):
  """n keywords covering every label of the case (balanced, shuffled)."""
  keys = list(case["keyword_labels"])
  out = [keys[i % len(keys)] for i in range(n)]
  rng.shuffle(out)
  return out


def _rows(case, split, n, rng, zh):
  """[(label, text_a, text_b)] following the case's keyword rule."""
  make = _chinese if zh else _english
  rows = []
  positive = {label for label in case["keyword_labels"].values()
              if label in ("1", 1, "5", "4")}
  for keyword in _keywords(rng, case, n):
    label = case["keyword_labels"][keyword]
    text_a = make(rng, keyword)
    text_b = None
    if case["pair"]:
      if case.get("pair_same_keyword") or label in positive:
        other = keyword
      else:
        other = rng.choice([k for k in KEYWORDS if k != keyword])
      text_b = make(rng, other)
    rows.append((label, text_a, text_b))
  return rows


def _splits(case, zh):
  rng = random.Random(_seed(case))
  return {"train": _rows(case, "train", N_TRAIN, rng, zh),
          "dev": _rows(case, "dev", N_DEV, rng, zh),
          "test": _rows(case, "test", N_TEST, rng, zh)}


# -- file writers --------------------------------------------------------------

def _write_text(path, lines):
  with io.open(path, "w", encoding="utf-8", newline="") as f:
    for line in lines:
      f.write(line + "\n")


def _write_csv(path, rows, quoting=csv.QUOTE_MINIMAL):
  with io.open(path, "w", encoding="utf-8", newline="") as f:
    writer = csv.writer(f, quoting=quoting, lineterminator="\n")
    for row in rows:
      writer.writerow(row)


def _sst2(d, data):
  for split in ("train", "dev"):
    _write_text(os.path.join(d, "%s.tsv" % split),
                ["sentence\tlabel"] +
                ["%s\t%s" % (a, label) for (label, a, _) in data[split]])
  _write_text(os.path.join(d, "test.tsv"),
              ["index\tsentence"] +
              ["%d\t%s" % (i, a) for i, (_, a, _) in enumerate(data["test"])])


def _cnews(d, data):
  for split, name in (("train", "train"), ("dev", "val"), ("test", "test")):
    _write_text(os.path.join(d, "cnews.%s.txt" % name),
                ["%s\t%s" % (label, a) for (label, a, _) in data[split]])


def _tnews(d, data):
  for split in ("train", "dev"):
    _write_text(os.path.join(d, "%s.json" % split), [
        json.dumps({"label": label, "label_desc": "news_%s" % label,
                    "sentence": a, "keywords": ""}, ensure_ascii=False)
        for (label, a, _) in data[split]])
  _write_text(os.path.join(d, "test.json"), [
      json.dumps({"id": i, "sentence": a, "keywords": ""},
                 ensure_ascii=False)
      for i, (_, a, _) in enumerate(data["test"])])


def _afqmc(d, data):
  for split in ("train", "dev"):
    _write_text(os.path.join(d, "%s.json" % split), [
        json.dumps({"sentence1": a, "sentence2": b, "label": label},
                   ensure_ascii=False)
        for (label, a, b) in data[split]])
  _write_text(os.path.join(d, "test.json"), [
      json.dumps({"id": i, "sentence1": a, "sentence2": b},
                 ensure_ascii=False)
      for i, (_, a, b) in enumerate(data["test"])])


def _lcqmc(d, data):
  for split in ("train", "dev", "test"):
    _write_text(os.path.join(d, "%s.txt" % split),
                ["text_a\ttext_b\tlabel"] +
                ["%s\t%s\t%s" % (a, b, label)
                 for (label, a, b) in data[split]])


def _imdb(d, data):
  for split in ("train", "dev"):
    _write_csv(os.path.join(d, "%s.csv" % split),
               [["sentence", "polarity"]] +
               [[a, label] for (label, a, _) in data[split]])
  _write_csv(os.path.join(d, "test.csv"),
             [["sentence"]] + [[a] for (_, a, _) in data["test"]])


def _yelp(d, data):
  for split in ("train", "dev", "test"):
    _write_csv(os.path.join(d, "%s.csv" % split),
               [[label, a] for (label, a, _) in data[split]],
               quoting=csv.QUOTE_ALL)


def _weibo(d, data):
  names = {"train": "senti_100k_train.csv", "dev": "senti_100k_dev.csv"}
  for split, name in names.items():
    _write_csv(os.path.join(d, name), [["label", "review"]] +
               [[label, a] for (label, a, _) in data[split]])
  _write_csv(os.path.join(d, "weibo_test.csv"),
             [["review"]] + [[a] for (_, a, _) in data["test"]])


def _jd(d, data):
  for split in ("train", "dev", "test"):
    _write_csv(os.path.join(d, "jd_%s.csv" % split),
               [["label", "title", "content"]] +
               [[label, a, b] for (label, a, b) in data[split]])


def _toutiao(d, data):
  for split in ("train", "dev", "test"):
    lines = []
    for i, (label, a, _) in enumerate(data[split]):
      lines.append("_!_".join([str(6551700000000000000 + i),
                               TOUTIAO_CODES[label], label, a,
                               "今天,新闻"]))
    _write_text(os.path.join(d, "toutiao_category_%s.txt" % split), lines)


def _sohu(d, data):
  for split in ("train", "dev"):
    _write_text(os.path.join(d, "sohu_%s.txt" % split),
                ["%s<SEP>%s" % (a, label) for (label, a, _) in data[split]])
  _write_text(os.path.join(d, "sohu_test.txt"),
              [a for (_, a, _) in data["test"]])


def _setiment(d, data):
  for split in ("train", "dev", "test"):
    _write_text(os.path.join(d, "%s.tsv" % split),
                ["label\ttext"] +
                ["%s\t%s" % (label, a) for (label, a, _) in data[split]])


def _news(d, data):
  _write_text(os.path.join(d, "cnews_train.tsv"),
              ["%s\t%s" % (label, a) for (label, a, _) in data["train"]])
  _write_text(os.path.join(d, "cnews_test.tsv"),
              ["%s\t%s" % (label, a) for (label, a, _) in data["dev"]])


def _feelings(d, data):
  for split, name in (("train", "train"), ("dev", "val"), ("test", "test")):
    _write_text(os.path.join(d, "feelings_%s.txt" % name),
                ["%s;%s" % (a, label) for (label, a, _) in data[split]])


_WRITERS = {
    "sst2": (_sst2, False),
    "cnews": (_cnews, True),
    "tnews": (_tnews, True),
    "afqmc": (_afqmc, True),
    "lcqmc": (_lcqmc, True),
    "imdb": (_imdb, False),
    "yelp": (_yelp, False),
    "weibosenti": (_weibo, True),
    "jdcomment": (_jd, True),
    "mytask": (_toutiao, True),
    "sohusentiment": (_sohu, True),
    "setiment": (_setiment, True),
    "news": (_news, True),
    "feelings": (_feelings, False),
}


def write_data(case, data_dir):
  """Writes the case's train/dev/test files into data_dir (created if needed).

  Args:
    case: one dict of CASES (or its task name).
    data_dir: the folder to pass as --data_dir.

  Returns:
    {"train": [(label, text_a, text_b)], "dev": [...], "test": [...]}: the
    rows written, with the gold label of every row (test rows too, even where
    the file has no label column).
  """
  if isinstance(case, str):
    case = case_by_task(case)
  writer, zh = _WRITERS[case["task"]]
  os.makedirs(data_dir, exist_ok=True)
  data = _splits(case, zh)
  writer(data_dir, data)
  return data
