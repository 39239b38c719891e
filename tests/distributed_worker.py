"""One training process of the multi-worker tests: run_workflow with every dropout off.

    python tests/distributed_worker.py DATA_DIR MODEL_DIR OUTPUT_DIR EPOCHS [SAVE_EVERY [STRATEGY]]

TF_CONFIG (set by the test) makes it one worker of a cluster; without it, it is
the single-process reference (or, with STRATEGY multi_worker_mirrored, a
one-worker cluster). MODEL_DIR's bert_config.json turns every dropout off
(`classifier_dropout` included), so that runs can be compared weight for
weight; its bert_model.ckpt, when there is one, is the starting point.
"""

import logging
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(argv):
  data_dir, model_dir, output_dir, epochs = argv[1:5]
  save_every = int(argv[5]) if len(argv) > 5 else 1000
  strategy = argv[6] if len(argv) > 6 else "auto"
  logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
  from bert import tf_startup

  tf_startup.import_tensorflow()
  from classifier import RunConfig, run_workflow

  init_checkpoint = os.path.join(model_dir, "bert_model.ckpt")
  run_workflow(
    RunConfig.from_flat(
      data_dir=data_dir,
      bert_config_file=os.path.join(model_dir, "bert_config.json"),
      task_name="emotion",
      vocab_file=os.path.join(model_dir, "vocab.txt"),
      output_dir=output_dir,
      init_checkpoint=init_checkpoint if os.path.exists(init_checkpoint + ".index") else None,
      do_train=True,
      max_seq_length=16,
      train_batch_size=8,
      learning_rate=1e-3,
      num_train_epochs=float(epochs),
      save_checkpoints_steps=save_every,
      seed=7,
      distribution_strategy=strategy,
    )
  )
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv))
