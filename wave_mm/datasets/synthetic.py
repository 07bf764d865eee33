"""``SyntheticImageNet``: generated images for smoke tests and benchmarks.

Images are made on the fly from the sample index (no files): a fixed random
colour pattern per class plus noise, so the task is learnable and every
epoch sees the same data.
"""
from typing import List, Sequence

import numpy as np
from mmpretrain.datasets import BaseDataset
from mmpretrain.registry import DATASETS


@DATASETS.register_module()
class SyntheticImageNet(BaseDataset):
    """A learnable, file-free image classification dataset.

    Args:
        num_samples: Dataset length.
        num_classes: Number of classes; labels are ``index % num_classes``.
        img_shape: ``(height, width, channels)`` of the uint8 images.
        noise: Noise amplitude relative to the class pattern (0..1).
        seed: Seed of the class patterns and the per-sample noise.
        pipeline: mmpretrain transforms applied to ``dict(img, gt_label)``.
    """

    def __init__(self,
                 num_samples: int = 1000,
                 num_classes: int = 1000,
                 img_shape: Sequence[int] = (224, 224, 3),
                 noise: float = 0.5,
                 seed: int = 0,
                 pipeline: Sequence = (),
                 test_mode: bool = False) -> None:
        self.num_samples = num_samples
        self.img_shape = tuple(img_shape)
        self.noise = noise
        self.seed = seed
        rng = np.random.default_rng(seed)
        # Coarse 4x4 patterns, upsampled: cheap and resolution independent.
        self._patterns = rng.uniform(0, 255, (num_classes, 4, 4, img_shape[2]))
        classes = [f'class_{i}' for i in range(num_classes)]
        super().__init__(
            ann_file='',
            pipeline=pipeline,
            test_mode=test_mode,
            classes=classes,
            serialize_data=False)

    def load_data_list(self) -> List[dict]:
        num_classes = len(self._patterns)
        return [
            dict(gt_label=i % num_classes, sample_idx=i)
            for i in range(self.num_samples)
        ]

    def get_data_info(self, idx: int) -> dict:
        info = dict(super().get_data_info(idx))
        h, w, _ = self.img_shape
        pattern = self._patterns[info['gt_label']]
        pattern = pattern.repeat(-(-h // 4), 0).repeat(-(-w // 4), 1)[:h, :w]
        noise = np.random.default_rng(
            (self.seed, idx)).uniform(0, 255, self.img_shape)
        img = (1 - self.noise) * pattern + self.noise * noise
        info['img'] = img.astype(np.uint8)
        return info
