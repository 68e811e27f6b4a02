"""Benchmarks: the accuracy grid (`vqa benchmark`: cells, reports, plots) and the speed benchmarks (`vqa speed`)."""
