"""``DistillImageClassifier``: a student ``ImageClassifier`` and a frozen
teacher (the ancestry) whose outputs feed the student's distillation head.
"""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmpretrain.models.classifiers import ImageClassifier
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch import Tensor, nn

from wave_mm.core import build_teacher, float_drop_prob, shard_teacher
from .narrow_view import NarrowView


@MODELS.register_module()
class DistillImageClassifier(ImageClassifier):
    """Image classifier trained with distillation from a frozen teacher.

    The teacher is kept outside the module tree, so it is not in the state
    dict, the optimizer, DDP's synchronisation or a model-level ``init_cfg``;
    it follows the student's device and dtype, stays in eval mode without
    gradients and runs under ``no_grad`` in the student's autocast. If its
    data preprocessor normalises differently, its input is re-normalised.

    Args:
        teacher: See :func:`build_teacher`; with ``shard=True`` and a
            distributed run on GPUs, the teacher's layers are sharded over
            the ranks (:func:`shard_teacher`) at the first step, for large
            ancestries trained with MMEngine's ``FSDPStrategy``.
        nested_min_layers: If > 0, every step also distils a truncation
            of the student: its first ``l`` layers, then its final norm and
            head, with ``l`` drawn uniformly from ``[nested_min_layers,
            num_layers - 1]``. That truncation is exactly what ``WaveInit``'s
            ``depth_rule='first'`` gives a target of depth ``l``, so its
            data-free initialisation is trained too. Its losses are logged
            as ``loss_*_nested``. Needs a ViT backbone with
            ``out_type='cls_token'``; a compiled backbone compiles once per
            depth (a forward hook picks the layer). 0 (default): off.
        nested_widths: Widths at which every step also distils the
            student cropped to that width (one width drawn per step), as
            ``WaveInit``'s data-free rule makes a narrower target of the
            student's depth (:class:`NarrowView`), so that the narrow
            targets' data-free initialisation is trained too. Logged as
            ``loss_*_narrow``. Needs a ``WaveTemplate`` backbone with every
            tensor templated and a head without hidden layer. Empty
            (default): off.
        nested_weight: Weight of the truncation's and the narrow view's
            losses.
        **kwargs: ``ImageClassifier`` arguments; ``head`` must accept
            ``teacher_logits``/``teacher_feats`` in ``loss`` (e.g.
            ``KroneckerDistillHead``).
    """

    def __init__(self,
                 backbone: dict,
                 teacher: dict,
                 nested_min_layers: int = 0,
                 nested_widths: Sequence[int] = (),
                 nested_weight: float = 1.0,
                 **kwargs) -> None:
        super().__init__(backbone, **kwargs)
        self._check_nested(nested_min_layers)
        self.nested_min_layers = nested_min_layers
        self.nested_weight = nested_weight
        if nested_widths and getattr(self.head, 'hidden_dim', None):
            raise ValueError('nested_widths needs a head without hidden '
                             f'layer, got hidden_dim={self.head.hidden_dim}')
        # Outside the module tree: their parameters are placeholders.
        object.__setattr__(
            self, 'narrow_views',
            nn.ModuleList(
                NarrowView(backbone, self.backbone, w) for w in nested_widths))
        teacher_model = build_teacher(teacher)
        # Stock ViT students and teachers too (see float_drop_prob).
        float_drop_prob(self)
        float_drop_prob(teacher_model)
        ours = getattr(self.head, 'num_classes', None)
        theirs = getattr(
            getattr(teacher_model, 'head', None), 'num_classes', None)
        if ours != theirs:
            raise ValueError(f'teacher has {theirs} classes, the student '
                             f'{ours}: they must predict the same classes')
        object.__setattr__(self, 'teacher', teacher_model)
        self._shard = bool(teacher.get('shard', False))
        self._renorm = self._renormalisation(teacher_model)

    def _check_nested(self, min_layers: int) -> None:
        if min_layers <= 0:
            return
        layers = getattr(self.backbone, 'layers', None)
        out_type = getattr(self.backbone, 'out_type', None)
        if (not isinstance(layers, nn.ModuleList) or out_type != 'cls_token'
                or self.with_neck):
            raise ValueError(
                'nested_min_layers needs a ViT backbone with '
                f"out_type='cls_token' and no neck, got "
                f'{type(self.backbone).__name__} with out_type={out_type!r}'
                f'{" and a neck" if self.with_neck else ""}')
        if not 1 <= min_layers < len(layers):
            raise ValueError(
                f'nested_min_layers={min_layers} must lie in '
                f'[1, {len(layers) - 1}] for a {len(layers)}-layer student')

    def _renormalisation(self, teacher: nn.Module) -> Optional[Tuple]:
        student, other = self.data_preprocessor, teacher.data_preprocessor
        if not (getattr(student, '_enable_normalize', False)
                and getattr(other, '_enable_normalize', False)):
            return None
        if (torch.equal(student.mean, other.mean)
                and torch.equal(student.std, other.std)):
            return None
        return (student.mean, student.std, other.mean, other.std)

    def _apply(self, fn, *args, **kwargs):
        super()._apply(fn, *args, **kwargs)
        self.teacher._apply(fn, *args, **kwargs)
        self.narrow_views._apply(fn, *args, **kwargs)
        if self._renorm is not None:
            self._renorm = tuple(fn(t) for t in self._renorm)
        return self

    def train(self, mode: bool = True) -> 'DistillImageClassifier':
        super().train(mode)
        self.teacher.eval()
        self.narrow_views.train(mode)
        return self

    @torch.no_grad()
    def teacher_outputs(self,
                        inputs: Tensor,
                        with_feats: bool = False) -> Tuple[Tensor, ...]:
        """Teacher logits (and pre-logits) for student-normalised inputs."""
        if (self._shard and inputs.is_cuda
                and torch.distributed.is_initialized()):
            shard_teacher(self.teacher, inputs.device)
            self._shard = False
        if self._renorm is not None:
            mean_s, std_s, mean_t, std_t = self._renorm
            inputs = (inputs * std_s + mean_s - mean_t) / std_t
        feats = self.teacher.extract_feat(inputs)
        logits = self.teacher.head(feats)
        if not with_feats:
            return logits, None
        return logits, self.teacher.head.pre_logits(feats)

    def extract_nested_feat(self, inputs: Tensor,
                            depth: int) -> Tuple[tuple, tuple]:
        """Features of the whole student and of its first ``depth``
        layers (final norm applied, class token), from one forward pass."""
        backbone = self.backbone
        captured = []

        def keep(module: nn.Module, args: tuple, out: Tensor) -> None:
            # Inside the backbone's forward: a WaveTemplate's generated
            # norm weights exist only there.
            if backbone.final_norm:
                out = backbone.ln1(out)
            captured.append(out[:, 0])

        handle = backbone.layers[depth - 1].register_forward_hook(keep)
        try:
            feats = self.extract_feat(inputs)
        finally:
            handle.remove()
        return feats, (captured[0], )

    def loss(self, inputs: Tensor,
             data_samples: List[DataSample]) -> Dict[str, Tensor]:
        nested = None
        if self.nested_min_layers > 0:
            depth = int(
                torch.randint(self.nested_min_layers,
                              len(self.backbone.layers), ()))
            feats, nested = self.extract_nested_feat(inputs, depth)
        else:
            feats = self.extract_feat(inputs)
        with_feats = getattr(self.head, 'feat_weight', 0) > 0
        logits, teacher_feats = self.teacher_outputs(inputs, with_feats)
        losses = self.head.loss(
            feats,
            data_samples,
            teacher_logits=logits,
            teacher_feats=teacher_feats)
        if nested is not None:
            extra = self.head.loss(
                nested,
                data_samples,
                teacher_logits=logits,
                teacher_feats=teacher_feats)
            losses.update(self._weighted(extra, 'nested'))
        if len(self.narrow_views):
            view = self.narrow_views[int(
                torch.randint(len(self.narrow_views), ()))]
            extra = self.head.score_losses(
                view.scores(self.backbone, self.head, inputs), data_samples,
                logits)
            losses.update(self._weighted(extra, 'narrow'))
        return losses

    def _weighted(self, losses: Dict[str, Tensor],
                  suffix: str) -> Dict[str, Tensor]:
        """The ``loss*`` terms of a truncation or view, weighted by
        ``nested_weight`` and renamed ``<name>_<suffix>``."""
        return {
            f'{k}_{suffix}': self.nested_weight * v
            for k, v in losses.items() if k.startswith('loss')
        }
