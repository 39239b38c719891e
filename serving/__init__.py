"""A bert-as-service compatible server for BERT checkpoints on TensorFlow 2.

`bert-serving-start -model_dir DIR` serves a Google-layout BERT checkpoint over
the ZeroMQ protocol of bert-as-service 1.10.0, so the unmodified
`bert-serving-client==1.10.0` (`BertClient`, `ConcurrentBertClient`) works.

Usage (`python -m serving` is the same as `bert-serving-start`):

    bert-serving-start -model_dir uncased_L-12_H-768_A-12 -num_worker 2
    # a run_classifier output_dir, newest model.ckpt-N, no renaming:
    bert-serving-start -model_dir uncased_L-12_H-768_A-12 -tuned_model_dir output
    # the fine-tuned classifier's probabilities; labels from labels.json:
    bert-serving-start -model_dir uncased_L-12_H-768_A-12 -tuned_model_dir output \
        -pooling_strategy CLASSIFICATION
    bert-serving-terminate -port 5555

    from bert_serving.client import BertClient   # pip install bert-serving-client
    bc = BertClient()
    bc.encode(["hello world", "first sentence ||| second sentence"])

The ports bind to 127.0.0.1 unless `-ip` names another address, and only a
loopback peer may send TERMINATION unless -allow_remote_termination. In a
script, start `serving.server.BertServer(args)` under
`if __name__ == "__main__":` (workers are spawned processes).

Modules, one job each:
  args      the `bert-serving-start` / `bert-serving-terminate` flags
  files     which vocab, config, checkpoint and label files a server reads
  features  text -> token ids, input mask and token type ids
  pooling   encoder outputs -> one reply array (the pooling strategies)
  model     the TensorFlow part: load BERT, run it, pool
  onnx_model  the same on ONNX Runtime (-backend onnxruntime, onnxruntime_int8)
  worker    a process that owns one model and encodes batches
  server    the ZeroMQ front end's event loop: sockets, requests, shutdown
  scheduler   the queues of requests waiting for a worker; batches
  supervisor  starts, watches, restarts and gives up workers
  replies   replies held until their client subscribes
  results   a worker's answer per request; reply arrays
  termination  what bert-serving-terminate sends
  stats     the `statistic` block of SHOW_STATUS
  http      the optional HTTP proxy (`-http_port`)
  cli       the console-script entry points
"""

# The protocol version bert-serving-client 1.10.0 checks on connect.
SERVER_VERSION = "1.10.0"
