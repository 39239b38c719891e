"""BERT for ONNX Runtime: the graph, running it, and the export of a checkpoint.

`graph` writes BERT (and run_classifier's head) as an ONNX graph from a
checkpoint's weights; `runtime` runs an export folder with ONNX Runtime (and
tells whether it still matches its checkpoint); `build` makes and checks an
export folder. `bert-export-onnx` (export/), `--predict_backend` (classifier/)
and `-backend` (serving/) all use this package; it uses only `bert`. Importing
it imports neither TensorFlow nor onnx.
"""
