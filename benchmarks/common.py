"""Helpers shared by the benchmark scripts: timing, environment, output."""
import json
import platform
import statistics
import time
from contextlib import nullcontext
from typing import Callable, ContextManager, Dict, List, Optional, Sequence

import torch

from wave_mm.fileio import atomic_write


def sync(device: torch.device) -> None:
    """Wait for the device's queued work."""
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def autocast(device: torch.device, dtype: str) -> ContextManager:
    """``torch.autocast`` for ``'bf16'``/``'fp16'``, a no-op for ``'fp32'``."""
    if dtype == 'fp32':
        return nullcontext()
    cast = {'bf16': torch.bfloat16, 'fp16': torch.float16}[dtype]
    return torch.autocast(device.type, dtype=cast)


def time_ms(fn: Callable[[], object],
            device: torch.device,
            warmup: int,
            iters: int,
            rounds: int = 3) -> Dict[str, float]:
    """Milliseconds per call of ``fn``.

    After ``warmup`` calls, ``rounds`` loops of ``iters`` calls each are
    timed back to back (CUDA events on a GPU, ``perf_counter`` elsewhere), so
    host launch overhead counts where the device would wait for it.

    Returns:
        ``median`` and ``min`` over the rounds of the per-call mean.
    """
    for _ in range(warmup):
        fn()
    sync(device)
    per_call: List[float] = []
    for _ in range(rounds):
        if device.type == 'cuda':
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(iters):
                fn()
            end.record()
            end.synchronize()
            per_call.append(start.elapsed_time(end) / iters)
        else:
            t0 = time.perf_counter()
            for _ in range(iters):
                fn()
            sync(device)
            per_call.append((time.perf_counter() - t0) * 1e3 / iters)
    return dict(median=statistics.median(per_call), min=min(per_call))


def environment(device: torch.device) -> Dict[str, str]:
    """Versions and device name, recorded next to every result."""
    env = dict(
        python=platform.python_version(),
        torch=torch.__version__,
        device=str(device))
    if device.type == 'cuda':
        env['gpu'] = torch.cuda.get_device_name(device)
    else:
        env['cpu'] = platform.processor() or platform.machine()
        env['threads'] = str(torch.get_num_threads())
    return env


def markdown(rows: Sequence[Dict[str, object]],
             columns: Optional[Sequence[str]] = None) -> str:
    """A markdown table of ``rows``; floats get 3 significant decimals."""
    if not rows:
        return '(no results)'
    columns = list(columns or rows[0])

    def fmt(value: object) -> str:
        if isinstance(value, float):
            return f'{value:.3f}' if abs(value) < 100 else f'{value:,.0f}'
        return '' if value is None else str(value)

    lines = [
        '| ' + ' | '.join(columns) + ' |',
        '|' + '|'.join('---' for _ in columns) + '|'
    ]
    lines += [
        '| ' + ' | '.join(fmt(r.get(c)) for c in columns) + ' |' for r in rows
    ]
    return '\n'.join(lines)


def write_json(path: Optional[str], payload: Dict[str, object]) -> None:
    """Write ``payload`` to ``path`` (if given) as indented JSON."""
    if path:
        atomic_write(path, json.dumps(payload, indent=1).encode())


def report(benchmark: str,
           title: str,
           args,
           device: torch.device,
           rows: List[Dict[str, object]],
           columns: Sequence[str],
           label: Callable[[Dict[str, object]], str],
           extra: Optional[Dict[str, object]] = None,
           after: str = '') -> None:
    """Print ``rows`` as a titled markdown table followed by their errors
    (each named by ``label``) and ``after``, and write everything, ``extra``
    entries included, to ``args.out``."""
    table = markdown(rows, columns)
    env = environment(device)
    print(f'\n## {title} ({env})\n')
    print(table)
    for row in rows:
        if 'error' in row:
            print(f'- {label(row)}: {row["error"]}')
    if after:
        print(after)
    write_json(
        args.out,
        dict(
            benchmark=benchmark,
            args=vars(args),
            env=env,
            rows=rows,
            markdown=table,
            **(extra or {})))
