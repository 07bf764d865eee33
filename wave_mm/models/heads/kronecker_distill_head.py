"""``KroneckerDistillHead``: the auxiliary model's head in stage 1.

Classification loss plus distillation from the frozen ancestry (teacher):

    loss_cls  = the configured mmpretrain loss (label smoothing, mixup/cutmix
                soft targets included)
    loss_kd   = alpha * tau^2 * KL(softmax(t / tau) || softmax(s / tau))
                (``'soft'``) or alpha * CE(s, argmax t) (``'hard'``, DeiT)
    loss_feat = beta * MSE(proj(student pre-logits), teacher pre-logits)
"""
from typing import List, Literal, Optional, Tuple

import torch.nn.functional as F
from mmpretrain.models.heads import VisionTransformerClsHead
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch import Tensor, nn

from wave_mm.core import soft_distill_loss


@MODELS.register_module()
class KroneckerDistillHead(VisionTransformerClsHead):
    """ViT classification head with distillation losses.

    ``predict()`` and the forward are those of ``VisionTransformerClsHead``.

    Args:
        num_classes: Number of classes.
        in_channels: Student feature width.
        alpha: Weight of the distillation term.
        tau: Softmax temperature of the soft term.
        distill: ``'soft'`` (KL) or ``'hard'`` (CE on the teacher's argmax).
        feat_weight: Weight ``beta`` of the feature term; 0 disables it.
        teacher_channels: Teacher feature width; a learned linear projection
            maps student features to it when it differs.
        **kwargs: ``VisionTransformerClsHead`` arguments (``loss``,
            ``hidden_dim``, ``topk``, ``cal_acc``, ``init_cfg``).
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 alpha: float = 1.0,
                 tau: float = 1.0,
                 distill: Literal['soft', 'hard'] = 'soft',
                 feat_weight: float = 0.0,
                 teacher_channels: Optional[int] = None,
                 **kwargs) -> None:
        super().__init__(num_classes, in_channels, **kwargs)
        if distill not in ('soft', 'hard'):
            raise ValueError(f"distill must be 'soft' or 'hard', got "
                             f'{distill!r}')
        self.alpha, self.tau, self.distill = alpha, tau, distill
        self.feat_weight = feat_weight
        teacher_channels = teacher_channels or in_channels
        self.feat_proj = (
            nn.Linear(in_channels, teacher_channels)
            if feat_weight > 0 and teacher_channels != in_channels else None)

    def init_weights(self) -> None:
        super().init_weights()
        # The head's default init (constant 0 on Linear) would also zero the
        # projection, which then passes no gradient to the student.
        if self.feat_proj is not None:
            self.feat_proj.reset_parameters()

    def loss(self,
             feats: Tuple[Tensor, ...],
             data_samples: List[DataSample],
             teacher_logits: Optional[Tensor] = None,
             teacher_feats: Optional[Tensor] = None) -> dict:
        """Losses of a batch.

        Args:
            feats: Student backbone (neck) outputs.
            data_samples: Targets (``gt_label`` or mixup ``gt_score``).
            teacher_logits: ``[B, num_classes]`` teacher scores, or ``None``
                for no distillation term.
            teacher_feats: ``[B, C_t]`` teacher pre-logits for the feature
                term.

        Returns:
            ``loss_cls`` (and accuracy when ``cal_acc``), ``loss_kd``,
            ``loss_feat``.
        """
        pre_logits = self.pre_logits(feats)
        losses = self.score_losses(
            self.layers.head(pre_logits), data_samples, teacher_logits)
        if teacher_feats is not None and self.feat_weight > 0:
            student = (
                self.feat_proj(pre_logits)
                if self.feat_proj is not None else pre_logits)
            losses['loss_feat'] = self.feat_weight * F.mse_loss(
                student.float(), teacher_feats.float())
        return losses

    def score_losses(self,
                     cls_score: Tensor,
                     data_samples: List[DataSample],
                     teacher_logits: Optional[Tensor] = None) -> dict:
        """``loss_cls`` (and accuracy) and ``loss_kd`` of class scores."""
        losses = self._get_loss(cls_score, data_samples)
        losses['loss_cls'] = losses.pop('loss')
        if teacher_logits is not None and self.alpha > 0:
            if self.distill == 'soft':
                kd = soft_distill_loss(cls_score, teacher_logits, self.tau)
            else:
                kd = F.cross_entropy(cls_score.float(),
                                     teacher_logits.argmax(dim=-1))
            losses['loss_kd'] = self.alpha * kd
        return losses
