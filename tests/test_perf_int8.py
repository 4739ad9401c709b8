"""int8 CPU inference on onnxruntime: what is quantised, agreement with fp32, the graph cache, no deprecated API."""

from __future__ import annotations

import os
import warnings

import onnx
import pytest
import torch

from model_helpers import activate_tda, random_video, tiny_model
from peclip import perf
from peclip.adapters import PEClipAdapter


@pytest.fixture(scope="module")
def quantised(tmp_path_factory):
    """One export for the module (it is the slow part): the tiny TDA model for clips of 2 frames."""
    model = tiny_model()
    activate_tda(model)
    cache = tmp_path_factory.mktemp("int8-cache")
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # no deprecated quantisation or export API
        warnings.simplefilter("error", FutureWarning)
        qmodel = perf.quantize_int8(model, cache_dir=cache, prepare_frames=2)
    return model, qmodel, cache


def test_int8_model_agrees_with_fp32_and_reuses_its_cached_graph(quantised):
    model, qmodel, tmp_path = quantised
    clips = random_video(16, 2)
    result = perf.int8_agreement(model, qmodel, clips.split(8))
    # Measured on this model and these clips: top-1 agreement 1.0, max |prob diff| 0.0055.
    assert result.clips == 16
    assert result.top1_agreement >= 0.9
    assert 0 < result.max_prob_diff < 0.05
    same = perf.int8_agreement(model, model, clips[:2])
    assert (same.top1_agreement, same.max_prob_diff) == (1.0, 0.0)
    graphs = list(tmp_path.glob("vision-*-t2.onnx"))  # the TDA model's graph for clips of 2 frames
    assert len(graphs) == 1
    again = perf.quantize_int8(model, cache_dir=tmp_path, prepare_frames=2)  # read from the cache, not exported
    assert list(tmp_path.glob("*.onnx")) == graphs
    assert (again(clips[:2]) - qmodel(clips[:2])).abs().max() == 0


def test_int8_quantises_the_vision_products_with_constant_weights(quantised):
    model, _, tmp_path = quantised
    graph = onnx.load(str(next(tmp_path.glob("*.onnx")))).graph
    ops = [n.op_type for n in graph.node]
    blocks = len(model.clip.visual.transformer.resblocks)
    adapter_linears = sum(isinstance(m, torch.nn.Linear) for a in model.clip.visual.modules()
                          if isinstance(a, PEClipAdapter) for m in a.modules())  # the vision ShA and TDA adapters
    # in_proj (q, k, v), out_proj, fc, proj in every block (the class-token block's q/k/v stay fp32), and
    # every linear layer of the vision adapters
    assert ops.count("MatMulInteger") == 4 * (blocks - 1) + 3 + adapter_linears
    namespaces = [next((p.value for p in n.metadata_props if p.key == "namespace"), "") for n in graph.node
                  if n.op_type in ("MatMul", "Gemm")]
    assert not any(".adapter." in ns for ns in namespaces)  # no adapter product left in fp32
    assert "GRU" in ops  # the TDA's recurrence stays fp32
    assert all(p.requires_grad for p in model.trainable_parameters())  # the original is untouched


def test_the_adapters_can_stay_fp32_and_the_output_projection_always_does(tmp_path):
    from onnx import TensorProto, helper

    from peclip.predict.int8 import _kept_fp32

    def node(name, scope, inputs=("x", "w")):
        n = helper.make_node("MatMul", list(inputs), [f"{name}_out"], name=name)
        n.metadata_props.add(key="namespace", value=scope)
        return n

    nodes = [node("fc", "blocks.0.mlp.c_fc"), node("down", "blocks.0.ls_1.adapter.down_proj"),
             node("proj", "visual", ("x", "model.clip.visual.proj"))]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    graph = helper.make_graph(nodes, "g", [x], [helper.make_tensor_value_info("fc_out", TensorProto.FLOAT, [1])])
    onnx.save(helper.make_model(graph), tmp_path / "g.onnx")
    assert _kept_fp32(tmp_path / "g.onnx") == ["proj"]
    assert _kept_fp32(tmp_path / "g.onnx", int8_adapters=False) == ["down", "proj"]


def test_using_a_cached_graph_expires_stale_ones(quantised):
    model, _, cache = quantised
    stale = cache / "vision-0123456789abcdef-t16.onnx"  # another model's graph, last used in 1970
    stale.write_bytes(b"not a graph")
    os.utime(stale, (0, 0))
    perf.quantize_int8(model, cache_dir=cache, prepare_frames=2)  # a cache hit
    assert not stale.exists()
    assert len(list(cache.glob("vision-*-t2.onnx"))) == 1  # the graph in use stays


def test_int8_model_cannot_be_trained(quantised):
    _, qmodel, _ = quantised
    with pytest.raises(RuntimeError, match="inference only"):
        qmodel.train()
