"""Bit-reproducible runs on the CPU: the same config and seed on the same machine give the same numbers.

Seeding alone is not enough on the CPU. A batch holds each image once and several questions per image, so each
question gathers its image's tokens by index; the backward of that gather adds the questions' gradients into the
image's row (`index_put_` with accumulation), and with more than one thread PyTorch's CPU kernel adds them in
whatever order the threads finish. Two processes with the same seed then differ in the last bits after the
first step, and after a few epochs by whole points of accuracy (the likely cause of the Sort-of-CLEVR suite's
`late` and `late_product`, one model with one seed, scoring 61.5% and 50.5%). `torch.use_deterministic_algorithms(True)` selects the sorted, deterministic kernel
(no measurable cost: 302 vs 317-332 ms per step, mfb on easy-VQA, 2 threads). oneDNN's deterministic mode is
left off: it cost 20-25% per step there (393 ms), a quick-suite `film` cell run with both settings trained
391 s against 45 s before (which setting caused that is not isolated), and the rerun tests pass without it. Everything else is already
fixed by the seed: `seed_everything` seeds the model's initialization and dropout, the batch order comes from the
data module's seeded samplers, and the loaders' generators are seeded, from which PyTorch derives each worker's
torch, `random` and NumPy seeds.

On a GPU this module changes nothing: bit-reproducibility there also needs a cuBLAS workspace setting and gives up
speed, and some kernels have no deterministic version (see docs/significance.md, "What is bit-reproducible").
"""

from __future__ import annotations

import torch


def make_cpu_deterministic(device: torch.device) -> bool:
    """When `device` is the CPU, make every later operation of this process take its deterministic kernel.

    Args:
        device: the device the run trains on (e.g. `trainer.strategy.root_device`).

    Returns:
        Whether the process is now deterministic (False on any other device, which is left as it is).
    """
    if device.type != "cpu":
        return False
    torch.use_deterministic_algorithms(True)
    # Deterministic mode also fills every new uninitialized tensor with NaN, to expose kernels that read memory
    # they never wrote. PyTorch's documentation says a valid program can turn that off and stay deterministic;
    # it costs time on every allocation.
    torch.utils.deterministic.fill_uninitialized_memory = False
    return True
