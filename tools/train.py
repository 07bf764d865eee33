"""Train with mmpretrain's own ``tools/train.py`` and wave_mm registered.

Same command line as mmpretrain (``--work-dir``, ``--resume``, ``--amp``,
``--cfg-options``, ``--launcher``...); see ``python tools/train.py -h``.

Under ``torchrun`` on a machine without GPUs (``--launcher pytorch``) the
processes join a gloo group and DDP runs on CPU: MMEngine alone would call
``torch.cuda.set_device`` and give DDP a GPU id.
"""
import os
import os.path as osp
import runpy
import sys
from typing import List

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import mmpretrain  # noqa: E402
import torch  # noqa: E402

import wave_mm  # noqa: E402,F401

CPU_DDP = [
    'model_wrapper_cfg.type=MMDistributedDataParallel',
    'model_wrapper_cfg.device_ids=None'
]


def launcher(argv: List[str]) -> str:
    """The ``--launcher`` of a command line (``'none'`` if not given)."""
    for i, arg in enumerate(argv):
        if arg == '--launcher' and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith('--launcher='):
            return arg.split('=', 1)[1]
    return 'none'


def cpu_distributed_argv(argv: List[str]) -> List[str]:
    """``argv`` with the CPU DDP wrapper added to ``--cfg-options``."""
    argv = list(argv)
    if '--cfg-options' in argv:
        at = argv.index('--cfg-options') + 1
        argv[at:at] = CPU_DDP
    else:
        argv += ['--cfg-options'] + CPU_DDP
    return argv


if __name__ == '__main__':
    script = osp.join(
        osp.dirname(mmpretrain.__file__), '.mim', 'tools', 'train.py')
    if (launcher(sys.argv) == 'pytorch' and 'LOCAL_RANK' in os.environ
            and not torch.cuda.is_available()):
        # MMEngine skips its own init_dist once a group exists.
        torch.distributed.init_process_group('gloo')
        sys.argv = cpu_distributed_argv(sys.argv)
    sys.argv[0] = script
    runpy.run_path(script, run_name='__main__')
