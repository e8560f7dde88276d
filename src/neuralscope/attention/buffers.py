"""Result memory for attention maps: one float32 buffer per call, laid out ``(layers, ...)``
so each layer's softmax writes straight into the result, and a small bounded pool that recycles
the memory of large results the caller has dropped."""
from __future__ import annotations

import math

import numpy as np
import torch


#: from this size on, fresh CPU result memory is allocated by numpy (see :func:`empty_buffer`)
_HUGE_FROM = 32 << 20
#: CPU result buffers from this size on are recycled through :data:`POOL` (smaller ones are
#: recycled by the C allocator, which hands back recently freed, still cached memory: pooling
#: TinyTransformer's 8 MB buffer measured 1.24x the plain forward against 1.18x without)
POOL_FROM = _HUGE_FROM


class _Recycled:
    """The owner of a result buffer's memory, seen by numpy through ``__array_interface__``.

    Every array and tensor made from the buffer keeps this object alive (numpy records it as
    the array's base); when the last of them is gone the memory goes back to :data:`POOL`
    instead of to the operating system.
    """

    def __init__(self, mem: np.ndarray, shape: tuple[int, ...]):
        self.mem = mem
        self.__array_interface__ = {"data": (mem.ctypes.data, False), "shape": tuple(shape),
                                    "typestr": "<f4", "version": 3}

    def __del__(self):
        try:
            POOL.give(self.mem)
        except Exception:  # noqa: BLE001 - interpreter shutdown: nothing to recycle into
            pass


class BufferPool:
    """A few freed result buffers, kept for the next call (thread-safe, bounded).

    Writing a layer's weights into fresh memory costs the operating system's page faults and
    zeroing; on a VM that is most of what materialising the weights costs over a kernel that
    never does (MiniLM, 2 x 512 tokens: about 40 ms of a 190 ms forward). PyTorch's own
    intermediate tensors are recycled by the C allocator; large result buffers are not, so
    results the caller has dropped are recycled here: at most :attr:`blocks` buffers and
    :attr:`max_bytes` in all, each reused only for a request of at least half its size. Every
    element a result shows is written by the call that returns it.
    """

    def __init__(self, blocks: int = 4, max_bytes: int = 512 << 20):
        import threading

        self.blocks, self.max_bytes = blocks, max_bytes
        self.recycle = True  # False: take nothing, keep nothing (benchmarks/attention.py)
        self.free: list[np.ndarray] = []
        self.lock = threading.Lock()

    def take(self, nbytes: int) -> np.ndarray | None:
        if not self.recycle:
            return None
        with self.lock:
            fits = [m for m in self.free if nbytes <= m.nbytes <= 2 * nbytes]
            if not fits:
                return None
            mem = min(fits, key=lambda m: m.nbytes)
            self.free = [m for m in self.free if m is not mem]
            return mem

    def give(self, mem: np.ndarray) -> None:
        if mem.nbytes > self.max_bytes or not self.recycle:
            return
        with self.lock:
            self.free.append(mem)
            while len(self.free) > self.blocks or sum(m.nbytes for m in self.free) > self.max_bytes:
                self.free.pop(0)

    def clear(self) -> None:
        with self.lock:
            self.free = []


POOL = BufferPool()


def empty_buffer(shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
    """An uninitialised float32 tensor for a result buffer.

    On the CPU, buffers of :data:`POOL_FROM` bytes or more reuse the memory of results the
    caller has dropped (:class:`BufferPool`), and fresh ones come from numpy, which asks the
    kernel for transparent huge pages (``madvise``; torch's allocator does not: the first
    write into a fresh 150 MB buffer then costs about 9 ms instead of about 45 ms of 4 KiB
    page faults). Smaller ones come from torch's allocator.
    """
    nbytes = math.prod(shape) * 4
    if torch.device(device).type != "cpu" or nbytes < POOL_FROM:
        return torch.empty(shape, dtype=torch.float32, device=device)
    mem = POOL.take(nbytes)
    if mem is None:
        mem = np.empty(nbytes // 4, dtype=np.float32)
    return torch.from_numpy(np.asarray(_Recycled(mem, shape)))


class LayerBuffer:
    """Room for up to ``capacity`` layers of float32 weights of one shape, laid out
    ``(layers, ...)`` so each layer is one contiguous slot a kernel can write into. When the
    records are its first slots in order, the result is the buffer itself: no copy, and slots
    never used were never touched (no memory behind them).
    """

    def __init__(self, capacity: int | None):
        self.capacity = capacity or 0
        self.buffer: torch.Tensor | None = None
        self.used = 0

    def slot(self, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> torch.Tensor | None:
        """The next layer's slot, or None when this call does not fit the buffer."""
        if not self.capacity or dtype != torch.float32:
            return None
        if self.buffer is None:
            self.buffer = empty_buffer((self.capacity,) + tuple(shape), device)
        if self.used >= self.capacity or self.buffer.shape[1:] != tuple(shape) or self.buffer.device != device:
            return None
        self.used += 1
        return self.buffer[self.used - 1]

    def stacked(self, maps: list[torch.Tensor]) -> np.ndarray | None:
        """``(batch, layers, heads, q, k)`` as a view of the buffer, when ``maps`` are its slots."""
        buf = self.buffer
        if buf is None or self.used == 0 or len(maps) != self.used:
            return None
        if any(w.dim() != 4 or w.data_ptr() != buf[i].data_ptr() for i, w in enumerate(maps)):
            return None
        B, H, L, S = maps[0].shape
        return buf[:self.used].view(self.used, B, H, L, S).cpu().numpy().transpose(1, 0, 2, 3, 4)



def stack_maps(maps: list[torch.Tensor]) -> np.ndarray:
    """One ``(batch, layers, heads, q, k)`` float32 array; smaller maps are zero-padded.

    Empties ``maps`` as it goes, so each layer's tensor is freed once copied and the peak
    memory stays near one copy of the result (it matters for long sequences).
    """
    B = max(m.shape[0] for m in maps)
    H = max(m.shape[1] for m in maps)
    Q = max(m.shape[2] for m in maps)
    K = max(m.shape[3] for m in maps)
    out = np.zeros((B, len(maps), H, Q, K), dtype=np.float32)
    dest = torch.from_numpy(out)  # torch's copy_ converts dtypes and runs on all threads
    for i in range(len(maps)):
        m, maps[i] = maps[i], None
        dest[:, i, :m.shape[1], :m.shape[2], :m.shape[3]].copy_(m.expand(B, -1, -1, -1) if m.shape[0] == 1 else m)
        del m
    return out

