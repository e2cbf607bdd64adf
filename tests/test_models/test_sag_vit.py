"""mmvig.models.sag_vit: SAG-ViT's levels, node grid, graph attention,
frozen stages, norm_eval, drop path, checkpointing and pretrained init."""
import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

import mmvig  # noqa: F401
from mmvig import AttentionViG, SAGViT
from mmvig.models.pretrained import CheckpointMismatchError
from mmvig.models.sag_vit import GraphAttention
from mmvig.ops.grid_graph import k_connectivity_graph, similarity_edge_weights
from mmvig.testing import (SAG_TINY, TINY, check_frozen, level_shapes,
                           outputs_and_grads)


@pytest.mark.parametrize('patch_size,k', [(1, 1), (3, 2)])
def test_patch_size_and_k_set_the_node_grid(patch_size, k):
    model = SAGViT(SAG_TINY, patch_size=patch_size, k=k).eval()
    height, width = 200, 300  # stride-16 map 13x19
    rows, cols = model.node_grid(height, width)
    assert (rows, cols) == (math.ceil(13 / patch_size),
                            math.ceil(19 / patch_size))
    seen = {}
    model.gat_blocks[0].register_forward_hook(
        lambda m, args, out: seen.update(graph=args[1]))
    with torch.no_grad():
        outs = model(torch.randn(1, 3, height, width))
    assert seen['graph'].num_nodes == rows * cols
    assert seen['graph'].index.shape[1] == (2 * k + 1)**2
    assert [tuple(o.shape[-2:]) for o in outs] == level_shapes(height, width)


def test_out_indices_and_cls_token():
    model = SAGViT(SAG_TINY, out_indices=(-1, 1)).eval()
    assert model.out_indices == (1, 3) and model.out_channels == [48, 32]
    cls = SAGViT(SAG_TINY, out_indices=(3, ), out_type='cls_token').eval()
    cls.load_state_dict(model.state_dict())
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        assert cls(x)[0].shape == (2, 32)
        fine = SAGViT(SAG_TINY, out_indices=(0, 1)).eval()
        fine.load_state_dict(model.state_dict())
        # Fine levels need only the trunk: the same maps as the full model.
        torch.testing.assert_close(fine(x)[1], model(x)[0])


def test_graph_attention_matches_per_node_equations():
    torch.manual_seed(0)
    heads, dims, height, width = 2, 8, 3, 4
    layer = GraphAttention(dims, heads).double()
    nn.init.normal_(layer.att_edge)
    nn.init.normal_(layer.bias)
    x = torch.randn(2, height * width, dims, dtype=torch.float64)
    graph = k_connectivity_graph(height, width, 1)
    out = layer(x, graph, similarity_edge_weights(x, graph))

    h = layer.fc(x)
    c = dims // heads
    for b in range(2):
        for i in range(height * width):
            r, col = divmod(i, width)
            neighbours = [
                j for j in range(height * width)
                if max(abs(j // width - r), abs(j % width - col)) <= 1
            ]
            per_head = []
            for head in range(heads):
                part = slice(head * c, (head + 1) * c)
                logits = torch.stack([
                    F.leaky_relu(
                        layer.att_dst[head] @ h[b, i, part] +
                        layer.att_src[head] @ h[b, j, part] +
                        layer.att_edge[head] *
                        F.cosine_similarity(x[b, i], x[b, j], dim=0), 0.2)
                    for j in neighbours
                ])
                alpha = logits.softmax(0)
                per_head.append(
                    sum(a * h[b, j, part] for a, j in zip(alpha, neighbours)))
            expected = layer.proj(F.gelu(torch.cat(per_head) + layer.bias))
            torch.testing.assert_close(out[b, i], expected)


def test_edge_weights_steer_attention():
    """With the edge term, a similar neighbour gets more weight than an
    equally scored dissimilar one."""
    layer = GraphAttention(4, 1)
    nn.init.zeros_(layer.att_dst)
    nn.init.zeros_(layer.att_src)
    graph = k_connectivity_graph(1, 3, 1)
    weights = torch.tensor([[[0., 0., 0., 0., 1., 1., 0., 0., 0.],
                             [0., 0., 0., 1., 1., -1., 0., 0., 0.],
                             [0., 0., 0., 1., 1., 0., 0., 0., 0.]]])
    h = layer.fc(torch.randn(1, 3, 4)).view(1, 3, 1, 4)
    alpha = layer.attention(h, graph, weights)[0, 1, :, 0]  # middle node
    assert alpha[3] > alpha[5] and alpha[4] > alpha[5]
    assert float(alpha.sum()) == pytest.approx(1.0)


@pytest.mark.parametrize('frozen_stages', [0, 2, 4])
def test_frozen_stages(frozen_stages):
    model = SAGViT(SAG_TINY, frozen_stages=frozen_stages)
    model.train()
    stages = model._stages()
    assert model.cls_token.requires_grad == (frozen_stages < 4)
    check_frozen(model, [m for s in stages[:frozen_stages + 1] for m in s],
                 [m for s in stages[frozen_stages + 1:] for m in s],
                 frozen_stages == 4)


def test_norm_eval_keeps_trunk_statistics():
    model = SAGViT(SAG_TINY, norm_eval=True).train()
    norms = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    assert norms and all(not m.training for m in norms)
    before = [m.running_mean.clone() for m in norms]
    model(torch.randn(2, 3, 64, 64))
    assert all(torch.equal(a, m.running_mean) for a, m in zip(before, norms))


def test_drop_path_grows_over_graph_and_transformer_layers():
    model = SAGViT(dict(SAG_TINY, gat_layers=2, depth=3), drop_path_rate=0.3)
    rates = [
        m.drop_prob for blocks in (model.gat_blocks, model.layers)
        for m in blocks.modules() if type(m).__name__ == 'DropPath'
    ]
    # The first GAT block has rate 0 (no DropPath); each Transformer layer
    # has one before its attention and one before its FFN residual.
    assert len(rates) == 1 + 2 * 3
    assert rates == sorted(rates) and rates[-1] == pytest.approx(0.3)


def test_checkpointing_keeps_results_and_running_stats():
    torch.manual_seed(0)
    model = SAGViT(SAG_TINY).train()
    with_cp = copy.deepcopy(model)
    with_cp.with_cp = True
    x = torch.randn(2, 3, 80, 96)
    expected, weights = outputs_and_grads(model, x)
    actual, _ = outputs_and_grads(with_cp, x, weights)
    for a, e in zip(actual, expected):
        torch.testing.assert_close(a, e, rtol=1e-4, atol=1e-4 * e.abs().max())
    for a, b in zip(model.modules(), with_cp.modules()):
        if isinstance(a, _BatchNorm):
            torch.testing.assert_close(a.running_var, b.running_var)
            assert a.num_batches_tracked == b.num_batches_tracked == 1


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="Unknown SAG-ViT arch 'huge'"):
        SAGViT('huge')
    with pytest.raises(ValueError, match='custom SAG-ViT arch'):
        SAGViT(dict(trunk='b0', embed_dims=32))
    with pytest.raises(ValueError, match="EfficientNetV2 trunk 'b9'"):
        SAGViT(dict(SAG_TINY, trunk='b9'))
    with pytest.raises(ValueError, match='num_heads .3. must divide'):
        SAGViT(dict(SAG_TINY, num_heads=3))
    with pytest.raises(
            ValueError, match=r'patch_size must be a positive integer, got 0'):
        SAGViT(SAG_TINY, patch_size=0)
    with pytest.raises(ValueError, match='k .graph connectivity. must be'):
        SAGViT(SAG_TINY, k=0)
    with pytest.raises(ValueError, match='out_type'):
        SAGViT(SAG_TINY, out_type='tokens')
    with pytest.raises(ValueError, match='out_indices'):
        SAGViT(SAG_TINY, out_indices=(4, ))
    with pytest.raises(ValueError, match='frozen_stages'):
        SAGViT(SAG_TINY, frozen_stages=5)
    with pytest.raises(
            ValueError, match='cannot hold one 4x4 patch.*at '
            'least 64 pixels'):
        SAGViT(SAG_TINY, patch_size=4)(torch.randn(1, 3, 48, 100))
    with pytest.raises(
            ValueError,
            match='patch grid is 3x3.*cannot hold '
            '3-step.*at least 97 pixels'):
        SAGViT(SAG_TINY, k=3)(torch.randn(1, 3, 96, 96))
    # The fine levels need no patch grid.
    SAGViT(SAG_TINY, k=3, out_indices=(0, 1))(torch.randn(1, 3, 32, 32))


def _save_classifier(model, path, extra=None):
    torch.save(
        {
            'state_dict': {
                **{
                    f'backbone.{k}': v
                    for k, v in model.state_dict().items()
                },
                **(extra or {})
            }
        }, path)


def test_pretrained_init_loads_classifier_and_trunk(tmp_path):
    from mmpretrain.models import EfficientNetV2
    source = SAGViT(SAG_TINY)
    for p in source.parameters():
        nn.init.normal_(p)
    ckpt = tmp_path / 'sagvit.pth'
    _save_classifier(source, ckpt, {'head.layers.0.fc.weight': torch.zeros(1)})
    model = SAGViT(
        SAG_TINY, init_cfg=dict(type='Pretrained', checkpoint=str(ckpt)))
    model.init_weights()
    for (k, a), b in zip(source.state_dict().items(),
                         model.state_dict().values()):
        assert torch.equal(a, b), k

    effnet = EfficientNetV2('b0')
    for p in effnet.parameters():
        nn.init.normal_(p)
    trunk_ckpt = tmp_path / 'effnet.pth'
    _save_classifier(effnet, trunk_ckpt)
    model = SAGViT(
        SAG_TINY,
        trunk_init_cfg=dict(
            type='Pretrained', checkpoint=str(trunk_ckpt), prefix='backbone.'))
    model.init_weights()
    for k, v in model.trunk.state_dict().items():
        assert torch.equal(v, effnet.state_dict()[k]), k

    wrong = SAGViT(
        SAG_TINY,
        trunk_init_cfg=dict(
            type='Pretrained', checkpoint=str(ckpt), prefix='backbone.'))
    with pytest.raises(CheckpointMismatchError, match='missing keys'):
        wrong.init_weights()  # a SAG-ViT checkpoint is no trunk checkpoint
    attention_vig = tmp_path / 'attentionvig.pth'
    _save_classifier(AttentionViG(TINY), attention_vig)
    model = SAGViT(
        SAG_TINY,
        init_cfg=dict(type='Pretrained', checkpoint=str(attention_vig)))
    with pytest.raises(CheckpointMismatchError, match='does not match SAGViT'):
        model.init_weights()
