"""Keep only the student of a distillation checkpoint, for deployment.

    python tools/strip_teacher.py CKPT --out student.pth [--to-vit]

Drops the optimizer, message hub, schedulers and any ``teacher.*`` tensors;
``--to-vit`` also turns a ``WaveTemplate`` backbone into the state dict of a
stock mmpretrain ``VisionTransformer`` (``backbone.*`` keys).
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import torch  # noqa: E402
from mmengine.runner.checkpoint import _load_checkpoint  # noqa: E402

from wave_mm.models import WaveTemplate  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('checkpoint')
    parser.add_argument('--out', required=True)
    parser.add_argument('--to-vit', action='store_true')
    args = parser.parse_args()
    ckpt = _load_checkpoint(args.checkpoint, map_location='cpu')
    state = {
        k: v
        for k, v in ckpt.get('state_dict', ckpt).items()
        if not k.startswith('teacher.')
    }
    if args.to_vit:
        vit = WaveTemplate.from_checkpoint(args.checkpoint).to_vit_state_dict()
        state = {
            k: v
            for k, v in state.items() if not k.startswith('backbone.')
        }
        state.update({f'backbone.{k}': v for k, v in vit.items()})
    meta = {k: v for k, v in ckpt.get('meta', {}).items() if k != 'cfg'}
    tmp = args.out + '.tmp'
    torch.save(dict(state_dict=state, meta=meta), tmp)
    os.replace(tmp, args.out)
    print(f'wrote {args.out}: {len(state)} tensors')


if __name__ == '__main__':
    main()
