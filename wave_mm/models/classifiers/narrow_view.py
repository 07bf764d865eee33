"""``NarrowView``: a narrower ViT made of a ``WaveTemplate`` student's live
templates and scalers, as ``WaveInit`` would make it without data.

Nested-width distillation (``DistillImageClassifier(nested_widths=...)``)
puts this view's logits in the loss, so that the student is trained to be
cropped: the data-free initialisation of narrow targets is then trained
rather than hoped for.
"""
import copy

import torch.nn.functional as F
from mmpretrain.models.backbones import VisionTransformer
from torch import Tensor, nn

from wave_mm.core import (DEFAULT_WIDTH_RULE, KroneckerView, data_free_scalers,
                          residual_block)
from wave_mm.kronecker import resample_channels
from ..backbones import WaveTemplate


class NarrowView(nn.Module):
    """The student at a smaller width, as a function of its tensors.

    A stock ``VisionTransformer`` of the student's options and depth at
    ``width``, its tensors stripped, is run through a
    :class:`~wave_mm.core.KroneckerView` on the student's templates and on
    scalers derived from the student's by
    :func:`~wave_mm.core.data_free_scalers` (default rules), and the student
    head's weight is laid out by :func:`wave_mm.kronecker.resample_channels`.
    The result equals a stock ViT of that width initialised by
    ``WaveInit(head=True)`` from the student's templates file; gradients
    reach the student's tensors.

    Keep it outside the student's module tree: its bank's parameters are
    placeholders for shapes, replaced at every call.

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
        block = residual_block(student.bank.specs)
        if not (block <= width < arch.embed_dims and width % head_dim == 0):
            raise ValueError(
                f'nested width {width} must be a multiple of the head width '
                f'{head_dim} in [{block}, {arch.embed_dims}) (a template '
                'block up to the student width)')
        cfg = copy.deepcopy(dict(backbone))
        for key in ('type', 'init_cfg', *WaveTemplate.TEMPLATE_ARGS):
            cfg.pop(key, None)
        cfg['arch'] = dict(
            embed_dims=width,
            num_layers=arch.num_layers,
            num_heads=width // head_dim,
            feedforward_channels=arch.feedforward_channels * width //
            arch.embed_dims)
        self.vit = VisionTransformer(**cfg)
        self.view = KroneckerView(self.vit, student.templated,
                                  student.layout.types)
        self.view.strip(self.vit)
        self.bank = self.view.bank(
            student.bank.specs, order=student.bank.order)
        self.width, self.head_block = width, block

    def forward(self, student: WaveTemplate, inputs: Tensor) -> tuple:
        """The view's backbone outputs for ``inputs``."""
        bank, layout = self.bank, self.view.layout
        depths = {t: layout.depth(t) for t in bank.specs}
        scalers = data_free_scalers(
            dict(student.bank.scalers),
            bank.specs,
            student.layout.arch.as_dict(),
            bank.shapes,
            depths,
            order=bank.order)
        templates = {t: student.bank.templates[t] for t in bank.specs}
        tensors = self.view.compose(bank, templates, scalers)
        return self.view.run(self.vit, tensors, (inputs, ))

    def scores(self, student: WaveTemplate, head: nn.Module,
               inputs: Tensor) -> Tensor:
        """Class scores through the student's ``VisionTransformerClsHead``
        (without hidden layer), its weight laid out for this width."""
        linear = head.layers.head
        weight = resample_channels(linear.weight, self.width, self.head_block,
                                   DEFAULT_WIDTH_RULE, self.bank.order)
        pre_logits = head.pre_logits(self(student, inputs))
        return F.linear(pre_logits, weight, linear.bias)
