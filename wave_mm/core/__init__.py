"""The shared core both stages stand on.

Stage 1 (distilling templates into an auxiliary) and stage 2 (initialising
targets from a templates file) import this package and never each other;
the baselines import only this package. It holds the table of weight types,
the layout of a ViT, the template bank, the Kronecker view that runs a ViT
from a bank, the data-free scaler rule, the teacher, the distillation loss,
the initializer base and the mmpretrain compatibility shims. It imports the
maths (:mod:`wave_mm.kronecker`, :mod:`wave_mm.kernels`), the files
(:mod:`wave_mm.templates`, :mod:`wave_mm.fileio`) and OpenMMLab, nothing
else of wave_mm.
"""
from .bank import TemplateBank
from .data_free import (DEFAULT_DEPTH_RULE, DEFAULT_WIDTH_RULE,
                        data_free_scalers)
from .distill_loss import soft_distill_loss
from .initializer import (ViTInitializer, find_vit, load_head,
                          mark_initialised, register_initializer)
from .layout import ViTLayout
from .scalers import LayerScalers
from .teacher import (ancestry_checkpoint, build_teacher,
                      load_teacher_checkpoint, shard_teacher)
from .tleg import TLEG_GROUPS, tleg_scalers
from .view import KroneckerView
from .vit_compat import float_drop_prob
from .weight_types import (ALL_GROUPS, GROUPS, WEIGHT_TYPES, WeightType,
                           default_specs, group_types, input_width,
                           residual_block)

__all__ = [
    'ALL_GROUPS', 'DEFAULT_DEPTH_RULE', 'DEFAULT_WIDTH_RULE', 'GROUPS',
    'KroneckerView', 'LayerScalers', 'TLEG_GROUPS', 'TemplateBank',
    'ViTInitializer', 'ViTLayout', 'WEIGHT_TYPES', 'WeightType',
    'ancestry_checkpoint', 'build_teacher', 'data_free_scalers',
    'default_specs', 'find_vit', 'float_drop_prob', 'group_types',
    'input_width', 'load_head', 'load_teacher_checkpoint', 'mark_initialised',
    'register_initializer', 'residual_block', 'shard_teacher',
    'soft_distill_loss', 'tleg_scalers'
]
