"""``MimeticInit``: mimetic initialisation of self-attention (Trockman &
Kolter, ICML 2023), a data-free baseline for stock ViTs.

Orientation. mmpretrain's fused ``qkv`` Linear has weight ``[3D, D]`` with
rows ``q | k | v``, and head ``h`` owns rows ``h*d:(h+1)*d`` of each part
(``d = D / H``). With ``W_q,h, W_k,h ∈ R^{d×D}`` (PyTorch ``out × in``) the
logits of a row-vector token pair are ``x W_q,hᵀ W_k,h yᵀ``, so the matrix
that attention uses is ``M_qk,h = W_q,hᵀ W_k,h ∈ R^{D×D}`` (the paper's
``W_q W_kᵀ`` in its ``x W`` convention). Values and output projection map a
token by ``x W_vᵀ W_projᵀ``: ``M_vo = W_vᵀ W_projᵀ`` (the paper's
``W_v W_proj``), for the whole layer.

Rule, with a fresh ``Z ~ N(0, 1/D)`` per head and per layer:
``M_qk,h ≈ α_qk Z + β_qk I`` (rank ``d``: the top ``d`` singular triplets)
and ``M_vo = α_vo Z − β_vo I`` (full rank), each factor taking ``sqrt(Σ)``.
Only ``qkv.weight`` and ``proj.weight`` are written::

    init_cfg=dict(type='MimeticInit', alpha_qk=0.7, beta_qk=0.7,
                  alpha_vo=0.4, beta_vo=0.4)
"""
import math
from typing import Tuple

import torch
from mmengine.logging import print_log
from mmengine.model import update_init_info
from torch import Tensor, nn

from wave_mm.core import ViTInitializer, find_vit, register_initializer


def low_rank_factors(target: Tensor, rank: int) -> Tuple[Tensor, Tensor]:
    """Factors of the best rank-``r`` approximation of ``target``.

    Args:
        target: ``[*batch, D, D]`` matrices.
        rank: Number ``r`` of singular triplets kept.

    Returns:
        ``A, B`` of shape ``[*batch, D, r]`` with ``A Bᵀ = U_r Σ_r V_rᵀ``;
        each takes ``sqrt(Σ_r)``.
    """
    u, s, vh = torch.linalg.svd(target)
    root = s[..., :rank].sqrt().unsqueeze(-2)
    return u[..., :rank] * root, vh[..., :rank, :].transpose(-2, -1) * root


@torch.no_grad()
def mimetic_attention(attn: nn.Module, alpha_qk: float, beta_qk: float,
                      alpha_vo: float, beta_vo: float,
                      generator: torch.Generator) -> Tuple[Tensor, Tensor]:
    """Write mimetic ``qkv`` and ``proj`` weights into one attention module.

    Args:
        attn: An mmpretrain ``MultiheadAttention`` (``qkv``, ``proj``,
            ``num_heads``, ``head_dims``).
        alpha_qk, beta_qk, alpha_vo, beta_vo: The rule's coefficients.
        generator: CPU generator that draws the ``Z`` matrices.

    Returns:
        The target matrices: ``[H, D, D]`` for ``M_qk,h``, ``[D, D]`` for
        ``M_vo`` (see the module docstring for the orientation).
    """
    qkv, proj = attn.qkv.weight, attn.proj.weight
    dim, heads, head_dims = proj.shape[0], attn.num_heads, attn.head_dims
    if qkv.shape != (3 * dim, dim):
        raise ValueError(f'MimeticInit needs a qkv weight of [3D, D] = '
                         f'[{3 * dim}, {dim}], got {tuple(qkv.shape)}')
    eye = torch.eye(dim, dtype=torch.float64)

    def noise(*shape: int) -> Tensor:
        z = torch.randn(*shape, dim, dim, generator=generator)
        return z.double() / math.sqrt(dim)

    qk = alpha_qk * noise(heads) + beta_qk * eye
    vo = alpha_vo * noise() - beta_vo * eye
    a, b = low_rank_factors(qk, head_dims)  # [H, D, d] each
    # Head h's rows of W_q are A_hᵀ, of W_k are B_hᵀ: W_q,hᵀ W_k,h = A_h B_hᵀ.
    w_q = a.transpose(1, 2).reshape(heads * head_dims, dim)
    w_k = b.transpose(1, 2).reshape(heads * head_dims, dim)
    a, b = low_rank_factors(vo, dim)
    # W_vᵀ W_projᵀ = A Bᵀ with W_v = Aᵀ, W_proj = B.
    qkv.copy_(torch.cat([w_q, w_k, a.T]).to(qkv))
    proj.copy_(b.to(proj))
    return qk.float(), vo.float()


def _generator() -> torch.Generator:
    """A CPU generator seeded from the global RNG without advancing it."""
    # Every tensor but qkv/proj then gets the default init's exact values.
    with torch.random.fork_rng(devices=[]):
        seed = int(torch.randint(2**62, (1, )))
    return torch.Generator().manual_seed(seed)


@register_initializer
class MimeticInit(ViTInitializer):
    """Mimetic initialisation of every attention layer of a stock ViT.

    Writes only ``qkv.weight`` and ``proj.weight`` of each layer; every
    other tensor keeps mmpretrain's default init (the FFN xavier and
    ``pos_embed`` draws that follow it never touch attention, and the ``Z``
    draws leave the global RNG stream untouched, so those values equal the
    default init's with the same seed). ``Z`` is seeded by the global torch
    RNG, which the Runner seeds. In a list of ``init_cfg``, put it after any
    ``Linear`` initializer (e.g. the DeiT recipe's ``TruncNormal``).

    Args:
        alpha_qk: Weight of ``Z`` in ``W_qᵀ W_k`` per head.
        beta_qk: Weight of the identity in ``W_qᵀ W_k`` per head.
        alpha_vo: Weight of ``Z`` in ``W_vᵀ W_projᵀ`` per layer.
        beta_vo: Weight of ``-I`` in ``W_vᵀ W_projᵀ`` per layer.
    """

    # Writes attention only: the stock init of the rest follows it.
    owns_vit = False

    def __init__(self,
                 alpha_qk: float = 0.7,
                 beta_qk: float = 0.7,
                 alpha_vo: float = 0.4,
                 beta_vo: float = 0.4,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        coefficients = dict(
            alpha_qk=alpha_qk,
            beta_qk=beta_qk,
            alpha_vo=alpha_vo,
            beta_vo=beta_vo)
        for name, value in coefficients.items():
            if isinstance(value, bool) or not isinstance(
                    value, (int, float)) or not 0 <= value < math.inf:
                raise ValueError(f'MimeticInit: {name} must be a finite '
                                 f'number >= 0, got {value!r}')
        self.coefficients = {k: float(v) for k, v in coefficients.items()}

    def __call__(self, module: nn.Module) -> None:
        vit = find_vit(module)
        generator = _generator()
        for layer in vit.layers:
            mimetic_attention(
                layer.attn, generator=generator, **self.coefficients)
        print_log(
            f'MimeticInit: qkv and proj weights of {len(vit.layers)} '
            f'layers ({self._get_init_info()})',
            logger='current')
        if hasattr(module, '_params_init_info'):
            update_init_info(module, init_info=self._get_init_info())

    def _get_init_info(self) -> str:
        args = ', '.join(f'{k}={v}' for k, v in self.coefficients.items())
        return f'{self.__class__.__name__}: {args}'
