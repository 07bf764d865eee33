"""``WaveTemplate``: a ViT whose weights are generated from weight templates.

The auxiliary model of stage 1. It is mmpretrain's ``VisionTransformer`` (same
arguments, forward and outputs) with every templated tensor removed and
rebuilt at each forward as ``sum_k S_k ⊗ T_k`` from its ``TemplateBank``.
"""
from contextlib import contextmanager
from typing import Dict, Iterator, Optional, Sequence, Tuple, Union

import torch
from mmengine.config import Config
from mmengine.runner.checkpoint import _load_checkpoint
from mmpretrain.models.backbones import VisionTransformer
from mmpretrain.registry import MODELS
from torch import Tensor

from wave_mm.templates import Templates, save_templates
from ..template_bank import TemplateBank
from ..vit_compat import float_drop_prob
from ..vit_layout import ALL_GROUPS, ViTLayout, default_specs


@MODELS.register_module()
class WaveTemplate(VisionTransformer):
    """Vision Transformer built from weight templates and weight scalers.

    Takes every argument of mmpretrain's ``VisionTransformer`` (``arch``,
    ``img_size``, ``patch_size``, ``out_type``, ``drop_path_rate``...) plus:

    Args:
        template_width: Width ``d0`` of a template block: 192 (DeiT-Ti's
            width) for base-width templates, 64 for head-sized blocks.
        ffn_ratio: FFN templates are ``ffn_ratio * d0`` by ``d0``.
        num_templates: Templates per weight type ``N_t``.
        templated: Parameter groups generated from templates (see
            :data:`wave_mm.models.vit_layout.GROUPS`); the others are plain
            parameters, stored as ``extras`` in the templates file.
        ancestry: Free text recorded in exported templates files.
        **kwargs: ``VisionTransformer`` arguments.
    """

    def __init__(self,
                 arch: Union[str, dict] = 'deit-base',
                 template_width: int = 192,
                 ffn_ratio: int = 4,
                 num_templates: int = 12,
                 templated: Sequence[str] = ALL_GROUPS,
                 ancestry: str = '',
                 **kwargs) -> None:
        if kwargs.get('frozen_stages', -1) > 0:
            raise ValueError('WaveTemplate does not support frozen_stages; '
                             'freeze templates or scalers instead')
        super().__init__(arch=arch, **kwargs)
        float_drop_prob(self)
        self.layout = ViTLayout(self, templated)
        self.templated = tuple(templated)
        self.ancestry = ancestry
        specs = default_specs(self.layout.arch, self.layout.types,
                              template_width, ffn_ratio, num_templates)
        shapes = {t: self.layout.shape(t, s.block) for t, s in specs.items()}
        depths = {t: self.layout.depth(t) for t in specs}
        self._slots = []
        for name in self.layout.param_names():
            module_name, _, attr = name.rpartition('.')
            module = self.get_submodule(module_name)
            delattr(module, attr)
            self._slots.append((name, module, attr))
        self.bank = TemplateBank(specs, shapes, depths)

    @contextmanager
    def _substituted(self, weights: Dict[str, Tensor]) -> Iterator[None]:
        """Place generated tensors where the stock modules look for them."""
        for name, module, attr in self._slots:
            module.__dict__[attr] = weights[name]
        try:
            yield
        finally:
            for _, module, attr in self._slots:
                module.__dict__.pop(attr, None)

    def generate(self) -> Dict[str, Tensor]:
        """Templated tensors by backbone state-dict name (differentiable)."""
        return self.layout.to_state_dict(self.bank())

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        with self._substituted(self.generate()):
            return super().forward(x)

    def init_weights(self) -> None:
        # The stock initialisers (FFN xavier, pos_embed re-draw) write into
        # throwaway tensors; the bank initialises templates and scalers.
        with torch.no_grad(), self._substituted(self.generate()):
            super().init_weights()

    def __repr__(self) -> str:
        # The stock modules' extra_repr reads the removed tensors.
        with torch.no_grad(), self._substituted(self.generate()):
            return super().__repr__()

    def to_vit_state_dict(self) -> Dict[str, Tensor]:
        """A state dict that a stock ``VisionTransformer`` of the same
        arguments loads with ``strict=True`` and that computes the same
        function."""
        with torch.no_grad():
            state = {k: v.detach().clone() for k, v in self.generate().items()}
        state.update({k: v.clone() for k, v in self._extras().items()})
        return state

    def _extras(self) -> Dict[str, Tensor]:
        """The plain (non-templated) tensors of the state dict."""
        return {
            k: v.detach()
            for k, v in self.state_dict().items() if not k.startswith('bank.')
        }

    def templates_data(self,
                       ancestry: Optional[str] = None,
                       head: Optional[Dict[str, Tensor]] = None) -> Templates:
        """Templates, auxiliary scalers, extras and metadata, as stored.

        Args:
            ancestry: Overrides the backbone's ``ancestry`` text.
            head: The classifier head's state dict, stored as ``head.*``
                extras (``WaveInit(head=True)`` reuses it).
        """
        extras = self._extras()
        extras.update({
            f'head.{k}': v.detach()
            for k, v in (head or {}).items()
        })
        return Templates(
            specs=dict(self.bank.specs),
            templates={
                k: v.detach()
                for k, v in self.bank.templates.items()
            },
            scalers={
                k: v.detach()
                for k, v in self.bank.scalers.items()
            },
            extras=extras,
            arch=self.layout.arch.as_dict(),
            groups=list(self.templated),
            ancestry=self.ancestry if ancestry is None else ancestry)

    @classmethod
    def from_checkpoint(cls,
                        path: str,
                        config: Optional[str] = None,
                        prefix: str = 'backbone.') -> 'WaveTemplate':
        """Rebuild the auxiliary backbone of a stage-1 checkpoint, as the
        class its config names (this one or a subclass).

        Args:
            path: An MMEngine checkpoint (loaded with ``weights_only``).
            config: Config file of the run; default: the config MMEngine
                stored in the checkpoint's ``meta``.
            prefix: Key prefix of the backbone in the checkpoint.
        """
        ckpt = _load_checkpoint(path, map_location='cpu')
        if config is not None:
            cfg = Config.fromfile(config)
        elif 'cfg' in ckpt.get('meta', {}):
            cfg = Config.fromstring(ckpt['meta']['cfg'], '.py')
        else:
            raise ValueError(f'{path} stores no config; pass the config')
        backbone = dict(cfg.model.backbone)
        # The backbone's own class: this one or a subclass (TLEGTemplate).
        kind = MODELS.get(backbone.pop('type', ''))
        if not (isinstance(kind, type) and issubclass(kind, cls)):
            raise ValueError(f'{path}: the model backbone is '
                             f'{cfg.model.backbone.get("type")!r}, not a '
                             f'{cls.__name__}')
        backbone.pop('init_cfg', None)
        model = kind(**backbone)
        state = ckpt.get('state_dict', ckpt)
        model.load_state_dict({
            k[len(prefix):]: v
            for k, v in state.items() if k.startswith(prefix)
        })
        return model

    def export_templates(self,
                         path: str,
                         ancestry: Optional[str] = None,
                         head: Optional[Dict[str, Tensor]] = None) -> str:
        """Write the templates file; returns its content hash."""
        return save_templates(path, self.templates_data(ancestry, head))
