"""``WaveTarget``: the Kronecker view of a stock ViT of any size.

Given a templates file and a built mmpretrain ``VisionTransformer`` (the
*target*), it checks that the templates fit, makes the target's scalers
(data-free from the auxiliary's, or from a scalers file) and composes the
target's tensors. ``WaveInit``, the ``ScalerInitHook`` and
``tools/wave_init.py`` all go through it.
"""
from typing import Dict, Optional

import torch
from mmpretrain.models.backbones import VisionTransformer
from torch import Tensor, nn

from wave_mm.core import (DEFAULT_DEPTH_RULE, DEFAULT_WIDTH_RULE, GROUPS,
                          WEIGHT_TYPES, KroneckerView, data_free_scalers,
                          residual_block)
from wave_mm.kronecker import DepthRule, WidthRule, resample_channels
from wave_mm.templates import Scalers, Templates, TemplatesFileError, ViTArch

# Arch keys a scalers file must agree on with its target.
_ARCH_KEYS = ('embed_dims', 'num_layers', 'num_heads', 'feedforward_channels',
              'patch_size', 'in_channels')


class WaveTarget(nn.Module):
    """Templates (frozen) and one target's scalers, laid out on its ViT.

    Args:
        vit: The target ``VisionTransformer``; only read.
        templates: Contents of a templates file.
        scalers: Fitted scalers for this arch; ``None`` derives them from the
            auxiliary's scalers by the data-free rule
            (:func:`~wave_mm.core.data_free_scalers`: ``depth_rule``, then
            ``width_rule`` on the block grid; the identity for the
            auxiliary's own arch).
        width_rule: ``'scaled'`` (default: the ``'crop'`` layout, then the
            weights that read repeated or cropped features rescaled by
            :func:`wave_mm.kronecker.width_scale`), ``'crop'`` (top-left
            blocks) or ``'mean'``.
        depth_rule: ``'first'`` (default: a shallower target takes the
            auxiliary's first ``L'`` layers, a deeper one interpolates) or
            ``'interp'`` (interpolation over relative depth for all).
        source: Name of the templates file, for error messages.
        scalers_source: Name of the scalers file, for error messages.
    """

    def __init__(self,
                 vit: VisionTransformer,
                 templates: Templates,
                 scalers: Optional[Scalers] = None,
                 width_rule: WidthRule = DEFAULT_WIDTH_RULE,
                 source: str = 'templates',
                 depth_rule: DepthRule = DEFAULT_DEPTH_RULE,
                 scalers_source: str = 'scalers') -> None:
        super().__init__()
        self.source, self.scalers_source = source, scalers_source
        unknown = sorted(set(templates.groups) - set(GROUPS))
        if unknown:
            raise TemplatesFileError(
                f'{source}: unknown template groups {unknown}; wave_mm '
                f'knows {list(GROUPS)}')
        for t, spec in templates.specs.items():
            if t not in WEIGHT_TYPES:
                raise TemplatesFileError(
                    f'{source}: specs.{t}: unknown weight type; wave_mm '
                    f'knows {list(WEIGHT_TYPES)}')
            rank = len(WEIGHT_TYPES[t].shape)
            if len(spec.block) != rank:
                raise TemplatesFileError(
                    f'{source}: specs.{t}.block {list(spec.block)} has '
                    f'{len(spec.block)} dims, a {t} weight has {rank}')
        self.view = KroneckerView(vit, templates.groups, templates.specs,
                                  ViTArch(**templates.arch))
        self.layout = self.view.layout
        arch = self.layout.arch
        self._check_fits(templates)
        types = list(self.layout.types)
        specs = {t: templates.specs[t] for t in types}
        shapes = {t: self.layout.shape(t, specs[t].block) for t in types}
        depths = {t: self.layout.depth(t) for t in types}
        self.bank = self.view.bank(specs, order=templates.kron_order)
        self.templates_hash = templates.content_hash
        if scalers is None:
            values = data_free_scalers(templates.scalers, templates.specs,
                                       templates.arch, shapes, depths,
                                       width_rule, depth_rule,
                                       templates.kron_order)
        else:
            self._check_scalers(scalers)
            values = scalers.scalers
        try:
            self.bank.load_tensors(templates.templates, values)
        except (KeyError, ValueError) as err:
            where = self.scalers_source if scalers else source
            raise TemplatesFileError(f'{where}: {err.args[0]}') from None
        self.bank.freeze_templates()
        # The auxiliary's own non-templated tensors reproduce it exactly.
        same_arch = all(
            templates.arch.get(k) == v for k, v in arch.as_dict().items())
        self.extras = {
            k: v
            for k, v in templates.extras.items()
            if same_arch and not k.startswith('head.')
        }
        self.width_rule = width_rule
        self._head = templates.head()
        self._head_width = templates.arch['embed_dims']
        self._head_block = residual_block(specs)

    def _check_fits(self, templates: Templates) -> None:
        arch, src = self.layout.arch, self.source
        if arch.embed_dims % arch.num_heads:
            raise ValueError(f'{src}: target width {arch.embed_dims} is not '
                             f'divisible by its {arch.num_heads} heads')
        block = residual_block(templates.specs)
        if block and arch.embed_dims < block:
            raise ValueError(f'{src}: target width {arch.embed_dims} is '
                             f'smaller than one template block ({block}); '
                             f'these templates serve widths >= {block}')
        pos = templates.specs.get('pos_embed')
        tokens = self.layout.source.num_tokens
        if pos is not None and pos.block[0] != tokens:
            raise TemplatesFileError(
                f'{src}: specs.pos_embed.block[0] is {pos.block[0]}, the '
                f'auxiliary arch has {tokens} tokens')
        patch = templates.specs.get('patch_embed')
        need = arch.in_channels * arch.patch_size**2
        if patch is not None and patch.block[1] != need:
            aux = templates.arch
            raise ValueError(
                f'{src}: templates are for patch_size x patch_size x '
                f'in_channels = {patch.block[1]} inputs per patch, the target '
                f'has patch_size={arch.patch_size}, '
                f'in_channels={arch.in_channels} ({need}); these templates '
                f"serve targets with patch_size={aux['patch_size']} and "
                f"in_channels={aux['in_channels']}")

    def _check_scalers(self, scalers: Scalers) -> None:
        own = self.layout.arch.as_dict()
        wrong = {
            k: (scalers.arch.get(k), own[k])
            for k in _ARCH_KEYS if scalers.arch.get(k) != own[k]
        }
        if wrong:
            raise TemplatesFileError(
                f'{self.scalers_source}: scalers file is for another arch: ' +
                ', '.join(f'{k}={a} (target {b})'
                          for k, (a, b) in wrong.items()))
        if scalers.templates_hash and (scalers.templates_hash
                                       != self.templates_hash):
            raise TemplatesFileError(
                f'{self.scalers_source}: scalers were fitted to templates '
                f'{scalers.templates_hash}, not to {self.source} '
                f'({self.templates_hash})')

    def forward(self) -> Dict[str, Tensor]:
        """The target's templated tensors by backbone state-dict name."""
        return self.view.compose(self.bank)

    def state_dict_for_vit(self) -> Dict[str, Tensor]:
        """Templated tensors and, for the auxiliary's arch, its extras."""
        with torch.no_grad():
            state = {k: v.detach() for k, v in self().items()}
        return {**self.extras, **state}

    @torch.no_grad()
    def write_into(self, vit: VisionTransformer) -> Dict[str, Tensor]:
        """Copy the composed tensors into ``vit`` in place; returns them."""
        state = self.state_dict_for_vit()
        params = dict(vit.named_parameters())
        params.update(vit.named_buffers())
        for name, value in state.items():
            if name in params and params[name].shape == value.shape:
                params[name].copy_(value)
        return state

    def head_state(self) -> Dict[str, Tensor]:
        """The auxiliary's classifier head for this target's width.

        Weights reading the residual stream (``[C, D]``) follow the width
        rule's channel layout (:func:`wave_mm.kronecker.resample_channels`);
        biases are copied. Empty if the templates file stores no head.
        """
        width = self.layout.arch.embed_dims
        state = {}
        for name, value in self._head.items():
            if value.ndim == 2 and value.shape[-1] != self._head_width:
                raise TemplatesFileError(
                    f'{self.source}: extras/head.{name} has shape '
                    f'{tuple(value.shape)}; a head reads the auxiliary\'s '
                    f'{self._head_width} channels')
            if value.ndim == 2 and self._head_block:
                value = resample_channels(value, width, self._head_block,
                                          self.width_rule, self.bank.order)
            state[name] = value.clone()
        return state

    def scalers_data(self) -> Scalers:
        """The target's scalers as stored in a scalers file."""
        return Scalers({
            k: v.detach()
            for k, v in self.bank.scalers.items()
        }, self.layout.arch.as_dict(), self.templates_hash)
