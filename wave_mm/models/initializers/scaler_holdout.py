"""The held-out check of the scaler fit: a seeded split of the fit data, the
evaluation of a candidate on the held-out images and the best candidate
kept over a fit (:func:`~.scaler_fit.fit_scalers` uses them).

A candidate is the fit's state (scalers and the ``extra`` parameters) at an
evaluation; the data-free start is the first. One candidate is *better*
than another when it classifies more held-out images correctly; at equal
accuracy, when its mean held-out loss is lower. Equal candidates keep the
earlier one, so a fit that does not improve on the start keeps the start.
"""
import random
from contextlib import contextmanager
from typing import (Callable, ContextManager, Dict, Iterable, Iterator, List,
                    Optional, Sized, Tuple, Union)

import numpy as np
import torch
from mmengine.dataset import DefaultSampler
from mmengine.dist import all_reduce
from torch import Tensor, nn
from torch.utils.data import DataLoader, Subset

from .wave_target import WaveTarget

#: Seed of the random state the held-out images are read under, so that
#: random train transforms give every candidate the same images.
_EVAL_SEED = 0


def check_holdout(holdout: Union[int, float]) -> None:
    """Raise a ``ValueError`` unless ``holdout`` is a fraction in [0, 1) or
    an image count >= 0."""
    ok = (not isinstance(holdout, bool)
          and ((isinstance(holdout, int) and holdout >= 0) or
               (isinstance(holdout, float) and 0 <= holdout < 1)))
    if not ok:
        raise ValueError('holdout must be a fraction in [0, 1) of the train '
                         f'dataset or a count of images >= 0, got {holdout!r}')


def check_schedule(eval_interval: Optional[int],
                   patience: Optional[int]) -> None:
    """Raise a ``ValueError`` unless ``eval_interval`` and ``patience`` are
    ``None`` or integers >= 1."""
    for name, value in (('eval_interval', eval_interval), ('patience',
                                                           patience)):
        if value is not None and (isinstance(value, bool)
                                  or not isinstance(value, int) or value < 1):
            raise ValueError(
                f'{name} must be an integer >= 1 or None, got {value!r}')


def holdout_count(holdout: Union[int, float], size: int) -> int:
    """The number of images ``holdout`` takes out of ``size``: a count as
    it is, a fraction rounded (at least one image unless it is 0).

    Raises:
        ValueError: If ``holdout`` is invalid, larger than the dataset or
            leaves no images to fit on.
    """
    check_holdout(holdout)
    if isinstance(holdout, float):
        count = max(1, round(holdout * size)) if holdout > 0 else 0
    else:
        count = holdout
    if count > size:
        raise ValueError(f'holdout={holdout!r} is larger than the train '
                         f'dataset ({size} images)')
    if count and count == size:
        raise ValueError(f'holdout={holdout!r} leaves no training images of '
                         f'the {size} in the train dataset')
    return count


def holdout_split(size: int, holdout: Union[int, float],
                  seed: int) -> Tuple[List[int], List[int]]:
    """Split ``range(size)`` into fit and held-out indices (each sorted) by
    a permutation seeded with ``seed``: the same on every call and rank."""
    count = holdout_count(holdout, size)
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(size, generator=generator).tolist()
    return sorted(order[count:]), sorted(order[:count])


def holdout_loaders(loader: DataLoader, holdout: Union[int, float],
                    seed: int) -> Tuple[DataLoader, DataLoader]:
    """A fit loader and a held-out loader over a split of ``loader``'s
    dataset.

    Both take ``loader``'s batch size, collate function and workers. The
    fit loader shuffles (seeded with ``seed``) and shards the fit images
    over the ranks like MMEngine's ``DefaultSampler``; the held-out loader
    reads its images in order, each on one rank (the evaluation sums over
    the ranks).

    Raises:
        ValueError: If ``holdout`` does not fit the dataset, or leaves less
            than one batch to fit on.
    """
    dataset = loader.dataset
    if not isinstance(dataset, Sized):
        raise ValueError('holdout needs a train dataset with a length, got '
                         f'{type(dataset).__name__}')
    fit_idx, held_idx = holdout_split(len(dataset), holdout, seed)
    batch_size = loader.batch_size or loader.batch_sampler.batch_size
    common = dict(
        batch_size=batch_size,
        collate_fn=loader.collate_fn,
        num_workers=loader.num_workers,
        pin_memory=loader.pin_memory,
        worker_init_fn=loader.worker_init_fn)
    fit_set, held_set = Subset(dataset, fit_idx), Subset(dataset, held_idx)
    fit = DataLoader(
        fit_set,
        sampler=DefaultSampler(fit_set, shuffle=True, seed=seed),
        drop_last=loader.drop_last,
        persistent_workers=loader.persistent_workers,
        **common)
    if len(fit) == 0:
        raise ValueError(f'holdout={holdout!r} leaves {len(fit_idx)} '
                         f'training images, less than one batch of '
                         f'{batch_size} per rank')
    held = DataLoader(
        held_set,
        sampler=DefaultSampler(held_set, shuffle=False, round_up=False),
        **common)
    return fit, held


@contextmanager
def _fixed_rng(seed: int) -> Iterator[None]:
    """Seed Python's, NumPy's and torch's CPU random state; restore the
    previous state afterwards."""
    states = random.getstate(), np.random.get_state(), torch.get_rng_state()
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    try:
        yield
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.set_rng_state(states[2])


@torch.no_grad()
def evaluate_holdout(
        model: nn.Module, target: WaveTarget, loader: Iterable,
        context: Callable[[nn.Module], ContextManager]) -> Dict[str, float]:
    """Held-out accuracy and mean loss of ``model`` through ``target``'s
    Kronecker view, in eval mode, summed over the ranks.

    Args:
        model: An ``ImageClassifier`` whose backbone is ``target``'s ViT.
        target: The target, on ``model``'s device.
        loader: This rank's held-out batches.
        context: The fit's forward context (``optim_wrapper.optim_context``:
            its autocast), called with ``model``.

    Returns:
        ``images``, ``correct``, ``accuracy`` (%) and ``loss`` (the model's
        own loss, mean over the images); the same on every rank.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    sums = torch.zeros(3, dtype=torch.float64, device=device)
    try:
        with _fixed_rng(_EVAL_SEED):
            with context(model):
                weights = target()
            for data in loader:
                data = model.data_preprocessor(data, False)
                inputs, samples = data['inputs'], data['data_samples']
                with context(model):
                    logits = target.view.run(model, weights, (inputs, ),
                                             dict(mode='tensor'), 'backbone.')
                    loss = model.head._get_loss(logits, samples)['loss']
                labels = torch.cat([s.gt_label for s in samples]).to(device)
                sums += torch.stack([
                    (logits.argmax(-1) == labels).sum().double(),
                    loss.double() * len(labels),
                    sums.new_tensor(len(labels))
                ])
    finally:
        model.train(was_training)
    all_reduce(sums, op='sum')
    correct, loss_sum, images = sums.tolist()
    return dict(
        images=int(images),
        correct=correct,
        accuracy=100 * correct / max(images, 1),
        loss=loss_sum / max(images, 1))


class BestState:
    """The best candidate of a fit by held-out score, and its tensors.

    Args:
        tensors: The fitted tensors by name (live parameters); the best
            candidate's are copied on :meth:`offer` and written back by
            :meth:`restore`.
    """

    def __init__(self, tensors: Dict[str, Tensor]) -> None:
        self.tensors = tensors
        self.score: Optional[Dict[str, float]] = None
        self.iter: Optional[int] = None
        self._saved: Dict[str, Tensor] = {}

    @staticmethod
    def better(score: Dict[str, float], other: Dict[str, float]) -> bool:
        """Whether ``score`` beats ``other``: more correct held-out images,
        or as many at a lower mean loss."""
        return (score['correct'], -score['loss']) > (other['correct'],
                                                     -other['loss'])

    def offer(self, it: int, score: Dict[str, float]) -> bool:
        """Keep the current tensors if ``score`` beats the best; returns
        whether it did."""
        if self.score is not None and not self.better(score, self.score):
            return False
        self.score, self.iter = score, it
        self._saved = {k: v.detach().clone() for k, v in self.tensors.items()}
        return True

    @torch.no_grad()
    def restore(self) -> None:
        """Write the best candidate's tensors back."""
        for name, value in self._saved.items():
            self.tensors[name].copy_(value)
