"""A stage-1 checkpoint as an auxiliary: its backbone rebuilt, and its
classifier head as the templates file stores it.

The checkpoint may come from anyone: it is loaded with ``weights_only``,
and the config MMEngine stored in it is read as literals, never run.
"""
from typing import Any, Dict, Mapping, Optional, Tuple, Type

from mmengine.config import Config
from mmpretrain.registry import MODELS
from torch import Tensor, nn

from wave_mm.fileio import (TemplatesFileError, literal_assignment,
                            load_checkpoint, meta_of, state_dict_of)
from wave_mm.templates import HEAD_PREFIX


def classifier_head(state: Mapping[str, Tensor]) -> Dict[str, Tensor]:
    """A classifier's head (``head.*`` entries of its state dict) by the
    head's own names, as ``WaveTemplate.export_templates(head=...)`` and
    the templates file's ``head.*`` extras take it."""
    return {
        k[len(HEAD_PREFIX):]: v.detach()
        for k, v in state.items() if k.startswith(HEAD_PREFIX)
    }


def _check_types(value: Any, path: str, where: str) -> None:
    """Every ``type`` in a stored config names a class registered in
    mmpretrain's or MMEngine's ``MODELS`` under that exact name: MMEngine
    would import and call any dotted ``module.function`` otherwise."""
    if isinstance(value, dict):
        kind = value.get('type')
        if 'type' in value and not (isinstance(
                kind, str) and '.' not in kind and isinstance(
                    MODELS.module_dict.get(kind)
                    or MODELS.parent.module_dict.get(kind), type)):
            raise TemplatesFileError(
                f'{path}: {where}.type {kind!r:.80} in the stored config is '
                'not a registered model class; it is not built. Pass the '
                "run's config file instead")
        for key, item in value.items():
            _check_types(item, path, f'{where}.{key}')
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_types(item, path, f'{where}[{i}]')


def read_auxiliary(
        path: str,
        base: Type[nn.Module],
        config: Optional[str] = None,
        prefix: str = 'backbone.') -> Tuple[nn.Module, Dict[str, Tensor]]:
    """Rebuild the auxiliary backbone of a stage-1 checkpoint, as the class
    its config names (``base`` or a subclass of it).

    Args:
        path: An MMEngine checkpoint.
        base: The backbone class required (``WaveTemplate``).
        config: Config file of the run (Python: only pass one you trust);
            default: the config stored in the checkpoint's ``meta``.
        prefix: Key prefix of the backbone in the checkpoint.

    Returns:
        The backbone, and the classifier head (:func:`classifier_head`).

    Raises:
        TemplatesFileError: The checkpoint is unsafe or malformed, its
            stored config is not made of literals, or its backbone does not
            fit the config.
    """
    ckpt = load_checkpoint(path)
    state = state_dict_of(ckpt, path)
    if config is not None:
        backbone = Config.fromfile(config).model.get('backbone')
    elif 'cfg' in meta_of(ckpt, path):
        model = literal_assignment(ckpt['meta']['cfg'], 'model', path)
        backbone = model.get('backbone') if isinstance(model, dict) else None
    else:
        raise TemplatesFileError(
            f'{path} stores no config; pass the run\'s config file')
    if not isinstance(backbone, dict):
        raise TemplatesFileError(
            f'{config or path}: the config has no model.backbone dict')
    backbone = dict(backbone)
    name = backbone.pop('type', None)
    kind = MODELS.get(name) if isinstance(name, str) else None
    if not (isinstance(kind, type) and issubclass(kind, base)):
        raise TemplatesFileError(f'{path}: the model backbone is '
                                 f'{name!r:.80}, not a {base.__name__}')
    backbone.pop('init_cfg', None)
    if config is None:
        _check_types(backbone, path, 'model.backbone')
    own = {
        k[len(prefix):]: v
        for k, v in state.items() if k.startswith(prefix)
    }
    try:
        model = kind(**backbone)
        model.load_state_dict(own)
    except Exception as err:  # any fault of a stranger's config
        raise TemplatesFileError(
            f'{path}: its backbone does not build from the config '
            f'({type(err).__name__}: {str(err)[:300]})') from None
    return model, classifier_head(state)
