"""``NarrowView``: a narrower ViT made of a ``WaveTemplate`` student's live
templates and scalers, as ``WaveInit`` would make it without data.

Nested-width distillation (``DistillImageClassifier(nested_widths=...)``)
puts this view's logits in the loss, so that the student is trained to be
cropped: the data-free initialisation of narrow targets is then trained
rather than hoped for.
"""
import copy

import torch.nn.functional as F
from mmpretrain.registry import MODELS
from torch import Tensor, nn
from torch.func import functional_call

from wave_mm.kronecker import resample_channels
from ..backbones import WaveTemplate
from ..wave_target import data_free_scalers


class NarrowView(nn.Module):
    """The student at a smaller width, as a function of its tensors.

    A ``WaveTemplate`` of the student's config and depth at ``width`` holds
    the layout; at each call it runs on the student's templates and on
    scalers derived from the student's by :func:`data_free_scalers`
    (``'scaled'`` width rule), and the student head's weight is laid out by
    :func:`wave_mm.kronecker.resample_channels`. The result equals a stock
    ViT of that width initialised by ``WaveInit(head=True)`` from the
    student's templates file; gradients reach the student's tensors.

    Keep it outside the student's module tree: its own parameters are
    placeholders, replaced at every call.

    Args:
        backbone: The student's backbone config (a ``WaveTemplate``).
        student: The built student backbone.
        width: Width of the view: a multiple of the student's head width,
            smaller than its width and at least one template block.
    """

    def __init__(self, backbone: dict, student: WaveTemplate,
                 width: int) -> None:
        super().__init__()
        if not isinstance(student, WaveTemplate):
            raise ValueError('nested widths need a WaveTemplate backbone, '
                             f'got {type(student).__name__}')
        plain = [
            n for n, _ in student.named_parameters()
            if not n.startswith('bank.')
        ]
        if plain:
            raise ValueError('nested widths need every backbone tensor '
                             f'templated; not templated: {plain}')
        arch = student.layout.arch
        head_dim = arch.embed_dims // arch.num_heads
        block = student.bank.specs['q'].block[-1]
        if not (block <= width < arch.embed_dims and width % head_dim == 0):
            raise ValueError(
                f'nested width {width} must be a multiple of the head width '
                f'{head_dim} in [{block}, {arch.embed_dims}) (a template '
                'block up to the student width)')
        cfg = copy.deepcopy(dict(backbone))
        cfg.pop('init_cfg', None)
        cfg['arch'] = dict(
            embed_dims=width,
            num_layers=arch.num_layers,
            num_heads=width // head_dim,
            feedforward_channels=arch.feedforward_channels * width //
            arch.embed_dims)
        self.model = MODELS.build(cfg)
        self.width, self.head_block = width, block
        self.shapes = dict(self.model.bank.shapes)
        self.depths = {t: self.model.layout.depth(t) for t in self.shapes}

    def forward(self, student: WaveTemplate, inputs: Tensor) -> tuple:
        """The view's backbone outputs for ``inputs``."""
        bank = student.bank
        scalers = data_free_scalers(
            dict(bank.scalers), bank.specs, student.layout.arch.as_dict(),
            self.shapes, self.depths)
        params = {f'bank.templates.{t}': bank.templates[t] for t in scalers}
        params.update({f'bank.scalers.{t}': v for t, v in scalers.items()})
        return functional_call(self.model, params, (inputs, ))

    def scores(self, student: WaveTemplate, head: nn.Module,
               inputs: Tensor) -> Tensor:
        """Class scores through the student's ``VisionTransformerClsHead``
        (without hidden layer), its weight laid out for this width."""
        linear = head.layers.head
        weight = resample_channels(linear.weight, self.width, self.head_block,
                                   'scaled')
        pre_logits = head.pre_logits(self(student, inputs))
        return F.linear(pre_logits, weight, linear.bias)
