"""On the CPU, `make_cpu_deterministic` makes the kernel that used to drift give the same bits every time."""

from __future__ import annotations

import pytest
import torch

from vqa.training.determinism import make_cpu_deterministic


@pytest.fixture()
def two_threads_then_restored():
    deterministic = torch.utils.deterministic
    before = (
        torch.get_num_threads(),
        torch.are_deterministic_algorithms_enabled(),
        torch.backends.mkldnn.deterministic,
        deterministic.fill_uninitialized_memory,
    )
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before[0])
    torch.use_deterministic_algorithms(before[1])
    torch.backends.mkldnn.deterministic = before[2]
    deterministic.fill_uninitialized_memory = before[3]


def test_image_gather_backward_is_the_same_every_time_on_the_cpu(two_threads_then_restored):
    """Each question gathers its image's tokens (several questions per image); the backward adds their gradients
    into the image's row. With two threads PyTorch's default CPU kernel adds them in the order the threads finish
    (on a 2-core machine: 3 different results in 30 repeats); the deterministic kernel gives one."""
    assert make_cpu_deterministic(torch.device("cpu"))
    generator = torch.Generator().manual_seed(0)
    tokens = torch.randn(16, 100, 128, generator=generator, requires_grad=True)  # (images, Ni, D)
    image_index = torch.randint(0, 16, (128,), generator=generator)  # (B,) about 8 questions per image
    upstream = torch.randn(128, 100, 128, generator=generator)
    results = set()
    for _ in range(20):
        tokens.grad = None
        tokens[image_index].backward(upstream)
        results.add(tokens.grad.numpy().tobytes())
    assert len(results) == 1


def test_other_devices_are_left_as_they_are(two_threads_then_restored):
    torch.use_deterministic_algorithms(False)
    assert not make_cpu_deterministic(torch.device("cuda", 0))
    assert not torch.are_deterministic_algorithms_enabled()
