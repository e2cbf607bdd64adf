"""Triton kernels of the SVGA cross-attention (the GPU path).

Every SVGA neighbour of a node lies on its row or its column, so the
operator is one aggregation per axis, and the two add up (softmax: their
log-sum-exps combine). When the stride ``K`` divides the axis length, a
node's neighbours along the axis are exactly the other members of its residue
class mod ``K``: the axis is dense attention over sequences of length
``L / K`` without their diagonal, ``exp(beta (q.k - 1))`` in place of the
softmax's ``exp(q.k)``. The dense kernels load a block of a sequence's
queries once and walk its keys block by block, with the scores and the
weighted sums as ``tl.dot`` (tensor cores), flash-attention style. Where the
stride does not divide the axis, the shift kernels walk the neighbours one
circular shift at a time.

Precision: every product is three TF32 tensor-core products over a
``big + small`` split of its operands (:func:`_dot`), about float32
accuracy, at two instructions per operand element for the split (Triton's
own ``tf32x3`` spends about four times that on rounding and NaN checks).
Plain TF32 would round the cosines to 10 mantissa bits, and ``exp(beta (s -
1))`` with beta near 30 turns that into weight errors of several per cent.
The interpreter computes ``tl.dot`` in float32 whatever the precision; the
tests emulate the tensor cores' TF32 reads to check the split.

The backward pass recomputes the weights: one kernel per block of queries
(``dq`` and the ``beta`` gradient) and one per block of keys (``dk`` and
``dv``), so no atomics are needed and results are deterministic. The second
axis's kernels add onto the first's outputs. Launch arguments are Python
integers and the tensors' own storage (no per-call host-to-device copies),
so the launches can be captured in a CUDA graph.

Tensors are ``(B, h, d, H, W)`` contiguous float32;
:func:`mmvig.ops.svga_attention.svga_cross_attention` selects these kernels
for CUDA tensors. With ``TRITON_INTERPRET=1`` they run on the CPU, which is
how the tests check their values on machines without a GPU.
"""
import math
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

import torch
import triton
import triton.language as tl
from torch import Tensor

from ...errors import KernelError
from ..svga_graph import SVGAShifts, shift_axes
from .layout import axis_classes

LOG2E = tl.constexpr(1.4426950408889634)
LN2 = tl.constexpr(0.6931471805599453)

# --- shared pieces ---------------------------------------------------------


@triton.jit
def _split_tf32(x):
    """``x = big + small``: ``big`` keeps the 10 mantissa bits a TF32 tensor
    core reads, ``small`` the rest (exactly)."""
    big = (x.to(tl.uint32, bitcast=True) & 0xFFFFE000).to(
        tl.float32, bitcast=True)
    return big, x - big


@triton.jit
def _dot(a, b, acc):
    """``acc + a @ b`` in about float32 accuracy from three TF32 tensor-core
    products (big x big + big x small + small x big; small x small is below
    float32 rounding)."""
    a_big, a_small = _split_tf32(a)
    b_big, b_small = _split_tf32(b)
    acc = tl.dot(a_small, b_big, acc, input_precision='tf32')
    acc = tl.dot(a_big, b_small, acc, input_precision='tf32')
    return tl.dot(a_big, b_big, acc, input_precision='tf32')


@triton.jit
def _tile(X, head_offset, nodes, node_mask, chans, D, HW,
          CHANNELS_FIRST: tl.constexpr):
    """The ``(len(nodes), BLOCK_D)`` tile of ``X`` at flat map positions
    ``nodes`` of one image and head, or its transpose; 0 outside."""
    if CHANNELS_FIRST:
        ptrs = (X + head_offset) + (chans[:, None] * HW + nodes[None, :])
        mask = (chans[:, None] < D) & node_mask[None, :]
    else:
        ptrs = (X + head_offset) + (nodes[:, None] + chans[None, :] * HW)
        mask = node_mask[:, None] & (chans[None, :] < D)
    return tl.load(ptrs, mask=mask, other=0.)


@triton.jit
def _softmax_stats(LSE, DELTA, offsets, valid, SOFTMAX: tl.constexpr):
    """Log-sum-exp and ``delta = g . out`` of the nodes at ``offsets``; both
    0 without softmax, where the weight is ``exp(logit)`` and the logit
    gradient ``w g.v``."""
    lse = tl.where(valid, 0., 0.)
    delta = tl.where(valid, 0., 0.)
    if SOFTMAX:
        lse = tl.load(LSE + offsets, mask=valid, other=0.)
        delta = tl.load(DELTA + offsets, mask=valid, other=0.)
    return lse, delta


@triton.jit
def _store_output(out_ptrs, out_mask, lse_ptrs, node_mask, acc, run_max,
                  run_sum, CHANNEL_AXIS: tl.constexpr, SOFTMAX: tl.constexpr,
                  ACCUMULATE: tl.constexpr):
    """Store one axis's aggregation, adding it to the other axis's.

    ``acc`` is ``sum_j exp(logit_ij - m_i) v_j`` for softmax, with the
    per-node ``run_max = m`` and ``run_sum = sum_j exp(logit_ij - m_i)``;
    ``sum_j exp(logit_ij) v_j`` otherwise. ``CHANNEL_AXIS`` is the axis of
    ``acc`` that holds the channels. With softmax the stored output is
    normalised and ``lse_ptrs`` receive the log-sum-exp over all the axes so
    far.
    """
    if SOFTMAX:
        lse = run_max + tl.log(run_sum)
        if ACCUMULATE:
            prev_lse = tl.load(lse_ptrs, mask=node_mask, other=0.)
            prev = tl.load(out_ptrs, mask=out_mask, other=0.)
            top = tl.maximum(lse, prev_lse)
            lse = top + tl.log(tl.exp(lse - top) + tl.exp(prev_lse - top))
            acc = (
                acc * tl.expand_dims(tl.exp(run_max - lse), CHANNEL_AXIS) +
                prev * tl.expand_dims(tl.exp(prev_lse - lse), CHANNEL_AXIS))
        else:
            acc = acc / tl.expand_dims(run_sum, CHANNEL_AXIS)
        tl.store(lse_ptrs, lse, mask=node_mask)
    elif ACCUMULATE:
        acc += tl.load(out_ptrs, mask=out_mask, other=0.)
    tl.store(out_ptrs, acc, mask=out_mask)


@triton.jit
def _add_store(ptrs, value, mask, ACCUMULATE: tl.constexpr):
    if ACCUMULATE:
        value += tl.load(ptrs, mask=mask, other=0.)
    tl.store(ptrs, value, mask=mask)


# --- dense kernels: one residue class of one axis as a sequence -----------


@triton.jit
def _sequence(SEQ_STRIDE, CLASS_STRIDE, CLASSES: tl.constexpr,
              BLOCK: tl.constexpr):
    """This program's image-head, the map offset of its sequence's first
    node, and the first position of its block of the sequence.

    Grid: (blocks of a sequence, sequences, images x heads). Sequence ``s``
    is residue class ``s % CLASSES`` of line ``s // CLASSES`` (a column for
    the row offsets, a row for the column offsets).
    """
    seq = tl.program_id(1)
    base = (seq // CLASSES) * SEQ_STRIDE + (seq % CLASSES) * CLASS_STRIDE
    return tl.program_id(2).to(tl.int64), base, tl.program_id(0) * BLOCK


@triton.jit
def _block_tiles(A, B, head_offset, base, first, L, POS_STRIDE, HW, D,
                 BLOCK: tl.constexpr, BLOCK_D: tl.constexpr,
                 A_CHANNELS_FIRST: tl.constexpr,
                 B_CHANNELS_FIRST: tl.constexpr):
    """Positions ``first ... first + BLOCK - 1`` of a sequence: the
    positions, their flat map offsets, whether each is in the sequence, and
    the tiles of ``A`` and ``B`` there (:func:`_tile`)."""
    positions = first + tl.arange(0, BLOCK)
    mask = positions < L
    nodes = base + positions * POS_STRIDE
    chans = tl.arange(0, BLOCK_D)
    return (positions, nodes, mask,
            _tile(A, head_offset, nodes, mask, chans, D, HW, A_CHANNELS_FIRST),
            _tile(B, head_offset, nodes, mask, chans, D, HW, B_CHANNELS_FIRST))


@triton.jit
def _dense_forward_kernel(Q, K, V, OUT, LSE, BETA, L, SEQ_STRIDE, CLASS_STRIDE,
                          POS_STRIDE, HW, D, CLASSES: tl.constexpr,
                          SOFTMAX: tl.constexpr, ACCUMULATE: tl.constexpr,
                          BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
                          BLOCK_D: tl.constexpr):
    head, base, first = _sequence(SEQ_STRIDE, CLASS_STRIDE, CLASSES, BLOCK_M)
    head_offset = head * D * HW
    rows = first + tl.arange(0, BLOCK_M)
    row_mask = rows < L
    row_nodes = base + rows * POS_STRIDE
    chans = tl.arange(0, BLOCK_D)
    q = _tile(Q, head_offset, row_nodes, row_mask, chans, D, HW, False)
    scale = tl.load(BETA) * LOG2E
    acc = tl.zeros([BLOCK_M, BLOCK_D], dtype=tl.float32)
    run_max = tl.full([BLOCK_M], -1e30, dtype=tl.float32)
    run_sum = tl.zeros([BLOCK_M], dtype=tl.float32)
    zeros = tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.float32)
    for start in range(0, L, BLOCK_N):
        cols, col_nodes, col_mask, k_t, v = _block_tiles(
            K, V, head_offset, base, start, L, POS_STRIDE, HW, D, BLOCK_N,
            BLOCK_D, True, False)
        # log2 of the weight: beta (cos - 1) log2(e), -inf off the graph
        logit = _dot(q, k_t, zeros) * scale - scale
        edge = col_mask[None, :] & (cols[None, :] != rows[:, None])
        logit = tl.where(edge, logit, float('-inf'))
        if SOFTMAX:
            new_max = tl.maximum(run_max, tl.max(logit, 1))
            weight = tl.exp2(logit - new_max[:, None])
            rescale = tl.exp2(run_max - new_max)
            run_sum = run_sum * rescale + tl.sum(weight, 1)
            acc = _dot(weight, v, acc * rescale[:, None])
            run_max = new_max
        else:
            acc = _dot(tl.exp2(logit), v, acc)
    out_ptrs = (OUT + head_offset) + (row_nodes[:, None] + chans[None, :] * HW)
    out_mask = row_mask[:, None] & (chans[None, :] < D)
    _store_output(out_ptrs, out_mask, LSE + head * HW + row_nodes, row_mask,
                  acc, run_max * LN2, run_sum, 1, SOFTMAX, ACCUMULATE)


@triton.jit
def _dense_grad_query_kernel(Q, K, V, G, LSE, DELTA, GQ, GBETA, BETA, L,
                             SEQ_STRIDE, CLASS_STRIDE, POS_STRIDE, HW, D,
                             CLASSES: tl.constexpr, SOFTMAX: tl.constexpr,
                             ACCUMULATE: tl.constexpr, BLOCK_M: tl.constexpr,
                             BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr):
    head, base, first = _sequence(SEQ_STRIDE, CLASS_STRIDE, CLASSES, BLOCK_M)
    head_offset = head * D * HW
    rows, row_nodes, row_mask, q, g = _block_tiles(Q, G, head_offset, base,
                                                   first, L, POS_STRIDE, HW, D,
                                                   BLOCK_M, BLOCK_D, False,
                                                   False)
    chans = tl.arange(0, BLOCK_D)
    lse, delta = _softmax_stats(LSE, DELTA, head * HW + row_nodes, row_mask,
                                SOFTMAX)
    beta = tl.load(BETA)
    scale = beta * LOG2E
    lse = lse * LOG2E
    grad_q = tl.zeros([BLOCK_M, BLOCK_D], dtype=tl.float32)
    grad_beta = tl.zeros([BLOCK_M], dtype=tl.float32)
    zeros = tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.float32)
    for start in range(0, L, BLOCK_N):
        cols, col_nodes, col_mask, k_t, v_t = _block_tiles(
            K, V, head_offset, base, start, L, POS_STRIDE, HW, D, BLOCK_N,
            BLOCK_D, True, True)
        cos_m1 = _dot(q, k_t, zeros) - 1.
        # rows past the sequence have q = g = 0, so their logit gradient
        # is 0 without a mask; keys past it must be masked
        edge = col_mask[None, :] & (cols[None, :] != rows[:, None])
        weight = tl.where(edge, tl.exp2(scale * cos_m1 - lse[:, None]), 0.)
        grad_logit = weight * (_dot(g, v_t, zeros) - delta[:, None])
        grad_beta += tl.sum(grad_logit * cos_m1, 1)
        grad_q = _dot(grad_logit, tl.trans(k_t), grad_q)
    ptrs = (GQ + head_offset) + (row_nodes[:, None] + chans[None, :] * HW)
    _add_store(ptrs, beta * grad_q, row_mask[:, None] & (chans[None, :] < D),
               ACCUMULATE)
    tl.store(
        GBETA +
        (head * tl.num_programs(1) + tl.program_id(1)) * tl.num_programs(0) +
        tl.program_id(0), tl.sum(grad_beta, 0))


@triton.jit
def _dense_grad_key_value_kernel(Q, K, V, G, LSE, DELTA, GK, GV, BETA, L,
                                 SEQ_STRIDE, CLASS_STRIDE, POS_STRIDE, HW, D,
                                 CLASSES: tl.constexpr, SOFTMAX: tl.constexpr,
                                 ACCUMULATE: tl.constexpr,
                                 BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
                                 BLOCK_D: tl.constexpr):
    head, base, first = _sequence(SEQ_STRIDE, CLASS_STRIDE, CLASSES, BLOCK_N)
    head_offset = head * D * HW
    cols, col_nodes, col_mask, k, v = _block_tiles(K, V, head_offset, base,
                                                   first, L, POS_STRIDE, HW, D,
                                                   BLOCK_N, BLOCK_D, False,
                                                   False)
    chans = tl.arange(0, BLOCK_D)
    beta = tl.load(BETA)
    scale = beta * LOG2E
    grad_k = tl.zeros([BLOCK_N, BLOCK_D], dtype=tl.float32)
    grad_v = tl.zeros([BLOCK_N, BLOCK_D], dtype=tl.float32)
    zeros = tl.zeros([BLOCK_N, BLOCK_M], dtype=tl.float32)
    for start in range(0, L, BLOCK_M):
        rows, row_nodes, row_mask, q_t, g_t = _block_tiles(
            Q, G, head_offset, base, start, L, POS_STRIDE, HW, D, BLOCK_M,
            BLOCK_D, True, True)
        lse, delta = _softmax_stats(LSE, DELTA, head * HW + row_nodes,
                                    row_mask, SOFTMAX)
        # (key j, query i): the transposed scores
        cos_m1 = _dot(k, q_t, zeros) - 1.
        # queries past the sequence have q = g = 0 and add nothing to dk,
        # dv; keys past it are not stored: only the diagonal is masked
        edge = rows[None, :] != cols[:, None]
        weight = tl.where(edge,
                          tl.exp2(scale * cos_m1 - (lse * LOG2E)[None, :]), 0.)
        grad_v = _dot(weight, tl.trans(g_t), grad_v)
        grad_logit = weight * (_dot(v, g_t, zeros) - delta[None, :])
        grad_k = _dot(grad_logit, tl.trans(q_t), grad_k)
    offsets = col_nodes[:, None] + chans[None, :] * HW
    mask = col_mask[:, None] & (chans[None, :] < D)
    _add_store((GK + head_offset) + offsets, beta * grad_k, mask, ACCUMULATE)
    _add_store((GV + head_offset) + offsets, grad_v, mask, ACCUMULATE)


# --- shift kernels: one axis whose stride does not divide it --------------


@triton.jit
def _node_block(H, W, D, BLOCK_P: tl.constexpr, BLOCK_D: tl.constexpr):
    """This program's nodes: ``(head, nodes, valid, mask, row, col,
    offsets)``; ``offsets`` addresses their ``(BLOCK_D, BLOCK_P)`` tile."""
    head = tl.program_id(1).to(tl.int64)
    hw = H * W
    nodes = tl.program_id(0) * BLOCK_P + tl.arange(0, BLOCK_P)
    chans = tl.arange(0, BLOCK_D)
    valid = nodes < hw
    mask = (chans[:, None] < D) & valid[None, :]
    offsets = head * D * hw + chans[:, None] * hw
    return head, nodes, valid, mask, nodes // W, nodes % W, offsets


@triton.jit
def _shifted(row, col, shift, ROW_AXIS: tl.constexpr, H, W):
    """Flat index of the node ``shift`` (``-L < shift < L``) places along the
    axis, circularly."""
    if ROW_AXIS:
        row = row + shift
        row = tl.where(row >= H, row - H, row)
        row = tl.where(row < 0, row + H, row)
    else:
        col = col + shift
        col = tl.where(col >= W, col - W, col)
        col = tl.where(col < 0, col + W, col)
    return row * W + col


@triton.jit
def _shift_forward_kernel(Q, K, V, OUT, LSE, BETA, STRIDE, num_shifts, H, W, D,
                          ROW_AXIS: tl.constexpr, SOFTMAX: tl.constexpr,
                          ACCUMULATE: tl.constexpr, BLOCK_P: tl.constexpr,
                          BLOCK_D: tl.constexpr):
    head, nodes, valid, mask, row, col, offsets = _node_block(
        H, W, D, BLOCK_P, BLOCK_D)
    q = tl.load(Q + offsets + nodes[None, :], mask=mask, other=0.)
    beta = tl.load(BETA)
    acc = tl.zeros([BLOCK_D, BLOCK_P], dtype=tl.float32)
    run_max = tl.full([BLOCK_P], -1e30, dtype=tl.float32)
    run_sum = tl.zeros([BLOCK_P], dtype=tl.float32)
    for n in range(1, num_shifts + 1):
        j = _shifted(row, col, n * STRIDE, ROW_AXIS, H, W)
        k = tl.load(K + offsets + j[None, :], mask=mask, other=0.)
        v = tl.load(V + offsets + j[None, :], mask=mask, other=0.)
        logit = beta * (tl.sum(q * k, axis=0) - 1.)
        if SOFTMAX:
            new_max = tl.maximum(run_max, logit)
            rescale = tl.exp(run_max - new_max)
            weight = tl.exp(logit - new_max)
            run_sum = run_sum * rescale + weight
            acc = acc * rescale[None, :] + weight[None, :] * v
            run_max = new_max
        else:
            acc += tl.exp(logit)[None, :] * v
    _store_output(OUT + offsets + nodes[None, :], mask,
                  LSE + head * H * W + nodes, valid, acc, run_max, run_sum, 0,
                  SOFTMAX, ACCUMULATE)


@triton.jit
def _shift_grad_query_kernel(Q, K, V, G, LSE, DELTA, GQ, GBETA, BETA, STRIDE,
                             num_shifts, H, W, D, ROW_AXIS: tl.constexpr,
                             SOFTMAX: tl.constexpr, ACCUMULATE: tl.constexpr,
                             BLOCK_P: tl.constexpr, BLOCK_D: tl.constexpr):
    head, nodes, valid, mask, row, col, offsets = _node_block(
        H, W, D, BLOCK_P, BLOCK_D)
    q = tl.load(Q + offsets + nodes[None, :], mask=mask, other=0.)
    g = tl.load(G + offsets + nodes[None, :], mask=mask, other=0.)
    beta = tl.load(BETA)
    lse, delta = _softmax_stats(LSE, DELTA, head * H * W + nodes, valid,
                                SOFTMAX)
    grad_q = tl.zeros([BLOCK_D, BLOCK_P], dtype=tl.float32)
    grad_beta = tl.zeros([BLOCK_P], dtype=tl.float32)
    for n in range(1, num_shifts + 1):
        j = _shifted(row, col, n * STRIDE, ROW_AXIS, H, W)
        k = tl.load(K + offsets + j[None, :], mask=mask, other=0.)
        v = tl.load(V + offsets + j[None, :], mask=mask, other=0.)
        cos_m1 = tl.sum(q * k, axis=0) - 1.
        weight = tl.where(valid, tl.exp(beta * cos_m1 - lse), 0.)
        grad_logit = weight * (tl.sum(g * v, axis=0) - delta)
        grad_beta += grad_logit * cos_m1
        grad_q += grad_logit[None, :] * k
    _add_store(GQ + offsets + nodes[None, :], beta * grad_q, mask, ACCUMULATE)
    tl.store(GBETA + head * tl.num_programs(0) + tl.program_id(0),
             tl.sum(grad_beta, 0))


@triton.jit
def _shift_grad_key_value_kernel(Q, K, V, G, LSE, DELTA, GK, GV, BETA, STRIDE,
                                 num_shifts, H, W, D, ROW_AXIS: tl.constexpr,
                                 SOFTMAX: tl.constexpr,
                                 ACCUMULATE: tl.constexpr,
                                 BLOCK_P: tl.constexpr, BLOCK_D: tl.constexpr):
    head, nodes, valid, mask, row, col, offsets = _node_block(
        H, W, D, BLOCK_P, BLOCK_D)
    k = tl.load(K + offsets + nodes[None, :], mask=mask, other=0.)
    v = tl.load(V + offsets + nodes[None, :], mask=mask, other=0.)
    beta = tl.load(BETA)
    grad_k = tl.zeros([BLOCK_D, BLOCK_P], dtype=tl.float32)
    grad_v = tl.zeros([BLOCK_D, BLOCK_P], dtype=tl.float32)
    for n in range(1, num_shifts + 1):
        # the query node that has this node as its n-th neighbour
        i = _shifted(row, col, -n * STRIDE, ROW_AXIS, H, W)
        q = tl.load(Q + offsets + i[None, :], mask=mask, other=0.)
        g = tl.load(G + offsets + i[None, :], mask=mask, other=0.)
        lse, delta = _softmax_stats(LSE, DELTA, head * H * W + i, valid,
                                    SOFTMAX)
        weight = tl.where(valid,
                          tl.exp(beta * (tl.sum(q * k, axis=0) - 1.) - lse),
                          0.)
        grad_v += weight[None, :] * g
        grad_k += (weight * (tl.sum(g * v, axis=0) - delta))[None, :] * q
    _add_store(GK + offsets + nodes[None, :], beta * grad_k, mask, ACCUMULATE)
    _add_store(GV + offsets + nodes[None, :], grad_v, mask, ACCUMULATE)


# --- launches ---------------------------------------------------------------


class Launch(NamedTuple):
    """One kernel launch of the operator.

    Attributes:
        kernel: The Triton kernel.
        grid: Programs along each grid axis (2 or 3).
        scalars: Integer arguments and constexprs by name (``num_warps``
            included); tensors are bound at launch.
        edges: Node-neighbour-head pairs the launch computes (the useful
            work, for instructions-per-edge figures).
        iterations: Inner-loop iterations of one program.
    """
    kernel: Any
    grid: Tuple[int, ...]
    scalars: Dict[str, Any]
    edges: int
    iterations: int


def _blocks(length: int, depth: int, backward: bool) -> Tuple[int, int]:
    """``(own, loop)``: a program's block of a sequence and the block its
    loop walks, powers of two >= 16 (``tl.dot``'s minimum), for a padded
    head width ``depth``. The sizes are those with the fewest inner-loop
    instructions per edge that keep every launch at the AttentionViG-S/B
    shapes free of spills on sm_80 and sm_90 (benchmarks/triton_static.py):
    the backward kernels hold five tiles and two accumulators."""
    fit = max(16, triton.next_power_of_2(length))
    if not backward:
        own, loop = 64, 64 if depth <= 16 else 32
    else:
        own, loop = {16: (64, 32), 32: (64, 16)}.get(depth, (32, 32))
    return min(fit, own), min(fit, loop)


def _axis_launches(shape: torch.Size, dim: int, offsets: Sequence[int],
                   softmax: bool, accumulate: bool,
                   backward: bool) -> List[Launch]:
    batch, heads, depth, height, width = shape
    axis = axis_classes(shape, dim, offsets)
    edges = batch * heads * height * width * len(offsets)
    flags = dict(SOFTMAX=softmax, ACCUMULATE=accumulate, num_warps=4)
    if axis.classes > 1:
        block_d = max(16, triton.next_power_of_2(depth))
        seq_len, groups, lines = axis.seq_len, axis.classes, axis.lines
        # sequence s: residue class s % K of line s // K (:mod:`.layout`)
        line, cls, entry = axis.strides(width, 1)
        seq = dict(SEQ_STRIDE=line, CLASS_STRIDE=cls, POS_STRIDE=entry)
        own, loop = _blocks(seq_len, block_d, backward)
        grid = (triton.cdiv(seq_len, own), groups * lines, batch * heads)
        # num_stages=1: software pipelining of the tile loads costs
        # registers (spills on sm_80) and instructions here, and the
        # programs resident per SM hide the loads' latency
        scalars = dict(
            L=seq_len,
            HW=height * width,
            D=depth,
            CLASSES=groups,
            **seq,
            **flags,
            num_stages=1,
            BLOCK_D=block_d)
        iterations = triton.cdiv(seq_len, loop)
        # BLOCK_M counts queries, BLOCK_N keys: the key-value kernel owns keys
        kernels = ([(_dense_grad_query_kernel, own, loop),
                    (_dense_grad_key_value_kernel, loop,
                     own)] if backward else [(_dense_forward_kernel, own,
                                              loop)])
        return [
            Launch(kernel, grid, dict(scalars, BLOCK_M=m, BLOCK_N=n), edges,
                   iterations) for kernel, m, n in kernels
        ]
    block_d = triton.next_power_of_2(depth)
    block_p = max(16, min(128, 2048 // block_d))
    scalars = dict(
        STRIDE=offsets[0],
        num_shifts=len(offsets),
        H=height,
        W=width,
        D=depth,
        ROW_AXIS=dim == 3,
        **flags,
        BLOCK_P=block_p,
        BLOCK_D=block_d)
    grid = (triton.cdiv(height * width, block_p), batch * heads)
    kernels = ((_shift_grad_query_kernel,
                _shift_grad_key_value_kernel) if backward else
               (_shift_forward_kernel, ))
    return [
        Launch(kernel, grid, scalars, edges, len(offsets))
        for kernel in kernels
    ]


def launches(shape: Sequence[int],
             shifts: SVGAShifts,
             normalize: str,
             backward: bool = False) -> List[Launch]:
    """The kernel launches of the forward (or backward) pass on
    ``(B, h, d, H, W)`` tensors, in order: the row offsets' axis, then the
    column offsets' (each adds onto the one before)."""
    shape = torch.Size(shape)
    return [
        launch for i, (dim, offsets) in enumerate(shift_axes(shifts))
        for launch in _axis_launches(shape, dim, offsets, normalize ==
                                     'softmax', i > 0, backward)
    ]


def _run(launch: Launch, tensors: Dict[str, Tensor]) -> None:
    names = launch.kernel.arg_names
    args = {name: tensors[name] for name in names if name in tensors}
    try:
        launch.kernel[launch.grid](**args, **launch.scalars)
    except Exception as error:  # compile, ptxas, driver or launcher errors
        raise KernelError(f'{launch.kernel.__name__}: {type(error).__name__}: '
                          f'{error}'.strip().splitlines()[0]) from error


def _check(*tensors: Tensor) -> Tuple[Tensor, ...]:
    if tensors[0].dtype != torch.float32:
        raise TypeError('the Triton SVGA kernels compute in float32, got '
                        f'{tensors[0].dtype}')
    return tuple(t.contiguous() for t in tensors)


def forward(qn: Tensor, kn: Tensor, v: Tensor, beta: Tensor,
            shifts: SVGAShifts,
            normalize: str) -> Tuple[Tensor, Optional[Tensor]]:
    """Same contract as
    :func:`mmvig.ops.svga_attention.torch_impl.torch_forward`."""
    qn, kn, v, beta = _check(qn, kn, v, beta)
    batch, heads, _, height, width = qn.shape
    softmax = normalize == 'softmax'
    out = torch.empty_like(v)
    lse = qn.new_empty(batch, heads, 1, height, width) if softmax else out
    tensors = dict(Q=qn, K=kn, V=v, OUT=out, LSE=lse, BETA=beta)
    for launch in launches(qn.shape, shifts, normalize):
        _run(launch, tensors)
    if normalize == 'mean':
        out /= shifts.num_neighbours
    return out, lse if softmax else None


def backward(qn: Tensor, kn: Tensor, v: Tensor, beta: Tensor,
             out: Optional[Tensor], lse: Optional[Tensor], grad: Tensor,
             shifts: SVGAShifts,
             normalize: str) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """Same contract as
    :func:`mmvig.ops.svga_attention.torch_impl.torch_backward`."""
    qn, kn, v, beta, grad = _check(qn, kn, v, beta, grad)
    if normalize == 'mean':
        grad = grad / shifts.num_neighbours
    softmax = normalize == 'softmax'
    delta = (grad * out).sum(2, keepdim=True) if softmax else grad
    lse = lse.contiguous() if softmax else grad
    grad_q, grad_k, grad_v = (torch.empty_like(t) for t in (qn, kn, v))
    tensors = dict(
        Q=qn,
        K=kn,
        V=v,
        G=grad,
        LSE=lse,
        DELTA=delta,
        GQ=grad_q,
        GK=grad_k,
        GV=grad_v,
        BETA=beta)
    grad_beta = []
    for launch in launches(qn.shape, shifts, normalize, backward=True):
        if 'GBETA' in launch.kernel.arg_names:
            tensors['GBETA'] = qn.new_empty(math.prod(launch.grid))
            grad_beta.append(tensors['GBETA'])
        _run(launch, tensors)
    return (grad_q, grad_k, grad_v,
            torch.cat(grad_beta).sum(dtype=torch.float64))
