"""Data-free WAVE initialisation under each width/depth rule, no training.

Uses the quickstart's auxiliary (``tools/quickstart.py`` work dir): its
templates and head are written to one templates file, then stock ViTs of
several sizes are initialised by ``WaveInit(head=True)`` under every rule
pair and by ``WeightSelectionInit(head=True)`` from the ancestry, and
evaluated on Fashion-MNIST test images::

    python benchmarks/init_quality/data_free_rules.py \
        --work-dir work_dirs/quickstart
"""
import argparse
import copy
import glob
import os.path as osp
import sys

import numpy as np
import torch

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from grid import CONFIGS, ROOT, Size, size_options  # noqa: E402

sys.path.insert(0, ROOT)
RULES = [('crop', 'interp'), ('mean', 'interp'), ('crop', 'first'),
         ('scaled', 'interp'), ('scaled', 'first')]
SIZES = [(3, 128, 4), (4, 128, 4), (9, 128, 4), (16, 128, 4), (6, 64, 2),
         (4, 64, 2), (6, 96, 3), (4, 96, 3), (6, 112, 4), (6, 192, 6),
         (6, 256, 8)]


def test_set(data_root: str, count: int):
    """The first ``count`` test images (normalised) and labels."""
    with open(osp.join(data_root, 't10k-images-idx3-ubyte'), 'rb') as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16)
    with open(osp.join(data_root, 't10k-labels-idx1-ubyte'), 'rb') as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    x = torch.tensor(images.reshape(-1, 1, 28, 28)[:count], dtype=torch.float)
    return (x - 72.94) / 90.02, torch.tensor(labels[:count].astype(np.int64))


def accuracy(base: dict, init_cfg: dict, size, data) -> float:
    """Test accuracy of ``base`` (the quickstart's classifier config) at
    ``size``, initialised by ``init_cfg`` alone."""
    from mmengine.config import Config
    from mmpretrain.registry import MODELS
    cfg = Config(dict(model=copy.deepcopy(base)))
    cfg.merge_from_dict(size_options(Size(*size)))
    cfg.model.init_cfg = init_cfg
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.eval()
    x, y = data
    with torch.no_grad():
        pred = torch.cat([
            model(x[i:i + 500], mode='tensor').argmax(-1)
            for i in range(0, len(x), 500)
        ])
    return float((pred == y).float().mean()) * 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', default='work_dirs/quickstart')
    parser.add_argument('--test-images', type=int, default=2000)
    args = parser.parse_args()
    from mmengine.config import Config

    import wave_mm  # noqa: F401
    from wave_mm.fileio import load_checkpoint, state_dict_of
    from wave_mm.models import WaveTemplate
    torch.set_num_threads(1)
    distill = sorted(glob.glob(osp.join(args.work_dir, 'distill', 'epoch_*')))
    ancestry = sorted(
        glob.glob(osp.join(args.work_dir, 'ancestry', 'epoch_*')))
    state = state_dict_of(load_checkpoint(distill[-1]), distill[-1])
    head = {
        k[len('head.'):]: v
        for k, v in state.items() if k.startswith('head.layers')
    }
    templates = osp.join(args.work_dir, 'templates_with_head.safetensors')
    WaveTemplate.from_checkpoint(distill[-1]).export_templates(
        templates, head=head)
    data = test_set(osp.join(ROOT, 'data', 'fashion_mnist'), args.test_images)
    base = Config.fromfile(osp.join(CONFIGS, 'vit_wave_fmnist.py')).model
    print('| size | WS | ' + ' | '.join(f'{w}/{d}' for w, d in RULES) + ' |')
    print('|---' * (len(RULES) + 2) + '|')
    for size in SIZES:
        ws = float('nan')
        if size[0] <= 6 and size[1] <= 128:
            ws = accuracy(
                base,
                dict(
                    type='WeightSelectionInit',
                    checkpoint=ancestry[-1],
                    head=True), size, data)
        row = [
            accuracy(
                base,
                dict(
                    type='WaveInit',
                    templates=templates,
                    head=True,
                    width_rule=w,
                    depth_rule=d), size, data) for w, d in RULES
        ]
        print(
            f'| {size[0]}x{size[1]} | {ws:.1f} | ' +
            ' | '.join(f'{v:.1f}' for v in row) + ' |',
            flush=True)


if __name__ == '__main__':
    main()
