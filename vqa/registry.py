"""The registries of `vqa`'s parts (encoders, tokenizers, dataset sources) use the one registry mechanism of
`fusion.registry`: `fusion` is the lower, standalone package, so the mechanism lives there and `vqa` imports it."""

from fusion.registry import Registry, UnknownNameError, part_config

__all__ = ["Registry", "UnknownNameError", "part_config"]
