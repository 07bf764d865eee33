"""Datasets: synthetic images for smoke tests and benchmarks."""
from .synthetic import SyntheticImageNet

__all__ = ['SyntheticImageNet']
