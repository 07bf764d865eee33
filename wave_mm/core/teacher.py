"""The ancestry as a frozen teacher: building it, loading its checkpoint
(safely), sharding it over ranks. Used by stage-1 distillation and by the
scaler fit's optional teacher term."""
import copy
import os.path as osp

import torch
from mmengine.config import Config
from mmengine.logging import print_log
from mmpretrain.registry import MODELS
from torch import nn

from wave_mm.fileio import load_checkpoint, state_dict_of


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


def ancestry_checkpoint(path: str) -> str:
    """``path``, or for a work dir the checkpoint its ``last_checkpoint``
    names (followed into a moved work dir too)."""
    last = osp.join(path, 'last_checkpoint')
    if osp.isdir(path) and osp.isfile(last):
        with open(last) as f:
            named = f.read().strip()
        # MMEngine writes an absolute path: follow a moved work dir too.
        moved = osp.join(path, osp.basename(named))
        path = named if osp.isfile(named) else moved
    return path


def load_teacher_checkpoint(teacher: nn.Module, path: str) -> None:
    """Load ``path`` into ``teacher`` strictly, naming any mismatch.

    ``path`` may be a work dir: its ``last_checkpoint`` is used.
    """
    path = ancestry_checkpoint(path)
    if '://' not in path and not osp.isfile(path):
        raise FileNotFoundError(f'teacher checkpoint not found: {path}')
    state = state_dict_of(load_checkpoint(path), path)
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
