"""``WaveTemplate``: a ViT whose weights are generated from weight templates.

The auxiliary model of stage 1. It is mmpretrain's ``VisionTransformer`` (same
arguments, forward and outputs) with every templated tensor removed and
rebuilt at each forward as ``sum_k S_k ⊗ T_k`` from its ``TemplateBank``.
"""
from contextlib import contextmanager
from typing import Dict, Iterator, Optional, Sequence, Tuple, Union

import torch
from mmengine.config import Config
from mmpretrain.models.backbones import VisionTransformer
from mmpretrain.registry import MODELS
from torch import Tensor

from wave_mm.fileio import (TemplatesFileError, literal_assignment,
                            load_checkpoint, meta_of, state_dict_of)
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
            config: Config file of the run (Python: only pass one you
                trust); default: the config MMEngine stored in the
                checkpoint's ``meta``, read as literals and never run.
            prefix: Key prefix of the backbone in the checkpoint.

        Raises:
            TemplatesFileError: The checkpoint is unsafe or malformed, its
                stored config is not made of literals, or its backbone does
                not fit the config.
        """
        ckpt = load_checkpoint(path)
        state = state_dict_of(ckpt, path)
        if config is not None:
            backbone = Config.fromfile(config).model.get('backbone')
        elif 'cfg' in meta_of(ckpt, path):
            model = literal_assignment(ckpt['meta']['cfg'], 'model', path)
            backbone = model.get('backbone') if isinstance(model,
                                                           dict) else None
        else:
            raise TemplatesFileError(
                f'{path} stores no config; pass the run\'s config file')
        if not isinstance(backbone, dict):
            raise TemplatesFileError(
                f'{config or path}: the config has no model.backbone dict')
        backbone = dict(backbone)
        name = backbone.pop('type', None)
        # The backbone's own class: this one or a subclass (TLEGTemplate).
        kind = MODELS.get(name) if isinstance(name, str) else None
        if not (isinstance(kind, type) and issubclass(kind, cls)):
            raise TemplatesFileError(f'{path}: the model backbone is '
                                     f'{name!r:.80}, not a {cls.__name__}')
        backbone.pop('init_cfg', None)
        own = {
            k[len(prefix):]: v
            for k, v in state.items() if k.startswith(prefix)
        }
        try:
            model = kind(**backbone)
            model.load_state_dict(own)
        except (TypeError, ValueError, KeyError, AssertionError,
                AttributeError, IndexError, RuntimeError) as err:
            raise TemplatesFileError(
                f'{path}: its backbone does not build from the config '
                f'({type(err).__name__}: {str(err)[:300]})') from None
        return model

    def export_templates(
        self,
        path: str,
        ancestry: Optional[str] = None,
        head: Optional[Dict[str, Tensor]] = None,
        inputs: Sequence[str] = ()
    ) -> str:
        """Write the templates file (never over one of ``inputs``); returns
        its content hash."""
        return save_templates(path, self.templates_data(ancestry, head),
                              inputs)
