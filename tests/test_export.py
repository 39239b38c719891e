"""export/serving_export.py: a fine-tuned output_dir -> a servable model folder.

One real fine-tuning run (run_classifier.py on a tiny emotion data set, 7
steps, checkpoints 0, 5 and 7) is shared by the module; each test exports
from it (or from a copy it breaks on purpose).
"""

import glob
import json
import os
import random
import shutil
import subprocess
import sys
import types

import numpy as np
import pytest
import tensorflow as tf

from bert import checkpoint, model_config, modeling
from export import serving_export
from export.serving_export import ExportError, export_for_serving

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

WORDS = (
  "happy sad angry calm joy fear love hate good bad day night sun rain "
  "cold warm big small fast slow"
).split()
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS + ["##s", "##ed", "##ly", "the", "a"]
LABELS = ["0", "1", "2", "3", "4", "5", "6"]
CKPT_FILES = ("bert_model.ckpt.index", "bert_model.ckpt.data-00000-of-00001")


def _subprocess_env():
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  env["PYTHONPATH"] = os.pathsep.join([ROOT] + [p for p in [env.get("PYTHONPATH")] if p])
  return env


def _run_classifier(*args):
  return subprocess.run(
    [
      sys.executable,
      os.path.join(ROOT, "run_classifier.py"),
      "--task_name=emotion",
      "--max_seq_length=16",
      "--train_batch_size=8",
      "--eval_batch_size=8",
      "--num_train_epochs=1",
      "--save_checkpoints_steps=5",
    ]
    + list(args),
    cwd=ROOT,
    env=_subprocess_env(),
    capture_output=True,
    text=True,
    timeout=300,
  )


def _eval_results(path):
  with open(path) as f:
    return {k.strip(): float(v) for k, v in (line.split("=") for line in f if line.strip())}


@pytest.fixture(scope="module")
def finetuned(tmp_path_factory):
  """A run_classifier.py train+eval output_dir (checkpoints 0, 5, 7)."""
  from conftest import TINY_CONFIG

  root = tmp_path_factory.mktemp("finetuned")
  model_dir = root / "tiny_model"
  model_dir.mkdir()
  (model_dir / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
  (model_dir / "bert_config.json").write_text(
    json.dumps(dict(TINY_CONFIG, vocab_size=len(VOCAB)), indent=2)
  )
  data_dir = root / "data"
  data_dir.mkdir()
  rng = random.Random(0)
  for split, n in (("train", 56), ("val", 21), ("test", 7)):
    lines = ["label\ttext"]
    for i in range(n):
      lines.append(
        "%d\t%s" % (i % 7, " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 8))))
      )
    (data_dir / ("fine_tuning_%s_data.tsv" % split)).write_text("\n".join(lines) + "\n")
  output_dir = root / "output"
  # A high learning rate moves every weight (output_bias starts at zero) far
  # enough from its initial value for the eval comparison to tell.
  result = _run_classifier(
    "--do_train=true",
    "--do_eval=true",
    "--learning_rate=1e-2",
    "--data_dir=%s" % data_dir,
    "--vocab_file=%s" % (model_dir / "vocab.txt"),
    "--bert_config_file=%s" % (model_dir / "bert_config.json"),
    "--output_dir=%s" % output_dir,
  )
  assert result.returncode == 0, result.stderr[-3000:]
  return types.SimpleNamespace(
    root=root,
    data_dir=str(data_dir),
    output_dir=str(output_dir),
    vocab_file=str(model_dir / "vocab.txt"),
    config_file=str(model_dir / "bert_config.json"),
    config=modeling.BertConfig.from_json_file(str(model_dir / "bert_config.json")),
    eval_results=_eval_results(output_dir / "eval_results.txt"),
  )


@pytest.fixture
def output_copy(finetuned, tmp_path):
  """A copy of the output_dir that a test may break."""
  path = tmp_path / "output"
  shutil.copytree(finetuned.output_dir, path)
  return str(path)


def _read(path):
  with open(path, "rb") as f:
    return f.read()


def _tensors(prefix):
  reader = tf.train.load_checkpoint(prefix)
  return {name: reader.get_tensor(name) for name, _ in tf.train.list_variables(prefix)}


def _leftovers(directory, keep):
  return sorted(set(os.listdir(directory)) - set(keep))


def test_fine_tuning_run_left_what_export_reads(finetuned):
  names = os.listdir(finetuned.output_dir)
  for step in (0, 5, 7):
    assert "model.ckpt-%d.index" % step in names
  assert checkpoint.latest_checkpoint(finetuned.output_dir).endswith("model.ckpt-7")
  assert "labels.json" in names and "run_config.json" in names


def test_export_copies_newest_checkpoint_byte_for_byte(finetuned, tmp_path):
  export_dir = tmp_path / "served"
  result = export_for_serving(finetuned.output_dir, str(export_dir))
  assert result == str(export_dir)
  assert sorted(os.listdir(export_dir)) == sorted(
    CKPT_FILES + ("vocab.txt", "bert_config.json", "labels.json", "export_info.json")
  )
  source = os.path.join(finetuned.output_dir, "model.ckpt-7")
  assert _read(export_dir / CKPT_FILES[0]) == _read(source + ".index")
  assert _read(export_dir / CKPT_FILES[1]) == _read(source + ".data-00000-of-00001")
  assert _read(export_dir / "vocab.txt") == _read(finetuned.vocab_file)
  assert _read(export_dir / "bert_config.json") == _read(finetuned.config_file)
  assert json.loads((export_dir / "labels.json").read_text()) == LABELS
  info = json.loads((export_dir / "export_info.json").read_text())
  assert info["source_checkpoint"] == source
  assert info["global_step"] == 7
  assert info["stripped_optimizer"] is False
  assert info["labels"] == LABELS
  assert info["checkpoint_bytes"] == info["source_checkpoint_bytes"]
  assert info["do_lower_case"] is True and info["max_seq_length"] == 16
  assert _leftovers(tmp_path, ["served"]) == []


def test_strip_optimizer_keeps_weights_and_head_drops_slots(finetuned, tmp_path, caplog):
  caplog.set_level("INFO")
  export_dir = tmp_path / "served"
  export_for_serving(finetuned.output_dir, str(export_dir), strip_optimizer=True)
  source = _tensors(os.path.join(finetuned.output_dir, "model.ckpt-7"))
  stripped = _tensors(str(export_dir / "bert_model.ckpt"))
  assert "global_step" in source and "output_weights/adam_m" in source
  assert not [n for n in stripped if n.endswith(("/adam_m", "/adam_v")) or n == "global_step"]
  expected = [n for n in source if not n.endswith(("/adam_m", "/adam_v")) and n != "global_step"]
  assert sorted(stripped) == sorted(expected)
  assert stripped["output_weights"].shape == (7, 32)
  assert stripped["output_bias"].shape == (7,)
  for name, value in stripped.items():
    np.testing.assert_array_equal(value, source[name], err_msg=name)
    assert value.dtype == source[name].dtype

  info = json.loads((export_dir / "export_info.json").read_text())
  assert info["stripped_optimizer"] is True and info["global_step"] == 7
  ratio = info["checkpoint_bytes"] / info["source_checkpoint_bytes"]
  assert 0.28 < ratio < 0.4, ratio
  assert "Checkpoint size:" in caplog.text and "dropped 83" in caplog.text


def test_meta_graph_is_shipped_only_unstripped(output_copy, tmp_path):
  meta = os.path.join(output_copy, "model.ckpt-7.meta")
  with open(meta, "wb") as f:
    f.write(b"a TF1 MetaGraphDef")
  export_for_serving(output_copy, str(tmp_path / "a" / "b" / "served"))
  assert _read(tmp_path / "a" / "b" / "served" / "bert_model.ckpt.meta") == _read(meta)
  export_for_serving(output_copy, str(tmp_path / "stripped"), strip_optimizer=True)
  assert not (tmp_path / "stripped" / "bert_model.ckpt.meta").exists()


def test_export_loads_into_bert_encoder(finetuned, tmp_path):
  export_dir = tmp_path / "served"
  export_for_serving(finetuned.output_dir, str(export_dir), strip_optimizer=True)
  config = modeling.BertConfig.from_json_file(str(export_dir / "bert_config.json"))
  encoder = modeling.BertEncoder(config)
  loaded = checkpoint.load_variables(encoder.variables_by_name, str(export_dir / "bert_model.ckpt"))
  assert loaded == set(encoder.variables_by_name)
  source = tf.train.load_checkpoint(os.path.join(finetuned.output_dir, "model.ckpt-7"))
  np.testing.assert_array_equal(
    encoder.variables_by_name["bert/pooler/dense/kernel"].numpy(),
    source.get_tensor("bert/pooler/dense/kernel"),
  )


@pytest.mark.parametrize("name", ["model.ckpt-5", "full"])
def test_named_checkpoint(finetuned, tmp_path, name):
  prefix = os.path.join(finetuned.output_dir, "model.ckpt-5")
  export_dir = tmp_path / "served"
  export_for_serving(
    finetuned.output_dir, str(export_dir), checkpoint=prefix if name == "full" else name
  )
  assert _read(export_dir / CKPT_FILES[0]) == _read(prefix + ".index")
  info = json.loads((export_dir / "export_info.json").read_text())
  assert info["source_checkpoint"] == prefix and info["global_step"] == 5


def test_missing_named_checkpoint_lists_what_is_there(finetuned, tmp_path):
  with pytest.raises(
    ExportError,
    match=r"model.ckpt-9.index does not exist "
    r"\(output_dir has model.ckpt-0, model.ckpt-5, "
    r"model.ckpt-7\)",
  ):
    export_for_serving(finetuned.output_dir, str(tmp_path / "served"), checkpoint="model.ckpt-9")
  with pytest.raises(ExportError, match="drop the file extension"):
    export_for_serving(
      finetuned.output_dir, str(tmp_path / "served"), checkpoint="model.ckpt-5.index"
    )
  assert os.listdir(tmp_path) == []


def test_no_state_file_names_the_checkpoints(output_copy, tmp_path):
  os.remove(os.path.join(output_copy, "checkpoint"))
  with pytest.raises(
    ExportError,
    match=r"no checkpoint in output_dir .*"
    r"pass --checkpoint=model.ckpt-7",
  ):
    export_for_serving(output_copy, str(tmp_path / "served"))


def test_refuses_to_overwrite_unless_asked(finetuned, tmp_path):
  export_dir = tmp_path / "served"
  export_for_serving(finetuned.output_dir, str(export_dir))
  before = _read(export_dir / CKPT_FILES[0])
  with pytest.raises(ExportError, match="exists and is not empty .*--overwrite"):
    export_for_serving(finetuned.output_dir, str(export_dir), checkpoint="model.ckpt-5")
  assert _read(export_dir / CKPT_FILES[0]) == before

  export_for_serving(
    finetuned.output_dir,
    str(export_dir),
    checkpoint="model.ckpt-5",
    strip_optimizer=True,
    overwrite=True,
  )
  info = json.loads((export_dir / "export_info.json").read_text())
  assert info["global_step"] == 5 and info["stripped_optimizer"] is True
  assert _leftovers(tmp_path, ["served"]) == []

  # An empty folder is fine without --overwrite.
  empty = tmp_path / "empty"
  empty.mkdir()
  export_for_serving(finetuned.output_dir, str(empty))
  assert (empty / "bert_model.ckpt.index").exists()


def test_overwrite_never_replaces_other_folders(finetuned, tmp_path):
  other = tmp_path / "notes"
  other.mkdir()
  (other / "todo.txt").write_text("keep me")
  with pytest.raises(ExportError, match="holds no export"):
    export_for_serving(finetuned.output_dir, str(other), overwrite=True)
  assert os.listdir(other) == ["todo.txt"]
  with pytest.raises(ExportError, match="would replace output_dir"):
    export_for_serving(finetuned.output_dir, os.path.dirname(finetuned.output_dir), overwrite=True)
  with pytest.raises(ExportError, match="would replace output_dir"):
    export_for_serving(finetuned.output_dir, finetuned.output_dir, overwrite=True)


def test_missing_vocab_and_config(output_copy, finetuned, tmp_path):
  export_dir = str(tmp_path / "served")
  os.remove(os.path.join(output_copy, "run_config.json"))
  with pytest.raises(
    ExportError,
    match=r"no vocab_file to ship: pass "
    r"--vocab_file \(.*run_config.json does not exist\)",
  ):
    export_for_serving(output_copy, export_dir)
  with pytest.raises(ExportError, match="no bert_config_file to ship: pass --bert_config_file"):
    export_for_serving(output_copy, export_dir, vocab_file=finetuned.vocab_file)
  with pytest.raises(ExportError, match="--vocab_file .*nope.txt does not exist"):
    export_for_serving(
      output_copy, export_dir, vocab_file="nope.txt", bert_config_file=finetuned.config_file
    )
  # Flags stand in for run_config.json; labels.json still gives the labels.
  export_for_serving(
    output_copy, export_dir, vocab_file=finetuned.vocab_file, bert_config_file=finetuned.config_file
  )
  assert json.loads(open(os.path.join(export_dir, "labels.json")).read()) == LABELS


def test_recorded_files_that_moved(output_copy, tmp_path):
  path = os.path.join(output_copy, "run_config.json")
  with open(path) as f:
    run_config = json.load(f)
  run_config["vocab_file"] = str(tmp_path / "moved" / "vocab.txt")
  with open(path, "w") as f:
    json.dump(run_config, f)
  with pytest.raises(
    ExportError,
    match=r"vocab_file .*moved/vocab.txt "
    r"recorded in .*run_config.json does not exist: pass "
    r"--vocab_file",
  ):
    export_for_serving(output_copy, str(tmp_path / "served"))
  assert _leftovers(tmp_path, ["output"]) == []


def test_labels_from_run_config_when_labels_json_is_absent(output_copy, tmp_path):
  os.remove(os.path.join(output_copy, "labels.json"))
  export_dir = tmp_path / "served"
  export_for_serving(output_copy, str(export_dir))
  assert json.loads((export_dir / "labels.json").read_text()) == LABELS


def test_label_count_must_fit_the_head(output_copy, tmp_path):
  with open(os.path.join(output_copy, "labels.json"), "w") as f:
    json.dump(["neg", "pos"], f)
  with pytest.raises(ExportError, match="head for 7 labels but the label list has 2"):
    export_for_serving(output_copy, str(tmp_path / "served"))


def test_vocab_size_mismatch_is_an_error(finetuned, tmp_path):
  vocab = tmp_path / "vocab.txt"
  vocab.write_text("\n".join(VOCAB + ["extra"]) + "\n")
  with pytest.raises(
    ExportError,
    match=r"vocab.txt has 31 tokens but "
    r".*bert_config.json says vocab_size=30",
  ):
    export_for_serving(finetuned.output_dir, str(tmp_path / "served"), vocab_file=str(vocab))
  assert _leftovers(tmp_path, ["vocab.txt"]) == []


def test_count_vocab_lines_as_load_vocab(tmp_path):
  from bert import tokenization

  for text in ["a\nb\n", "a\nb", "a\r\nb\r\n", "a\n\nb\n", "a\na\n", ""]:
    path = tmp_path / "v.txt"
    path.write_bytes(text.encode())
    ids = tokenization.load_vocab(str(path)).values()
    count = len(model_config.read_vocab_tokens(str(path)))
    assert count == (max(ids) + 1 if ids else 0), repr(text)


def test_missing_bert_variable_is_an_error(output_copy, tmp_path):
  prefix = os.path.join(output_copy, "model.ckpt-7")
  tensors = _tensors(prefix)
  del tensors["bert/encoder/layer_1/output/LayerNorm/gamma"]
  del tensors["bert/pooler/dense/bias"]
  checkpoint.save_variables(tensors, prefix)
  with pytest.raises(
    ExportError,
    match=r"does not fit .*bert_config.json "
    r"\(2 problem\(s\)\): "
    r"bert/encoder/layer_1/output/LayerNorm/gamma missing; "
    r"bert/pooler/dense/bias missing",
  ):
    export_for_serving(output_copy, str(tmp_path / "served"))
  assert _leftovers(tmp_path, ["output"]) == []


def test_config_of_another_model_is_an_error(finetuned, tmp_path):
  from conftest import TINY_CONFIG

  config = tmp_path / "bert_config.json"
  config.write_text(json.dumps(dict(TINY_CONFIG, vocab_size=len(VOCAB), intermediate_size=40)))
  with pytest.raises(
    ExportError,
    match=r"layer_0/intermediate/dense/kernel "
    r"has shape \[32, 37\], bert_config.json implies "
    r"\[32, 40\]",
  ):
    export_for_serving(finetuned.output_dir, str(tmp_path / "served"), bert_config_file=str(config))


def test_expected_shapes_come_from_bert_encoder(finetuned):
  shapes = serving_export.expected_bert_shapes(finetuned.config)
  assert len(shapes) == 5 + 16 * 2 + 2
  assert shapes["bert/embeddings/word_embeddings"] == [len(VOCAB), 32]
  assert shapes["bert/encoder/layer_1/output/dense/kernel"] == [37, 32]


def test_cli(finetuned, tmp_path, capsys):
  export_dir = str(tmp_path / "served")
  assert (
    serving_export.main(
      [
        "--output_dir",
        finetuned.output_dir,
        "--export_dir",
        export_dir,
        "--checkpoint=model.ckpt-5",
        "--strip_optimizer",
      ]
    )
    == 0
  )
  info = json.loads(open(os.path.join(export_dir, "export_info.json")).read())
  assert info["global_step"] == 5 and info["stripped_optimizer"] is True
  capsys.readouterr()

  assert (
    serving_export.main(
      [
        "--output_dir=%s" % finetuned.output_dir,
        "--export_dir=%s" % export_dir,
        "--strip_optimizer=false",
      ]
    )
    == 1
  )
  err = capsys.readouterr().err
  assert err.splitlines()[-1].startswith(
    "bert-export-serving: error: export_dir %s exists and is not empty" % export_dir
  )
  assert "Traceback" not in err

  assert (
    serving_export.main(
      [
        "--output_dir=%s" % finetuned.output_dir,
        "--export_dir=%s" % export_dir,
        "--strip_optimizer=false",
        "--overwrite",
      ]
    )
    == 0
  )
  info = json.loads(open(os.path.join(export_dir, "export_info.json")).read())
  assert info["global_step"] == 7 and info["stripped_optimizer"] is False
  capsys.readouterr()

  with pytest.raises(SystemExit) as usage:
    serving_export.main(["--output_dir", "x"])
  assert usage.value.code == 2
  assert capsys.readouterr().err == (
    "bert-export-serving: error: the following arguments are required: --export_dir (see --help)\n"
  )
  with pytest.raises(SystemExit) as usage:
    serving_export.main(["--output_dir=x", "--export_dir=y", "--overwrite=maybe"])
  assert usage.value.code == 2
  assert capsys.readouterr().err == (
    "bert-export-serving: error: argument --overwrite: expected true or false, got 'maybe' "
    "(see --help)\n"
  )
  assert (
    serving_export.main(
      ["--output_dir", str(tmp_path / "nothing"), "--export_dir", str(tmp_path / "y")]
    )
    == 1
  )
  assert capsys.readouterr().err == (
    "bert-export-serving: error: output_dir %s is not a directory\n" % (tmp_path / "nothing")
  )


def test_cli_damaged_checkpoint_is_one_line_exit_1(output_copy, tmp_path, capsys):
  # The newest checkpoint's data file cut short, as by a full disk.
  (data_file,) = glob.glob(os.path.join(output_copy, "model.ckpt-7.data-*"))
  with open(data_file, "r+b") as f:
    f.truncate(100)
  export_dir = tmp_path / "served"
  status = serving_export.main(["--output_dir", output_copy, "--export_dir", str(export_dir)])
  err = capsys.readouterr().err
  assert status == 1
  assert err.startswith(
    "bert-export-serving: error: cannot read checkpoint %s"
    % os.path.join(output_copy, "model.ckpt-7")
  )
  assert err.count("\n") == 1 and "Traceback" not in err
  assert not export_dir.exists() and _leftovers(tmp_path, ["output"]) == []


def test_cli_as_a_program(output_copy, tmp_path):
  os.remove(os.path.join(output_copy, "run_config.json"))
  result = subprocess.run(
    [
      sys.executable,
      "-m",
      "export",
      "--output_dir",
      output_copy,
      "--export_dir",
      str(tmp_path / "served"),
    ],
    cwd=str(tmp_path),
    env=_subprocess_env(),
    capture_output=True,
    text=True,
    timeout=120,
  )
  assert result.returncode == 1
  assert result.stderr.splitlines()[-1].startswith(
    "bert-export-serving: error: no vocab_file to ship: pass --vocab_file"
  )
  assert "Traceback" not in result.stderr
  assert _leftovers(tmp_path, ["output"]) == []


@pytest.mark.slow
def test_run_classifier_evaluates_the_export_like_the_source(finetuned, tmp_path):
  export_dir = tmp_path / "served"
  export_for_serving(finetuned.output_dir, str(export_dir), strip_optimizer=True)
  output_dir = tmp_path / "eval_output"
  result = _run_classifier(
    "--do_eval=true",
    "--data_dir=%s" % finetuned.data_dir,
    "--vocab_file=%s" % (export_dir / "vocab.txt"),
    "--bert_config_file=%s" % (export_dir / "bert_config.json"),
    "--init_checkpoint=%s" % (export_dir / "bert_model.ckpt"),
    "--output_dir=%s" % output_dir,
  )
  assert result.returncode == 0, result.stderr[-3000:]
  results = _eval_results(output_dir / "eval_results.txt")
  assert results["eval_accuracy"] == finetuned.eval_results["eval_accuracy"]
  assert results["eval_loss"] == pytest.approx(finetuned.eval_results["eval_loss"], rel=1e-6)
