"""The bytes autograd saves for the backward pass, counted exactly, on any device.

Activation memory is what end-to-end adaptation is about (AdaTAD, LoSA, LoFi): the tensors a
forward pass keeps for its backward. :func:`count_saved_tensors` counts them with
``torch.autograd.graph.saved_tensors_hooks``: every tensor autograd packs is attributed to its
storage, and each storage counts once (views and tensors saved by several operations share
one), so the figure is the memory those tensors pin, the same on the CPU and on a GPU for the
same kernels. Storages of the model's parameters are left out (they are held anyway). An
activation-checkpointed block (``torch.utils.checkpoint``, reentrant or not) packs only its
inputs during the forward, and those are counted; what its recomputation saves during the
backward lives one block at a time and is not.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import torch

__all__ = ["SavedTensorCounter", "count_saved_tensors"]


@dataclass
class SavedTensorCounter:
    """What the hooks saw (filled while the context is open).

    Attributes:
        excluded: storage addresses not counted (the parameters').
        storages: bytes per counted storage, by address.
        packed: tensors autograd packed (a storage packed twice counts twice here).
    """

    excluded: frozenset[int]
    storages: dict[int, int] = field(default_factory=dict)
    packed: int = 0

    @property
    def bytes(self) -> int:
        """Bytes of the distinct storages saved for the backward."""
        return sum(self.storages.values())

    def pack(self, tensor: torch.Tensor) -> torch.Tensor:
        """The pack hook: note the tensor's storage, keep its data.

        It keeps a detached view, not the tensor: a saved output holding its own ``grad_fn``
        would make a reference cycle through the graph that Python's collector cannot see,
        so a forward pass that is never backpropagated would keep its graph forever.
        """
        self.packed += 1
        storage = tensor.untyped_storage()
        address = storage.data_ptr()
        if address not in self.excluded:
            self.storages[address] = storage.nbytes()
        return tensor.detach()


@contextlib.contextmanager
def count_saved_tensors(
    parameters: Iterable[torch.Tensor] = (),
) -> Iterator[SavedTensorCounter]:
    """Count what autograd saves inside the block (a forward pass whose backward comes later).

    Args:
        parameters: tensors whose storages are not counted (a model's parameters).

    Yields:
        The counter; ``counter.bytes`` is final once the block has run.
    """
    excluded = frozenset(p.untyped_storage().data_ptr() for p in parameters)
    counter = SavedTensorCounter(excluded)
    with torch.autograd.graph.saved_tensors_hooks(counter.pack, _unpack):
        yield counter


def _unpack(tensor: torch.Tensor) -> torch.Tensor:
    return tensor
