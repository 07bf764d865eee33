"""Materialise a checkpoint of any ViT size from a templates file.

    python tools/wave_init.py TEMPLATES --arch deit-small --out ckpt.pth
    python tools/wave_init.py TEMPLATES --arch '{"embed_dims": 320, ...}' \
        [--scalers SCALERS] [--num-classes 10] [--img-size 224] --out ckpt.pth

The checkpoint holds ``backbone.*`` (and, with ``--num-classes``, a freshly
initialised ``head.*``) in ``state_dict``: a stock mmpretrain config loads it
with ``load_from`` or with the backbone's
``init_cfg=dict(type='Pretrained', checkpoint=..., prefix='backbone.')``.
Without ``--scalers`` the weights equal what ``WaveInit`` gives.
"""
import argparse
import json
import os.path as osp
import sys
from typing import List, Optional

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmpretrain.models.backbones import VisionTransformer  # noqa: E402
from mmpretrain.registry import MODELS  # noqa: E402

import wave_mm  # noqa: E402,F401
from wave_mm.fileio import check_not_input, save_checkpoint  # noqa: E402
from wave_mm.models.initializers import read_templates  # noqa: E402


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('templates', help='templates file (.safetensors)')
    parser.add_argument(
        '--arch', required=True, help='mmpretrain arch name or a JSON dict')
    parser.add_argument('--scalers', help='fitted scalers file')
    parser.add_argument(
        '--num-classes', type=int, help='add a VisionTransformerClsHead')
    parser.add_argument(
        '--img-size', type=int, help='default: the templates\' image size')
    parser.add_argument(
        '--width-rule',
        choices=['scaled', 'crop', 'mean'],
        help='default: WaveInit\'s')
    parser.add_argument(
        '--depth-rule',
        choices=['first', 'interp'],
        help='default: WaveInit\'s')
    parser.add_argument('--out', required=True, help='checkpoint to write')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    inputs = [args.templates, args.scalers]
    check_not_input(args.out, inputs)
    arch = args.arch
    if arch.lstrip().startswith('{'):
        try:
            arch = json.loads(arch)
        except ValueError as err:
            raise SystemExit(f'--arch is not a JSON object: {err}') from None
    aux = read_templates(args.templates).arch
    rules = dict(width_rule=args.width_rule, depth_rule=args.depth_rule)
    init = dict(
        type='WaveInit',
        templates=args.templates,
        scalers=args.scalers,
        **{
            k: v
            for k, v in rules.items() if v is not None
        })
    backbone = dict(
        type='VisionTransformer',
        arch=arch,
        img_size=args.img_size
        or aux['patch_size'] * aux['patch_resolution'][0],
        patch_size=aux['patch_size'],
        in_channels=aux['in_channels'],
        with_cls_token=aux['num_extra_tokens'] > 0,
        init_cfg=init)
    model = dict(type='ImageClassifier', backbone=backbone)
    if args.num_classes:
        settings = (
            VisionTransformer.arch_zoo[arch.lower()]
            if isinstance(arch, str) else arch)
        model['head'] = dict(
            type='VisionTransformerClsHead',
            num_classes=args.num_classes,
            in_channels=settings['embed_dims'])
    classifier = MODELS.build(model)
    classifier.init_weights()
    state = {k: v.detach().clone() for k, v in classifier.state_dict().items()}
    meta = dict(
        wave_mm=wave_mm.__version__,
        templates=args.templates,
        scalers=args.scalers,
        arch=arch)
    save_checkpoint(args.out, dict(state_dict=state, meta=meta), inputs)
    print(f'wrote {args.out}: {len(state)} tensors')


if __name__ == '__main__':
    main()
