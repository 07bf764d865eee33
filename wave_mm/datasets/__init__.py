"""Datasets: the Fashion-MNIST quickstart data and synthetic images."""
from .fashion_mnist import prepare_fashion_mnist
from .synthetic import SyntheticImageNet

__all__ = ['SyntheticImageNet', 'prepare_fashion_mnist']
