"""``KroneckerProjectionInit``: an auxiliary's templates and scalers from
its ancestry in closed form, before any distillation.

For one weight type with blocks ``o x i`` on an ``A x B`` grid, rearrange
the stacked weights of all ``L`` layers so that row ``(l, a, b)`` holds
block ``(a, b)`` of layer ``l`` (the ``o x i`` matrix that scaler ``(a, b)``
weighs, in either Kronecker order: :func:`wave_mm.kronecker.to_blocks`),
flattened: a matrix ``M`` of ``L*A*B x o*i``. ``W_l = sum_k S[l, k] ⊗
T[k]`` (or ``T[k] ⊗ S[l, k]``) is exactly ``M = S T`` with ``S`` the
scalers (``L*A*B x K``) and ``T`` the templates (``K x o*i``), so the
truncated SVD of ``M`` gives the templates and scalers that approximate the
ancestry best in Frobenius norm (Eckart-Young): the nearest-Kronecker-
product construction of Van Loan and Pitsianis, with ``K`` terms shared by
all layers. A width that is not a multiple of the block is zero-padded to
the grid (the padding's blocks are then fitted too, not left free).
"""
import math
from typing import Dict, Tuple

import torch
from mmengine.logging import print_log
from mmengine.model import update_init_info
from torch import Tensor, nn

from wave_mm.core import (ViTInitializer, ancestry_checkpoint,
                          register_initializer)
from wave_mm.fileio import load_checkpoint, state_dict_of
from wave_mm.kronecker import DEFAULT_ORDER, KronOrder, grid_shape, to_blocks
from .wave_template import WaveTemplate


def block_rows(weights: Tensor,
               block: Tuple[int, ...],
               order: KronOrder = DEFAULT_ORDER,
               chunks: int = 1) -> Tensor:
    """``[L, *shape]`` weights as the matrix ``M`` of the module docstring,
    ``[L * prod(grid), prod(block)]``, zero-padded to whole blocks; the
    blocks are those :func:`wave_mm.kronecker.compose` lays out in
    ``order`` (a weight of ``chunks`` parts, part by part)."""
    blocks = to_blocks(weights, block, order, chunks)
    return blocks.reshape(-1, math.prod(block))


def project(weights: Tensor,
            block: Tuple[int, ...],
            count: int,
            order: KronOrder = DEFAULT_ORDER,
            chunks: int = 1) -> Tuple[Tensor, Tensor, float]:
    """The best ``count`` templates and their scalers for ``weights``.

    Args:
        weights: ``[L, *shape]`` of one weight type.
        block: The template shape.
        count: Templates ``K``.
        order: The Kronecker order of the templates.
        chunks: Parts of the weight (3 for a fused ``qkv``).

    Returns:
        Templates ``[K, *block]``, scalers ``[L, K, *grid]`` and the share
        of ``||M||²`` the rank-``K`` part captures. Where ``K`` exceeds the
        rank of ``M``, the extra templates are small noise with zero
        scalers: they change nothing, and training can use them.
    """
    num, shape = weights.shape[0], tuple(weights.shape[1:])
    grid = grid_shape(shape, block, order, chunks)
    rows = block_rows(weights.double(), block, order, chunks)
    u, sigma, vh = torch.linalg.svd(rows, full_matrices=False)
    rank = min(count, sigma.numel())
    root = sigma[:rank].sqrt()
    scalers = rows.new_zeros(rows.shape[0], count)
    templates = torch.randn(
        count, rows.shape[1], dtype=rows.dtype) * (0.02 * float(rows.std()) if
                                                   rows.numel() > 1 else 0.0)
    scalers[:, :rank] = u[:, :rank] * root
    templates[:rank] = root[:, None] * vh[:rank]
    total = float(sigma.square().sum())
    energy = float(sigma[:rank].square().sum()) / total if total else 1.0
    scalers = scalers.reshape(num, *grid, count).movedim(-1, 1)
    return (templates.reshape(count, *block).to(weights.dtype),
            scalers.to(weights.dtype).contiguous(), energy)


@register_initializer
class KroneckerProjectionInit(ViTInitializer):
    """Start a ``WaveTemplate`` auxiliary at the projection of its ancestry.

    On the backbone or on the whole distiller (its ``backbone``; the
    ancestry's classifier head is then copied into the distiller's head
    too, so the projection alone is a working classifier). The ancestry is
    a stock mmpretrain ViT checkpoint of the auxiliary's own arch (loaded
    safely); a deeper, wider or otherwise different ancestry is refused,
    naming the tensor at fault. The auxiliary's non-templated tensors are
    copied from the ancestry.

    Args:
        checkpoint: The ancestry checkpoint, or a work dir (its
            ``last_checkpoint``), as a teacher's.
        prefix: Key prefix of its backbone (``'backbone.'`` for mmpretrain
            classifier checkpoints, ``''`` for bare backbones).
    """

    def __init__(self,
                 checkpoint: str,
                 prefix: str = 'backbone.',
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.checkpoint, self.prefix = checkpoint, prefix
        #: Share of each type's energy the templates capture, after a call.
        self.energy: Dict[str, float] = {}

    def __call__(self, module: nn.Module) -> None:
        aux = module if isinstance(module, WaveTemplate) else getattr(
            module, 'backbone', None)
        if not isinstance(aux, WaveTemplate):
            raise TypeError('KroneckerProjectionInit initialises a '
                            'WaveTemplate or a model whose backbone is one, '
                            f'got {type(module).__name__}')
        path = ancestry_checkpoint(self.checkpoint)
        state = state_dict_of(load_checkpoint(path), path)
        source = {
            k[len(self.prefix):]: v
            for k, v in state.items() if k.startswith(self.prefix)
        }
        weights = aux.layout.from_state_dict(source, self.checkpoint)
        head = getattr(module, 'head', None) if aux is not module else None
        head_state = (
            self._head_state(head, state)
            if isinstance(head, nn.Module) else None)
        bank = aux.bank
        templates, scalers = {}, {}
        for name, spec in bank.specs.items():
            templates[name], scalers[name], self.energy[name] = project(
                weights[name], spec.block, spec.count, bank.order,
                bank.chunks[name])
        with torch.no_grad():
            bank.load_tensors(templates, scalers)
            own = dict(aux.named_parameters())
            for name, param in own.items():
                if not name.startswith('bank.') and name in source:
                    if source[name].shape != param.shape:
                        raise ValueError(
                            f'{self.checkpoint}: {name} has shape '
                            f'{tuple(source[name].shape)}, the auxiliary '
                            f'{tuple(param.shape)}')
                    param.copy_(source[name])
        bank.is_init = True  # keep the bank's random init off it
        if head_state is not None:
            with torch.no_grad():
                module.head.load_state_dict(head_state)
            module.head.is_init = True  # keep its own init off it
        low = min(self.energy, key=self.energy.get)
        print_log(
            f'KroneckerProjectionInit: {len(templates)} weight types of '
            f'{self.checkpoint} projected; captured energy '
            f'{min(self.energy.values()):.3f} ({low}) to '
            f'{max(self.energy.values()):.3f}',
            logger='current')
        if hasattr(module, '_params_init_info'):
            update_init_info(module, init_info=self._get_init_info())

    def _head_state(self, head: nn.Module,
                    state: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """The ancestry's ``head.*`` tensors, checked against ``head``."""
        own = head.state_dict()
        source = {
            k[len('head.'):]: v
            for k, v in state.items() if k.startswith('head.')
        }
        if set(source) != set(own):
            raise ValueError(f'{self.checkpoint}: its head tensors '
                             f'{sorted(source)} do not match the '
                             f'distiller\'s {sorted(own)}')
        for name, value in source.items():
            if value.shape != own[name].shape:
                raise ValueError(f'{self.checkpoint}: head.{name} has shape '
                                 f'{tuple(value.shape)}, the distiller\'s '
                                 f'{tuple(own[name].shape)}')
        return source

    def _get_init_info(self) -> str:
        return (f'{self.__class__.__name__}: checkpoint={self.checkpoint}, '
                f'prefix={self.prefix}')
