from .distill_classifier import (DistillImageClassifier, build_teacher,
                                 load_teacher_checkpoint)
from .narrow_view import NarrowView

__all__ = [
    'DistillImageClassifier', 'NarrowView', 'build_teacher',
    'load_teacher_checkpoint'
]
