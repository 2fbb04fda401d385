"""The saved-tensor meter and the per-part bytes of a training step, against hand counts."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from tadapt.profiling import count_saved_tensors, measure_training_step
from tadapt.structures import Segments, VideoSample, collate_samples
from tiny_detector import tiny_video_detector

F32 = 4  # bytes


def test_linear_then_relu_saves_the_input_and_the_output() -> None:
    layer = nn.Linear(4, 3)
    x = torch.randn(2, 4)
    with count_saved_tensors(layer.parameters()) as saved:
        torch.relu(layer(x)).sum()
    # addmm keeps its input for the weight's gradient (the weight itself is a parameter),
    # relu keeps its output
    assert saved.bytes == (2 * 4 + 2 * 3) * F32


@pytest.mark.parametrize("reentrant", [None, False, True])
def test_a_checkpointed_block_keeps_only_its_input(reentrant: bool | None) -> None:
    block = nn.Sequential(nn.Linear(64, 64), nn.GELU(), nn.Linear(64, 64))
    x = torch.randn(8, 64, requires_grad=True)
    one = 8 * 64 * F32  # every activation here is (8, 64)
    with count_saved_tensors(block.parameters()) as saved:
        h = block(x) if reentrant is None else checkpoint(block, x, use_reentrant=reentrant)
        torch.relu(h)
    # without checkpointing: x, the first linear's output, GELU's output, relu's output
    assert saved.bytes == (4 if reentrant is None else 2) * one


def test_a_view_saved_twice_counts_once() -> None:
    x = torch.randn(16, requires_grad=True)
    with count_saved_tensors() as saved:
        y = x.exp()  # saves its output
        (y[:8] * y[8:]).sum()  # saves two views of that output
    assert saved.packed == 3
    assert saved.bytes == 16 * F32


class _Toy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.frozen = nn.Linear(8, 8)
        self.frozen.requires_grad_(False)
        self.head = nn.Linear(8, 2)
        self.register_buffer("scale", torch.ones(2))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"final_loss": (self.head(torch.relu(self.frozen(x))) * self.scale).sum()}


def test_a_training_step_by_part() -> None:
    model = _Toy()
    memory = measure_training_step(model, torch.randn(4, 8))
    head = (8 * 2 + 2) * F32
    assert memory.weights == (8 * 8 + 8) * F32 + head + 2 * F32
    assert memory.gradients == head  # only the head trains
    assert memory.optimizer_states == 2 * head
    # relu's output (for relu and the head's weight gradient: one storage); the product with
    # the buffer keeps the buffer (a weight, not counted); the frozen layer keeps nothing
    assert memory.activations == 4 * 8 * F32
    assert memory.total == memory.weights + 3 * head + memory.activations
    assert memory.cuda_peak is None
    assert all(p.grad is None for p in model.parameters())


def test_the_strategies_order_by_saved_activations() -> None:
    """Checkpointing and side networks exist to save activations: the meter sees it."""
    sample = VideoSample(
        "v",
        torch.randn(3, 32, 32, 32),
        torch.ones(32, dtype=torch.bool),
        Segments([[4.0, 14.0]], unit="idx"),
        torch.tensor([1]),
        grid_stride_sec=0.25,
    )
    batch = collate_samples([sample])
    saved = {
        (strategy, ckpt): measure_training_step(
            tiny_video_detector(strategy, checkpointing=ckpt)[0].train(), batch
        ).activations
        for strategy, ckpt in (("tia", False), ("tia", True), ("frozen", False))
    }
    assert saved[("tia", True)] < saved[("tia", False)]
    assert saved[("frozen", False)] < saved[("tia", True)]


def test_a_counted_forward_without_backward_frees_its_graph() -> None:
    """The hooks must not tie saved outputs to their graph (a cycle gc cannot see)."""
    import gc
    import weakref

    layer = nn.Linear(64, 64)
    alive = weakref.ref(layer.weight)
    with count_saved_tensors(layer.parameters()):
        torch.exp(layer(torch.randn(8, 64)))  # exp saves its output; no backward follows
    del layer
    gc.collect()
    assert alive() is None
