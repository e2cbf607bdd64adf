"""AdaptViG's own checks beside ``test_lineage.py`` (where its outputs are
checked against the authors'): the fixtures exercise the gates (seeded
temperatures of either sign spread over four decades, so that some gates
pass, some close and some weigh) and the maps shorter than the local offset
(a 40x24 input), the exponential offsets, a training step and the
per-stage aggregator it is built from."""
import pytest
import torch

from mmvig.errors import InputError
from mmvig.models import AdaptViG, AttentionViG
from mmvig.models.attention_vig import GlobalAttentionAggregation
from mmvig.models.converters import classifier
from mmvig.ops import exponential_offsets
from mmvig.testing import (TINY, lineage_fixture, lineage_input,
                           seeded_state_dict)


def test_the_gates_weigh_and_the_temperature_sign_does_not_matter():
    """The seeded temperatures leave gates strictly between 0 and 1 (the
    fixtures test the gating, not only the scaffold), and ``T`` and ``-T``
    give the same model (the authors' ``|T|``). The fixtures hold a 40x24
    input, whose stage-1 and -2 maps are shorter than ``K`` (8, 4)."""
    fixture = lineage_fixture('adaptvig_s')
    assert '40x24' in fixture['outputs']
    authors = seeded_state_dict(fixture['table'], fixture['seed'])
    model = AdaptViG('s').double().eval()
    model.load_state_dict({
        k[len('backbone.'):]: v
        for k, v in classifier('AdaptViG', authors).items()
        if k.startswith('backbone.')
    })
    weighing = []

    def record(module, args, _):
        x = module.fc1(args[0])
        distance = torch.linalg.vector_norm(x - torch.roll(x, 2, -1), 1, dim=1)
        gate = torch.exp(-distance / module.temperature.abs())
        weighing.append(((gate > 0.01) & (gate < 0.99)).double().mean())

    for module in model.modules():
        if hasattr(module, 'temperature'):
            module.register_forward_hook(record)
    x = lineage_input(224, 224)
    with torch.no_grad():
        before = model(x)
        assert sum(float(w) > 0.5 for w in weighing) >= 3, weighing
        for module in model.modules():
            if hasattr(module, 'temperature'):
                module.temperature.neg_()
        after = model(x)
    for b, a in zip(before, after):
        assert torch.equal(a, b)


def test_exponential_offsets():
    """Powers of two below the axis length: the authors' ``2**i`` for ``i``
    in ``1 .. length.bit_length() - 1`` without the one equal to the length
    (a roll by the whole axis is the node itself)."""
    assert exponential_offsets(56) == (2, 4, 8, 16, 32)
    assert exponential_offsets(64) == (2, 4, 8, 16, 32)
    assert exponential_offsets(65) == (2, 4, 8, 16, 32, 64)
    assert exponential_offsets(2) == ()
    assert exponential_offsets(1) == ()


def test_global_attention_needs_four_channels():
    with pytest.raises(InputError, match='C must be >= 4, got 3'):
        GlobalAttentionAggregation(3)


def test_training_step_reaches_every_parameter():
    """One backward pass of a batch of two: every parameter (temperatures,
    the global attention's projections and norms) gets a finite gradient."""
    torch.manual_seed(0)
    model = AdaptViG('s', with_cp=True).train()
    outs = model(torch.randn(2, 3, 64, 64))
    sum(o.square().mean() for o in outs).backward()
    missing = [
        name for name, p in model.named_parameters()
        if p.grad is None or not torch.isfinite(p.grad).all()
    ]
    assert not missing, missing


def test_attentionvig_takes_one_aggregator_per_stage():
    """AdaptViG's per-stage aggregation is AttentionViG's ``aggregator`` as
    a list of four; another length is refused naming the count."""
    model = AttentionViG(
        TINY,
        aggregator=[dict(type='MaxRelative')] * 3 +
        [dict(type='GlobalAttention')])
    kinds = [
        type(stage[-1].aggregate.branch).__name__ for stage in model.stages
    ]
    assert kinds == ['MaxRelativeAggregation'] * 3 + [
        'GlobalAttentionAggregation'
    ]
    with torch.no_grad():
        assert model(torch.randn(1, 3, 96, 96))[-1].shape == (1, 128, 3, 3)
    with pytest.raises(
            InputError, match=r'aggregator needs one value per '
            r'stage \(4\)'):
        AttentionViG(TINY, aggregator=[dict(type='MaxRelative')] * 3)
