"""Write the templates file of a stage-1 (distillation) checkpoint.

    python tools/export_templates.py work_dirs/distill_deit-b/epoch_150.pth \
        --out templates.safetensors [--config CONFIG] [--ancestry TEXT]
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from wave_mm.models import WaveTemplate  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('checkpoint')
    parser.add_argument('--out', required=True)
    parser.add_argument('--config', help='default: the checkpoint\'s own')
    parser.add_argument('--ancestry', help='override the stored text')
    args = parser.parse_args()
    model = WaveTemplate.from_checkpoint(args.checkpoint, args.config)
    digest = model.export_templates(args.out, args.ancestry)
    print(f'wrote {args.out} ({digest})')


if __name__ == '__main__':
    main()
