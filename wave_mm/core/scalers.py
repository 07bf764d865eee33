"""``LayerScalers``: one model's weight scalers, a parameter per layer.

The scalers of weight type ``t`` are read as one ``[L_t, N_t, *grid]``
tensor, but stored as ``L_t`` parameters ``<type>.<layer>`` (state-dict
names ``bank.scalers.q.3``), so that an optimizer (mmpretrain's layer-wise
learning-rate decay) can treat each layer's scalers apart.
"""
from typing import Dict, Iterator, Mapping, Optional, Tuple

import torch
from torch import Tensor, nn


class LayerScalers(nn.Module):
    """Scalers by weight type, one parameter per layer.

    Args:
        shapes: ``{type: (L_t, N_t, *grid)}``.
    """

    def __init__(self, shapes: Mapping[str, Tuple[int, ...]]) -> None:
        super().__init__()
        for name, shape in shapes.items():
            self.add_module(
                name,
                nn.ParameterList(
                    nn.Parameter(torch.zeros(shape[1:]))
                    for _ in range(shape[0])))
        self._register_load_state_dict_pre_hook(self._split_stacked)

    def __getitem__(self, name: str) -> Tensor:
        """The scalers of ``name`` stacked, ``[L_t, N_t, *grid]``."""
        return torch.stack(list(self._modules[name]))

    def __contains__(self, name: object) -> bool:
        return name in self._modules

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __len__(self) -> int:
        return len(self._modules)

    def keys(self):
        return self._modules.keys()

    def items(self) -> Iterator[Tuple[str, Tensor]]:
        return ((name, self[name]) for name in self._modules)

    def values(self) -> Iterator[Tensor]:
        return (self[name] for name in self._modules)

    def shape(self, name: str) -> Tuple[int, ...]:
        """``(L_t, N_t, *grid)`` of ``name``, without stacking."""
        layers = self._modules[name]
        return (len(layers), *layers[0].shape)

    def layers(self, name: str) -> nn.ParameterList:
        """The per-layer parameters of ``name``."""
        return self._modules[name]

    @torch.no_grad()
    def assign(self, name: str, value: Tensor) -> None:
        """Copy stacked ``value`` into the per-layer parameters."""
        for param, layer in zip(self._modules[name], value.unbind(0)):
            param.copy_(layer)

    def grad(self, name: str) -> Optional[Tensor]:
        """The stacked gradient of ``name`` (``None`` before a backward)."""
        grads = [p.grad for p in self._modules[name]]
        return None if any(g is None for g in grads) else torch.stack(grads)

    def _split_stacked(self, state_dict: Dict[str, Tensor], prefix: str,
                       *args) -> None:
        # Checkpoints written before the per-layer split hold stacked scalers.
        for name in self._modules:
            key = prefix + name
            if key in state_dict and state_dict[key].ndim >= 2:
                for i, layer in enumerate(state_dict.pop(key).unbind(0)):
                    state_dict[f'{key}.{i}'] = layer
