"""Datasets: the Fashion-MNIST quickstart data, offline digit datasets for
transfer runs, and synthetic images."""
from .fashion_mnist import prepare_fashion_mnist
from .small_digits import prepare_mnist_5k, prepare_sklearn_digits
from .synthetic import SyntheticImageNet

__all__ = [
    'SyntheticImageNet', 'prepare_fashion_mnist', 'prepare_mnist_5k',
    'prepare_sklearn_digits'
]
