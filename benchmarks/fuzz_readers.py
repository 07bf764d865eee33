"""Fuzz the templates and scalers file readers with mutated files.

    python benchmarks/fuzz_readers.py [--files 10000] [--seed 0] [--out F]

Exports a small real templates file (a ``WaveTemplate`` auxiliary with its
head) and a scalers file fitted to it, then reads ``--files`` mutated copies:
byte flips, insertions, deletions and truncations, half of them aimed at the
header. Every outcome must be a load equal to the original or a
``TemplatesFileError``; the script exits non-zero on any other.
"""
import argparse
import json
import os
import os.path as osp
import sys
import tempfile
import time
from collections import Counter
from typing import Callable, Dict, Tuple

import numpy as np
import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from wave_mm import templates as wave_templates  # noqa: E402
from wave_mm.fileio import atomic_write  # noqa: E402
from wave_mm.models import WaveTemplate  # noqa: E402

KINDS = ('flip', 'insert', 'delete', 'truncate')


def make_files(folder: str) -> Dict[str, Tuple[Callable, str]]:
    """A templates file and a scalers file bound to it."""
    torch.manual_seed(0)
    aux = WaveTemplate(
        arch=dict(
            embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64),
        img_size=8,
        patch_size=4,
        template_width=16,
        num_templates=2)
    templates = osp.join(folder, 'templates.safetensors')
    head = {'layers.head.weight': torch.randn(3, 32)}
    digest = aux.export_templates(templates, 'fuzz', head=head)
    scalers = osp.join(folder, 'scalers.safetensors')
    wave_templates.save_scalers(
        scalers,
        wave_templates.Scalers(
            {
                k: v.detach()
                for k, v in aux.bank.scalers.items()
            }, aux.layout.arch.as_dict(), digest))
    return dict(
        templates=(wave_templates.load_templates, templates),
        scalers=(wave_templates.load_scalers, scalers))


def mutate(data: bytes, rng: np.random.Generator) -> Tuple[bytes, str]:
    """One random mutation; half aim at the header (its first bytes)."""
    out = bytearray(data)
    kind = KINDS[rng.integers(len(KINDS))]
    header = 8 + int.from_bytes(data[:8], 'little')
    end = header if rng.random() < 0.5 else len(out)
    at = int(rng.integers(end))
    if kind == 'flip':
        for pos in rng.integers(end, size=rng.integers(1, 5)):
            out[pos] ^= int(rng.integers(1, 256))
    elif kind == 'insert':
        out[at:at] = rng.integers(
            0, 256, rng.integers(1, 9), dtype=np.uint8).tobytes()
    elif kind == 'delete':
        del out[at:at + int(rng.integers(1, 9))]
    else:
        del out[at:]
    return bytes(out), kind


def same(a, b) -> bool:
    """Equal tensors and header fields."""
    for key, value in vars(a).items():
        other = getattr(b, key)
        if isinstance(value, dict) and all(
                isinstance(v, torch.Tensor) for v in value.values()):
            if value.keys() != other.keys() or not all(
                    torch.equal(v, other[k]) for k, v in value.items()):
                return False
        elif value != other:
            return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--files', type=int, default=10000)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--out', help='write the counts here (JSON)')
    args = parser.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(args.seed)
    counts: Counter = Counter()
    failures = []
    start = time.time()
    with tempfile.TemporaryDirectory() as folder:
        files = make_files(folder)
        originals = {
            name: (load, load(path), open(path, 'rb').read())
            for name, (load, path) in files.items()
        }
        path = osp.join(folder, 'mutated.safetensors')
        for i in range(args.files):
            name = ('templates', 'scalers')[i % 2]
            load, original, data = originals[name]
            mutated, kind = mutate(data, rng)
            with open(path, 'wb') as f:
                f.write(mutated)
            try:
                outcome = 'equal load' if same(load(path),
                                               original) else 'OTHER LOAD'
            except wave_templates.TemplatesFileError:
                outcome = 'TemplatesFileError'
            except Exception as err:  # the fuzzer's finding
                outcome = f'OTHER: {type(err).__name__}'
                failures.append(f'{name} {kind}: {err!r}'[:300])
            counts[(name, kind, outcome)] += 1
        sizes = {n: len(d) for n, (_, _, d) in originals.items()}
    seconds = time.time() - start
    others = sum(n for (_, _, o), n in counts.items() if o.startswith('OTHER'))
    print(f'{args.files} mutated files ({sizes} bytes originals) in '
          f'{seconds:.1f} s; outcomes other than an equal load or a '
          f'TemplatesFileError: {others}\n')
    print('| file | mutation | outcome | count |\n|---|---|---|---|')
    for (name, kind, outcome), n in sorted(counts.items()):
        print(f'| {name} | {kind} | {outcome} | {n} |')
    for line in failures[:20]:
        print(line)
    if args.out:
        atomic_write(
            args.out,
            json.dumps(
                dict(
                    date=time.strftime('%Y-%m-%d'),
                    files=args.files,
                    seed=args.seed,
                    seconds=round(seconds, 1),
                    cores=os.cpu_count(),
                    others=others,
                    counts=[[*k, n] for k, n in sorted(counts.items())]),
                indent=1).encode())
    if others:
        raise SystemExit(f'{others} outcomes were neither an equal load nor '
                         'a TemplatesFileError')


if __name__ == '__main__':
    main()
