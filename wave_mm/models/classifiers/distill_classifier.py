"""``DistillImageClassifier``: a student ``ImageClassifier`` and a frozen
teacher (the ancestry) whose outputs feed the student's distillation head.
"""
import copy
import os.path as osp
from typing import Dict, List, Optional, Tuple

import torch
from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.runner.checkpoint import _load_checkpoint
from mmpretrain.models.classifiers import ImageClassifier
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch import Tensor, nn

from ..vit_compat import float_drop_prob


def build_teacher(cfg: dict) -> nn.Module:
    """Build the teacher model and load its checkpoint.

    Args:
        cfg: ``model`` (a model config dict) or ``config`` (a config file
            whose ``model`` is the teacher), and ``checkpoint`` (local path;
            or a work dir with a ``last_checkpoint``; ``None`` keeps random
            weights, for benchmarks only). ``shard=True`` is read by
            :class:`DistillImageClassifier`.

    Raises:
        FileNotFoundError: The checkpoint does not exist.
        ValueError: The checkpoint's keys or shapes do not fit the teacher.
    """
    if 'model' in cfg:
        model_cfg = copy.deepcopy(cfg['model'])
    elif 'config' in cfg:
        model_cfg = Config.fromfile(cfg['config']).model
    else:
        raise ValueError("teacher needs 'model' (a model config) or "
                         "'config' (a config file)")
    model_cfg.pop('init_cfg', None)
    teacher = MODELS.build(model_cfg)
    path = cfg.get('checkpoint')
    if path is None:
        print_log(
            'teacher has no checkpoint: random weights', 'current', level=30)
    else:
        load_teacher_checkpoint(teacher, path)
    teacher.requires_grad_(False)
    return teacher.eval()


def shard_teacher(teacher: nn.Module, device: torch.device) -> None:
    """Shard each transformer layer of a frozen teacher over the ranks.

    Every layer becomes an FSDP unit (full sharding): its weights are
    gathered only while it runs. Embeddings, final norm and head stay
    replicated; they are a small part of a ViT.
    """
    from torch.distributed.fsdp import FullyShardedDataParallel
    layers = getattr(getattr(teacher, 'backbone', None), 'layers', None)
    if not isinstance(layers, nn.ModuleList):
        raise TypeError('teacher sharding needs a backbone with a `layers` '
                        f'ModuleList, got {type(teacher.backbone).__name__}')
    teacher.to(device)
    for i, layer in enumerate(layers):
        layers[i] = FullyShardedDataParallel(layer, device_id=device)


def load_teacher_checkpoint(teacher: nn.Module, path: str) -> None:
    """Load ``path`` into ``teacher`` strictly, naming any mismatch.

    ``path`` may be a work dir: its ``last_checkpoint`` is used.
    """
    last = osp.join(path, 'last_checkpoint')
    if osp.isdir(path) and osp.isfile(last):
        with open(last) as f:
            named = f.read().strip()
        # MMEngine writes an absolute path: follow a moved work dir too.
        moved = osp.join(path, osp.basename(named))
        path = named if osp.isfile(named) else moved
    if '://' not in path and not osp.isfile(path):
        raise FileNotFoundError(f'teacher checkpoint not found: {path}')
    ckpt = _load_checkpoint(path, map_location='cpu')
    state = ckpt.get('state_dict', ckpt)
    state = {k.removeprefix('module.'): v for k, v in state.items()}
    own = teacher.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = sorted(f'{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}'
                    for k in set(own) & set(state)
                    if state[k].shape != own[k].shape)
    if missing or unexpected or shapes:
        raise ValueError(
            f'teacher checkpoint {path} does not fit the teacher arch: '
            f'missing keys {missing[:8]}, unexpected keys {unexpected[:8]}, '
            f'shape mismatches {shapes[:8]}')
    teacher.load_state_dict(state, strict=True)


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
        **kwargs: ``ImageClassifier`` arguments; ``head`` must accept
            ``teacher_logits``/``teacher_feats`` in ``loss`` (e.g.
            ``KroneckerDistillHead``).
    """

    def __init__(self, backbone: dict, teacher: dict, **kwargs) -> None:
        super().__init__(backbone, **kwargs)
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
        if self._renorm is not None:
            self._renorm = tuple(fn(t) for t in self._renorm)
        return self

    def train(self, mode: bool = True) -> 'DistillImageClassifier':
        super().train(mode)
        self.teacher.eval()
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

    def loss(self, inputs: Tensor,
             data_samples: List[DataSample]) -> Dict[str, Tensor]:
        feats = self.extract_feat(inputs)
        with_feats = getattr(self.head, 'feat_weight', 0) > 0
        logits, teacher_feats = self.teacher_outputs(inputs, with_feats)
        return self.head.loss(
            feats,
            data_samples,
            teacher_logits=logits,
            teacher_feats=teacher_feats)
