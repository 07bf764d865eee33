from .distill_classifier import (DistillImageClassifier, build_teacher,
                                 load_teacher_checkpoint)

__all__ = [
    'DistillImageClassifier', 'build_teacher', 'load_teacher_checkpoint'
]
