"""Everything that makes old code run unchanged, in one place above the engine.

* `hooks`: the import hook and loader that give old code (processor plugins,
  TF1 scripts and the modules beside them) the names it expects;
* `flags`: TF1's tolerant `tf.flags` / `tf.app`; `tf_view`: what
  `import tensorflow` gives such code; `google_names`: the module-level names
  of Google's run_classifier.py; `private_names`: private TensorFlow names
  that old metric files import and TensorFlow 2 dropped;
* `runner`: `bert-run-tf1`, which runs a whole TF1 script;
* `estimator`, `tpu`, `contrib` and the modules they use: `tf.estimator`,
  `tf.contrib.tpu` and the `tf.contrib` names BERT scripts use, written on
  `tf.compat.v1` graphs and `MonitoredTrainingSession`.

Nothing in `bert/`, `classifier/` or `processors/` imports this package at
module level; the task registry imports `legacy.hooks` when it loads a plugin
file. Importing the package imports nothing else.
"""
