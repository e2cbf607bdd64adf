"""mmvig.ops.svga_attention.layout: the residue-class layout, one definition
that the PyTorch, export and Triton paths all follow (node ids pushed
through each), and the circular shifts every shift loop goes through."""
import pytest
import torch

from mmvig.ops.svga_attention import export
from mmvig.ops.svga_attention.layout import (axis_classes, from_sequences,
                                             to_sequences)
from mmvig.ops.svga_graph import (CircularAxis, axis_shifted_views, shift_axes,
                                  svga_shifts)

SHAPES = [((2, 3, 4, 12, 8), 2), ((1, 2, 3, 9, 12), 3), ((1, 1, 2, 7, 10), 2)]


def _expected(shape, axis):
    """Sequence ``l * K + r``: node ``t * K + r`` of line ``l``, as flat
    ``row * W + col`` ids."""
    width = shape[4]
    seqs = []
    for line in range(axis.lines):
        for cls in range(axis.classes):
            nodes = [t * axis.classes + cls for t in range(axis.seq_len)]
            seqs.append([
                node * width + line if axis.dim == 3 else line * width + node
                for node in nodes
            ])
    return seqs


def _ids(shape):
    height, width = shape[3:]
    ids = torch.arange(height * width, dtype=torch.float64)
    return ids.view(1, 1, 1, height, width).expand(shape).contiguous()


@pytest.mark.parametrize('shape, stride', SHAPES)
def test_pytorch_sequences_follow_the_layout(shape, stride):
    x = _ids(shape)
    for dim, offsets in shift_axes(svga_shifts(*shape[3:], stride)):
        axis = axis_classes(shape, dim, offsets)
        seqs = to_sequences(x, axis)
        per_head = axis.lines * axis.classes
        assert seqs.shape == (shape[0] * shape[1] * per_head, axis.seq_len,
                              shape[2])
        assert seqs[:per_head, :, 0].long().tolist() == _expected(shape, axis)
        assert torch.equal(from_sequences(seqs, axis, shape), x)
        # any strides: a channel slice of a larger tensor reads the same
        wide = torch.cat([x, x + 1], 2)[:, :, :shape[2]]
        assert torch.equal(to_sequences(wide, axis), seqs)


@pytest.mark.parametrize('shape, stride', SHAPES)
def test_export_sequences_are_those_of_the_layout(shape, stride):
    """The export's transposes form the same sequences (its own order)."""
    x = _ids(shape)
    for dim, offsets in shift_axes(svga_shifts(*shape[3:], stride)):
        axis = axis_classes(shape, dim, offsets)
        if axis.classes == 1:
            continue  # the export shifts copies there, no sequences
        if dim == 4:
            rows = export._residue_major(x.flatten(1, 2),
                                         axis.classes).view_as(x)
            seqs = export._row_classes(rows, axis.classes)
        else:
            seqs = export._column_classes(x, axis.classes)
        got = seqs[:, 0, :].long().tolist()
        assert sorted(got[:axis.lines * axis.classes]) == sorted(
            _expected(shape, axis))


@pytest.mark.parametrize('shape, stride', SHAPES)
def test_triton_launches_address_the_sequences_of_the_layout(shape, stride):
    kernels = pytest.importorskip('mmvig.ops.svga_attention.triton_kernels')
    for dim, offsets in shift_axes(svga_shifts(*shape[3:], stride)):
        axis = axis_classes(shape, dim, offsets)
        if axis.classes == 1:
            continue  # the shift kernels there
        launch = kernels._axis_launches(
            torch.Size(shape), dim, offsets, False, False, False)[0]
        sc = launch.scalars
        assert launch.grid[1] == axis.lines * axis.classes
        # _sequence and _block_tiles: base of sequence s, then t * POS_STRIDE
        got = [[(s // sc['CLASSES']) * sc['SEQ_STRIDE'] +
                (s % sc['CLASSES']) * sc['CLASS_STRIDE'] + t * sc['POS_STRIDE']
                for t in range(sc['L'])] for s in range(launch.grid[1])]
        assert got == _expected(shape, axis)


def test_circular_axis_shifts_and_folds():
    x = torch.arange(10.).view(2, 5)
    axis = CircularAxis(1, 5)
    doubled = axis.doubled(x)
    assert axis.shifted(doubled, 2).tolist() == torch.roll(x, -2, 1).tolist()
    # folded: what was added through the views lands at the source nodes
    grad = torch.zeros_like(doubled)
    axis.shifted(grad, 2).add_(x)
    assert torch.equal(axis.folded(grad), torch.roll(x, 2, 1))
    views = [v for v, in axis_shifted_views((x, ), 0, (1, ))]
    assert torch.equal(views[0], torch.roll(x, -1, 0))
