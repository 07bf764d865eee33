"""Keep only the student of a distillation checkpoint, for deployment.

    python tools/strip_teacher.py CKPT --out student.pth [--to-vit]

Drops the optimizer, message hub, schedulers and any ``teacher.*`` tensors;
``--to-vit`` also turns a ``WaveTemplate`` backbone into the state dict of a
stock mmpretrain ``VisionTransformer`` (``backbone.*`` keys). The checkpoint
is loaded with ``weights_only``; its stored config is read as literals.
"""
import argparse
import os.path as osp
import sys
from typing import List, Optional

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from wave_mm import fileio  # noqa: E402
from wave_mm.models import WaveTemplate  # noqa: E402


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('checkpoint')
    parser.add_argument('--out', required=True)
    parser.add_argument('--to-vit', action='store_true')
    args = parser.parse_args(argv)
    fileio.check_not_input(args.out, [args.checkpoint])
    ckpt = fileio.load_checkpoint(args.checkpoint)
    state = {
        k: v
        for k, v in fileio.state_dict_of(ckpt, args.checkpoint).items()
        if not k.startswith('teacher.')
    }
    if args.to_vit:
        vit = WaveTemplate.from_checkpoint(args.checkpoint).to_vit_state_dict()
        state = {
            k: v
            for k, v in state.items() if not k.startswith('backbone.')
        }
        state.update({f'backbone.{k}': v for k, v in vit.items()})
    meta = {
        k: v
        for k, v in fileio.meta_of(ckpt, args.checkpoint).items() if k != 'cfg'
    }
    fileio.save_checkpoint(args.out, dict(state_dict=state, meta=meta),
                           [args.checkpoint])
    print(f'wrote {args.out}: {len(state)} tensors')


if __name__ == '__main__':
    main()
