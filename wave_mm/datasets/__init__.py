"""Datasets: the Fashion-MNIST quickstart data and synthetic images."""
from .synthetic import SyntheticImageNet

__all__ = ['SyntheticImageNet']
