"""``TLEGTemplate``: the auxiliary model of TLEG as a special case of WAVE.

TLEG (Xia et al., AAAI 2024, "Transformer as Linear Expansion of learnGene")
learns two full-size templates per weight, ``θ_A`` and ``θ_B``, and builds
layer ``l`` of ``L`` as ``θ_l = θ_A + (l/L)·θ_B``, ``l = 1..L``: the last layer
is ``θ_A + θ_B``, the first ``θ_A + θ_B/L``. In WAVE's terms every per-layer
weight type has two templates of its full per-layer shape (a ``1 x 1`` block
grid) and fixed scalers ``S[l] = [1, l/L]``. The backbone is distilled like
stage 1 and exports an ordinary templates file that ``TLEGInit`` reads.
"""
import dataclasses
from typing import Dict, Mapping, Optional, Sequence, Union

import torch
from mmpretrain.registry import MODELS
from torch import Tensor

from wave_mm.core import TLEG_GROUPS, TemplateBank, tleg_scalers
from wave_mm.templates import Templates, TemplateSpec
from .wave_template import WaveTemplate

#: Prefix of the ``ancestry`` text of a TLEG templates file.
TLEG_ANCESTRY = 'TLEG auxiliary (theta_l = theta_A + l/L * theta_B)'
# WaveTemplate arguments that make no sense for two full-size templates.
_FIXED_ARGS = ('template_width', 'ffn_ratio', 'num_templates', 'kron_order',
               'fused_qkv')


class TLEGBank(TemplateBank):
    """A :class:`TemplateBank` whose scalers are TLEG's fixed ``[1, l/L]``.

    Per-layer types have two templates; once-per-model types (the final
    norm) have one template and the scaler 1, i.e. the template is the
    tensor. Scalers are parameters with ``requires_grad=False``: they have no
    gradient, so optimizers (and their weight decay) skip them.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.scalers.requires_grad_(False)

    @torch.no_grad()
    def init_weights(self) -> None:
        """``θ_A`` at the stock ViT scale (ones for norm scales), ``θ_B``
        small noise around 0, scalers ``[1, l/L]`` (or 1)."""
        super().init_weights()
        for name in self.scalers:
            depth, count, *grid = self.scalers.shape(name)
            if count == 1:
                self.scalers.assign(name, torch.ones(depth, count, *grid))
                continue
            self.scalers.assign(name, tleg_scalers(depth, len(grid)))
            if self.specs[name].init == 'ones':
                # Otherwise layer L would start at 2 (θ_A + θ_B ≈ 1 + 1).
                self.templates[name][1:].sub_(1.0)


@MODELS.register_module()
class TLEGTemplate(WaveTemplate):
    """TLEG's auxiliary ViT: every layer is ``θ_A + (l/L)·θ_B``.

    Takes every argument of mmpretrain's ``VisionTransformer``. The
    templated groups (default: attention, FFN, biases and LayerNorms) get two
    templates of their full per-layer shape; the final norm, templated with
    the ``'norm'`` group but once per model, gets one template and scaler 1.
    Patch embedding, position embedding and class token are plain
    parameters, exported as the file's ``extras``. Only templates (and the
    plain parameters) train; the scalers are fixed.

    Args:
        arch: ``VisionTransformer`` arch name or dict.
        templated: Parameter groups to expand, a subset of
            :data:`TLEG_GROUPS`.
        ancestry: Free text recorded in exported templates files, after
            :data:`TLEG_ANCESTRY`.
        **kwargs: ``VisionTransformer`` arguments.
    """

    def __init__(self,
                 arch: Union[str, dict] = 'deit-base',
                 templated: Sequence[str] = TLEG_GROUPS,
                 ancestry: str = '',
                 **kwargs) -> None:
        fixed = sorted(set(_FIXED_ARGS) & set(kwargs))
        if fixed:
            raise TypeError(f'TLEGTemplate has two full-size templates per '
                            f'weight; it takes no {fixed}')
        if set(templated) - set(TLEG_GROUPS):
            raise ValueError(f'TLEGTemplate expands {list(TLEG_GROUPS)}, '
                             f'embeddings are copied; got {list(templated)}')
        # One template per weight, as TLEG's three weight types of q, k, v.
        super().__init__(
            arch=arch,
            templated=templated,
            ancestry=ancestry,
            kron_order='ST',
            fused_qkv=False,
            **kwargs)

    def _specs(self, template_width: int, ffn_ratio: int,
               num_templates: int) -> Dict[str, TemplateSpec]:
        """Two templates of the full per-layer shape per per-layer type, one
        for once-per-model types (the final norm)."""
        # Full-size blocks: the template width is this model's own.
        specs = super()._specs(self.embed_dims, 1, 1)
        layout = self.layout
        return {
            t:
            dataclasses.replace(
                spec,
                block=layout.shape(t, ()),
                count=2 if layout.per_layer(t) else 1)
            for t, spec in specs.items()
        }

    def _bank(self, specs: Mapping[str, TemplateSpec]) -> TemplateBank:
        return self.view.bank(specs, TLEGBank)

    def templates_data(self,
                       ancestry: Optional[str] = None,
                       head: Optional[Dict[str, Tensor]] = None) -> Templates:
        """As :meth:`WaveTemplate.templates_data`, the ancestry text marked
        as a TLEG auxiliary."""
        data = super().templates_data(ancestry, head)
        data.ancestry = '; '.join(filter(None, (TLEG_ANCESTRY, data.ancestry)))
        return data
