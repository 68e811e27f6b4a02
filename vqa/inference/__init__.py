"""Inference: the `Predictor` behind `vqa.load`, model bundles, export, `vqa ask` and attention maps.

Nothing here imports Lightning or torchmetrics: a bundle is safetensors + JSON."""
