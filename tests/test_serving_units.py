"""serving/: features, pooling, files, flags and stats, without a server."""

import json
import subprocess
import sys

import numpy as np
import pytest

from bert.errors import InputError, UsageError
from serving import args as args_mod
from serving import features, files, pooling, stats
from serving.pooling import PoolingStrategy
from serving.server import _is_loopback, error_meta


class WhitespaceTokenizer:
  """Lowercases and splits on spaces; unknown words become [UNK]."""

  def __init__(self, words):
    self.vocab = {
      w: i for i, w in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list(words))
    }

  def tokenize(self, text):
    return [w if w in self.vocab else "[UNK]" for w in text.lower().split()]

  def convert_tokens_to_ids(self, tokens):
    return [self.vocab[t] for t in tokens]


TOK = WhitespaceTokenizer("a b c d e f g Hello |||".split())


# ------------------------------------------------------------------ features


def test_single_text_layout_and_padding():
  batch = features.convert_texts(["a b c"], TOK, 8, 64)
  assert batch.tokens == [["[CLS]", "a", "b", "c", "[SEP]"]]
  assert batch.input_ids == [[2, 5, 6, 7, 3, 0, 0, 0]]
  assert batch.input_mask == [[1, 1, 1, 1, 1, 0, 0, 0]]
  assert batch.input_type_ids == [[0] * 8]
  assert batch.lengths == [(3, 2)]


def test_pair_layout_truncates_longest_first():
  batch = features.convert_texts(["a b c d e ||| f g"], TOK, 8, 64)
  # 8 - 3 = 5 word pieces: a is cut to 3, b keeps 2 (b loses ties).
  assert batch.tokens == [["[CLS]", "a", "b", "c", "[SEP]", "f", "g", "[SEP]"]]
  assert batch.input_type_ids == [[0, 0, 0, 0, 0, 1, 1, 1]]
  tie = features.convert_texts(["a b c ||| d e f"], TOK, 7, 64)
  assert tie.tokens == [["[CLS]", "a", "b", "[SEP]", "d", "e", "[SEP]"]]


def test_single_text_is_cut_on_the_right():
  batch = features.convert_texts(["a b c d e f g"], TOK, 5, 64)
  assert batch.tokens == [["[CLS]", "a", "b", "c", "[SEP]"]]


def test_pair_pattern_needs_spaces_and_uses_the_last_separator():
  assert features.split_pair("a ||| b ||| c") == ("a ||| b", "c")
  assert features.split_pair("a|||b") == ("a|||b", None)
  assert features.split_pair("a ||| ") == ("a", "")
  # An empty second text lays out as a single text.
  assert features.convert_texts(["a ||| "], TOK, 8, 64).tokens == [["[CLS]", "a", "[SEP]"]]


def test_mask_cls_sep():
  batch = features.convert_texts(["a ||| b"], TOK, 6, 64, mask_cls_sep=True)
  assert batch.input_mask == [[0, 1, 0, 1, 0, 0]]


def test_tokenized_input_keeps_tokens_and_marks_unknown():
  batch = features.convert_texts([["Hello", "a", "zzz", "|||", "b"]], TOK, 9, 64)
  # No lowercasing of tokenized input: "Hello" is in the vocab as is.
  assert batch.tokens == [["[CLS]", "Hello", "a", "[UNK]", "[SEP]", "b", "[SEP]"]]
  assert batch.input_type_ids[0][:7] == [0, 0, 0, 0, 0, 1, 1]


def test_no_special_token_applies_to_tokenized_single_texts():
  batch = features.convert_texts([["a", "b", "c", "d"]], TOK, 3, 64, no_special_token=True)
  assert batch.tokens == [["a", "b", "c"]]
  assert batch.input_mask == [[1, 1, 1]]
  strings = features.convert_texts(["a b"], TOK, 5, 64, no_special_token=True)
  assert strings.tokens == [["[CLS]", "a", "b", "[SEP]"]]


def test_dynamic_length_is_longest_plus_special_tokens_capped():
  batch = features.convert_texts(["a", "a b c"], TOK, None, 64)
  assert len(batch.input_ids[0]) == 5  # 3 + [CLS] + [SEP]
  pair = features.convert_texts(["a b c", "a ||| b"], TOK, None, 64)
  assert len(pair.input_ids[0]) == 6  # as bert-as-service: 3 + 3
  capped = features.convert_texts(["a b c d e f g"], TOK, None, 6)
  assert capped.tokens == [["[CLS]", "a", "b", "c", "d", "[SEP]"]]
  assert features.sequence_length([(3, 2), (1, 3)], None, 64) == 6
  assert features.sequence_length([(3, 2)], 25, 64) == 25


@pytest.mark.parametrize(
  "texts, message",
  [
    ([], "non-empty"),
    ("a", "non-empty"),
    ({"a": 1}, "non-empty"),
    ([1, 2], "not a string"),
    (["a", ["b"]], "not a string"),
    ([["a", 1]], "not a list of strings"),
  ],
)
def test_check_texts_rejects(texts, message):
  with pytest.raises((TypeError, ValueError), match=message):
    features.check_texts(texts)


def test_check_texts_detects_tokenized():
  assert features.check_texts([["a"], []]) is True
  assert features.check_texts(["a", ""]) is False


def test_check_vocab():
  features.check_vocab(TOK.vocab)
  with pytest.raises(ValueError, match=r"\[CLS\]"):
    features.check_vocab({"[SEP]": 0, "[UNK]": 1})


# ------------------------------------------------------------------- pooling


def test_pooling_formulas():
  rng = np.random.RandomState(0)
  x = rng.randn(2, 4, 3).astype(np.float32)
  mask = np.array([[1, 1, 1, 0], [1, 1, 0, 0]])
  mean = pooling.pool(PoolingStrategy.REDUCE_MEAN, x, mask)
  np.testing.assert_allclose(mean[0], x[0, :3].mean(0), rtol=1e-6)
  np.testing.assert_allclose(mean[1], x[1, :2].mean(0), rtol=1e-6)
  mx = pooling.pool(PoolingStrategy.REDUCE_MAX, x, mask)
  np.testing.assert_allclose(mx[1], x[1, :2].max(0))
  both = pooling.pool(PoolingStrategy.REDUCE_MEAN_MAX, x, mask)
  assert both.shape == (2, 6)
  np.testing.assert_array_equal(both, np.concatenate([mean, mx], 1))
  np.testing.assert_array_equal(pooling.pool(PoolingStrategy.CLS_TOKEN, x, mask), x[:, 0])
  last = pooling.pool(PoolingStrategy.SEP_TOKEN, x, mask)
  np.testing.assert_array_equal(last, np.stack([x[0, 2], x[1, 1]]))
  none = pooling.pool(PoolingStrategy.NONE, x, mask)
  np.testing.assert_array_equal(none[1, 2:], 0)
  np.testing.assert_array_equal(none[1, :2], x[1, :2])
  with pytest.raises(ValueError):
    pooling.pool(PoolingStrategy.CLS_POOLED, x, mask)


def test_classify_is_a_softmax_of_the_head():
  pooled = np.array([[1.0, 2.0]], np.float32)
  w = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], np.float32)
  b = np.array([0.0, 0.0, -3.0], np.float32)
  logits = np.array([1.0, 2.0, 0.0])
  np.testing.assert_allclose(
    pooling.classify(pooled, w, b)[0], np.exp(logits) / np.exp(logits).sum(), rtol=1e-6
  )


def test_classify_multi_label_is_a_sigmoid_per_label():
  pooled = np.array([[1.0, 2.0], [0.5, -1.0]], np.float32)
  w = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [60.0, 0.0], [-60.0, 0.0]], np.float32)
  b = np.array([0.0, 0.0, -3.0, 0.0, 0.0], np.float32)
  logits = pooled.astype(np.float64) @ w.T.astype(np.float64) + b
  with np.errstate(all="raise"):  # no overflow even for logits of +-60
    probs = pooling.classify_multi_label(pooled, w, b)
  assert probs.dtype == np.float32 and probs.shape == (2, 5)
  np.testing.assert_allclose(probs, 1.0 / (1.0 + np.exp(-logits)), rtol=1e-6)
  assert probs[0, 3] == 1.0 and 0.0 < probs[0, 4] < 1e-25
  # Each label on its own: a row of sigmoids does not sum to 1.
  assert abs(float(probs[0].sum()) - 1.0) > 0.1


def test_labels_above_threshold_is_inclusive():
  probs = np.array([[0.9, 0.5, 0.1], [0.2, 0.3, 0.4]], np.float32)
  names = ["a", "b", "c"]
  assert pooling.labels_above(probs, names, 0.5) == [["a", "b"], []]
  assert pooling.labels_above(probs, names, 0.0) == [names, names]


def test_strategy_names_values_and_aliases():
  assert PoolingStrategy.from_string("cls_token") is PoolingStrategy.FIRST_TOKEN
  assert PoolingStrategy.from_string("SEP_TOKEN") == 5
  assert int(PoolingStrategy.REDUCE_MEAN) == 2
  assert [s.name for s in PoolingStrategy] == [
    "NONE",
    "REDUCE_MAX",
    "REDUCE_MEAN",
    "REDUCE_MEAN_MAX",
    "FIRST_TOKEN",
    "LAST_TOKEN",
    "CLS_POOLED",
    "CLASSIFICATION",
  ]
  with pytest.raises(ValueError):
    PoolingStrategy.from_string("MEDIAN")


# --------------------------------------------------------------------- files


def _model_dir(path, ckpt_names=("bert_model.ckpt",)):
  path.mkdir(parents=True, exist_ok=True)
  (path / "vocab.txt").write_text("[CLS]\n[SEP]\n[UNK]\n")
  (path / "bert_config.json").write_text(json.dumps({"vocab_size": 3}))
  for name in ckpt_names:
    (path / (name + ".index")).write_text("")
  return path


def test_resolve_pretrained_dir(tmp_path):
  d = _model_dir(tmp_path / "m")
  found = files.resolve(str(d))
  assert found.checkpoint == str(d / "bert_model.ckpt")
  assert found.vocab_file == str(d / "vocab.txt")
  assert found.bert_config == {"vocab_size": 3}
  assert found.labels is None
  (d / "other.json").write_text(json.dumps({"vocab_size": 5}))
  assert files.resolve(str(d), config_name="other.json").bert_config == {"vocab_size": 5}


def test_resolve_run_classifier_output_without_renaming(tmp_path):
  pre = _model_dir(tmp_path / "pre")
  out = _model_dir(tmp_path / "out", ["model.ckpt-0", "model.ckpt-343", "model.ckpt-50"])
  # Default -ckpt_name: the newest model.ckpt-N (no `checkpoint` file here).
  assert files.resolve(str(pre), str(out)).checkpoint == str(out / "model.ckpt-343")
  # The `checkpoint` state file wins when present.
  (out / "checkpoint").write_text('model_checkpoint_path: "model.ckpt-50"\n')
  assert files.resolve(str(pre), str(out)).checkpoint == str(out / "model.ckpt-50")
  # -ckpt_name model.ckpt -> newest model.ckpt-N; explicit names are exact.
  assert files.resolve(str(pre), str(out), "model.ckpt").checkpoint == str(out / "model.ckpt-343")
  assert files.resolve(str(pre), str(out), "model.ckpt-0").checkpoint == str(out / "model.ckpt-0")
  # -model_dir output alone (vocab and config copied there) also works.
  assert files.resolve(str(out)).checkpoint == str(out / "model.ckpt-50")


def test_resolve_errors(tmp_path):
  d = _model_dir(tmp_path / "m")
  with pytest.raises(InputError, match="not a directory"):
    files.resolve(str(tmp_path / "nope"))
  with pytest.raises(InputError, match="drop the extension"):
    files.resolve(str(d), ckpt_name="other.ckpt.index")
  (d / "bert_config.json").write_bytes(b'{"vocab_size": 3, "name": "\xff"}')
  with pytest.raises(InputError, match="bert_config.json is not utf-8 text"):
    files.resolve(str(d))
  (d / "vocab.txt").unlink()
  with pytest.raises(InputError, match="vocab.txt does not exist"):
    files.resolve(str(d))
  out = tmp_path / "output"
  out.mkdir()
  (out / "model.ckpt-343.index").write_text("")
  with pytest.raises(InputError, match="looks like a run_classifier output_dir"):
    files.resolve(str(out))


def test_labels_json_then_label_list(tmp_path):
  pre = _model_dir(tmp_path / "pre")
  tuned = _model_dir(tmp_path / "tuned")
  (pre / "label_list.txt").write_text("x\ny\n")
  assert files.resolve(str(pre), str(tuned)).labels == ("x", "y")
  (tuned / "labels.json").write_text('["neg", "pos"]')
  assert files.resolve(str(pre), str(tuned)).labels == ("neg", "pos")
  (tuned / "labels.json").write_text('{"a": 1}')
  with pytest.raises(ValueError, match="non-empty list of label strings"):
    files.resolve(str(pre), str(tuned))


def test_multi_label_settings_from_run_config_or_export_info(tmp_path):
  pre = _model_dir(tmp_path / "pre")
  tuned = _model_dir(tmp_path / "tuned")
  found = files.resolve(str(pre), str(tuned))
  assert (found.multi_label, found.multi_label_threshold) == (False, 0.5)
  # A run_classifier output_dir: run_config.json; absent or false is single-label.
  (tuned / "run_config.json").write_text(json.dumps({"task_name": "x"}))
  assert files.resolve(str(pre), str(tuned)).multi_label is False
  (tuned / "run_config.json").write_text(
    json.dumps({"multi_label": True, "multi_label_threshold": 0.3})
  )
  found = files.resolve(str(pre), str(tuned))
  assert (found.multi_label, found.multi_label_threshold) == (True, 0.3)
  # A bert-export-serving folder: export_info.json; the threshold defaults to 0.5.
  (pre / "export_info.json").write_text(json.dumps({"multi_label": True}))
  found = files.resolve(str(pre))
  assert (found.multi_label, found.multi_label_threshold) == (True, 0.5)
  # The checkpoint's folder (-tuned_model_dir) is read first.
  (tuned / "run_config.json").write_text(json.dumps({"multi_label": False}))
  assert files.resolve(str(pre), str(tuned)).multi_label is False
  for bad, message in [
    ({"multi_label": "yes"}, "multi_label must be true or false"),
    ({"multi_label": True, "multi_label_threshold": "0.5"}, "must be a number"),
    ({"multi_label": True, "multi_label_threshold": 1.5}, "not between 0 and 1"),
  ]:
    (tuned / "run_config.json").write_text(json.dumps(bad))
    with pytest.raises(InputError, match=message):
      files.resolve(str(pre), str(tuned))
  (tuned / "run_config.json").write_text("[1]")
  with pytest.raises(InputError, match="run_config.json: expected a JSON object"):
    files.resolve(str(pre), str(tuned))
  (tuned / "run_config.json").unlink()
  (pre / "export_info.json").write_text("{")
  with pytest.raises(InputError, match="export_info.json: not valid JSON"):
    files.resolve(str(pre), str(tuned))


# --------------------------------------------------------------------- flags


def parse(*argv):
  return args_mod.get_args_parser().parse_args(["-model_dir", "m"] + list(argv))


def test_defaults_and_aliases_match_bert_as_service():
  a = parse()
  assert (a.max_seq_len, a.pooling_layer, a.pooling_strategy) == (
    25,
    [-2],
    PoolingStrategy.REDUCE_MEAN,
  )
  assert (a.port, a.port_out, a.num_worker, a.max_batch_size) == (5555, 5556, 1, 256)
  assert a.do_lower_case and a.ip == "127.0.0.1"
  a = parse(
    "-port_in",
    "7000",
    "-port_result",
    "7001",
    "-max_seq_len",
    "NONE",
    "-cased_tokenization",
    "-pooling_layer",
    "-1",
    "-2",
    "-pooling_strategy",
    "CLS_TOKEN",
    "-bind",
    "0.0.0.0",
    "-num_worker=3",
  )
  assert (a.port, a.port_out, a.max_seq_len, a.do_lower_case) == (7000, 7001, None, False)
  assert a.pooling_layer == [-1, -2] and a.pooling_strategy == 4 and a.ip == "0.0.0.0"
  assert a.num_worker == 3
  config = args_mod.args_to_json(a)
  assert config["pooling_strategy"] == 4 and json.dumps(config)


@pytest.mark.parametrize(
  "argv", [["-max_seq_len", "3"], ["-max_seq_len", "x"], ["-pooling_strategy", "MEDIAN"]]
)
def test_bad_values_are_argparse_errors(argv):
  with pytest.raises(SystemExit):
    parse(*argv)


def test_check_supported_and_check_model():
  assert issubclass(args_mod.UsageError, UsageError)  # exit status 2 on the command line
  with pytest.raises(args_mod.UsageError, match="no_position_embeddings"):
    args_mod.check_supported(parse("-no_position_embeddings"))
  with pytest.raises(args_mod.UsageError, match="must differ"):
    args_mod.check_supported(parse("-port", "6000", "-port_out", "6000"))
  with pytest.raises(args_mod.UsageError, match="num_worker"):
    args_mod.check_supported(parse("-num_worker", "0"))
  config = {"max_position_embeddings": 64, "num_hidden_layers": 2}
  with pytest.raises(args_mod.UsageError, match="max_position_embeddings 64"):
    args_mod.check_model(parse("-max_seq_len", "65"), config)
  with pytest.raises(args_mod.UsageError, match="out of range"):
    args_mod.check_model(parse("-pooling_layer", "-3"), config)
  args_mod.check_model(parse("-pooling_layer", "-2", "1", "-max_seq_len", "64"), config)
  args_mod.check_model(parse("-pooling_layer", "-9", "-pooling_strategy", "CLS_POOLED"), config)


def test_multi_label_threshold_flag():
  assert parse().multi_label_threshold is None
  with pytest.raises(args_mod.UsageError, match="needs -pooling_strategy CLASSIFICATION"):
    args_mod.check_supported(parse("-multi_label_threshold", "0.7"))
  for value in ("1.5", "-0.1", "nan"):
    with pytest.raises(args_mod.UsageError, match=r"must be in \[0, 1\]"):
      args_mod.check_supported(
        parse("-pooling_strategy", "CLASSIFICATION", "-multi_label_threshold", value)
      )
  args = parse("-pooling_strategy", "CLASSIFICATION", "-multi_label_threshold", "0.7")
  args_mod.check_supported(args)
  config = {"max_position_embeddings": 64, "num_hidden_layers": 2}
  with pytest.raises(args_mod.UsageError, match="needs a multi-label model"):
    args_mod.check_model(args, config)
  args_mod.check_model(args, config, multi_label=True)


def test_args_table_lists_every_flag():
  table = args_mod.args_table(parse(), ["-model_dir", "m"])
  assert table.startswith("usage: bert-serving-start -model_dir m\n")
  assert "\n    pooling_strategy = REDUCE_MEAN\n" in table
  assert "\n         max_seq_len = 25\n" in table


def test_cli_version_help_and_refusals_are_fast_and_tf_free():
  code = (
    "import sys; from serving import cli\n"
    "rc = cli.main(['-model_dir', 'm', '-no_position_embeddings'])\n"
    "assert 'tensorflow' not in sys.modules and 'serving.server' not in sys.modules\n"
    "sys.exit(rc)"
  )
  r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
  assert r.returncode == 2, r.stderr
  assert r.stderr.strip().splitlines() == [
    "bert-serving-start: error: -no_position_embeddings is not supported: "
    "bert.modeling.BertEncoder always uses position embeddings"
  ]
  r = subprocess.run([sys.executable, "-m", "serving", "-version"], capture_output=True, text=True)
  assert r.stdout.strip() == "bert-serving-start 1.10.0"
  r = subprocess.run(
    [sys.executable, "-m", "serving", "-model_dir", "/nonexistent"], capture_output=True, text=True
  )
  assert r.returncode == 1  # A bad model folder, not a bad command line.
  assert r.stderr.strip() == "bert-serving-start: error: -model_dir /nonexistent is not a directory"


def _cli_run(*argv):
  """Runs a serving console script in a subprocess: (exit status, stderr lines)."""
  r = subprocess.run(
    [
      sys.executable,
      "-c",
      "import sys; from serving import cli; sys.exit(cli.%s(sys.argv[1:]))" % argv[0],
    ]
    + list(argv[1:]),
    capture_output=True,
    text=True,
    timeout=120,
  )
  return r.returncode, r.stderr.splitlines()


@pytest.mark.parametrize(
  "argv, message",
  [
    (["main", "-num_worker", "2"], "the following arguments are required: -model_dir (see --help)"),
    (["main", "-model_dir", "m", "-max_seq_len", "2"], "argument -max_seq_len: 2 must be > 3"),
    (
      ["terminate", "-timeout", "9"],
      "the following arguments are required: -port/-port_in/-port_data",
    ),
  ],
)
def test_command_line_errors_are_one_line_exit_2(argv, message):
  status, lines = _cli_run(*argv)
  assert status == 2
  assert len(lines) == 1 and lines[0].startswith("bert-serving-"), lines
  assert message in lines[0]


def test_model_folder_errors_are_one_line_exit_1(tmp_path):
  d = _model_dir(tmp_path / "m")
  (d / "bert_config.json").write_text("{not json")
  status, lines = _cli_run("main", "-model_dir", str(d))
  assert status == 1
  assert len(lines) == 1 and lines[0].startswith(
    "bert-serving-start: error: %s is not valid JSON" % (d / "bert_config.json")
  )


# ------------------------------------------------------------- stats, misc


def test_statistic_keys():
  s = stats.ServerStatistic()
  s.update(b"a", True, 0, now=0.0)
  s.update(b"a", False, 2, now=1.0)
  s.update(b"b", False, 4, now=1.5)
  v = s.value(now=2.0)
  assert (v["num_data_request"], v["num_sys_request"], v["num_total_request"]) == (2, 1, 3)
  assert (v["num_total_seq"], v["num_total_client"], v["num_active_client"]) == (6, 2, 2)
  assert v["max_request_per_client"] == 2 and v["avg_size_per_request"] == 3
  assert v["avg_last_two_interval"] == 0.5 and v["max_request_per_second"] == 2.0
  assert s.value(now=1000.0)["num_active_client"] == 0


def test_loopback_detection():
  assert _is_loopback("127.0.0.1") and _is_loopback("::1")
  assert _is_loopback("::ffff:127.0.0.1") and _is_loopback("127.3.2.1")
  assert not _is_loopback("10.0.0.1") and not _is_loopback(None)
  assert not _is_loopback("::ffff:10.0.0.1") and not _is_loopback("garbage")


def test_error_meta_makes_the_client_raise():
  meta = error_meta("bad request:\n  texts must be a list, not (2, 3)")
  assert meta["error"] == "bad request: texts must be a list, not (2, 3)"
  with pytest.raises(TypeError, match="bad request"):
    np.frombuffer(b"", dtype=meta["dtype"])


def test_free_ports_are_distinct_and_bindable():
  import socket

  from serving.background import free_ports

  ports = free_ports(3)
  assert len(set(ports)) == 3
  for port in ports:
    with socket.socket() as s:
      s.bind(("127.0.0.1", port))


def test_background_server_that_fails_to_start_is_reaped(tmp_path):
  from serving.background import BackgroundServer

  log = tmp_path / "server.log"
  with BackgroundServer(str(tmp_path / "missing"), log_path=str(log), stop_timeout=60) as server:
    assert server.command[1:3] == ["-m", "serving"]
    server.process.wait(timeout=60)
  assert server.stop() == 1  # -model_dir does not exist
  assert "bert-serving-start: error:" in log.read_text()


def test_port_in_use_is_one_line_exit_1(tmp_path):
  import socket

  from serving.background import free_ports

  d = _model_dir(tmp_path / "m")
  port, port_out = free_ports(2)
  with socket.socket() as taken:
    taken.bind(("127.0.0.1", port))
    status, lines = _cli_run(
      "main", "-model_dir", str(d), "-port", str(port), "-port_out", str(port_out)
    )
  assert status == 1
  assert len(lines) == 1 and lines[0].startswith(
    "bert-serving-start: error: cannot bind 127.0.0.1:%d/%d: " % (port, port_out)
  ), lines


# ------------------------------------------------- settings from the model folder


class _Log:
  """Collects what apply_trained_settings logs."""

  def __init__(self):
    self.lines = []

  def info(self, fmt, *args):
    self.lines.append(("info", fmt % args))

  def warning(self, fmt, *args):
    self.lines.append(("warning", fmt % args))


def _trained(**recorded):
  return files.ModelFiles("v", "c", "ckpt", {}, trained=recorded, settings_file="out/rc.json")


def test_served_length_is_the_trained_one_unless_given():
  args, log = parse(), _Log()
  args_mod.apply_trained_settings(args, _trained(max_seq_length=128), log)
  assert args.max_seq_len == 128 and args.doc_stride == 0
  assert log.lines == [
    (
      "info",
      "max_seq_len 128: the max_seq_length the model was trained with (out/rc.json); "
      "-max_seq_len overrides it",
    )
  ]
  args_mod.apply_trained_settings(args, _trained(max_seq_length=64), log)  # applied once
  assert args.max_seq_len == 128 and len(log.lines) == 1
  args, log = parse("-max_seq_len", "25"), _Log()
  args_mod.apply_trained_settings(args, _trained(max_seq_length=128), log)
  assert args.max_seq_len == 25 and log.lines[0][0] == "warning"
  args, log = parse(), _Log()
  args_mod.apply_trained_settings(args, _trained(), log)  # a pre-trained folder
  assert args.max_seq_len == 25 and not log.lines


def test_served_case_follows_the_folder():
  args = parse()
  args_mod.apply_trained_settings(args, _trained(do_lower_case=False), _Log())
  assert args.do_lower_case is False
  args, log = parse("-cased_tokenization"), _Log()
  args_mod.apply_trained_settings(args, _trained(do_lower_case=True), log)
  assert args.do_lower_case is False and log.lines[0][0] == "warning"


def test_windows_apply_to_classification_only_and_need_a_fixed_layout():
  windowed = _trained(max_seq_length=16, doc_stride=6, window_pooling="max")
  args = parse("-pooling_strategy", "CLASSIFICATION")
  args_mod.apply_trained_settings(args, windowed, _Log())
  assert (args.max_seq_len, args.doc_stride, args.window_pooling) == (16, 6, "max")
  args = parse()  # REDUCE_MEAN: an embedding of the first window, as bert-as-service cuts
  args_mod.apply_trained_settings(args, windowed, _Log())
  assert args.doc_stride == 0
  for flags in (["-max_seq_len", "NONE"], ["-mask_cls_sep"], ["-no_special_token"]):
    args = parse("-pooling_strategy", "CLASSIFICATION", *flags)
    with pytest.raises(UsageError, match="trained with --doc_stride 6"):
      args_mod.apply_trained_settings(args, windowed, _Log())


def test_recorded_settings_are_checked(tmp_path):
  pre = tmp_path / "m"
  pre.mkdir()
  (pre / "vocab.txt").write_text("[PAD]\n")
  (pre / "bert_config.json").write_text('{"vocab_size": 1}')
  (pre / "bert_model.ckpt.index").write_text("")
  for bad, message in (
    ({"max_seq_length": "128"}, "max_seq_length must be an int > 3"),
    ({"doc_stride": -1}, "doc_stride must be an int >= 0"),
    ({"window_pooling": "sum"}, "window_pooling must be mean or max"),
    ({"do_lower_case": "yes"}, "do_lower_case must be true or false"),
  ):
    (pre / "run_config.json").write_text(json.dumps(bad))
    with pytest.raises(InputError, match=message):
      files.resolve(str(pre))
  (pre / "run_config.json").write_text('{"max_seq_length": 64, "doc_stride": 8}')
  assert files.resolve(str(pre)).trained == {"max_seq_length": 64, "doc_stride": 8}


def test_windows_of_a_long_text_and_of_a_pair():
  rows = features.text_to_windows("a b c d e f g", TOK, 6, 2)
  assert [r.tokens[1:-1] for r in rows] == [
    ["a", "b", "c", "d"],
    ["c", "d", "e", "f"],
    ["e", "f", "g"],
  ]
  assert {r.length for r in rows} == {(7, 2)}
  rows = features.text_to_windows("a b c d e ||| f g", TOK, 8, 3)
  assert [r.tokens for r in rows] == [
    ["[CLS]", "a", "b", "c", "[SEP]", "f", "g", "[SEP]"],
    ["[CLS]", "d", "e", "[SEP]", "f", "g", "[SEP]"],
  ]
  batch, groups = features.convert_windows(["a b", "a b c d e f g"], TOK, 6, 2)
  assert groups == [0, 1, 1, 1] and {len(ids) for ids in batch.input_ids} == {6}


@pytest.mark.parametrize("argv", [["-help"], ["--help"], ["-h"]])
def test_help_in_every_spelling(argv, capsys):
  for parser in (args_mod.get_args_parser(), args_mod.get_shutdown_parser()):
    with pytest.raises(SystemExit) as exit_info:
      parser.parse_args(argv)
    assert exit_info.value.code == 0
    assert "usage:" in capsys.readouterr().out
