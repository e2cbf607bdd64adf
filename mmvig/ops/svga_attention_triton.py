"""Fused Triton kernels of the SVGA cross-attention (the GPU path).

One program handles a block of nodes of one image and head and walks their
SVGA neighbours (the row offsets, then the column offsets) with every partial
sum in registers, in float32. The backward pass is two kernels that recompute
the weights from ``qn``, ``kn``, ``v`` and ``beta``: one per query node
(``dq`` and the ``beta`` gradient) and one per key node (``dk`` and ``dv``,
gathering from the nodes that have it as a neighbour), so no atomics are
needed and results are deterministic. Tensors are ``(B, h, d, H, W)``
contiguous; :func:`mmvig.ops.svga_attention.svga_cross_attention` selects
these kernels for CUDA tensors. With ``TRITON_INTERPRET=1`` they run on the
CPU, which is how the tests check them on machines without a GPU.
"""
from typing import Optional, Tuple

import torch
import triton
import triton.language as tl
from torch import Tensor

from .svga_graph import SVGAShifts


@triton.jit
def _neighbour(row, col, dr, dc, H, W):
    """Flat index of node ``((row + dr) mod H, (col + dc) mod W)`` for
    ``-H < dr < H`` and ``-W < dc < W``."""
    r = row + dr
    r = tl.where(r >= H, r - H, r)
    r = tl.where(r < 0, r + H, r)
    c = col + dc
    c = tl.where(c >= W, c - W, c)
    c = tl.where(c < 0, c + W, c)
    return r * W + c


@triton.jit
def _node_block(H, W, D, BLOCK_P: tl.constexpr, BLOCK_D: tl.constexpr):
    """This program's nodes: ``(pid, head, nodes, valid, mask, row, col,
    base)``; ``base + nodes[None, :]`` addresses their ``(d, P)`` tile."""
    pid = tl.program_id(0)
    head = tl.program_id(1)
    hw = H * W
    nodes = pid * BLOCK_P + tl.arange(0, BLOCK_P)
    chans = tl.arange(0, BLOCK_D)
    valid = nodes < hw
    mask = (chans[:, None] < D) & valid[None, :]
    base = head * D * hw + chans[:, None] * hw
    return pid, head, nodes, valid, mask, nodes // W, nodes % W, base


@triton.jit
def _forward_kernel(Q, K, V, OUT, LSE, DR, DC, BETA, num_neighbours, H, W,
                    D, SOFTMAX: tl.constexpr, BLOCK_P: tl.constexpr,
                    BLOCK_D: tl.constexpr):
    pid, head, nodes, valid, mask, row, col, base = _node_block(
        H, W, D, BLOCK_P, BLOCK_D)
    q = tl.load(Q + base + nodes[None, :], mask=mask, other=0.)
    beta = tl.load(BETA)
    acc = tl.zeros([BLOCK_D, BLOCK_P], dtype=tl.float32)
    run_max = tl.full([BLOCK_P], float('-inf'), dtype=tl.float32)
    run_sum = tl.zeros([BLOCK_P], dtype=tl.float32)
    for n in range(num_neighbours):
        j = _neighbour(row, col, tl.load(DR + n), tl.load(DC + n), H, W)
        k = tl.load(K + base + j[None, :], mask=mask, other=0.)
        v = tl.load(V + base + j[None, :], mask=mask, other=0.)
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
    if SOFTMAX:
        acc = acc / run_sum[None, :]
        tl.store(LSE + head * H * W + nodes, run_max + tl.log(run_sum),
                 mask=valid)
    tl.store(OUT + base + nodes[None, :], acc, mask=mask)


@triton.jit
def _softmax_stats(LSE, DELTA, offset, valid, SOFTMAX: tl.constexpr):
    """Log-sum-exp and ``delta = g . out`` of the nodes at ``offset``; both 0
    without softmax, where the weight is ``exp(logit)`` and ``dL = w g.v``."""
    lse = tl.where(valid, 0., 0.)
    delta = tl.where(valid, 0., 0.)
    if SOFTMAX:
        lse = tl.load(LSE + offset, mask=valid, other=0.)
        delta = tl.load(DELTA + offset, mask=valid, other=0.)
    return lse, delta


@triton.jit
def _edge(q, k, g, v, beta, lse, delta):
    """``cos - 1``, the weight ``w = exp(beta (cos - 1) - lse)`` and the
    logit gradient ``w (g_i . v_j - delta_i)`` of a block of edges."""
    cos_m1 = tl.sum(q * k, axis=0) - 1.
    weight = tl.exp(beta * cos_m1 - lse)
    return cos_m1, weight, weight * (tl.sum(g * v, axis=0) - delta)


@triton.jit
def _grad_query_kernel(Q, K, V, G, LSE, DELTA, GQ, GBETA, DR, DC, BETA,
                       num_neighbours, H, W, D, SOFTMAX: tl.constexpr,
                       BLOCK_P: tl.constexpr, BLOCK_D: tl.constexpr):
    pid, head, nodes, valid, mask, row, col, base = _node_block(
        H, W, D, BLOCK_P, BLOCK_D)
    hw = H * W
    q = tl.load(Q + base + nodes[None, :], mask=mask, other=0.)
    g = tl.load(G + base + nodes[None, :], mask=mask, other=0.)
    beta = tl.load(BETA)
    lse, delta = _softmax_stats(LSE, DELTA, head * hw + nodes, valid, SOFTMAX)
    grad_q = tl.zeros([BLOCK_D, BLOCK_P], dtype=tl.float32)
    grad_beta = tl.zeros([BLOCK_P], dtype=tl.float32)
    for n in range(num_neighbours):
        j = _neighbour(row, col, tl.load(DR + n), tl.load(DC + n), H, W)
        k = tl.load(K + base + j[None, :], mask=mask, other=0.)
        v = tl.load(V + base + j[None, :], mask=mask, other=0.)
        cos_m1, _, grad_logit = _edge(q, k, g, v, beta, lse, delta)
        grad_logit = tl.where(valid, grad_logit, 0.)
        grad_beta += grad_logit * cos_m1
        grad_q += (beta * grad_logit)[None, :] * k
    tl.store(GQ + base + nodes[None, :], grad_q, mask=mask)
    tl.store(GBETA + head * tl.num_programs(0) + pid, tl.sum(grad_beta, 0))


@triton.jit
def _grad_key_value_kernel(Q, K, V, G, LSE, DELTA, GK, GV, DR, DC, BETA,
                           num_neighbours, H, W, D, SOFTMAX: tl.constexpr,
                           BLOCK_P: tl.constexpr, BLOCK_D: tl.constexpr):
    pid, head, nodes, valid, mask, row, col, base = _node_block(
        H, W, D, BLOCK_P, BLOCK_D)
    hw = H * W
    k = tl.load(K + base + nodes[None, :], mask=mask, other=0.)
    v = tl.load(V + base + nodes[None, :], mask=mask, other=0.)
    beta = tl.load(BETA)
    grad_k = tl.zeros([BLOCK_D, BLOCK_P], dtype=tl.float32)
    grad_v = tl.zeros([BLOCK_D, BLOCK_P], dtype=tl.float32)
    for n in range(num_neighbours):
        # the query node that has this node as its n-th neighbour
        i = _neighbour(row, col, -tl.load(DR + n), -tl.load(DC + n), H, W)
        q = tl.load(Q + base + i[None, :], mask=mask, other=0.)
        g = tl.load(G + base + i[None, :], mask=mask, other=0.)
        lse, delta = _softmax_stats(LSE, DELTA, head * hw + i, valid, SOFTMAX)
        _, weight, grad_logit = _edge(q, k, g, v, beta, lse, delta)
        grad_v += weight[None, :] * g
        grad_k += (beta * grad_logit)[None, :] * q
    tl.store(GK + base + nodes[None, :], grad_k, mask=mask)
    tl.store(GV + base + nodes[None, :], grad_v, mask=mask)


def _launch_args(qn: Tensor, shifts: SVGAShifts):
    """Grid, block sizes and the per-neighbour (row, col) offsets."""
    batch, heads, depth, height, width = qn.shape
    block_d = triton.next_power_of_2(depth)
    block_p = max(16, min(128, 2048 // block_d))
    grid = (triton.cdiv(height * width, block_p), batch * heads)
    offsets = [(o, 0) for o in shifts.rows] + [(0, o) for o in shifts.cols]
    dr, dc = torch.tensor(offsets, dtype=torch.int32,
                          device=qn.device).T.contiguous()
    return grid, block_p, block_d, dr, dc


def _check(*tensors: Tensor) -> Tuple[Tensor, ...]:
    if tensors[0].dtype != torch.float32:
        raise TypeError('the Triton SVGA kernels compute in float32, got '
                        f'{tensors[0].dtype}')
    return tuple(t.contiguous() for t in tensors)


def forward(qn: Tensor, kn: Tensor, v: Tensor, beta: Tensor,
            shifts: SVGAShifts,
            normalize: str) -> Tuple[Tensor, Optional[Tensor]]:
    """Same contract as :func:`mmvig.ops.svga_attention.torch_forward`."""
    qn, kn, v, beta = _check(qn, kn, v, beta)
    batch, heads, depth, height, width = qn.shape
    grid, block_p, block_d, dr, dc = _launch_args(qn, shifts)
    softmax = normalize == 'softmax'
    out = torch.empty_like(v)
    lse = qn.new_empty(batch, heads, 1, height, width) if softmax else out
    _forward_kernel[grid](qn, kn, v, out, lse, dr, dc, beta,
                          shifts.num_neighbours, height, width, depth,
                          SOFTMAX=softmax, BLOCK_P=block_p, BLOCK_D=block_d)
    if normalize == 'mean':
        out /= shifts.num_neighbours
    return out, lse if softmax else None


def backward(qn: Tensor, kn: Tensor, v: Tensor, beta: Tensor,
             out: Optional[Tensor], lse: Optional[Tensor], grad: Tensor,
             shifts: SVGAShifts, normalize: str
             ) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """Same contract as :func:`mmvig.ops.svga_attention.torch_backward`."""
    qn, kn, v, beta, grad = _check(qn, kn, v, beta, grad)
    if normalize == 'mean':
        grad = grad / shifts.num_neighbours
    softmax = normalize == 'softmax'
    delta = (grad * out).sum(2, keepdim=True) if softmax else grad
    lse = lse.contiguous() if softmax else grad
    _, _, depth, height, width = qn.shape
    grid, block_p, block_d, dr, dc = _launch_args(qn, shifts)
    grad_q, grad_k, grad_v = (torch.empty_like(t) for t in (qn, kn, v))
    grad_beta = qn.new_empty(grid[0] * grid[1])
    common = dict(SOFTMAX=softmax, BLOCK_P=block_p, BLOCK_D=block_d)
    _grad_query_kernel[grid](qn, kn, v, grad, lse, delta, grad_q, grad_beta,
                             dr, dc, beta, shifts.num_neighbours, height,
                             width, depth, **common)
    _grad_key_value_kernel[grid](qn, kn, v, grad, lse, delta, grad_k, grad_v,
                                 dr, dc, beta, shifts.num_neighbours, height,
                                 width, depth, **common)
    return grad_q, grad_k, grad_v, grad_beta.sum(dtype=torch.float64)
