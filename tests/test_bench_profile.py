"""bench/profile_step.py: the categorizer and the time sums on made-up events, then
one profiled run on a tiny BERT."""

import json

import pytest
from conftest import TINY_CONFIG

from bench import profile_step as ps
from bench import profile_trace
from bench.profile_trace import OpEvent

LOOP = "while/body/_1/"
FORWARD = ("trainer.step_fn", "trainer._training_loss", "modeling._bert_forward")
ENCODER = FORWARD + ("modeling.transformer_model", "modeling._transformer_block")
ORIGINS = {
  "while/MatMul_4": ENCODER + ("modeling.attention_layer",),
  "while/Softmax": ENCODER + ("modeling.attention_layer",),
  "while/mul_3": ENCODER + ("modeling.attention_layer",),
  "while/add_9": ENCODER + ("modeling.attention_layer", "modeling._mask_to_bias"),
  "while/transpose_2": ENCODER + ("modeling.attention_layer", "modeling._split_heads"),
  "while/mul_7": ENCODER + ("modeling._add_and_norm", "modeling.layer_norm"),
  "while/moments_2/mean": ENCODER + ("modeling._add_and_norm", "modeling.layer_norm"),
  "while/moments_2": ENCODER + ("modeling._add_and_norm", "modeling.layer_norm"),
  "while/mul_11": ENCODER + ("modeling.dense_layer", "modeling.gelu"),
  "while/dropout_3/random_uniform/RandomUniform": ENCODER
  + ("modeling.attention_layer", "modeling.dropout"),
  "while/dropout_3/SelectV2": ENCODER + ("modeling.attention_layer", "modeling.dropout"),
  "while/BiasAdd_5": ENCODER
  + ("modeling.attention_layer", "modeling._projection")
  + ("modeling.dense_layer",),
  "while/Gather": FORWARD + ("modeling._embed", "modeling.embedding_lookup"),
  "while/add": FORWARD + ("modeling._embed", "modeling.embedding_postprocessor"),
  "while/Mul_38": (
    "trainer.step_fn",
    "trainer._apply",
    "optimization._adam_weight_decay_assignments",
  ),
  "while/Mul_38/y": (
    "trainer.step_fn",
    "trainer._apply",
    "optimization._adam_weight_decay_assignments",
  ),
  "while/Sqrt_2": (
    "trainer.step_fn",
    "trainer._apply",
    "optimization._adam_weight_decay_assignments",
  ),
  "while/AddN": ("trainer.step_fn",),
}


def category(name, op_type, thread="tf_Compute/1"):
  return ps.categorize(name, op_type, ps.origin_of(name, ORIGINS), thread)


@pytest.mark.parametrize(
  "name, op_type, expected",
  [
    # Matmuls by type, forward and backward, fused or not.
    (LOOP + "while/MatMul_4", "_MklBatchMatMulV2", ps.MATMUL),
    (LOOP + "while/add_9", "_MklFusedBatchMatMulV2", ps.MATMUL),
    (LOOP + "while/BiasAdd_5", "_MklNativeFusedMatMul", ps.MATMUL),
    (LOOP + "gradient_tape/while/MatMul_4/MatMul_1", "_MklBatchMatMulV2", ps.MATMUL),
    (LOOP + "gradient_tape/while/BiasAdd_5/MatMul", "_MklMatMul", ps.MATMUL),
    ("x/einsum/Einsum", "Einsum", ps.MATMUL),
    ("x/MatMul", "_FusedMatMul", ps.MATMUL),
    # Attention: softmax, its gradient, the scale and the mask bias.
    (LOOP + "while/Softmax", "_MklSoftmax", ps.ATTENTION),
    (LOOP + "gradient_tape/while/Softmax/mul", "Mul", ps.ATTENTION),
    (LOOP + "while/mul_3", "Mul", ps.ATTENTION),
    (LOOP + "while/add_9", "AddV2", ps.ATTENTION),
    # LayerNorm, forward, backward and a scope that is not an op.
    (LOOP + "while/mul_7", "Mul", ps.LAYER_NORM),
    (LOOP + "while/moments_2/mean", "Mean", ps.LAYER_NORM),
    (LOOP + "gradient_tape/while/mul_7/Mul", "Mul", ps.LAYER_NORM),
    (LOOP + "gradient_tape/while/moments_2/sub", "Sub", ps.LAYER_NORM),
    (LOOP + "gradient_tape/while/moments_2/GatherV2", "GatherV2", ps.LAYER_NORM),
    (LOOP + "while/Rsqrt_renamed", "Rsqrt", ps.LAYER_NORM),
    # GELU: the innermost function wins over dense_layer around it.
    (LOOP + "while/mul_11", "Mul", ps.GELU),
    (LOOP + "gradient_tape/while/mul_11/Mul_1", "Mul", ps.GELU),
    # Dropout inside attention is dropout; without a graph, by scope.
    (LOOP + "while/dropout_3/random_uniform/RandomUniform", "RandomUniform", ps.DROPOUT),
    (LOOP + "gradient_tape/while/dropout_3/SelectV2", "SelectV2", ps.DROPOUT),
    ("while/dropout_9/GreaterEqual", "GreaterEqual", ps.DROPOUT),
    # Embeddings: gathers, the densified gradient, one-hot, the position add.
    (LOOP + "while/Gather", "ResourceGather", ps.EMBEDDINGS),
    (LOOP + "while/Mul_38/y", "UnsortedSegmentSum", ps.EMBEDDINGS),
    ("while/one_hot", "OneHot", ps.EMBEDDINGS),
    (LOOP + "while/add", "AddV2", ps.EMBEDDINGS),
    # Optimizer: Adam arithmetic, clipping, assigns.
    (LOOP + "while/Mul_38", "Mul", ps.OPTIMIZER),
    (LOOP + "while/Sqrt_2", "Sqrt", ps.OPTIMIZER),
    (LOOP + "while/global_norm/L2Loss", "L2Loss", ps.OPTIMIZER),
    ("while/clip_by_global_norm/mul", "Mul", ps.OPTIMIZER),
    (LOOP + "while/AssignVariableOp_7", "AssignVariableOp", ps.OPTIMIZER),
    # Reshape/transpose by type wherever they are.
    (LOOP + "while/transpose_2", "_MklTranspose", ps.RESHAPE),
    (LOOP + "gradient_tape/while/transpose_2/transpose", "Transpose", ps.RESHAPE),
    ("while/Reshape_3", "Reshape", ps.RESHAPE),
    # Dense layer's own non-matmul ops and unknowns are other.
    (LOOP + "gradient_tape/while/BiasAdd_5/BiasAddGrad", "BiasAddGrad", ps.OTHER),
    (LOOP + "while/AddN", "AddN", ps.OTHER),
    ("while/ArithmeticOptimizer/AddOpsRewrite_add", "AddV2", ps.OTHER),
  ],
)
def test_categorize(name, op_type, expected):
  assert category(name, op_type) == expected


def test_input_pipeline_by_thread_and_type():
  assert category("Cast_4", "Cast", thread="tf_data_private_threadpool/7") == ps.INPUT
  assert category("ParseSingleExample/ParseExample/ParseExampleV2", "ParseExampleV2") == ps.INPUT
  assert category("IteratorGetNext", "IteratorGetNext") == ps.INPUT
  # A matmul in a tf.data map function is input work, not the model's.
  assert category("MatMul", "MatMul", thread="tf_data_iterator_resource/3") == ps.INPUT


def test_origin_of_gradient_uses_forward_op_and_never_the_loop_op():
  origins = {"while": ("trainer.train_loop",), "while/mul_7": ("modeling.layer_norm",)}
  assert ps.origin_of(LOOP + "gradient_tape/while/mul_7/Mul", origins) == ("modeling.layer_norm",)
  assert ps.origin_of(LOOP + "gradient_tape/while/unknown/Mul", origins) == ()
  assert ps.origin_of("while/unknown", origins) == ()
  assert ps.origin_of("while", origins) == ("trainer.train_loop",)


def test_flat_gradient_op_names_no_forward_op():
  # Erf's gradient makes "gradient_tape/while/Square": not the optimizer's "while/Square".
  origins = {"while/Square": ("optimization._adam_weight_decay_assignments",)}
  assert ps.origin_of(LOOP + "gradient_tape/while/Square", origins) == ()
  # With the graph's inputs it finds the GELU op it differentiates, through other gradient ops.
  gelu = ENCODER + ("modeling.dense_layer", "modeling.gelu_exact")
  origins["while/truediv_3"] = gelu
  origins["while/ReadVariableOp_2"] = ("trainer.step_fn",)
  inputs_of = {
    "gradient_tape/while/Exp_1": ["gradient_tape/while/Neg_1"],
    "gradient_tape/while/Neg_1": ["gradient_tape/while/Square_1", "while/ReadVariableOp_2"],
    "gradient_tape/while/Square_1": ["while/truediv_3"],
  }
  found = ps.gradient_origin("gradient_tape/while/Exp_1", inputs_of, origins)
  assert found == gelu
  # Resolved gradient ops then name Grappler's fused rewrite of them.
  origins["gradient_tape/while/Exp_1"] = found
  traced = LOOP + "gradient_tape/while/Exp_1/unary_ops_composition"
  assert category(traced, "_UnaryOpsComposition") == ps.OTHER  # ORIGINS lacks it
  assert ps.categorize(traced, "_UnaryOpsComposition", ps.origin_of(traced, origins)) == ps.GELU
  # Without a categorized input, the nearest input with an origin; else nothing.
  assert ps.gradient_origin(
    "gradient_tape/while/Neg_1", {"gradient_tape/while/Neg_1": ["while/ReadVariableOp_2"]}, origins
  ) == ("trainer.step_fn",)
  assert ps.gradient_origin("gradient_tape/while/x", {}, origins) == ()
  # The forward op named inside a gradient op wins over its inputs.
  assert ps.gradient_origin(
    "gradient_tape/while/Square/Mul",
    {"gradient_tape/while/Square/Mul": ["while/truediv_3"]},
    origins,
  ) == ("optimization._adam_weight_decay_assignments",)


def test_name_scopes():
  assert ps.name_scopes("while/dropout_3/random_uniform/RandomUniform") == [
    "while/dropout_3/random_uniform",
    "while/dropout_3",
  ]
  assert ps.name_scopes("gradient_tape/while/mul_7/Mul") == ["gradient_tape/while/mul_7"]
  assert ps.name_scopes("while/mul_7") == []


def test_split_op_event_and_scope_normalization():
  assert profile_trace.split_op_event("while/body/_1/while/mul_7:Mul", "Mul") == (
    "while/body/_1/while/mul_7",
    "Mul",
  )
  assert profile_trace.split_op_event("Iterator::Root::Prefetch", "Iterator::Prefetch") is None
  assert profile_trace.split_op_event("ExecutorState::Process", "") is None
  assert ps.normalize_scope(LOOP + "gradient_tape/while/MatMul_12/MatMul_1") == (
    "gradient_tape/while/MatMul/MatMul"
  )
  assert ps.is_gradient(LOOP + "gradient_tape/while/mul_7/Mul")
  assert not ps.is_gradient(LOOP + "while/mul_7")


def test_union_length_merges_overlaps_and_clips_to_window():
  intervals = [(0, 10), (5, 15), (20, 30), (30, 31), (40, 40)]
  assert ps.union_length(intervals) == 26
  assert ps.union_length(intervals, window=(8, 25)) == 12
  assert ps.union_length([]) == 0


def test_self_times_subtract_nested_events_on_the_same_thread():
  events = [
    OpEvent("outer", "PartitionedCall", 0.0, 100.0, "a"),
    OpEvent("inner1", "Mul", 10.0, 20.0, "a"),
    OpEvent("inner2", "Mul", 40.0, 30.0, "a"),
    OpEvent("other_thread", "Mul", 10.0, 20.0, "b"),
  ]
  assert ps.self_times(events) == [50.0, 20.0, 30.0, 20.0]


def test_summarize_shares_per_step_and_idle_time():
  events = [
    # Two threads overlap for 10 us; a 10 us gap with no op in the window.
    OpEvent(LOOP + "while/MatMul_4", "_MklBatchMatMulV2", 0.0, 40.0, "tf_Compute/1"),
    OpEvent(LOOP + "while/mul_7", "Mul", 30.0, 20.0, "tf_Compute/2"),
    OpEvent(LOOP + "gradient_tape/while/mul_7/Mul", "Mul", 60.0, 20.0, "tf_Compute/1"),
    OpEvent(LOOP + "while/Mul_38", "Mul", 80.0, 20.0, "tf_Compute/2"),
  ]
  summary = ps.summarize(events, ORIGINS, steps=2, window=(0.0, 100.0))
  categories = summary["categories"]
  assert list(categories) == list(ps.CATEGORIES)
  assert summary["op_us"] == 100.0
  assert categories[ps.MATMUL]["share"] == pytest.approx(40.0)
  assert categories[ps.LAYER_NORM]["share"] == pytest.approx(40.0)
  assert categories[ps.LAYER_NORM]["backward_ms_per_step"] == pytest.approx(0.01)
  assert categories[ps.OPTIMIZER]["ms_per_step"] == pytest.approx(0.01)
  assert sum(row["share"] for row in categories.values()) == pytest.approx(100.0)
  assert summary["union_us"] == 90.0
  assert summary["idle_ms_per_step"] == pytest.approx(0.005)
  assert summary["parallelism"] == pytest.approx(100.0 / 90.0)
  # Without a window: first start to last end.
  assert ps.summarize(events, ORIGINS, steps=1)["window_us"] == 100.0


def test_top_ops_groups_layers_and_formats():
  events = [
    OpEvent(LOOP + "while/mul_7", "Mul", 0.0, 5.0, "t"),
    OpEvent(LOOP + "while/mul_8", "Mul", 5.0, 5.0, "t"),
    OpEvent(LOOP + "while/MatMul_4", "_MklBatchMatMulV2", 10.0, 30.0, "t"),
  ]
  origins = dict(ORIGINS, **{"while/mul_8": ORIGINS["while/mul_7"]})
  rows = ps.top_ops(events, origins, limit=5)
  assert [r["op_type"] for r in rows] == ["_MklBatchMatMulV2", "Mul"]
  assert rows[1]["count"] == 2 and rows[1]["scope"] == "while/mul"
  assert rows[1]["function"] == "modeling.layer_norm"
  assert rows[0]["share"] == pytest.approx(75.0)
  text = ps.format_top_ops(rows, steps=1)
  assert "while/MatMul" in text and "layernorm" in text and "ms/step" in text.splitlines()[0]


def test_section_profile_on_tiny_bert(tmp_path):
  from bench import bench, data, stages
  from bench.report import Results

  config = tmp_path / "bert_config.json"
  config.write_text(json.dumps(TINY_CONFIG))
  args = bench.parse_args(
    [
      "--quick",
      "--only",
      "train",
      "--config",
      str(config),
      "--steps",
      "2",
      "--warmup",
      "1",
      "--train_examples",
      "64",
      "--eval_examples",
      "8",
    ]
  )
  ctx = data.resolve_model(args, str(tmp_path))
  data.prepare_data(args, ctx)
  ctx.fused_kernels = False  # The plain ops, each in its own category.
  runner = stages.build_runner(ctx)
  results = Results()
  ps.section_profile(args, ctx, results, runner, ["fixed"])

  rows = {row["name"]: row for row in results.rows if row["section"] == "profile"}
  assert rows["fixed padding, wall ms/step"]["median"] > 0
  assert 0 < rows["fixed padding, matmul share"]["median"] < 100
  shares = [rows["fixed padding, %s" % c]["median"] for c in ps.CATEGORIES]
  assert sum(shares) == pytest.approx(100.0, abs=0.01)
  for present in (ps.MATMUL, ps.ATTENTION, ps.LAYER_NORM, ps.DROPOUT, ps.OPTIMIZER, ps.RESHAPE):
    assert rows["fixed padding, %s" % present]["median"] > 0, present
  assert rows["fixed padding, per-step overhead"]["median"] >= 0
  assert rows["fixed padding, %s" % ps.FUSED]["median"] == 0
  table = (tmp_path / "profile_fixed_top_ops.txt").read_text()
  assert "top 40 op groups" in table and "modeling.attention_layer" in table

  ctx.fused_kernels = True  # What run_classifier trains with.
  fused = Results()
  ps.section_profile(args, ctx, fused, stages.build_runner(ctx), ["fixed"])
  rows = {row["name"]: row for row in fused.rows if row["section"] == "profile"}
  assert rows["fixed padding, %s" % ps.FUSED]["median"] > 0
  assert rows["fixed padding, %s" % ps.LAYER_NORM]["median"] < 1
