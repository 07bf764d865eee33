"""``TemplateExportHook``: write the templates file during stage 1."""
import os.path as osp
from contextlib import nullcontext
from typing import Optional

from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpretrain.registry import HOOKS
from torch.distributed.fsdp import FullyShardedDataParallel

from wave_mm.models.backbones import WaveTemplate


def find_wave_template(model) -> WaveTemplate:
    """The ``WaveTemplate`` backbone of a (possibly wrapped) model."""
    module = model.module if is_model_wrapper(model) else model
    backbone = getattr(module, 'backbone', module)
    if not isinstance(backbone, WaveTemplate):
        raise TypeError(f'TemplateExportHook needs a WaveTemplate backbone, '
                        f'got {type(backbone).__name__}')
    return backbone


@HOOKS.register_module()
class TemplateExportHook(Hook):
    """Export the auxiliary's templates at every checkpoint and at the end.

    The classifier head is stored with them (``head.*`` extras) for targets
    that keep the auxiliary's classes (``WaveInit(head=True)``).

    The file is written atomically (temporary file, then rename) by rank 0,
    so an interrupted run never leaves a half-written templates file; under
    MMEngine's ``FSDPStrategy`` the sharded templates are gathered first.

    Args:
        filename: File name in the work dir.
        ancestry: Description of the ancestry stored in the file; defaults
            to the backbone's ``ancestry`` argument.
    """
    priority = 'LOW'

    def __init__(self,
                 filename: str = 'templates.safetensors',
                 ancestry: Optional[str] = None) -> None:
        self.filename = filename
        self.ancestry = ancestry

    def before_run(self, runner) -> None:
        find_wave_template(runner.model)  # fail before training starts

    def _export(self, runner) -> None:
        # Under FSDP every rank takes part in gathering the full templates.
        sharded = isinstance(runner.model, FullyShardedDataParallel)
        with (FullyShardedDataParallel.summon_full_params(
                runner.model, writeback=False) if sharded else nullcontext()):
            self._write(runner)

    def _write(self, runner) -> None:
        if is_main_process():
            path = osp.join(runner.work_dir, self.filename)
            model = runner.model
            model = model.module if is_model_wrapper(model) else model
            head = getattr(model, 'head', None)
            digest = find_wave_template(model).export_templates(
                path, self.ancestry,
                head.state_dict() if head is not None else None)
            runner.logger.info(f'templates written to {path} ({digest[:12]})')

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        self._export(runner)

    def after_train(self, runner) -> None:
        self._export(runner)
