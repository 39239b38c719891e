"""classifier.plan: every check of a run once, before TensorFlow, and what the engine gets."""

import collections
import dataclasses
import functools
import inspect
import json
import os
import subprocess
import sys

import pytest
from emotion_data import write_emotion_data, write_model_dir

from bert import model_config
from bert.errors import UsageError
from classifier import RunConfig, checks, cluster, data_sets, folder_settings, plan_run
from classifier.plan import RunPlan

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def workspace(tmp_path):
  vocab, bert_config = write_model_dir(str(tmp_path / "model"))
  write_emotion_data(str(tmp_path / "data"), n_train=48, n_val=8, n_test=8)
  return {
    "data_dir": str(tmp_path / "data"),
    "bert_config_file": bert_config,
    "task_name": "emotion",
    "vocab_file": vocab,
    "output_dir": str(tmp_path / "out"),
    "max_seq_length": 16,
    "train_batch_size": 8,
  }


_CHILD = """
import json, sys
sys.path.insert(0, {root!r})
from bert.errors import ProjectError
from classifier import RunConfig, plan_run
try:
  plan = plan_run(RunConfig.from_flat(**{settings!r}))
  found = {{
    "sets": [len(s or []) for s in (plan.data.train, plan.data.dev, plan.data.test)],
    "labels": plan.data.label_list,
    "class_weights": plan.class_weights,
    "schedule": list(vars(plan.schedule(len(plan.data.train))).values()),
    "vocab": len(plan.tokenizer.vocab),
  }}
except ProjectError as e:
  found = {{"error": str(e)}}
found["tensorflow"] = sorted(name for name in sys.modules if name.startswith("tensorflow"))
print(json.dumps(found))
"""


def _plan_in_child(**settings) -> dict:
  """plan_run in a fresh Python: what it found, and the TensorFlow modules it imported."""
  code = _CHILD.format(root=ROOT, settings=settings)
  done = subprocess.run(
    [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT
  )
  assert done.returncode == 0, done.stderr[-3000:]
  return json.loads(done.stdout.splitlines()[-1])


def test_the_plan_is_made_without_tensorflow(workspace):
  found = _plan_in_child(
    **workspace,
    do_train=True,
    do_eval=True,
    do_predict=True,
    num_train_epochs=2.0,
    eval_every_epoch=True,
    class_weights="balanced",
  )
  assert found["tensorflow"] == []
  assert found["sets"] == [48, 8, 8]
  assert found["labels"] == [str(i) for i in range(7)]
  assert sorted(found["class_weights"]) == found["labels"]
  assert found["schedule"] == [12, 1, 6]  # 48 / 8 x 2 steps, 10% warmup, one epoch = 6 steps.
  assert found["vocab"] > 0
  assert not os.path.exists(workspace["output_dir"])


def test_a_mistake_found_by_the_plan_needs_no_tensorflow(workspace):
  found = _plan_in_child(**workspace, do_predict=True, predict_backend="onnxruntime")
  assert found["error"] == (
    "--predict_backend=onnxruntime needs a checkpoint: --output_dir has none and no "
    "--init_checkpoint was given"
  )
  assert found["tensorflow"] == []
  with pytest.raises(UsageError, match="--predict_backend=onnx: choose one of tensorflow, "):
    plan_run(RunConfig.from_flat(**workspace, do_predict=True, predict_backend="onnx"))


def _count_calls(monkeypatch) -> collections.Counter:
  """Counts the calls of the checks (classifier.checks, folder_settings, the
  cluster's, the data sets' reader) from wherever they are called."""
  counted = {}
  for module in (checks, folder_settings):
    for name, value in vars(module).items():
      if inspect.isfunction(value) and value.__module__ == module.__name__:
        counted[value] = "%s.%s" % (module.__name__.split(".")[-1], name)
  for function in (
    cluster.read_cluster,
    cluster.check_strategy_flags,
    data_sets.read_data_sets,
    model_config.read_bert_config,
    model_config.check_vocab,
  ):
    counted[function] = "%s.%s" % (function.__module__.split(".")[-1], function.__name__)
  counts = collections.Counter()

  def counting(function, label):
    @functools.wraps(function)
    def call(*args, **kwargs):
      counts[label] += 1
      return function(*args, **kwargs)

    return call

  replacements = {function: counting(function, label) for function, label in counted.items()}
  for module_name, module in list(sys.modules.items()):
    if module_name.split(".")[0] != "classifier" or module is None:
      continue
    for name, value in list(vars(module).items()):
      if inspect.isfunction(value) and value in replacements:
        monkeypatch.setattr(module, name, replacements[value])
  return counts


# What a training run with --class_weights, evaluation during training, eval and predict checks.
_ONCE = {
  "checks.check_request",
  "folder_settings.recorded_settings",
  "folder_settings.apply_recorded_settings",
  "model_config.read_bert_config",
  "checks.check_sequence_length",
  "checks.check_flag_values",
  "checks._check_training_only",
  "cluster.read_cluster",
  "cluster.check_strategy_flags",
  "checks.check_init_checkpoint",
  "model_config.check_vocab",
  "data_sets.read_data_sets",
  "checks.check_training_steps",
  "checks.check_multi_label_flags",
  "checks.class_weights",
  "folder_settings.reconcile_labels",
  "folder_settings._trained_labels",
  "checks.check_predict_checkpoint",
  "checks._check_precision",
}


def _full_run(workspace) -> RunConfig:
  return RunConfig.from_flat(
    **workspace,
    do_train=True,
    do_eval=True,
    do_predict=True,
    num_train_epochs=1.0,
    eval_every_epoch=True,
    class_weights="balanced",
    seed=2,
  )


def test_each_check_runs_once(workspace, monkeypatch):
  counts = _count_calls(monkeypatch)
  plan_run(_full_run(workspace))
  assert dict(counts) == dict.fromkeys(_ONCE, 1)


@pytest.mark.slow
def test_the_engine_checks_nothing_again(workspace, monkeypatch):
  from classifier import run_workflow

  counts = _count_calls(monkeypatch)
  results = run_workflow(_full_run(workspace))
  assert results["eval_results"]["global_step"] == 6
  assert dict(counts) == dict.fromkeys(_ONCE, 1)  # The class weights too: computed once.
  with open(os.path.join(workspace["output_dir"], "run_config.json")) as f:
    assert sorted(json.load(f)["class_weights"]) == [str(i) for i in range(7)]


def _resumable_folder(out, labels):
  """An --output_dir with a checkpoint (its files faked) trained with `labels`."""
  os.makedirs(out)
  with open(os.path.join(out, "checkpoint"), "w") as f:
    f.write('model_checkpoint_path: "model.ckpt-6"\nall_model_checkpoint_paths: "model.ckpt-6"\n')
  open(os.path.join(out, "model.ckpt-6.index"), "wb").close()
  with open(os.path.join(out, "labels.json"), "w") as f:
    json.dump(labels, f)


def test_class_weights_follow_get_labels_while_the_head_keeps_the_trained_order(workspace, caplog):
  trained = [str(i) for i in reversed(range(7))]
  _resumable_folder(workspace["output_dir"], trained)
  config = RunConfig.from_flat(**workspace, do_train=True, class_weights="1,2,3,4,5,6,7")
  with caplog.at_level("WARNING"):
    plan = plan_run(config)
  assert "same labels, other order; using the trained order" in caplog.text
  assert plan.data.label_list == trained
  assert plan.class_weights == {label: float(label) + 1 for label in trained}
  assert plan.loss_weights == [7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0]  # The head's order.
  assert plan.recorded_class_weights == plan.class_weights


def test_an_eval_run_keeps_the_class_weights_the_folder_was_trained_with(workspace):
  out = workspace["output_dir"]
  _resumable_folder(out, [str(i) for i in range(7)])
  kept = {str(i): 1.0 + i for i in range(7)}
  with open(os.path.join(out, "run_config.json"), "w") as f:
    json.dump({"max_seq_length": 16, "class_weights": kept}, f)
  plan = plan_run(RunConfig.from_flat(**workspace, do_eval=True))
  assert plan.class_weights is None and plan.loss_weights is None
  assert plan.recorded_class_weights == kept


def test_the_schedule_counts_optimizer_steps_of_the_records():
  config = RunConfig.from_flat(
    "d",
    "c",
    "t",
    "v",
    "o",
    train_batch_size=8,
    gradient_accumulation_steps=2,
    num_train_epochs=2.0,
    warmup_proportion=0.25,
    eval_every_epoch=True,
  )
  plan = RunPlan(config, {}, None, data_sets.DataSets([]), cluster.Cluster())
  schedule = plan.schedule(50)  # 50 records (windows, say) / 16 per step x 2 epochs.
  assert (schedule.num_train_steps, schedule.num_warmup_steps, schedule.eval_every) == (6, 1, 3)
  every_4 = dataclasses.replace(
    plan, config=config.replace(eval_every_epoch=False, eval_every_steps=4)
  )
  assert every_4.schedule(50).eval_every == 4
