"""``TemplateBank``: every weight type's templates and one model's scalers.

A bank owns, per weight type ``t`` (``'q'``, ``'fc1'``, ``'ln1_weight'``...),
the shared templates ``[N_t, *block]`` and the scalers ``[L_t, N_t, *grid]``
of one model size, and composes them into that model's weights with
:func:`wave_mm.kronecker.compose` (on CUDA, matrices through the fused
kernels of :mod:`wave_mm.kernels`). Which tensor of a ViT each type becomes
is the business of :mod:`wave_mm.core.layout`.
"""
import math
from typing import Dict, List, Mapping, Optional, Tuple

import torch
from torch import Tensor, nn

from wave_mm.kernels import compose, compose_all, use_fused
from wave_mm.kronecker import DEFAULT_ORDER, KronOrder, check_order, grid_shape
from wave_mm.templates import TemplateSpec
from .scalers import LayerScalers
from .weight_types import chunks


class TemplateBank(nn.Module):
    """Templates shared by all sizes plus the scalers of one model size.

    Args:
        specs: Template spec per weight type.
        shapes: Per-layer weight shape of this model, per weight type.
        depths: Number of layers ``L_t`` per weight type (1 for tensors that
            exist once per model, e.g. the position embedding).
        order: ``'ST'`` (``sum_k S_k ⊗ T_k``) or ``'TS'`` (``sum_k T_k ⊗
            S_k``), see :mod:`wave_mm.kronecker`. A fused type (``qkv``) is
            composed part by part (its chunks in the table of types).
    """

    def __init__(self,
                 specs: Mapping[str, TemplateSpec],
                 shapes: Mapping[str, Tuple[int, ...]],
                 depths: Mapping[str, int],
                 order: KronOrder = DEFAULT_ORDER) -> None:
        super().__init__()
        if set(specs) != set(shapes) or set(specs) != set(depths):
            raise ValueError('specs, shapes and depths must name the same '
                             f'weight types, got {sorted(specs)}, '
                             f'{sorted(shapes)} and {sorted(depths)}')
        check_order(order)
        self.order = order
        self.specs = dict(specs)
        self.shapes = {t: tuple(s) for t, s in shapes.items()}
        self.chunks = {t: chunks(t) for t in self.specs}
        self.templates = nn.ParameterDict()
        for name, spec in self.specs.items():
            self.templates[name] = nn.Parameter(
                torch.zeros(spec.count, *spec.block))
        self.scalers = LayerScalers({
            name: (depths[name], spec.count, *grid_shape(
                self.shapes[name], spec.block, order, self.chunks[name]))
            for name, spec in self.specs.items()
        })
        # Types of equal template, scaler and weight shapes (q, k, v and
        # proj; the per-layer vectors) are composed by one batched GEMM.
        fused: Dict[tuple, List[str]] = {}
        for name in self.specs:
            key = (self.templates[name].shape, self.scalers.shape(name),
                   self.shapes[name], self.chunks[name])
            fused.setdefault(key, []).append(name)
        self.fused = [tuple(names) for names in fused.values()]
        self.init_weights()

    @torch.no_grad()
    def init_weights(self) -> None:
        """Random templates and scalers whose composition has the scale of
        mmpretrain's ViT initialisation (std 0.02, ones for norm scales)."""
        for name, spec in self.specs.items():
            templates = self.templates[name]
            scalers = templates.new_empty(self.scalers.shape(name))
            count = spec.count
            if spec.init == 'ones':
                # sum_k (1/K) * ~1 = ~1; the noise breaks template symmetry.
                templates.normal_(1.0, 0.02)
                scalers.normal_(1.0 / count, 0.02 / count)
            else:
                std = 0.02 if spec.init == 'normal' else 0.002
                nn.init.trunc_normal_(
                    templates, std=std, a=-2 * std, b=2 * std)
                scalers.normal_(0.0, 1.0 / math.sqrt(count))
            self.scalers.assign(name, scalers)

    def forward(
            self,
            templates: Optional[Mapping[str, Tensor]] = None,
            scalers: Optional[Mapping[str,
                                      Tensor]] = None) -> Dict[str, Tensor]:
        """Weights of every templated type, ``{type: [L_t, *shape_t]}``.

        Args:
            templates: ``{type: [N_t, *block]}`` used instead of the bank's
                own (gradients flow to them).
            scalers: ``{type: [L_t, N_t, *grid]}`` likewise.
        """
        for part, kind in (('templates', nn.ParameterDict), ('scalers',
                                                             LayerScalers)):
            wrapper = type(getattr(self, part))
            if wrapper is not kind:
                # An FSDP unit's parameters are whole only inside its own
                # forward, and a ParameterDict's is never called.
                raise RuntimeError(
                    f'TemplateBank.{part} is wrapped in {wrapper.__name__}; '
                    'keep it inside its parent unit (e.g. an FSDP '
                    'auto_wrap_policy whose min_num_params exceeds the '
                    'bank\'s parameter count)')
        templates, scalers = templates or {}, scalers or {}
        entries = {
            n: (scalers[n] if n in scalers else self.scalers[n],
                templates[n] if n in templates else self.templates[n],
                self.shapes[n])
            for n in self.specs
        }
        order, parts = self.order, self.chunks
        # On CUDA every matrix type goes to one fused op call, unstacked.
        matrices = [n for n in self.specs if use_fused(*entries[n], order)]
        weights = dict(
            zip(
                matrices,
                compose_all([entries[n] for n in matrices], order,
                            [parts[n] for n in matrices])))
        for names in self.fused:
            if names[0] in weights:
                continue
            if len(names) == 1:
                weights[names[0]] = compose(*entries[names[0]], order,
                                            parts[names[0]])
                continue
            stacked = compose(
                torch.stack([entries[n][0] for n in names]),
                torch.stack([entries[n][1] for n in names]),
                self.shapes[names[0]], order, parts[names[0]])
            weights.update(zip(names, stacked.unbind(0)))
        return weights

    def freeze_templates(self, frozen: bool = True) -> None:
        """Stop (or restart) gradients to the shared templates."""
        for param in self.templates.values():
            param.requires_grad_(not frozen)

    def num_scalers(self) -> int:
        """Number of scaler entries, the size-specific parameters."""
        return sum(p.numel() for p in self.scalers.parameters())

    def load_tensors(self,
                     templates: Mapping[str, Tensor],
                     scalers: Optional[Mapping[str, Tensor]] = None) -> None:
        """Copy templates (and optionally scalers) into the bank in place.

        Raises:
            KeyError: A weight type of the bank is missing from the input.
            ValueError: A tensor has the wrong shape.
        """
        expected = {
            ('templates', n): tuple(p.shape)
            for n, p in self.templates.items()
        }
        if scalers is not None:
            expected.update({
                ('scalers', n): self.scalers.shape(n)
                for n in self.scalers
            })
        given = dict(templates=templates, scalers=scalers)
        for (kind, name), shape in expected.items():
            if name not in given[kind]:
                raise KeyError(f'{kind} for weight type {name!r} missing')
            if tuple(given[kind][name].shape) != shape:
                raise ValueError(f'{kind} of {name!r} have shape '
                                 f'{tuple(given[kind][name].shape)}, expected '
                                 f'{shape}')
        with torch.no_grad():
            for name, param in self.templates.items():
                param.copy_(templates[name])
            for name in self.scalers if scalers is not None else ():
                self.scalers.assign(name, scalers[name])
