"""``WaveInit``: initialise a stock ViT from a templates file.

Usable wherever mmengine takes an ``init_cfg``, on the backbone or on the
whole ``ImageClassifier``::

    init_cfg=dict(type='WaveInit',
                  templates='work_dirs/x/templates.safetensors')

``WaveInit`` owns the decision "templates file -> target for this model":
the ``ScalerInitHook`` and ``tools/wave_init.py`` ask it
(:meth:`WaveInit.of`, :meth:`WaveInit.target`) instead of reading its config.
"""
import os
from typing import Dict, Optional, Tuple

from torch import nn

from wave_mm.core import (DEFAULT_DEPTH_RULE, DEFAULT_WIDTH_RULE,
                          ViTInitializer, find_vit, load_head,
                          mark_initialised, register_initializer)
from wave_mm.kronecker import DepthRule, WidthRule
from wave_mm.templates import Templates, load_scalers, load_templates
from .wave_target import WaveTarget

# (real path, size, mtime) -> contents: the hook asks for the target of a
# model WaveInit has just initialised; the file is read and hashed once.
_READ: Dict[Tuple[str, int, int], Templates] = {}


def read_templates(path: str) -> Templates:
    """:func:`~wave_mm.templates.load_templates`, once per file version."""
    try:
        stat = os.stat(path)
    except OSError:
        return load_templates(path)  # its error names the file
    key = (os.path.realpath(path), stat.st_size, stat.st_mtime_ns)
    if key not in _READ:
        _READ.clear()
        _READ[key] = load_templates(path)
    return _READ[key]


@register_initializer
class WaveInit(ViTInitializer):
    """Initialise a stock ViT from weight templates (stage 2 of WAVE).

    Every templated tensor of the ViT is composed from the templates and the
    target's scalers; the ViT and all its submodules are then marked
    initialised so no later ``init_weights`` (FFN xavier, ``pos_embed``
    re-draw) overwrites them. A classifier's head is left to its own init
    unless ``head=True``.

    Args:
        templates: Path of a templates file (``*.safetensors``).
        scalers: Path of a scalers file fitted for this arch by the
            ``ScalerInitHook``; ``None`` derives the scalers data-free from
            the auxiliary's (see :class:`WaveTarget`).
        width_rule: Data-free rule on the block grid, ``'scaled'``,
            ``'crop'`` or ``'mean'`` (see :class:`WaveTarget`).
        depth_rule: Data-free rule along depth, ``'first'`` or
            ``'interp'`` (see :class:`WaveTarget`).
        head: Also initialise the classifier's head from the auxiliary's
            (stored in the templates file), resampled to the target's width;
            for targets that predict the auxiliary's classes. Needs WaveInit
            on the whole classifier.
    """

    def __init__(self,
                 templates: str,
                 scalers: Optional[str] = None,
                 width_rule: WidthRule = DEFAULT_WIDTH_RULE,
                 depth_rule: DepthRule = DEFAULT_DEPTH_RULE,
                 head: bool = False,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.templates = templates
        self.scalers = scalers
        self.width_rule = width_rule
        self.depth_rule = depth_rule
        self.head = head

    @classmethod
    def of(cls, model: nn.Module) -> 'WaveInit':
        """The ``WaveInit`` of ``model``'s ``init_cfg`` or its backbone's.

        Raises:
            ValueError: Neither has one.
        """
        for module in (model, getattr(model, 'backbone', None)):
            cfgs = getattr(module, 'init_cfg', None) or []
            for cfg in cfgs if isinstance(cfgs, list) else [cfgs]:
                if isinstance(cfg,
                              dict) and cfg.get('type') in (cls.__name__, cls):
                    return cls(**{k: v for k, v in cfg.items() if k != 'type'})
        raise ValueError(
            'ScalerInitHook needs a model initialised by WaveInit: add '
            "init_cfg=dict(type='WaveInit', templates=...) to the model or "
            'its backbone')

    def target(self, module: nn.Module) -> WaveTarget:
        """The :class:`WaveTarget` of ``module``'s ViT (``module`` or its
        backbone) from the files."""
        return WaveTarget(
            find_vit(module),
            read_templates(self.templates),
            load_scalers(self.scalers) if self.scalers else None,
            self.width_rule,
            source=self.templates,
            scalers_source=self.scalers or 'scalers',
            depth_rule=self.depth_rule)

    def __call__(self, module: nn.Module) -> None:
        vit = find_vit(module)
        target = self.target(vit)
        state = target.write_into(vit)
        if self.head:
            load_head(module, target.head_state(), self.templates)
        mark_initialised(
            self, module, vit, f'WaveInit: {len(state)} tensors of '
            f'{type(vit).__name__} from {self.templates} '
            f'({target.bank.num_scalers()} scalers)')

    def _get_init_info(self) -> str:
        return (f'{self.__class__.__name__}: templates={self.templates}, '
                f'scalers={self.scalers}, width_rule={self.width_rule}, '
                f'depth_rule={self.depth_rule}, head={self.head}')
