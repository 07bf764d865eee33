"""``ViTArch``: the sizes of a ViT, as templates and scalers files record
them."""
from dataclasses import dataclass
from typing import Dict, Tuple

from torch import nn


@dataclass(frozen=True)
class ViTArch:
    """The sizes of a ViT that templates must fit.

    Args:
        embed_dims: Width ``D``.
        num_layers: Depth ``L``.
        num_heads: Attention heads; ``D`` must be a multiple.
        feedforward_channels: FFN hidden width ``F``.
        patch_size: Patch side in pixels.
        in_channels: Image channels.
        patch_resolution: Patch grid ``(h, w)`` of the position embedding.
        num_extra_tokens: 1 with a class token, else 0.
    """
    embed_dims: int
    num_layers: int
    num_heads: int
    feedforward_channels: int
    patch_size: int
    in_channels: int
    patch_resolution: Tuple[int, int]
    num_extra_tokens: int

    @classmethod
    def from_vit(cls, vit: nn.Module) -> 'ViTArch':
        """Read the sizes off a built mmpretrain ``VisionTransformer``."""
        proj = vit.patch_embed.projection
        return cls(
            embed_dims=vit.embed_dims,
            num_layers=vit.num_layers,
            num_heads=vit.arch_settings['num_heads'],
            feedforward_channels=vit.arch_settings['feedforward_channels'],
            patch_size=proj.kernel_size[0],
            in_channels=proj.in_channels,
            patch_resolution=tuple(vit.patch_resolution),
            num_extra_tokens=vit.num_extra_tokens)

    @property
    def num_tokens(self) -> int:
        """Length of the position embedding."""
        h, w = self.patch_resolution
        return h * w + self.num_extra_tokens

    def as_dict(self) -> Dict[str, object]:
        """Plain-JSON form, used in templates and scalers files."""
        return dict(
            self.__dict__, patch_resolution=list(self.patch_resolution))
