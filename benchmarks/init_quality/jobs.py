"""Run benchmark jobs with MMEngine's Runner, several at a time.

Each :class:`~grid.Job` runs in a worker process: its config is loaded,
the overrides merged (:func:`merge_options`), and a ``Runner`` trains it
(``kind='train'`` or ``'distill'``) or initialises the model and evaluates
it untrained (``kind='init'``). The result goes to
``<work_dir>/<name>/result.json`` with the job's :func:`signatures`; a job
whose result exists under the same signature is not run again, so an
interrupted benchmark resumes where it stopped, and a changed default
reruns exactly the jobs it touches.
"""
import hashlib
import json
import os
import os.path as osp
import sys
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from multiprocessing import get_context
from typing import Callable, Dict, List, Mapping, Optional

from grid import ROOT, Job

from wave_mm.fileio import atomic_write


def result_path(work_dir: str, name: str) -> str:
    return osp.join(work_dir, name, 'result.json')


def _accuracy(runner) -> float:
    return float(runner.message_hub.get_scalar('val/accuracy/top1').current())


def option_key(cfg, key: str) -> str:
    """The MMEngine key of an option ``key``: where a list lies on its way,
    the next part names the ``type`` of one of its elements, which
    becomes that element's index (``model.init_cfg.TLEGInit.templates``
    -> ``model.init_cfg.2.templates``).

    Raises:
        KeyError: naming ``key``, where a list is entered by position or
            holds no single element of the named type.
    """
    node, parts = cfg, []
    for part in key.split('.'):
        if isinstance(node, (list, tuple)):
            found = [
                i for i, item in enumerate(node)
                if isinstance(item, Mapping) and item.get('type') == part
            ]
            if len(found) != 1:
                raise KeyError(f'option {key}: {part!r} must name the type '
                               f'of one element of the list, found '
                               f'{len(found)}')
            part = str(found[0])
            node = node[found[0]]
        else:
            node = node.get(part) if hasattr(node, 'get') else None
        parts.append(part)
    return '.'.join(parts)


def merge_options(cfg, options: Mapping[str, object]) -> None:
    """Merge a job's options into the loaded config ``cfg``."""
    cfg.merge_from_dict({option_key(cfg, k): v for k, v in options.items()})


def run_job(job: Job,
            work_dir: str,
            threads: int = 1,
            signature: Optional[str] = None) -> Dict[str, object]:
    """Run one job in this process on ``threads`` CPU threads; returns (and
    stores, with ``signature``) its result."""
    import torch
    from mmengine.config import Config
    from mmengine.runner import Runner
    sys.path.insert(0, ROOT)
    import wave_mm  # noqa: F401
    torch.set_num_threads(threads)
    out_dir = osp.join(work_dir, job.name)
    cfg = Config.fromfile(job.config)
    merge_options(cfg, job.options)
    cfg.work_dir = out_dir
    if job.kind == 'distill':
        # Kept: later jobs read these checkpoints.
        cfg.default_hooks.checkpoint = dict(
            type='CheckpointHook',
            interval=cfg.train_cfg.max_epochs,
            save_optimizer=False,
            save_param_scheduler=False)
    start = time.time()
    runner = Runner.from_cfg(cfg)
    result: Dict[str, object] = dict(name=job.name, **job.labels())
    if signature:
        result['signature'] = signature
    if job.kind in ('init', 'export'):
        if job.kind == 'init':
            runner.model.init_weights()
        else:  # initialises the model and runs the hooks, trains 0 epochs
            runner.train()
            result['energy'] = captured_energy(runner.model, cfg)
        metrics = runner.val()
        result['accuracy'] = float(metrics['accuracy/top1'])
    else:
        runner.train()
        result['accuracy'] = _accuracy(runner)
        fit = osp.join(out_dir, 'scaler_init.json')
        if osp.isfile(fit):
            with open(fit) as f:
                result['fit'] = json.load(f)
            # Relative to the work dir: results travel between machines.
            result['fit']['scalers_file'] = osp.relpath(
                result['fit'].get('scalers_file', ''), work_dir)
    result['seconds'] = round(time.time() - start, 2)
    result['params'] = sum(p.numel() for p in runner.model.parameters())
    atomic_write(
        result_path(work_dir, job.name),
        json.dumps(result, indent=1).encode())
    return result


def captured_energy(model, cfg) -> Dict[str, float]:
    """Share of the ancestry's energy (squared Frobenius norm) that the
    distiller's composed weights keep, per backbone tensor kind summed
    over layers (``1 - |W - W_aux|^2 / |W|^2``): after a Kronecker
    projection, the energy its templates capture."""
    from wave_mm.core import ancestry_checkpoint
    from wave_mm.fileio import load_checkpoint, state_dict_of
    path = ancestry_checkpoint(cfg.model.teacher.checkpoint)
    ancestry = state_dict_of(load_checkpoint(path), path)
    composed = model.backbone.to_vit_state_dict()
    sums: Dict[str, List[float]] = {}
    for name, value in composed.items():
        source = ancestry.get(f'backbone.{name}')
        if source is None or source.shape != value.shape:
            continue
        kind = name.split('.', 2)[-1] if name.startswith('layers.') else name
        err, norm = sums.setdefault(kind, [0.0, 0.0])
        sums[kind] = [
            err + float(
                (source.double() - value.double().cpu()).square().sum()),
            norm + float(source.double().square().sum())
        ]
    return {
        k: round(1 - err / norm, 4)
        for k, (err, norm) in sorted(sums.items()) if norm > 0
    }


def signatures(jobs: Dict[str, Job], work_dir: str) -> Dict[str, str]:
    """A digest per job of its config, options and kind and of the
    signatures of the jobs it waits for (so a re-distilled auxiliary
    invalidates its targets). Paths are taken relative to ``work_dir`` and
    the repository, so results moved between machines stay valid."""
    sigs: Dict[str, str] = {}

    def sig(name: str) -> str:
        if name not in sigs:
            job = jobs[name]
            deps = tuple(sig(d) if d in jobs else d for d in job.after)
            text = job.signature_text(deps)
            text = text.replace(osp.abspath(work_dir), '<work>')
            text = text.replace(ROOT, '<root>')
            sigs[name] = hashlib.sha1(text.encode()).hexdigest()[:16]
        return sigs[name]

    for name in jobs:
        sig(name)
    return sigs


def _safe_run(job: Job, work_dir: str, signature: str) -> Dict[str, object]:
    try:
        return run_job(job, work_dir, signature=signature)
    except Exception:  # reported, and the jobs after it are skipped
        return dict(name=job.name, error=traceback.format_exc()[-3000:])


def run_all(jobs: Dict[str, Job],
            work_dir: str,
            workers: int,
            deadline: Optional[float] = None,
            log: Callable[[str], None] = print) -> Dict[str, Dict]:
    """Run every job once its ``after`` jobs are done, ``workers`` at a time.

    No job starts after ``deadline`` (a ``time.time()``); the ones left are
    run by the next call. A stored result is reused only under its job's
    current signature. Returns the results by job name (errors as
    ``{'error': ...}``).
    """
    os.makedirs(work_dir, exist_ok=True)
    sigs = signatures(jobs, work_dir)
    results: Dict[str, Dict] = {}
    stale = 0
    for name in jobs:
        path = result_path(work_dir, name)
        if osp.isfile(path):
            with open(path) as f:
                result = json.load(f)
            if result.get('signature') == sigs[name]:
                results[name] = result
            else:
                stale += 1
    pending = [n for n in jobs if n not in results]
    log(f'{len(results)} results reused, {len(pending)} jobs to run '
        f'({stale} of them changed since their stored result)')
    ctx = get_context('spawn')
    running: Dict[object, str] = {}
    start = time.time()
    with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
        while pending or running:
            if deadline and time.time() > deadline and pending:
                log(f'deadline: {len(pending)} jobs left for the next run')
                pending = []
            for name in list(pending):
                deps = jobs[name].after
                if any('error' in results.get(d, {}) for d in deps):
                    results[name] = dict(
                        name=name, error=f'needs {list(deps)}')
                    pending.remove(name)
                elif all(d in results
                         for d in deps) and (len(running) < workers):
                    running[pool.submit(_safe_run, jobs[name], work_dir,
                                        sigs[name])] = name
                    pending.remove(name)
            if not running:
                continue
            done, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for future in done:
                name = running.pop(future)
                results[name] = future.result()
                status = ('FAILED\n' +
                          results[name]['error'] if 'error' in results[name]
                          else f'{results[name]["accuracy"]:.2f}%')
                log(f'[{time.time() - start:6.0f}s] {name}: {status}')
    return results


def first_error(results: Dict[str, Dict]) -> Optional[str]:
    errors: List[str] = [
        f'{n}: {r["error"]}' for n, r in results.items() if 'error' in r
    ]
    return errors[0] if errors else None
