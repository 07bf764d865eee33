from .distill_classifier import DistillImageClassifier
from .narrow_view import NarrowView

__all__ = ['DistillImageClassifier', 'NarrowView']
