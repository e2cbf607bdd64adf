"""Ahead-of-time compilation of Triton kernels for a GPU this machine lacks.

Triton compiles a kernel for a named target (``GPUTarget('cuda', 90, 32)``
is an H100/H200, 80 an A100) without a GPU or a driver: the whole pipeline
down to a cubin, with the ``ptxas`` that ships inside the triton wheel. This
module does that for one launch of a kernel, with the specialisation the
runtime would choose for the same arguments (integers divisible by 16,
aligned pointers), and reads what the hardware will do from the result:
registers, spill stores and loads and the stack frame from ``ptxas -v`` (run
as Triton runs it), shared memory from the kernel's metadata, and the
instructions of the innermost loop from the SASS (``cuobjdump -sass``).

It needs the JIT kernels, so it cannot run under ``TRITON_INTERPRET=1``
(there ``triton.jit`` returns interpreted functions): call it in a process
without that variable.
"""
import os
import re
import subprocess
import tempfile
from typing import Any, Dict, List, NamedTuple, Sequence, Tuple

ARCHS = (80, 90)


class KernelReport(NamedTuple):
    """What one compiled kernel needs from the hardware.

    Attributes:
        name: The kernel's name.
        arch: Compute capability, e.g. 90.
        registers: Registers per thread.
        spills: Bytes of spill stores plus spill loads per thread (ptxas's
            count); 0 for a kernel that keeps everything in registers.
        stack: Bytes of stack frame per thread (ptxas may keep a return
            address there when it outlines a loop's exit).
        shared: Shared memory per block (Triton's, which includes any
            static).
        num_warps: Warps per block.
        loop_instructions: SASS instructions of one iteration of the
            innermost loop, per warp (0 when the kernel has no loop).
        dot_precisions: ``inputPrecision`` of every ``tt.dot`` in the kernel.
    """
    name: str
    arch: int
    registers: int
    spills: int
    stack: int
    shared: int
    num_warps: int
    loop_instructions: int
    dot_precisions: Tuple[str, ...]


def _tool(name: str) -> str:
    import triton
    return os.path.join(
        os.path.dirname(triton.__file__), 'backends', 'nvidia', 'bin', name)


def launch_arguments(launch) -> Dict[str, Any]:
    """Every argument of a kernel launch
    (``svga_attention.triton_kernels.launches``) by name, for compiling it
    ahead of time: small CPU tensors for the pointers (aligned as CUDA's
    allocations are), the launch's scalars."""
    import torch
    pointer = torch.empty(16)
    return {
        **{
            p.name: pointer
            for p in launch.kernel.params if p.name not in launch.scalars
        },
        **launch.scalars
    }


def compile_launch(kernel, args: Dict[str, Any], arch: int):
    """Compile ``kernel`` for ``sm_<arch>`` as a launch with ``args`` (every
    argument by name, tensors for pointers, constexprs and launch options
    such as ``num_warps`` included) would; returns Triton's compiled kernel.
    """
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource, make_backend
    from triton.runtime.jit import JITFunction, create_function_from_signature
    if not isinstance(kernel, JITFunction):
        raise RuntimeError('ahead-of-time compilation needs JIT kernels; '
                           'unset TRITON_INTERPRET for this process')
    target = GPUTarget('cuda', arch, 32)
    backend = make_backend(target)
    binder = create_function_from_signature(kernel.signature, kernel.params,
                                            backend)
    bound, specialization, options = binder(**args)
    options, signature, constexprs, attrs = kernel._pack_args(
        backend, args, bound, specialization, options)
    source = ASTSource(
        fn=kernel, signature=signature, constexprs=constexprs, attrs=attrs)
    return triton.compile(source, target=target, options=options.__dict__)


def innermost_loop(sass: str) -> List[str]:
    """The instructions of the longest innermost loop of a SASS listing.

    A loop is a backward branch ``BRA target`` at a higher address than its
    target; an innermost loop contains no other. A kernel's inner loop is the
    longest of those (prologue and epilogue copies of a pipelined loop are
    straight-line code).
    """
    code = {}
    for match in re.finditer(r'/\*([0-9a-f]{4,})\*/\s+([^;]*);', sass):
        code[int(match.group(1), 16)] = match.group(2).strip()
    loops = []
    for address, text in code.items():
        branch = re.search(r'\bBRA\b.*?0x([0-9a-f]+)', text)
        if branch and not text.startswith('@!PT'):
            start = int(branch.group(1), 16)
            if start < address:
                loops.append((start, address))
    inner = [(s, e) for s, e in loops if not any(
        (s, e) != (s2, e2) and s <= s2 and e2 <= e for s2, e2 in loops)]
    if not inner:
        return []
    start, end = max(inner, key=lambda loop: loop[1] - loop[0])
    return [code[a] for a in sorted(code) if start <= a <= end]


def _ptxas_info(ptx: str, arch: int) -> Dict[str, int]:
    """``ptxas -v``'s figures for ``ptx``, with the options Triton uses."""
    from triton.backends.nvidia.compiler import sm_arch_from_capability
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, 'kernel.ptx')
        with open(src, 'w') as f:
            f.write(ptx)
        log = subprocess.run([
            _tool('ptxas'), '-lineinfo', '-v', '--regAllocOptLevel=2',
            f'--gpu-name={sm_arch_from_capability(arch)}', src, '-o',
            os.path.join(tmp, 'kernel.o')
        ],
                             capture_output=True,
                             text=True,
                             check=True).stderr
    numbers = dict(
        stack=r'(\d+) bytes stack frame',
        stores=r'(\d+) bytes spill stores',
        loads=r'(\d+) bytes spill loads',
        registers=r'Used (\d+) registers')
    return {
        k: int(re.search(pattern, log).group(1))
        for k, pattern in numbers.items()
    }


def report(compiled, arch: int) -> KernelReport:
    """Registers, spills, shared memory and the inner loop of ``compiled``."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, 'kernel.cubin')
        with open(path, 'wb') as f:
            f.write(compiled.asm['cubin'])
        sass = subprocess.run([_tool('cuobjdump'), '-sass', path],
                              capture_output=True,
                              text=True,
                              check=True).stdout
    info = _ptxas_info(compiled.asm['ptx'], arch)
    meta = compiled.metadata
    precisions = tuple(
        re.findall(r'inputPrecision = (\w+)', compiled.asm['ttir']))
    return KernelReport(
        name=meta.name,
        arch=arch,
        registers=info['registers'],
        spills=info['stores'] + info['loads'],
        stack=info['stack'],
        shared=int(meta.shared),
        num_warps=int(meta.num_warps),
        loop_instructions=len(innermost_loop(sass)),
        dot_precisions=precisions)


def compile_and_report(kernel,
                       args: Dict[str, Any],
                       archs: Sequence[int] = ARCHS) -> List[KernelReport]:
    """:func:`report` of ``kernel`` compiled for each of ``archs``."""
    return [report(compile_launch(kernel, args, arch), arch) for arch in archs]
