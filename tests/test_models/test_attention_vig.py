"""mmvig.models.attention_vig: AttentionViG's shapes, arch table, Grapher,
classic aggregators, frozen stages, norm_eval, checkpointing, autocast,
channels-last and torch.compile."""
import copy

import pytest
import torch
from mmengine.analysis import parameter_count
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from mmvig import AttentionViG
from mmvig.models.attention_vig import (CrossAttentionAggregation,
                                        EdgeConvAggregation, GINAggregation,
                                        Grapher, GraphSAGEAggregation,
                                        MaxRelativeAggregation,
                                        build_aggregator)
from mmvig.models.heads import DistilledClassifierHead
from mmvig.models.pretrained import CheckpointMismatchError
from mmvig.ops.svga_graph import svga_shifts
from mmvig.testing import (TINY, check_frozen, outputs_and_grads,
                           svga_neighbour_lists)


def _classic_direct(name, agg, x, nbrs):
    """Each classic aggregator's message, node by node."""
    c = x.shape[1]
    flat = x[0].reshape(c, -1)
    msgs = []
    for i, js in enumerate(nbrs):
        xi, xj = flat[:, i], flat[:, js]
        if name == 'MaxRelative':
            msgs.append((xj - xi[:, None]).max(1).values)
        elif name == 'GIN':
            msgs.append((1 + agg.eps) * xi + xj.sum(1))
        elif name == 'EdgeConv':
            w = torch.cat([
                agg.self_proj.weight[:, :, 0, 0], agg.edge_proj.weight[:, :, 0,
                                                                       0]
            ], 1)
            pairs = torch.cat([xi[:, None].expand_as(xj), xj - xi[:, None]], 0)
            msgs.append((w @ pairs).max(1).values)
        elif name == 'GraphSAGE':
            h = agg.neighbour_proj(x)[0].reshape(c, -1)
            msgs.append(h[:, js].max(1).values)
    return torch.stack(msgs, 1).reshape(1, c, *x.shape[2:])


@pytest.mark.parametrize('name,cls', [('MaxRelative', MaxRelativeAggregation),
                                      ('EdgeConv', EdgeConvAggregation),
                                      ('GIN', GINAggregation),
                                      ('GraphSAGE', GraphSAGEAggregation)])
def test_classic_aggregators_match_per_node_definition(name, cls):
    torch.manual_seed(0)
    agg = build_aggregator(
        dict(type=name), 6, dict(type='BN'), dict(type='GELU')).eval()
    assert isinstance(agg, cls)
    with torch.no_grad():
        if name == 'GIN':
            agg.eps.fill_(0.3)
        x = torch.randn(1, 6, 5, 7)
        shifts = svga_shifts(5, 7, 2)
        out = agg(x, shifts)
        msg = _classic_direct(name, agg, x, svga_neighbour_lists(5, 7, 2))
        if name == 'EdgeConv':
            expected = agg.act(agg.norm(msg))
        elif name == 'GIN':
            expected = agg.out(msg)
        elif name == 'MaxRelative':
            expected = agg.out(torch.cat([x, msg], 1))
        else:
            expected = agg.out(torch.cat([x, msg], 1))
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)


def test_unknown_aggregator_and_bad_heads_raise():
    with pytest.raises(ValueError, match='Unknown aggregator'):
        build_aggregator(
            dict(type='Transformer'), 8, dict(type='BN'), dict(type='GELU'))
    with pytest.raises(ValueError, match='num_heads'):
        CrossAttentionAggregation(10, num_heads=8)
    with pytest.raises(ValueError, match='normalize'):
        CrossAttentionAggregation(8, normalize='l2')


def test_out_indices_select_and_order_stages():
    model = AttentionViG(TINY, out_indices=(-1, 1)).eval()
    assert model.out_indices == (1, 3) and model.out_channels == [32, 128]
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 96, 96))
    assert [o.shape[1] for o in outs] == [32, 128]
    shallow = AttentionViG(TINY, out_indices=(0, ))
    with torch.no_grad():  # stops after stage 1, so small inputs work
        assert shallow(torch.randn(1, 3, 20, 20))[0].shape == (1, 16, 5, 5)


@pytest.mark.parametrize('arch,expected', [('s', 12.3), ('m', 22.2),
                                           ('b', 32.3)])
def test_classifier_parameter_counts_match_paper(arch, expected):
    backbone = AttentionViG(arch, out_indices=(3, ))
    head = DistilledClassifierHead(backbone.out_channels[-1], 1000)
    total = (parameter_count(backbone)[''] + parameter_count(head)['']) / 1e6
    assert abs(total / expected - 1) <= 0.01, total


def test_arch_table_and_graph_settings():
    model = AttentionViG('s', graph_strides=[8, 4, 2, 1], max_shifts=4)
    graphers = [m for m in model.modules() if type(m).__name__ == 'Grapher']
    assert len(graphers) == 8
    assert [g.graph_stride for g in graphers[::2]] == [8, 4, 2, 1]
    assert all(g.max_shifts == 4 for g in graphers)
    assert graphers[0].shifts(200, 336).num_neighbours == 8


def test_grapher_positional_encoding_layouts():
    """Default: the CPE inside the layer-scaled mixer branch (GreedyViG's
    layout); ``pos_embed_in_branch=False``: on the residual stream."""
    torch.manual_seed(0)
    in_branch = Grapher(
        16, dict(type='CrossAttention'), layer_scale_init_value=0.5).eval()
    on_stream = Grapher(
        16,
        dict(type='CrossAttention'),
        layer_scale_init_value=0.5,
        pos_embed_in_branch=False).eval()
    on_stream.load_state_dict(in_branch.state_dict())
    x = torch.randn(2, 16, 8, 6)
    with torch.no_grad():
        pe = in_branch.pos_embed(x)
        message = in_branch.aggregate.branch(pe, in_branch.shifts(8, 6))
        gamma = in_branch.aggregate.layer_scale.weight
        torch.testing.assert_close(
            in_branch(x), in_branch.ffn(x + gamma * message))
        torch.testing.assert_close(
            on_stream(x), in_branch.ffn(pe + gamma * message))
        assert not torch.allclose(in_branch(x), on_stream(x))
    assert AttentionViG(TINY).stages[0][-1].pos_embed_in_branch


def test_heads_from_count_or_head_dim():

    def heads(**aggregator):
        model = AttentionViG(
            's', aggregator=dict(type='CrossAttention', **aggregator))
        return [
            m.num_heads for m in model.modules()
            if isinstance(m, CrossAttentionAggregation)
        ][::2]

    assert heads() == [8, 8, 8, 8]
    assert heads(num_heads=1) == [1, 1, 1, 1]
    assert heads(head_dim=6) == [8, 16, 32, 64]
    assert heads(head_dim=8) == [6, 12, 24, 48]
    with pytest.raises(ValueError, match='num_heads or head_dim, not both'):
        heads(num_heads=8, head_dim=6)
    with pytest.raises(ValueError, match='head_dim=5 must divide the 48'):
        heads(head_dim=5)


@pytest.mark.parametrize('frozen_stages', [0, 2, 4])
def test_frozen_stages(frozen_stages):
    model = AttentionViG(TINY, frozen_stages=frozen_stages)
    model.train()
    check_frozen(model, [model.stem] + list(model.stages[:frozen_stages]),
                 model.stages[frozen_stages:], frozen_stages == 4)


def test_norm_eval_covers_syncbn_and_keeps_running_stats():
    model = AttentionViG(
        TINY, norm_eval=True, norm_cfg=dict(type='SyncBN', requires_grad=True))
    model.train()
    norms = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    assert norms and all(isinstance(m, nn.SyncBatchNorm) for m in norms)
    assert all(not m.training for m in norms)
    model = AttentionViG(TINY, norm_eval=True).train()
    before = [
        m.running_mean.clone() for m in model.modules()
        if isinstance(m, _BatchNorm)
    ]
    model(torch.randn(2, 3, 96, 96))
    after = [
        m.running_mean for m in model.modules() if isinstance(m, _BatchNorm)
    ]
    assert all(torch.equal(a, b) for a, b in zip(before, after))


def test_log_beta_gets_gradient_and_drop_path_grows():
    model = AttentionViG(TINY, drop_path_rate=0.3, layer_scale_init_value=1.0)
    out = model(torch.randn(2, 3, 96, 96))
    sum(o.square().mean() for o in out).backward()
    betas = [p for n, p in model.named_parameters() if n.endswith('log_beta')]
    assert len(betas) == 4
    assert all(p.grad is not None and p.grad.abs() > 0 for p in betas)
    rates = [
        m.drop_prob for m in model.modules() if type(m).__name__ == 'DropPath'
    ]
    assert rates == sorted(rates) and rates[-1] == pytest.approx(0.3)


@pytest.mark.parametrize('aggregator',
                         ['MaxRelative', 'EdgeConv', 'GIN', 'GraphSAGE'])
def test_backbone_with_classic_aggregators(aggregator):
    model = AttentionViG(TINY, aggregator=dict(type=aggregator))
    out = model(torch.randn(2, 3, 80, 72))
    assert out[-1].shape == (2, 128, 3, 3)


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="Unknown AttentionViG arch 'xl'"):
        AttentionViG('xl')
    with pytest.raises(ValueError, match='custom AttentionViG arch'):
        AttentionViG(dict(widths=[1, 2, 3, 4]))
    with pytest.raises(ValueError, match='Unknown aggregator'):
        AttentionViG(TINY, aggregator=dict(type='MaxPool'))
    with pytest.raises(ValueError, match='out_indices'):
        AttentionViG(TINY, out_indices=(4, ))
    with pytest.raises(ValueError, match='frozen_stages'):
        AttentionViG(TINY, frozen_stages=5)
    with pytest.raises(ValueError, match='one value per stage'):
        AttentionViG(TINY, graph_strides=[2, 2])
    with pytest.raises(ValueError, match='too small.*at least 65 pixels'):
        AttentionViG(TINY)(torch.randn(1, 3, 48, 64))


def test_pretrained_init_with_prefix_and_mismatch(tmp_path):
    source = AttentionViG(TINY)
    for p in source.parameters():
        nn.init.normal_(p)
    ckpt = tmp_path / 'cls.pth'
    torch.save(
        {
            'state_dict': {
                **{
                    f'backbone.{k}': v
                    for k, v in source.state_dict().items()
                }, 'head.fc.weight': torch.zeros(1)
            }
        }, ckpt)
    model = AttentionViG(
        TINY,
        init_cfg=dict(
            type='Pretrained', checkpoint=str(ckpt), prefix='backbone.'))
    model.init_weights()
    for (k, a), b in zip(source.state_dict().items(),
                         model.state_dict().values()):
        assert torch.equal(a, b), k
    wrong = AttentionViG(
        dict(TINY, widths=[16, 32, 64, 256]),
        init_cfg=dict(
            type='Pretrained', checkpoint=str(ckpt), prefix='backbone.'))
    with pytest.raises(CheckpointMismatchError, match='wrong shape'):
        wrong.init_weights()
    bad_prefix = AttentionViG(
        TINY,
        init_cfg=dict(
            type='Pretrained', checkpoint=str(ckpt), prefix='model.'))
    with pytest.raises(CheckpointMismatchError, match='missing keys'):
        bad_prefix.init_weights()


def _assert_all_close(actual, expected, rtol, atol_fraction):
    for a, e in zip(actual, expected):
        torch.testing.assert_close(
            a, e, rtol=rtol, atol=atol_fraction * e.abs().max().item())


@pytest.mark.parametrize('impl', ['auto', 'standard'])
@pytest.mark.parametrize('size', [(96, 80), (104, 120)])
def test_optimised_operator_equals_reference_implementation(impl, size):
    """Whole backbone, outputs and every gradient, in float64 so that the
    comparison sees the mathematics and not float32 summation order (the
    float32 agreement of the operator is tested in test_aggregation). The
    standard path (ONNX exports) runs each Grapher's pointwise projections
    with the rows stored residue-major; 104x120 gives the stage-3 map
    (7x8) a row axis with residue classes and a column axis without."""
    torch.manual_seed(0)
    model = AttentionViG(arch=TINY, layer_scale_init_value=1.0).double()
    reference = copy.deepcopy(model)
    for name, m in ((impl, model), ('reference', reference)):
        for module in m.modules():
            if isinstance(module, CrossAttentionAggregation):
                module.impl = name
    x = torch.randn(2, 3, *size, dtype=torch.float64)
    expected, weights = outputs_and_grads(reference, x)
    actual, _ = outputs_and_grads(model, x, weights)
    _assert_all_close(actual, expected, rtol=1e-5, atol_fraction=1e-5)


def test_channels_last_input_gives_the_same_results():
    """In float64, as above: float32 convolutions sum in another order for
    channels_last (gradients then differ around 1e-3 after BatchNorm)."""
    torch.manual_seed(0)
    model = AttentionViG(arch=TINY, layer_scale_init_value=1.0).double()
    x = torch.randn(2, 3, 96, 80, dtype=torch.float64)
    expected, weights = outputs_and_grads(model, x)
    actual, _ = outputs_and_grads(model,
                                  x.to(memory_format=torch.channels_last),
                                  weights)
    _assert_all_close(actual, expected, rtol=1e-4, atol_fraction=1e-4)


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_autocast_training_step(dtype):
    torch.manual_seed(0)
    model = AttentionViG(arch=TINY, layer_scale_init_value=1.0)
    x = torch.randn(2, 3, 96, 80)
    expected, weights = outputs_and_grads(model, x)
    with torch.autocast('cpu', dtype=dtype):
        actual, _ = outputs_and_grads(model, x, weights)
    # The graph aggregation computes in float32 under autocast (checked
    # against float32 in test_aggregation); the convs run in half precision,
    # so stage outputs agree to a few percent and every gradient is finite.
    assert all(torch.isfinite(t).all() for t in actual)
    for a, e in zip(actual[:4], expected[:4]):
        assert (a - e).norm() <= 0.1 * e.norm()
    assert all(g.abs().sum() > 0 for g in actual[4:])


def test_checkpointing_keeps_results_and_running_stats():
    torch.manual_seed(0)
    model = AttentionViG(arch=TINY, layer_scale_init_value=1.0)
    with_cp = AttentionViG(
        arch=TINY,
        layer_scale_init_value=1.0,
        with_cp=(True, True, False, True))
    with_cp.load_state_dict(model.state_dict())
    x = torch.randn(2, 3, 96, 80)
    expected, weights = outputs_and_grads(model, x)
    actual, _ = outputs_and_grads(with_cp, x, weights)
    _assert_all_close(actual, expected, rtol=1e-5, atol_fraction=1e-5)
    # the recomputation in backward must not update BN running stats again
    for key, value in model.state_dict().items():
        torch.testing.assert_close(with_cp.state_dict()[key], value)
    with pytest.raises(ValueError, match='with_cp needs one value per stage'):
        AttentionViG(arch=TINY, with_cp=(True, False))


@pytest.mark.slow
def test_torch_compile_fullgraph_matches_eager():
    """In float64, as above: inductor sums float32 in another order."""
    torch.manual_seed(0)
    model = AttentionViG(arch=TINY, layer_scale_init_value=1.0).double()
    x = torch.randn(2, 3, 96, 80, dtype=torch.float64)
    expected, weights = outputs_and_grads(model, x)
    compiled = torch.compile(model, fullgraph=True)
    actual, _ = outputs_and_grads(compiled, x, weights)
    _assert_all_close(actual, expected, rtol=1e-4, atol_fraction=1e-4)
