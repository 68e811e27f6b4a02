"""The VQA fusion toolkit: encoders, data, models, training, metrics, benchmarks and inference."""

__version__ = "0.1.0"
