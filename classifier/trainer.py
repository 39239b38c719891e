"""Training, evaluation and prediction of the classifier under a tf.distribute strategy.

This replaces TPUEstimator: the same step formulas, checkpoints
(`model.ckpt-N` in `output_dir`, 5 kept, written at step 0, every
`save_checkpoints_steps` and at the end), resume from the newest checkpoint,
and eval/predict from the newest checkpoint in `output_dir`.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator

import numpy as np
import tensorflow as tf

from bert import checkpoint, optimization
from bert import precision as precisions
from bert.classifier_model import BertClassifier
from bert.console import format_seconds
from bert.errors import ProjectError
from classifier.inference_outputs import (
  InferenceProgress,
  combine_windows,
  example_losses,
  head_probabilities,
)
from classifier.loss_scale import LossScale
from classifier.strategy import plain_variables, stack_local_results

logger = logging.getLogger(__name__)


class TrainingDiverged(ProjectError):
  """The training loss (or a weight) became NaN or infinite; nothing non-finite was saved."""


class ClassifierRunner:
  """Owns the model, optimizer and checkpoints of one `output_dir`."""

  def __init__(
    self,
    bert_config,
    num_labels: int,
    output_dir: str,
    strategy: tf.distribute.Strategy | None = None,
    use_one_hot_embeddings: bool = False,
    precision: str = "float32",
    multi_label: bool = False,
    class_weights: list[float] | None = None,
    threshold: float = 0.5,
    window_pooling: str = "mean",
    restore_dir: str | None = None,
    fused_kernels: bool = True,
  ):
    """Builds the model in the strategy's scope; no optimizer yet (`create_optimizer`).

    Checkpoints are written to `output_dir` and resumed from `restore_dir`
    (default: the same folder; a non-chief worker writes to a private folder
    and resumes from the chief's).

    `multi_label` (sigmoid head; predicted labels are those with probability >=
    `threshold`) and `class_weights` shape the head and loss; `window_pooling`
    ("mean" or "max") combines the logits of a text's --doc_stride windows.
    `fused_kernels` trains with XLA-fused dropout/GELU/LayerNorm/softmax
    (`bert.fused_ops`) and, on one device, one fused optimizer update.
    `precision` (run_classifier's --precision, `bert.precision.CHOICES`) is
    what training, evaluation and prediction compute in; "auto" is resolved
    for the strategy's devices (`self.precision`, `self.precision_reason`).
    """
    self.output_dir = output_dir
    self.strategy = strategy or tf.distribute.get_strategy()
    self.precision, self.precision_reason = precisions.resolve(
      precision, tpu=isinstance(self.strategy, tf.distribute.TPUStrategy)
    )
    self.manager = checkpoint.CheckpointManager(output_dir)
    self._resume_from = checkpoint.CheckpointManager(restore_dir) if restore_dir else self.manager
    self._multi_worker = isinstance(self.strategy, tf.distribute.MultiWorkerMirroredStrategy)
    # Every replica computes the same update from all-reduced gradients, so
    # the first replica's value is the value (`ONLY_FIRST_REPLICA`).
    self._aggregation = tf.VariableAggregation.ONLY_FIRST_REPLICA
    with self.strategy.scope():
      self.model = BertClassifier(
        bert_config,
        num_labels,
        aggregation=self._aggregation,
        compute_dtype=precisions.compute_dtype(self.precision),
        multi_label=multi_label,
        class_weights=class_weights,
      )
      if use_one_hot_embeddings:
        self.model.bert.use_one_hot_embeddings = True
      self.model.bert.fused_kernels = fused_kernels
      # float16 gradients underflow without it; bfloat16 has float32's range.
      float16 = self.precision == "mixed_float16"
      self.loss_scale = LossScale(self._aggregation) if float16 else None
    self.fused_kernels = fused_kernels
    self.threshold = threshold
    self.window_pooling = window_pooling
    self.optimizer = None
    self.global_step = 0
    self.last_eval = None
    self.last_probabilities = None  # Of the last per-example evaluation (multi-label, windows).
    self._forwards = []  # (element_spec, tf.function) of eval/predict
    self._train_loops = {}  # accumulation steps -> the train loop tf.function
    self._steps_run = None  # steps the last train loop call ran (a variable, made with the loop)

  def log_precision(self) -> None:
    """Logs what the model computes in: what `auto` chose and why, and for the mixed
    precisions that weights, optimizer and checkpoints stay float32."""
    if self.precision_reason:
      logger.info("Precision auto: %s (%s)", self.precision, self.precision_reason)
    if self.precision != "float32":
      logger.info(
        "Precision %s: float32 weights, optimizer and checkpoints; training, evaluation and "
        "prediction compute in %s%s",
        self.precision,
        precisions.compute_dtype(self.precision),
        "; dynamic loss scaling" if self.loss_scale is not None else "",
      )

  # -- variables and checkpoints ------------------------------------------

  def _checkpoint_variables(self) -> dict:
    named = dict(self.model.variables_by_name)
    if self.optimizer is not None:
      named["global_step"] = self.optimizer.global_step
      for slot in self.optimizer.slot_variables:
        named[checkpoint.variable_name(slot)] = slot
    return named

  def create_optimizer(
    self, learning_rate: float, num_train_steps: int, num_warmup_steps: int
  ) -> None:
    """Google's AdamWeightDecay with warmup/decay, slots in the strategy scope."""
    with self.strategy.scope():
      self.optimizer = optimization.AdamWeightDecay(
        list(self.model.variables_by_name.values()),
        learning_rate,
        num_train_steps,
        num_warmup_steps,
        aggregation=self._aggregation,
      )

  def restore(self, init_checkpoint: str | None, allow_partial: bool = False) -> set[str]:
    """Loads the newest checkpoint of output_dir, else `init_checkpoint`.

    A damaged newest checkpoint (say, truncated by a full disk) is skipped
    with a warning for the newest intact one of the state file.

    Returns the names initialised from `init_checkpoint` (empty when resuming
    or starting from random weights), for the *INIT_FROM_CKPT* log.
    """
    saved = self._resume_from.checkpoints()
    for prefix in saved:
      logger.info(
        "Restoring the newest checkpoint in output_dir: %s"
        if prefix == saved[0]
        else "Restoring %s",
        prefix,
      )
      try:
        checkpoint.load_variables(self._checkpoint_variables(), prefix, required_prefixes=("",))
      except checkpoint.DamagedCheckpointError as e:
        if prefix == saved[-1]:
          raise
        logger.warning("%s; resuming from the previous checkpoint instead", e)
        continue
      self.global_step = self._read_step(prefix)
      return set()
    if not init_checkpoint:
      logger.warning(
        "No --init_checkpoint and no checkpoint in %s: the model starts from random weights.",
        self.output_dir,
      )
      return set()
    return checkpoint.load_variables(
      self.model.variables_by_name, init_checkpoint, allow_partial=allow_partial
    )

  def restore_for_inference(self, init_checkpoint: str | None, allow_partial: bool = False) -> str:
    """Weights for eval/predict: output_dir's newest checkpoint, as Estimator."""
    latest = self._resume_from.latest_checkpoint
    if latest is not None:
      checkpoint.load_variables(self.model.variables_by_name, latest, required_prefixes=("",))
      self.global_step = self._read_step(latest)
      return latest
    logger.warning(
      "Could not find trained model in model_dir: %s, running initialization to evaluate/predict.",
      self.output_dir,
    )
    if init_checkpoint:
      checkpoint.load_variables(
        self.model.variables_by_name, init_checkpoint, allow_partial=allow_partial
      )
    return init_checkpoint or ""

  @staticmethod
  def _read_step(prefix: str) -> int:
    reader = tf.train.load_checkpoint(prefix)
    if reader.has_tensor("global_step"):
      return int(reader.get_tensor("global_step"))
    return checkpoint.checkpoint_step(prefix) or 0

  def save(self) -> str:
    """Writes model.ckpt-<global_step> (weights, slots, global_step)."""
    path = self.manager.save(self._checkpoint_variables(), self.global_step)
    logger.info("Saving checkpoints for %d into %s.", self.global_step, path)
    return path

  def save_weights(self, prefix: str) -> None:
    """Writes the model's variables and global_step (no optimizer slots) at `prefix`."""
    named = dict(self.model.variables_by_name)
    if self.optimizer is not None:
      named["global_step"] = self.optimizer.global_step
    checkpoint.save_variables(named, prefix)

  def forward_trace_count(self) -> int:
    """How many times the eval/predict forward functions have been traced so far."""
    return sum(forward.experimental_get_tracing_count() for _, forward in self._forwards)

  # -- training -------------------------------------------------------------

  def train_loop_fn(self, accumulation_steps: int = 1):
    """The tf.function `train` runs: (iterator, steps) -> (mean loss, learning rate).

    Each of the `steps` optimizer steps takes `accumulation_steps` batches:
    their gradients are averaged (on each replica, then across replicas)
    before one clipped update, so K batches of B act as one batch of K*B,
    clipping included (a sparse gradient's rows count in the global norm as
    the one batch's would: `optimization.squared_norm`). The loop stops
    after a step whose loss is not finite (that loss is returned; `train`
    reports it). It runs the steps only (no checkpoints, no summaries);
    public so that benchmarks can time exactly that.
    """
    if accumulation_steps > 1:
      return self._accumulating_train_loop(accumulation_steps)
    strategy, model = self.strategy, self.model
    tvars = list(model.variables_by_name.values())
    replicas = strategy.num_replicas_in_sync

    # One XLA kernel for clipping and every Adam update (one device with plain
    # variables, no loss scaling); its inputs need fixed shapes, so sparse
    # gradients go dense, each with its rows' share of the norm beside it.
    fuse_update = self.fused_kernels and plain_variables(strategy) and self.loss_scale is None
    apply = tf.function(self._apply, jit_compile=True) if fuse_update else self._apply

    def step_fn(features):
      with tf.GradientTape() as tape:
        loss = self._training_loss(features)
        scaled_loss = self._scaled(loss / replicas)
      grads = tape.gradient(scaled_loss, tvars)
      squares = None
      if fuse_update:
        grads, squares = optimization.densified(grads)
      if replicas > 1:
        # Sparse gradients are gathered, not summed: every replica's rows count in the norm.
        grads = tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, grads)
      learning_rate = apply(grads, squares)
      return loss, learning_rate

    def one_step(iterator):
      per_replica_loss, per_replica_lr = strategy.run(step_fn, args=(next(iterator),))
      return (
        strategy.reduce(tf.distribute.ReduceOp.MEAN, per_replica_loss, axis=None),
        strategy.reduce(tf.distribute.ReduceOp.MEAN, per_replica_lr, axis=None),
      )

    return self._looped(one_step)

  def _looped(self, one_step):
    """The tf.function running `one_step(iterator)` -> (loss, lr) `steps` times.

    It stops early after a non-finite loss; `self._steps_run` then tells how
    many steps it ran.
    """
    with tf.init_scope():
      if self._steps_run is None:
        self._steps_run = tf.Variable(0, dtype=tf.int64, trainable=False)
    steps_run = self._steps_run

    @tf.function
    def train_loop(iterator, steps):
      loss = tf.constant(0.0)
      learning_rate = tf.constant(0.0)
      steps_run.assign(0)
      for _ in tf.range(steps):
        loss, learning_rate = one_step(iterator)
        steps_run.assign_add(1)
        if not tf.math.is_finite(loss):
          break
      return loss, learning_rate

    return train_loop

  def _scaled(self, loss: tf.Tensor) -> tf.Tensor:
    return loss if self.loss_scale is None else loss * self.loss_scale.scale

  def _apply(self, grads: list, squares: list | None = None) -> tf.Tensor:
    """One optimizer update from summed gradients (of the scaled loss, in float16).

    `squares`: the norm shares of gradients that were sparse
    (`AdamWeightDecay.apply_gradients`). Under loss scaling the gradients and
    shares are unscaled first; a step whose gradients overflowed is skipped
    (global_step unchanged, scale halved). Returns the learning rate.
    """
    if self.loss_scale is None:
      return self.optimizer.apply_gradients(grads, squares)
    grads, squares, finite = self.loss_scale.unscale(grads, squares)
    learning_rate = tf.cond(
      finite,
      lambda: self.optimizer.apply_gradients(grads, squares),
      self.optimizer.learning_rate,
    )
    self.loss_scale.update(finite)
    return learning_rate

  def _training_loss(self, features) -> tf.Tensor:
    loss, _, _, _ = self.model(
      features["input_ids"],
      features["input_mask"],
      features["segment_ids"],
      features["label_ids"],
      training=True,
    )
    return loss

  def _accumulating_train_loop(self, accumulation_steps: int):
    """`train_loop_fn` for K > 1: per-replica gradient sums in ON_READ variables.

    A sparse gradient is summed densely; the squares of its rows are summed
    beside it (`row_squares`), so that the norm counts them as one batch of
    K*B would.
    """
    strategy = self.strategy
    tvars = list(self.model.variables_by_name.values())
    replicas = strategy.num_replicas_in_sync
    with strategy.scope():
      sums = [
        tf.Variable(
          tf.zeros(v.shape, v.dtype),
          trainable=False,
          synchronization=tf.VariableSynchronization.ON_READ,
          aggregation=tf.VariableAggregation.SUM,
        )
        for v in tvars
      ]
      row_squares = tf.Variable(
        tf.zeros([len(tvars)]),
        trainable=False,
        synchronization=tf.VariableSynchronization.ON_READ,
        aggregation=tf.VariableAggregation.SUM,
      )
    has_gradient = []  # Filled when the micro step is traced: False for unused variables.
    sparse = []  # Likewise: True where the gradient comes as an IndexedSlices.

    def micro_step(features):
      with tf.GradientTape() as tape:
        loss = self._training_loss(features)
        scaled_loss = self._scaled(loss / (replicas * accumulation_steps))
      grads = tape.gradient(scaled_loss, tvars)
      has_gradient[:] = [g is not None for g in grads]
      dense, shares = optimization.densified(grads)
      sparse[:] = [share is not None for share in shares]
      if any(sparse):
        row_squares.assign_add(tf.stack([tf.zeros([]) if s is None else s for s in shares]))
      for total, grad in zip(sums, dense):
        if grad is not None:
          total.assign_add(grad)
      return loss

    def update():
      grads = [total.read_value() if used else None for total, used in zip(sums, has_gradient)]
      shares = row_squares.read_value()
      if replicas > 1:
        present = [g for g in grads if g is not None]
        reduced = tf.distribute.get_replica_context().all_reduce(
          tf.distribute.ReduceOp.SUM, present + [shares]
        )
        shares = reduced.pop()
        reduced = iter(reduced)
        grads = [next(reduced) if g is not None else None for g in grads]
      squares = [shares[i] if is_sparse else None for i, is_sparse in enumerate(sparse)]
      learning_rate = self._apply(grads, squares)
      for total in sums:
        total.assign(tf.zeros_like(total))
      row_squares.assign(tf.zeros_like(row_squares))
      return learning_rate

    def one_step(iterator):
      loss_sum = tf.constant(0.0)
      for _ in tf.range(accumulation_steps):
        per_replica_loss = strategy.run(micro_step, args=(next(iterator),))
        loss_sum += strategy.reduce(tf.distribute.ReduceOp.MEAN, per_replica_loss, axis=None)
      per_replica_lr = strategy.run(update)
      learning_rate = strategy.reduce(tf.distribute.ReduceOp.MEAN, per_replica_lr, axis=None)
      return loss_sum / accumulation_steps, learning_rate

    return self._looped(one_step)

  def train(
    self,
    dataset: tf.data.Dataset,
    num_train_steps: int,
    save_checkpoints_steps: int,
    iterations_per_loop: int,
    batch_size: int,
    log_every_seconds: float = 10.0,
    accumulation_steps: int = 1,
    eval_every_steps: int = 0,
    on_eval: Callable[[int], bool] | None = None,
  ) -> None:
    """Trains from the current global step to `num_train_steps` optimizer steps.

    With `eval_every_steps` > 0, every such step is saved as a checkpoint and
    then `on_eval(global_step)` runs; it returns True to stop training early.
    A run resumed at such a step asks it first (it may have stopped there).
    """
    if self.global_step >= num_train_steps:
      logger.info(
        "Skipping training since max_steps has already saved: "
        "global_step = %d >= num_train_steps = %d",
        self.global_step,
        num_train_steps,
      )
      return
    if self.manager.latest_checkpoint is None:
      self.save()  # model.ckpt-0, as the Estimator did.
    if eval_every_steps and self.global_step and self.global_step % eval_every_steps == 0:
      if on_eval(self.global_step):  # Resumed at an evaluation step: evaluated, or stopped there.
        return
    if self._multi_worker:
      # One record file per worker, identical: each takes its share of every global batch.
      options = tf.data.Options()
      options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
      dataset = dataset.with_options(options)
    iterator = iter(self.strategy.experimental_distribute_dataset(dataset))
    if accumulation_steps not in self._train_loops:  # Traced once, however often train runs.
      self._train_loops[accumulation_steps] = self.train_loop_fn(accumulation_steps)
    train_loop = self._train_loops[accumulation_steps]
    is_tpu = isinstance(self.strategy, tf.distribute.TPUStrategy)
    chunk_cap = max(1, iterations_per_loop) if is_tpu else 10
    save_every = max(1, save_checkpoints_steps)
    examples_per_step = batch_size * accumulation_steps
    start_step, start_time, last_log = self.global_step, time.time(), 0.0
    summary_writer = tf.summary.create_file_writer(self.output_dir)
    loss = tf.constant(0.0)
    while self.global_step < num_train_steps:
      next_stop = (self.global_step // save_every + 1) * save_every
      if eval_every_steps:
        next_stop = min(next_stop, (self.global_step // eval_every_steps + 1) * eval_every_steps)
      steps = min(chunk_cap, next_stop - self.global_step, num_train_steps - self.global_step)
      chunk_start = self.global_step
      loss, learning_rate = train_loop(iterator, tf.constant(steps))
      self.global_step = int(self.optimizer.global_step.numpy())
      if not np.isfinite(float(loss)):
        summary_writer.close()
        self._diverged(chunk_start + int(self._steps_run.numpy()), "the loss is %s" % float(loss))
      now = time.time()
      done = self.global_step - start_step
      if now - last_log >= log_every_seconds or self.global_step == num_train_steps:
        last_log = now
        rate = done / max(now - start_time, 1e-9)
        with summary_writer.as_default(step=self.global_step):
          tf.summary.scalar("loss", float(loss))
          tf.summary.scalar("learning_rate", float(learning_rate))
          tf.summary.scalar("global_step/sec", rate)
          tf.summary.scalar("examples/sec", rate * examples_per_step)
        logger.info(
          "loss = %.6f, step = %d/%d, lr = %.3g, %.2f steps/s, %.1f examples/s, ETA %s",
          float(loss),
          self.global_step,
          num_train_steps,
          float(learning_rate),
          rate,
          rate * examples_per_step,
          format_seconds((num_train_steps - self.global_step) / rate) if rate > 0 else "?",
        )
      evaluating = bool(eval_every_steps) and self.global_step % eval_every_steps == 0
      if evaluating or self.global_step % save_every == 0 or self.global_step >= num_train_steps:
        if not self._weights_finite():
          summary_writer.close()
          self._diverged(self.global_step, "the weights are no longer finite")
        self.save()
      if evaluating and on_eval(self.global_step):
        break
    summary_writer.close()
    logger.info("Loss for final step: %.6f.", float(loss))

  def _weights_finite(self) -> bool:
    """Whether every weight and Adam slot is finite (checked before each save)."""
    values = self._checkpoint_variables().values()
    return all(bool(tf.reduce_all(tf.math.is_finite(v))) for v in values if v.dtype.is_floating)

  def _diverged(self, step: int, what: str) -> None:
    """Raises TrainingDiverged for `step`, naming the newest checkpoint (never a non-finite one)."""
    newest = self.manager.latest_checkpoint
    raise TrainingDiverged(
      "training stopped at step %d: %s; the newest checkpoint%s holds the last finite weights "
      "(try a lower --learning_rate, and check --class_weights and the data)"
      % (step, what, " (%s)" % os.path.basename(newest) if newest else "")
    )

  def write_eval_summaries(self, result: dict) -> None:
    """Eval metrics as TensorBoard scalars in output_dir/eval, as Estimator."""
    writer = tf.summary.create_file_writer(os.path.join(self.output_dir, "eval"))
    with writer.as_default(step=self.global_step):
      for key in sorted(result):
        if key != "global_step":
          tf.summary.scalar(key, float(result[key]))
    writer.close()

  # -- eval and predict -----------------------------------------------------

  @property
  def _inference_strategy(self) -> tf.distribute.Strategy:
    """Eval and predict run on the chief alone in multi-worker runs (no collectives)."""
    return tf.distribute.get_strategy() if self._multi_worker else self.strategy

  def _forward_fn(self, element_spec):
    """The eval/predict forward pass for batches of `element_spec`.

    Traced once per spec (a spec's None dimensions, such as the batch and
    sequence lengths --dynamic_padding varies, stay symbolic), and kept for
    later calls with the same spec.
    """
    for spec, forward in self._forwards:
      if spec == element_spec:
        return forward
    strategy, model = self._inference_strategy, self.model

    def fn(features):
      _, per_example_loss, logits, probabilities = model(
        features["input_ids"],
        features["input_mask"],
        features["segment_ids"],
        features["label_ids"],
        training=False,
      )
      outputs = {
        "per_example_loss": per_example_loss,
        "logits": logits,
        "probabilities": probabilities,
      }
      for name in ("label_ids", "is_real_example", "example_index", "example_id"):
        if name in features:
          outputs[name] = features[name]
      return outputs

    @tf.function(input_signature=[element_spec])
    def forward(features):
      return strategy.run(fn, args=(features,))

    self._forwards.append((element_spec, forward))
    return forward

  def _batches(self, dataset, total_examples, what, total_windows=None) -> Iterator[dict]:
    strategy = self._inference_strategy
    distributed = strategy.experimental_distribute_dataset(dataset)
    forward = self._forward_fn(distributed.element_spec)
    progress = InferenceProgress(what, total_examples, total_windows)
    for features in distributed:
      outputs = {name: stack_local_results(strategy, t) for name, t in forward(features).items()}
      progress.update(outputs)
      yield outputs

  def evaluate(
    self, dataset: tf.data.Dataset, total_examples: int, total_windows: int | None = None
  ) -> dict:
    """eval_accuracy and eval_loss weighted by is_real_example, plus loss
    (mean of batch losses) and global_step, as the Estimator reported.

    Only `loss` depends on how examples are batched (--dynamic_padding
    groups them by length); accuracy and eval_loss do not. Multi-label heads
    and --doc_stride windows are scored per example by `_evaluate_examples`.
    """
    if self.model.multi_label or self._has_windows(dataset):
      return self._evaluate_examples(dataset, total_examples, total_windows)
    correct = weight_sum = loss_sum = 0.0
    batch_losses = []
    all_labels, all_predictions, all_weights = [], [], []
    for out in self._batches(dataset, total_examples, "Evaluating"):
      weights = out["is_real_example"].astype(np.float64)
      labels, per_example_loss = out["label_ids"], out["per_example_loss"]
      predictions = np.argmax(out["logits"], axis=-1)
      correct += float(np.sum(weights * (predictions == labels)))
      weight_sum += float(np.sum(weights))
      loss_sum += float(np.sum(weights * per_example_loss))
      batch_losses.append(float(np.mean(per_example_loss)))
      all_labels.append(labels)
      all_predictions.append(predictions)
      all_weights.append(weights)
    self.last_eval = (
      np.concatenate(all_labels),
      np.concatenate(all_predictions),
      np.concatenate(all_weights),
    )
    return {
      "eval_accuracy": np.float32(correct / weight_sum if weight_sum else 0.0),
      "eval_loss": np.float32(loss_sum / weight_sum if weight_sum else 0.0),
      "loss": np.float32(np.mean(batch_losses) if batch_losses else 0.0),
      "global_step": np.int64(self.global_step),
    }

  @staticmethod
  def _has_windows(dataset: tf.data.Dataset) -> bool:
    return "example_id" in dataset.element_spec

  def _collect(self, dataset, total_examples, what, total_windows=None) -> dict:
    """Every batch's outputs concatenated, windows combined into one row per example."""
    parts: dict = {}
    for out in self._batches(dataset, total_examples, what, total_windows):
      for name, value in out.items():
        parts.setdefault(name, []).append(value)
    rows = {name: np.concatenate(values) for name, values in parts.items()}
    if "example_id" in rows:
      rows = combine_windows(rows, self.window_pooling)
    rows["probabilities"] = head_probabilities(rows["logits"], self.model.multi_label)
    return rows

  def _evaluate_examples(self, dataset, total_examples: int, total_windows=None) -> dict:
    """Eval metrics computed per example in NumPy (multi-label, or windows combined)."""
    rows = self._collect(dataset, total_examples, "Evaluating", total_windows)
    weights = rows["is_real_example"].astype(np.float64)
    labels = rows["label_ids"]
    losses = example_losses(rows["logits"], labels, self.model.multi_label)
    weight_sum = float(weights.sum()) or 1.0
    result = {"eval_loss": np.float32(float(np.sum(weights * losses)) / weight_sum)}
    if self.model.multi_label:
      predictions = (rows["probabilities"] >= self.threshold).astype(labels.dtype)
      exact = np.all(predictions == labels, axis=-1)
      result["eval_accuracy"] = np.float32(float(np.sum(weights * exact)) / weight_sum)
    else:
      predictions = np.argmax(rows["logits"], axis=-1)
      result["eval_accuracy"] = np.float32(
        float(np.sum(weights * (predictions == labels))) / weight_sum
      )
    result["loss"] = np.float32(np.mean(losses) if len(losses) else 0.0)
    result["global_step"] = np.int64(self.global_step)
    self.last_eval = (labels, predictions, weights)
    self.last_probabilities = rows["probabilities"]
    return result

  def predict(
    self, dataset: tf.data.Dataset, total_examples: int, total_windows: int | None = None
  ) -> Iterator[np.ndarray]:
    """Probabilities [num_labels] per example, in input order (batches with
    an `example_index` feature, as --dynamic_padding makes, are put back in
    order first). --doc_stride windows give one row per example, their logits
    combined."""
    if self._has_windows(dataset):
      rows = self._collect(dataset, total_examples, "Predicting", total_windows)
      yield from rows["probabilities"]
      return
    rows, indices = [], []
    for out in self._batches(dataset, total_examples, "Predicting"):
      if "example_index" not in out:
        yield from out["probabilities"]
        continue
      rows.append(out["probabilities"])
      indices.append(out["example_index"])
    if rows:
      order = np.argsort(np.concatenate(indices), kind="stable")
      yield from np.concatenate(rows)[order]
