"""Early stopping ends on the best checkpoint (as HF's load_best_model_at_end); the last step
is always evaluated; best/eval_results.txt has the keys of the final eval_results.txt."""

import os

import pytest
from emotion_data import write_emotion_data, write_model_dir

from bert import model_folder
from classifier.training_eval import TrainingEvaluator, read_history


class FakeRun:
  """What the trainer does around the evaluator: a full checkpoint (weights and Adam
  slots) at every evaluation step, the five newest kept, then the evaluation."""

  def __init__(self, folder, accuracies, **options):
    self.folder = str(folder)
    self.accuracies = iter(accuracies)
    self.kept = []
    self.evaluator = TrainingEvaluator(self.folder, self.evaluate, self.save_weights, **options)

  def evaluate(self):
    value = next(self.accuracies)
    return {"eval_accuracy": value, "eval_loss": 1 - value, "macro_f1": value, "loss": 0.5}

  def save_weights(self, prefix):  # Weights only: what best/ gets without early stopping.
    with open(prefix + ".index", "w") as f:
      f.write("weights")

  def save(self, step):
    name = "model.ckpt-%d" % step
    for suffix in (".data-00000-of-00001", ".index"):
      with open(os.path.join(self.folder, name + suffix), "w") as f:
        f.write("weights and slots of step %d" % step)
    self.kept = [n for n in self.kept if n != name] + [name]
    for old in self.kept[:-5]:
      for suffix in (".data-00000-of-00001", ".index"):
        os.remove(os.path.join(self.folder, old + suffix))
    self.kept = self.kept[-5:]
    with open(os.path.join(self.folder, "checkpoint"), "w") as f:
      f.write(model_folder.format_checkpoint_state(self.kept))

  def train(self, steps, every):
    """Saves and evaluates every `every` steps up to `steps`; returns the step it stopped at."""
    for step in range(every, steps + 1, every):
      self.save(step)
      if self.evaluator(step):
        return step
    if steps % every:
      self.save(steps)
    return steps


def test_the_last_step_is_evaluated_too(tmp_path):
  run = FakeRun(tmp_path, [0.5, 0.6, 0.7, 0.8, 0.9], metric="eval_accuracy")
  run.evaluator.finish(run.train(18, 4))
  assert [row["global_step"] for row in read_history(str(tmp_path))] == [4, 8, 12, 16, 18]
  # Without early stopping the newest checkpoint stays the last one.
  assert model_folder.newest_local_checkpoint(str(tmp_path)).endswith("model.ckpt-18")


def test_early_stopping_ends_on_the_best_checkpoint(tmp_path, caplog):
  run = FakeRun(tmp_path, [0.5, 0.8, 0.6, 0.7], patience=2, num_train_steps=40)
  stopped = run.train(40, 4)
  assert stopped == 16
  with caplog.at_level("INFO"):
    run.evaluator.finish(stopped)
  # best/ was kept without --keep_best_checkpoint, as a full checkpoint (slots too).
  best = tmp_path / "best" / "model.ckpt-8.index"
  assert best.read_text() == "weights and slots of step 8"
  assert model_folder.newest_local_checkpoint(str(tmp_path)) == str(tmp_path / "model.ckpt-8")
  assert (tmp_path / "model.ckpt-16.index").exists()  # The later checkpoints stay.
  assert (
    "Early stopping: the run's model is its best evaluation, step 8 (eval_accuracy = 0.8); "
    "model.ckpt-8 is now the newest checkpoint of %s" % tmp_path
  ) in caplog.text

  # The same command again: it does not train on from step 8.
  again = FakeRun(tmp_path, [], patience=2, num_train_steps=40)
  assert again.evaluator(8) is True
  assert [row["global_step"] for row in read_history(str(tmp_path))] == [4, 8, 12, 16]


def test_a_best_checkpoint_rotated_away_comes_back_from_best(tmp_path):
  run = FakeRun(tmp_path, [0.9, 0.5, 0.6, 0.7, 0.6, 0.5, 0.4], patience=6, num_train_steps=28)
  run.evaluator.finish(run.train(28, 4))
  assert [row["global_step"] for row in read_history(str(tmp_path))] == list(range(4, 29, 4))
  assert (tmp_path / "model.ckpt-4.index").read_text() == "weights and slots of step 4"
  state = model_folder.parse_checkpoint_state((tmp_path / "checkpoint").read_text())
  assert state[0] == "model.ckpt-4" and "model.ckpt-28" in state
  assert FakeRun(tmp_path, [], patience=6, num_train_steps=28).evaluator(4) is True


@pytest.fixture
def workspace(tmp_path):
  vocab, bert_config = write_model_dir(str(tmp_path / "model"))
  write_emotion_data(str(tmp_path / "data"), n_train=48, n_val=16, n_test=8)
  return dict(
    data_dir=str(tmp_path / "data"),
    bert_config_file=bert_config,
    task_name="emotion",
    vocab_file=vocab,
    output_dir=str(tmp_path / "out"),
    max_seq_length=16,
    train_batch_size=8,
  )


def _results(path):
  with open(path) as f:
    return dict(line.strip().split(" = ") for line in f)


@pytest.mark.slow
def test_final_results_come_from_the_best_checkpoint(workspace, caplog):
  from classifier import RunConfig, run_workflow

  config = RunConfig.from_flat(
    **workspace,
    do_train=True,
    do_eval=True,
    do_predict=True,
    num_train_epochs=3.0,  # 48 / 8 x 3 = 18 steps.
    learning_rate=0.05,
    seed=4,
    eval_every_steps=4,
    early_stopping_patience=4,
    class_weights="balanced",
  )
  with caplog.at_level("INFO"):
    run_workflow(config)
  out = workspace["output_dir"]
  rows = read_history(out)
  assert [row["global_step"] for row in rows] == [4, 8, 12, 16, 18]
  best = max(rows, key=lambda row: row["eval_accuracy"])  # The first of equals.
  assert best["global_step"] != 18, rows  # The case this test is about.
  final = _results(os.path.join(out, "eval_results.txt"))
  kept = _results(os.path.join(out, "best", "eval_results.txt"))
  # Google's keys in both (macro_f1 is in eval_history.tsv and eval_metrics.json).
  assert set(final) == set(kept) == {"eval_accuracy", "eval_loss", "global_step", "loss"}
  assert final["global_step"] == kept["global_step"] == str(best["global_step"])
  assert float(final["eval_accuracy"]) == pytest.approx(best["eval_accuracy"])
  assert model_folder.newest_local_checkpoint(out).endswith("model.ckpt-%d" % best["global_step"])
  # --class_weights=balanced is logged and recorded, by label.
  recorded = model_folder.read_run_config(out)["class_weights"]
  assert sorted(recorded) == [str(i) for i in range(7)]
  assert "Class weights (--class_weights=balanced), by label: 0: " in caplog.text
