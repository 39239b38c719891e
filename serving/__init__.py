"""A bert-as-service compatible server for BERT checkpoints on TensorFlow 2.

`bert-serving-start -model_dir DIR` serves a Google-layout BERT checkpoint over
the ZeroMQ protocol of bert-as-service 1.10.0, so the unmodified
`bert-serving-client==1.10.0` (`BertClient`, `ConcurrentBertClient`) works.

Modules, one job each:
  args      the `bert-serving-start` / `bert-serving-terminate` flags
  files     which vocab, config, checkpoint and label files a server reads
  features  text -> token ids, input mask and token type ids
  pooling   encoder outputs -> one reply array (the pooling strategies)
  model     the TensorFlow part: load BERT, run it, pool
  worker    a process that owns one model and encodes batches
  server    the ZeroMQ front end: requests, batching, replies
  stats     the `statistic` block of SHOW_STATUS
  http      the optional HTTP proxy (`-http_port`)
  cli       the console-script entry points
"""

# The protocol version bert-serving-client 1.10.0 checks on connect.
SERVER_VERSION = "1.10.0"
