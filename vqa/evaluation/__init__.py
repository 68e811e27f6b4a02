"""Evaluation: official metrics (VQA v2, GQA, CLEVR), answer normalization, results files and baselines."""
