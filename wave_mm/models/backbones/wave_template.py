"""``WaveTemplate``: a ViT whose weights are generated from weight templates.

The auxiliary model of stage 1. It is mmpretrain's ``VisionTransformer`` (same
arguments, forward and outputs) with every templated tensor removed and
composed at each forward as ``sum_k S_k ⊗ T_k`` from its ``TemplateBank``,
through its :class:`~wave_mm.core.KroneckerView`.
"""
import math
from typing import Dict, Mapping, Optional, Sequence, Tuple, Union

import torch
from mmpretrain.models.backbones import VisionTransformer
from mmpretrain.models.utils import resize_pos_embed
from mmpretrain.registry import MODELS
from torch import Tensor

from wave_mm.core import (ALL_GROUPS, WEIGHT_TYPES, KroneckerView,
                          TemplateBank, default_specs, float_drop_prob,
                          group_types)
from wave_mm.kronecker import KronOrder, check_order
from wave_mm.templates import (HEAD_PREFIX, Templates, TemplateSpec,
                               save_templates)
from .auxiliary import read_auxiliary


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
            :data:`wave_mm.core.GROUPS`); the others are plain parameters,
            stored as ``extras`` in the templates file.
        ancestry: Free text recorded in exported templates files.
        kron_order: ``'TS'`` (``W = sum_k T_k ⊗ S_k``: each template entry
            stretched over a patch of scalers) or ``'ST'`` (``sum_k S_k ⊗
            T_k``: a template per block); see :mod:`wave_mm.kronecker`.
            Recorded in the templates file. ``'TS'`` won the init
            benchmark's ablation (``docs/defaults.md``).
        fused_qkv: Template q, k and v (and their biases) as one weight
            type ``qkv`` (``qkv_bias``) of mmpretrain's fused shape
            ``[3D, D]`` with templates of its own (the default, which won
            the same ablation), instead of three types.
        **kwargs: ``VisionTransformer`` arguments.
    """

    #: Arguments of this class that a stock ``VisionTransformer`` lacks.
    TEMPLATE_ARGS: Tuple[str, ...] = ('template_width', 'ffn_ratio',
                                      'num_templates', 'templated', 'ancestry',
                                      'kron_order', 'fused_qkv')

    def __init__(self,
                 arch: Union[str, dict] = 'deit-base',
                 template_width: int = 192,
                 ffn_ratio: int = 4,
                 num_templates: int = 12,
                 templated: Sequence[str] = ALL_GROUPS,
                 ancestry: str = '',
                 kron_order: KronOrder = 'TS',
                 fused_qkv: bool = True,
                 **kwargs) -> None:
        if kwargs.get('frozen_stages', -1) > 0:
            raise ValueError('WaveTemplate does not support frozen_stages; '
                             'freeze templates or scalers instead')
        check_order(kron_order)
        if not isinstance(fused_qkv, bool):
            raise ValueError(
                f'fused_qkv must be True or False, got {fused_qkv!r:.80}')
        super().__init__(arch=arch, **kwargs)
        float_drop_prob(self)
        self.view = KroneckerView(self, templated,
                                  group_types(templated, fused_qkv))
        self.templated = tuple(templated)
        self.ancestry = ancestry
        self.kron_order, self.fused_qkv = kron_order, fused_qkv
        specs = self._specs(template_width, ffn_ratio, num_templates)
        self.view.strip(self)
        self.bank = self._bank(specs)
        self._register_load_state_dict_pre_hook(self._resize_pos_templates)

    def _resize_pos_templates(self, state_dict, prefix, *args) -> None:
        """Load a checkpoint of another ``img_size``: resize the
        position-embedding templates as the stock ViT resizes its
        ``pos_embed`` (a square source grid); the composition is linear in
        them, so the composed embedding is the resized one."""
        name = prefix + 'bank.templates.pos_embed'
        if name not in state_dict or 'pos_embed' not in self.bank.specs:
            return
        value, own = state_dict[name], self.bank.templates['pos_embed']
        if value.ndim != 3 or value.shape[1] == own.shape[1]:
            return
        side = int(math.isqrt(value.shape[1] - self.num_extra_tokens))
        state_dict[name] = torch.cat([
            resize_pos_embed(template[None], (side, side),
                             self.patch_resolution, self.interpolate_mode,
                             self.num_extra_tokens) for template in value
        ])

    @property
    def layout(self):
        """The :class:`~wave_mm.core.ViTLayout` of this model."""
        return self.view.layout

    def _specs(self, template_width: int, ffn_ratio: int,
               num_templates: int) -> Dict[str, TemplateSpec]:
        """The template specs of this auxiliary's types."""
        width, heads = self.embed_dims, self.arch_settings['num_heads']
        if width < template_width:
            raise ValueError(
                f'WaveTemplate: width {width} is narrower than '
                f'template_width={template_width}; no target could use its '
                f'templates. Set template_width to at most {width}, e.g. '
                f'{width} or the head width {width // heads}')
        return default_specs(self.layout.arch, self.layout.types,
                             template_width, ffn_ratio, num_templates,
                             self.kron_order)

    def _bank(self, specs: Mapping[str, TemplateSpec]) -> TemplateBank:
        return self.view.bank(specs, order=self.kron_order)

    def get_layer_depth(self,
                        param_name: str,
                        prefix: str = '') -> Tuple[int, int]:
        """The layer depth of a parameter, for layer-wise lr decay, as the
        stock ``VisionTransformer.get_layer_depth`` gives it.

        A layer's scalers (``bank.scalers.<type>.<layer>``) get that
        layer's depth, the scalers of the embeddings the stem's (0) and
        those of the final norm the last; the shared templates
        (``bank.templates.*``), which every layer reads, get the stem's
        depth, so a decayed fine-tune moves them least.
        """
        num_layers = self.num_layers + 2
        name = param_name[len(prefix):]
        if param_name.startswith(prefix) and name.startswith('bank.'):
            parts = name.split('.')
            if parts[1] == 'templates' or parts[2] not in self.layout.types:
                return 0, num_layers
            if self.layout.per_layer(parts[2]):
                return int(parts[3]) + 1, num_layers
            group = WEIGHT_TYPES[parts[2]].group
            return (0 if group == 'embed' else num_layers - 1), num_layers
        return super().get_layer_depth(param_name, prefix)

    def generate(self) -> Dict[str, Tensor]:
        """Templated tensors by backbone state-dict name (differentiable)."""
        return self.view.compose(self.bank)

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        with self.view.placed(self, self.generate()):
            return super().forward(x)

    def init_weights(self) -> None:
        cfgs = self.init_cfg if isinstance(self.init_cfg,
                                           list) else [self.init_cfg]
        if any(
                isinstance(c, dict) and c.get('type') == 'Pretrained'
                for c in cfgs):
            raise ValueError(
                'WaveTemplate: init_cfg=Pretrained would load a stock ViT '
                'checkpoint into none of the templated tensors (they are '
                'generated from the bank); load a WaveTemplate checkpoint '
                'with load_from, or initialise from the ancestry by '
                'distillation')
        # The stock initialisers (FFN xavier, pos_embed re-draw) write into
        # throwaway tensors; the bank initialises templates and scalers.
        with torch.no_grad(), self.view.placed(self, self.generate()):
            super().init_weights()

    def __repr__(self) -> str:
        # The stock modules' extra_repr reads the removed tensors.
        with torch.no_grad(), self.view.placed(self, self.generate()):
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
            HEAD_PREFIX + k: v.detach()
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
            ancestry=self.ancestry if ancestry is None else ancestry,
            kron_order=self.bank.order)

    @classmethod
    def from_checkpoint(cls,
                        path: str,
                        config: Optional[str] = None,
                        prefix: str = 'backbone.') -> 'WaveTemplate':
        """Rebuild the auxiliary backbone of a stage-1 checkpoint, as the
        class its config names (this one or a subclass); see
        :func:`~wave_mm.models.backbones.auxiliary.read_auxiliary`."""
        return read_auxiliary(path, cls, config, prefix)[0]

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
