"""``TLEGInit``: the TLEG baseline (Xia et al., AAAI 2024) for stock ViTs.

A target of depth ``L'`` takes layer ``l`` (``l = 1..L'``) as
``θ_A + (l/L')·θ_B`` from a :class:`~wave_mm.models.TLEGTemplate` templates
file; embeddings and the final norm are copied. TLEG expands depth only:
width, heads, FFN width and patching must equal the auxiliary's::

    init_cfg=dict(type='TLEGInit',
                  templates='work_dirs/x/templates.safetensors')
"""
from typing import Dict

import torch
from mmpretrain.models.backbones import VisionTransformer
from torch import Tensor, nn

from wave_mm.core import (KroneckerView, ViTInitializer, find_vit, load_head,
                          mark_initialised, register_initializer, tleg_scalers)
from wave_mm.templates import HEAD_PREFIX, Templates, ViTArch, load_templates

# Arch keys the target must share with the auxiliary (all but the depth).
_WIDTH_KEYS = ('embed_dims', 'num_heads', 'feedforward_channels', 'patch_size',
               'in_channels', 'num_extra_tokens')


def check_tleg_file(templates: Templates, source: str) -> None:
    """Raise ``ValueError`` unless ``templates`` came from a TLEG auxiliary:
    two full-size templates with scalers ``[1, l/L]`` per per-layer type."""
    for name, spec in templates.specs.items():
        scalers = templates.scalers[name]
        if spec.count == 1 and scalers.shape[0] == 1 and scalers.eq(1).all():
            continue  # once per model: the template is the tensor
        expected = tleg_scalers(scalers.shape[0], len(spec.block))
        if spec.count != 2 or scalers.shape != expected.shape or \
                not torch.allclose(scalers, expected):
            raise ValueError(
                f'{source} is not a TLEG templates file: weight type '
                f'{name!r} has {spec.count} templates of {spec.block} and '
                f'scalers {tuple(scalers.shape)}, not two full-size '
                'templates with scalers [1, l/L] (train a TLEGTemplate)')


def tleg_state(vit: VisionTransformer, templates: Templates,
               source: str) -> Dict[str, Tensor]:
    """The state dict TLEG gives ``vit`` (position embedding at the
    auxiliary's token count; ``load_state_dict`` resizes it).

    Raises:
        ValueError: naming ``source`` and the key where the target differs
            from the auxiliary in anything but depth, or where the file is
            not a TLEG templates file.
    """
    check_tleg_file(templates, source)
    arch = ViTArch.from_vit(vit).as_dict()
    for key in _WIDTH_KEYS:
        if templates.arch.get(key) != arch[key]:
            raise ValueError(
                f'{source}: TLEG expands depth only; the auxiliary has '
                f'{key}={templates.arch.get(key)}, the target {arch[key]}')
    # Scalers [1, l/L'] for the target's depth; the final norm keeps 1.
    scalers = dict(templates.scalers)
    for name, value in scalers.items():
        if templates.specs[name].count == 2:
            scalers[name] = tleg_scalers(arch['num_layers'], value.ndim - 2)
    view = KroneckerView(vit, templates.groups, templates.specs)
    differ = set(templates.specs) ^ set(view.layout.types)
    if differ:
        raise ValueError(f'{source}: the auxiliary and the target differ in '
                         f'templated weight types {sorted(differ)} (qkv '
                         'bias, final norm?)')
    bank = view.bank(templates.specs)
    bank.load_tensors(templates.templates, scalers)
    with torch.no_grad():
        composed = view.compose(bank)
    # Embeddings are copied whatever the depth.
    extras = {
        k: v
        for k, v in templates.extras.items() if not k.startswith(HEAD_PREFIX)
    }
    state = {**extras, **composed}
    own = vit.state_dict()
    if set(state) != set(own):
        raise ValueError(f'{source}: the auxiliary and the target differ in '
                         f'tensors {sorted(set(state) ^ set(own))}')
    for name, value in state.items():
        if name != 'pos_embed' and value.shape != own[name].shape:
            raise ValueError(f'{source}: {name} is {tuple(value.shape)} in '
                             f'the auxiliary, {tuple(own[name].shape)} in '
                             'the target')
    return state


@register_initializer
class TLEGInit(ViTInitializer):
    """Initialise a stock ViT of any depth from a TLEG templates file.

    Layer ``l`` of ``L'`` gets ``θ_A + (l/L')·θ_B``; patch and position
    embeddings, class token and final norm are the auxiliary's (the position
    embedding resized to the target's patch grid). The ViT and its
    submodules are then marked initialised, as by ``WaveInit``; a
    classifier's head is left to its own init unless ``head=True``.

    Args:
        templates: Path of a templates file exported by a
            :class:`~wave_mm.models.TLEGTemplate`.
        head: Also copy the auxiliary's classifier head (stored in the
            file); for targets that keep its classes. Needs the initializer
            on the whole classifier.
    """

    def __init__(self, templates: str, head: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.templates = templates
        self.head = head

    def __call__(self, module: nn.Module) -> None:
        vit = find_vit(module)
        templates = load_templates(self.templates)
        state = tleg_state(vit, templates, self.templates)
        with torch.no_grad():
            vit.load_state_dict(state, strict=True)
            if self.head:
                load_head(module, templates.head(), self.templates)
        mark_initialised(
            self, module, vit, f'TLEGInit: {len(state)} tensors of '
            f'{type(vit).__name__} ({vit.num_layers} layers) from '
            f'{self.templates}')

    def _get_init_info(self) -> str:
        return (f'{self.__class__.__name__}: templates={self.templates}, '
                f'head={self.head}')
