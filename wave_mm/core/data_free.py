"""The data-free rule: a target's scalers from the auxiliary's, no data.

Both stages use it: ``WaveInit`` builds a target's start with it, and
nested-width distillation trains the auxiliary through it (so that the
start is trained, not hoped for).
"""
from typing import Dict, Mapping, Tuple

from torch import Tensor

from wave_mm.kronecker import (DEFAULT_ORDER, DepthRule, KronOrder, WidthRule,
                               grid_shape, resample_scalers, width_scale)
from wave_mm.templates import TemplateSpec
from .weight_types import chunks, input_width

#: The data-free rules' defaults; ``WaveInit`` and everything that builds a
#: target without naming a rule use these.
DEFAULT_WIDTH_RULE: WidthRule = 'scaled'
DEFAULT_DEPTH_RULE: DepthRule = 'first'


def data_free_scalers(source: Mapping[str, Tensor],
                      specs: Mapping[str, TemplateSpec],
                      arch: Mapping[str, object],
                      shapes: Mapping[str, Tuple[int, ...]],
                      depths: Mapping[str, int],
                      width_rule: WidthRule = DEFAULT_WIDTH_RULE,
                      depth_rule: DepthRule = DEFAULT_DEPTH_RULE,
                      order: KronOrder = DEFAULT_ORDER) -> Dict[str, Tensor]:
    """A target's scalers from an auxiliary's, without data.

    Args:
        source: The auxiliary's scalers by weight type (differentiable: the
            result is a function of them).
        specs: Template specs by weight type.
        arch: The auxiliary's arch (:meth:`ViTArch.as_dict`).
        shapes: The target's per-layer weight shape by type.
        depths: The target's layer count by type.
        width_rule: ``'scaled'``, ``'crop'`` or ``'mean'`` on the block
            grid (:func:`wave_mm.kronecker.resample_grid`).
        depth_rule: ``'first'`` (a shallower target takes the first
            layers, a deeper one interpolates) or ``'interp'``.
        order: The templates' Kronecker order; a fused type's parts
            (``qkv``'s q, k and v) are resampled each on its own.
    """
    if depth_rule not in ('first', 'interp'):
        raise ValueError(f"depth rule must be 'first' or 'interp', got "
                         f'{depth_rule!r}')
    values = {}
    for t, shape in shapes.items():
        scalers = source[t]
        if depth_rule == 'first' and depths[t] < scalers.shape[0]:
            scalers = scalers[:depths[t]]
        parts = chunks(t)
        value = resample_scalers(
            scalers, depths[t], grid_shape(shape, specs[t].block, order,
                                           parts), width_rule, order, parts)
        src_in = input_width(t, arch)
        if width_rule == 'scaled' and src_in:
            value = value * width_scale(src_in, shape[1], specs[t].block[1])
        values[t] = value
    return values
