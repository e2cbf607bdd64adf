"""mmvig.deploy: ONNX export matches PyTorch, writes the SVGA axes as
MatMul and only standard operators; a folded model compiles whole."""

import pytest
import torch

import mmvig
from mmvig.deploy import export_onnx, exportable, onnxruntime_outputs
from mmvig.testing import (TINY, assert_relative, randomise_norms,
                           randomised_classifier, run_tool, tensor_outputs)


@pytest.mark.parametrize('size', [(224, 224), (97, 131)])
def test_onnx_export_matches_pytorch(size, tmp_path):
    pytest.importorskip('onnxruntime')
    model = exportable(randomised_classifier())
    path = str(tmp_path / 'attentionvig_s.onnx')
    assert export_onnx(model, path, size) == ('logits', )
    x = torch.randn(2, 3, *size)
    expected = tensor_outputs(model, x)
    actual = [torch.from_numpy(o) for o in onnxruntime_outputs(path, x)]
    assert_relative(actual, expected, 1e-4)


def _svga_axes(model, size):
    """``(dense, shifts, aggregations)``: how many SVGA axes of ``model`` at
    ``size`` have a stride that divides them (dense attention over residue
    classes), how many shifts the other axes have, and how many
    cross-attention aggregations there are."""
    from mmvig.models.attention_vig import CrossAttentionAggregation
    from mmvig.ops.svga_graph import residue_classes
    dense, shifts, calls, hooks = [0], [0], [0], []

    def hook(module, args, output):
        x, graph = args
        calls[0] += 1
        for length, offsets in zip(x.shape[2:], graph):
            if offsets and residue_classes(length, offsets) > 1:
                dense[0] += 1
            else:
                shifts[0] += len(offsets)

    for m in model.modules():
        if isinstance(m, CrossAttentionAggregation):
            hooks.append(m.register_forward_hook(hook))
    tensor_outputs(model, torch.randn(1, 3, *size))
    for h in hooks:
        h.remove()
    return dense[0], shifts[0], calls[0]


@pytest.mark.parametrize('size', [(224, 224), (97, 131)])
def test_onnx_writes_dense_axes_as_matmul(size, tmp_path):
    """The aggregation exports as MatMul over residue classes wherever the
    stride divides the side: one Exp per such axis and one per shift only
    on the others, plus each aggregation's beta = exp(log_beta) (GELU
    exports as Erf: every Exp is the aggregation's)."""
    onnx = pytest.importorskip('onnx')
    model = exportable(randomised_classifier())
    path = str(tmp_path / 'model.onnx')
    export_onnx(model, path, size)
    ops = [node.op_type for node in onnx.load(path).graph.node]
    dense, shifts, aggregations = _svga_axes(model, size)
    assert dense > 0
    assert ops.count('Exp') == dense + shifts + aggregations
    assert ops.count('MatMul') >= 2 * dense  # scores and weighted sums


def _moves_one_axis(perm) -> bool:
    """Whether a Transpose's ``perm`` moves at most one axis once the input
    axes that stay adjacent and in order are merged."""
    groups = [[perm[0]]]
    for axis in perm[1:]:
        if axis == groups[-1][-1] + 1:
            groups[-1].append(axis)
        else:
            groups.append([axis])
    order = [g[0] for g in groups]
    return any(
        all(a < b for a, b in zip(rest, rest[1:]))
        for rest in (order[:i] + order[i + 1:] for i in range(len(order))))


@pytest.mark.parametrize('size', [(224, 224), (97, 131)])
def test_onnx_transposes_move_one_axis(size, tmp_path):
    """Every Transpose that onnxruntime runs for the exported model (after
    its graph optimisations, which merge consecutive transposes) moves one
    axis: the copies it makes at memory speed. A permutation that moves
    several axes runs element by element, about ten times slower."""
    onnx = pytest.importorskip('onnx')
    ort = pytest.importorskip('onnxruntime')
    assert _moves_one_axis([0, 1, 3, 2, 4]) and \
        not _moves_one_axis([0, 1, 3, 5, 4, 2])
    model = exportable(randomised_classifier())
    path = str(tmp_path / 'model.onnx')
    export_onnx(model, path, size)
    options = ort.SessionOptions()
    options.graph_optimization_level = \
        ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(tmp_path / 'optimized.onnx')
    ort.InferenceSession(path, options, providers=['CPUExecutionProvider'])
    perms = [
        list(node.attribute[0].ints)
        for node in onnx.load(options.optimized_model_filepath).graph.node
        if node.op_type == 'Transpose'
    ]
    assert perms
    assert [p for p in perms if not _moves_one_axis(p)] == []


def test_onnx_export_of_a_dense_backbone(tmp_path):
    pytest.importorskip('onnxruntime')
    model = exportable(randomise_norms(mmvig.AttentionViG(TINY)))
    path = str(tmp_path / 'backbone.onnx')
    names = export_onnx(model, path, (97, 131))
    assert names == ('level0', 'level1', 'level2', 'level3')
    x = torch.randn(1, 3, 97, 131)
    actual = [torch.from_numpy(o) for o in onnxruntime_outputs(path, x)]
    assert [tuple(a.shape[-2:]) for a in actual] == [(25, 33), (13, 17),
                                                     (7, 9), (4, 5)]
    assert_relative(actual, tensor_outputs(model, x), 1e-4)


@pytest.mark.slow
def test_folded_model_compiles_whole(tmp_path):
    """The folded backbone under torch.compile (channels_last), fullgraph:
    the SVGA operator is one node of the graph, no break."""
    model = randomise_norms(mmvig.AttentionViG(TINY))
    model.switch_to_deploy()
    x = torch.randn(2, 3, 97, 131)
    expected = tensor_outputs(model, x)
    compiled = torch.compile(
        model.to(memory_format=torch.channels_last), fullgraph=True)
    with torch.no_grad():
        actual = compiled(x.to(memory_format=torch.channels_last))
    assert_relative(actual, expected, 1e-4)


def test_any_onnx_export_writes_the_standard_operators(tmp_path):
    """A plain ``torch.onnx.export`` of a model as built (``impl='auto'``,
    nothing set by hand, as mmdeploy or a user's script calls it) writes
    the aggregation as standard operators, not mmvig's custom op, and
    onnxruntime computes what PyTorch does."""
    onnx = pytest.importorskip('onnx')
    pytest.importorskip('onnxruntime')
    model = randomise_norms(mmvig.AttentionViG(TINY)).eval()
    assert {m.impl for m in model.modules() if hasattr(m, 'impl')} == {'auto'}
    x = torch.randn(1, 3, 97, 131)
    path = str(tmp_path / 'plain.onnx')
    torch.onnx.export(
        model, (x, ),
        path,
        input_names=['images'],
        opset_version=17,
        dynamo=False)
    domains = {node.domain for node in onnx.load(path).graph.node}
    assert domains <= {'', 'ai.onnx'}, domains
    actual = [torch.from_numpy(o) for o in onnxruntime_outputs(path, x)]
    assert_relative(actual, tensor_outputs(model, x), 1e-4)


def test_import_mmvig_leaves_torch_onnx_alone():
    """The torch 2.13 fixes for mmdeploy live in the deploy tool's process:
    ``import mmvig`` (and mmdeploy's import) change neither
    ``torch.onnx.export`` nor ``symbolic_opset9``."""
    code = ('import torch, mmvig, mmvig.models\n'
            'from torch.onnx import symbolic_opset9\n'
            'export = torch.onnx.export\n'
            'print(hasattr(symbolic_opset9, "_cast_Long"),'
            ' getattr(export, "mmvig_patched", False),'
            ' export.__module__)\n')
    out = run_tool('-c', code).split()
    assert out[:2] == ['False', 'False'] and out[2].startswith('torch.onnx')
