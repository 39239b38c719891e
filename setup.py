"""Google BERT fine-tuning (run_classifier.py and friends) on TensorFlow 2.20."""

from setuptools import setup

INSTALL_REQUIRES = [
  "tensorflow==2.20.0",
  # 1.4.0, not 2.x: tf-models-official (the tfm extra) needs tensorflow-model-optimization,
  # whose releases that take NumPy 2 require absl-py~=1.2; TensorFlow 2.20 takes >=1.0.
  "absl-py==1.4.0",
  "numpy==2.4.6",
  "pandas==3.1.1",
  "pyzmq==27.3.0",
  "google-crc32c==1.9.0",
  # Keras 2 for TF1 scripts under bert-run-tf1 (tf.layers, RNN cells, tf.keras in a model_fn);
  # only that process selects it, nothing else in the project uses Keras.
  "tf-keras==2.20.1",
]

TEST_REQUIRES = [
  "pytest==9.0.3",
  "pytest-timeout==2.4.0",
  # scripts/test.sh runs the suite in two worker processes.
  "pytest-xdist==3.8.0",
  "ruff==0.17.6",
  "bert-serving-client==1.10.0",
]

# SavedModel text signatures (bert-export-savedmodel): tokenizer ops of the same TensorFlow minor.
SAVEDMODEL_REQUIRES = ["tensorflow-text==2.20.0"]

# ONNX export and the ONNX Runtime backends (bert-export-onnx, -backend / --predict_backend).
# onnxruntime's graph optimizer needs sympy, which onnxruntime 1.32 no longer installs itself.
ONNX_REQUIRES = ["onnx==1.23.2", "onnxruntime==1.32.0", "sympy==1.14.0"]

# TF Model Garden (bert-import-tf2, bert-export-tf2): the release of our TensorFlow minor.
TFM_REQUIRES = ["tf-models-official==2.20.0"] + SAVEDMODEL_REQUIRES

setup(
  name="bert-classic",
  version="0.1.0",
  description="Google's BERT run_classifier.py workflow, running unchanged on TensorFlow 2.20",
  license="Apache-2.0",
  license_files=["LICENSE"],
  python_requires=">=3.10",
  packages=[
    "bert",
    "onnx_bert",
    "processors",
    "classifier",
    "export",
    "serving",
    "legacy",
    "legacy.estimator",
  ],
  py_modules=["run_classifier", "extract_features"],
  install_requires=INSTALL_REQUIRES,
  extras_require={
    "test": TEST_REQUIRES + SAVEDMODEL_REQUIRES + ONNX_REQUIRES,
    "savedmodel": SAVEDMODEL_REQUIRES,
    "onnx": ONNX_REQUIRES,
    "tfm": TFM_REQUIRES,
  },
  entry_points={
    "console_scripts": [
      "bert-prepare-data = classifier.data_prep:main",
      "bert-import-hf = export.hf_import:main",
      "bert-import-tf2 = export.tf2_import:main",
      "bert-export-tf2 = export.tf2_export:main",
      "bert-export-hf = export.hf_export:main",
      "bert-export-serving = export.serving_export:main",
      "bert-export-savedmodel = export.savedmodel_export:main",
      "bert-export-onnx = export.onnx_export:main",
      "bert-serving-start = serving.cli:main",
      "bert-serving-terminate = serving.cli:terminate",
      "bert-run-tf1 = legacy.runner:main",
    ]
  },
)
