"""The job list of one benchmark mode: ancestry, auxiliaries, the grid and
its lr selection, and the transfer runs (see :mod:`grid` for the
vocabulary; the ablations are :mod:`ablations`')."""
import os.path as osp
from typing import Dict, List, Mapping, Optional, Sequence

from grid import (Job, Mode, ViTSize, applicable, config_path, data_options,
                  validation_options, wave_init_options)

#: The auxiliary each method's targets read.
DEPENDS: Dict[str, Sequence[str]] = {
    'kd': ('ancestry', ),
    'ws': ('ancestry', ),
    'front': ('ancestry', ),
    'tleg': ('aux_tleg', ),
    'wave': ('aux_wave', ),
    'wave_df': ('aux_wave', ),
    'wave_proj': ('aux_proj0', ),
    'wave_proj_df': ('aux_proj0', ),
}

#: Initializers evaluated before any training, and the methods whose
#: untrained start they are.
UNTRAINED = ('ws', 'tleg', 'mimetic', 'front', 'wave_df', 'wave_proj_df')


def teacher_options(mode: Mode, work: str) -> Dict[str, object]:
    """The ancestry as the teacher: its size and its work dir."""
    return {
        **mode.ancestry.options('model.teacher.model'),
        'model.teacher.checkpoint':
        osp.join(work, 'ancestry'),
    }


def templates_of(work: str, aux: str) -> str:
    return osp.join(work, aux, 'templates.safetensors')


def ancestry_checkpoint(mode: Mode, work: str) -> str:
    return osp.join(work, 'ancestry', f'epoch_{mode.ancestry_epochs}.pth')


def method_options(method: str,
                   mode: Mode,
                   work: str,
                   fit_iters: int,
                   head: bool = True) -> Dict[str, object]:
    """Overrides that point a method's config at this benchmark's files;
    ``head=False``: Weight Selection and WAVE leave the source's head out
    (for a target with other classes)."""
    if method == 'kd':
        return teacher_options(mode, work)
    if method in ('ws', 'front'):
        init = ('model.init_cfg.WeightSelectionInit'
                if method == 'ws' else 'model.init_cfg.FRONTInit')
        opts: Dict[str, object] = {
            f'{init}.checkpoint': ancestry_checkpoint(mode, work)
        }
        if not head:
            opts[f'{init}.head'] = False
        return opts
    if method == 'tleg':
        return {
            'model.init_cfg.TLEGInit.templates':
            templates_of(work, 'aux_tleg')
        }
    if method.startswith('wave'):
        fitted = method in ('wave', 'wave_proj')
        return wave_init_options(
            templates_of(work, DEPENDS[method][0]),
            fit_iters if fitted else 0,
            head=head,
            fit_lr=mode.fit_lr)
    return {}


def method_job(name: str,
               method: str,
               options: Dict[str, object],
               kind: str = 'train',
               **labels) -> Job:
    """A job of one method: its config, the auxiliary it waits for."""
    return Job(
        name,
        config_path(method),
        options,
        kind=kind,
        after=tuple(DEPENDS.get(method, ())),
        method=method,
        **labels)


def cost(size: ViTSize, epochs: int, method: str) -> float:
    """Rough relative cost, to start the longest jobs first."""
    teacher = 1.5 if method == 'kd' else 1.0
    return max(epochs, 0.2) * size.layers * size.width**2 * teacher


def auxiliary_jobs(
        mode: Mode,
        work: str,
        extra: Optional[Mapping[str, Mapping[str,
                                             object]]] = None) -> List[Job]:
    """The ancestry, the WAVE and TLEG auxiliaries, the auxiliaries started
    at the Kronecker projection of the ancestry (``aux_proj{E}``, ``E``
    epochs; ``aux_proj0``: the projection alone) or shorter from a random
    start (``aux_rand{E}``), and ``extra``: name -> overrides of the WAVE
    auxiliary (the ablations')."""
    anc = mode.ancestry
    # In-process loading (data_options): a loader worker's batches cost
    # the training process 2.8x the CPU time of loading them itself.
    base = {
        **data_options(mode, mode.ancestry_epochs, mode.ancestry_subset, 0),
        **anc.options(),
        **mode.recipe
    }
    distill = {**base, **teacher_options(mode, work)}
    aux = {
        **distill, 'model.backbone.template_width': mode.template_width,
        'model.backbone.num_templates': mode.num_templates,
        'model.nested_widths': list(mode.nested_widths),
        'model.nested_min_layers': mode.nested_min_layers
    }
    after = ('ancestry', )
    projection = {  # on the whole distiller: the ancestry's head too
        'model.init_cfg':
        dict(
            type='KroneckerProjectionInit',
            checkpoint=osp.join(work, 'ancestry'))
    }

    def epochs(n: int) -> Dict[str, object]:
        opts = {'train_cfg.max_epochs': n, 'train_cfg.val_interval': max(n, 1)}
        if n == 0:  # nothing to schedule
            opts['param_scheduler'] = []
        return opts

    def wave(name: str, options: Mapping[str, object]) -> Job:
        return Job(
            name,
            config_path('distill'), {
                **aux,
                **options
            },
            kind='export'
            if options.get('train_cfg.max_epochs') == 0 else 'distill',
            after=after)

    jobs = [
        Job('ancestry', config_path('ancestry'), base, kind='distill'),
        wave('aux_wave', {}),
        Job('aux_tleg',
            config_path('tleg_distill'),
            distill,
            kind='distill',
            after=after),
    ]
    jobs += [
        wave(f'aux_proj{n}', {
            **projection,
            **epochs(n)
        }) for n in mode.projection_epochs
    ]
    jobs += [wave(f'aux_rand{n}', epochs(n)) for n in mode.random_epochs]
    jobs += [wave(name, options) for name, options in (extra or {}).items()]
    return jobs


def needed_auxiliaries(
        mode: Mode,
        work: str,
        jobs: Sequence[Job],
        extra: Optional[Mapping[str, Mapping[str,
                                             object]]] = None) -> List[Job]:
    """The ancestry and the auxiliaries that ``jobs`` wait for."""
    auxes = auxiliary_jobs(mode, work, extra)
    needed = {d for j in jobs for d in j.after}
    needed |= {d for a in auxes if a.name in needed for d in a.after}
    return [a for a in auxes if a.name in needed]


def curve_jobs(mode: Mode, work: str) -> List[Job]:
    """Every projected and shorter random-start auxiliary (the stage-1
    epochs the projection saves)."""
    names = {f'aux_proj{n}' for n in mode.projection_epochs}
    names |= {f'aux_rand{n}' for n in mode.random_epochs} | {'aux_wave'}
    return [a for a in auxiliary_jobs(mode, work) if a.name in names]


def untrained_jobs(mode: Mode, work: str) -> List[Job]:
    """Every initializer evaluated before any training (budget 0)."""
    jobs = []
    for size in mode.sizes:
        for seed in mode.seeds:
            for method in UNTRAINED:
                if (not applicable(method, size, mode.ancestry)
                        or method.replace('_df', '') not in mode.methods):
                    continue
                opts = {
                    **data_options(mode, 1, mode.train_subset, seed),
                    **size.options(),
                    **method_options(method, mode, work, mode.fit_iters)
                }
                jobs.append(
                    method_job(
                        f'init_{method}_{size.name}_s{seed}',
                        method,
                        opts,
                        kind='init',
                        size=size.name,
                        budget=0,
                        seed=seed))
    return jobs


def train_job(mode: Mode, work: str, method: str, size: ViTSize, epochs: int,
              seed: int, lr: float) -> Job:
    """``method`` on ``size`` trained ``epochs`` at ``lr``, tested."""
    opts = {
        **data_options(mode, epochs, mode.train_subset, seed, lr=lr),
        **size.options(),
        **method_options(method, mode, work, mode.fit_iters)
    }
    return method_job(
        f'{method}_{size.name}_{epochs}ep_lr{lr:g}_s{seed}',
        method,
        opts,
        size=size.name,
        budget=epochs,
        seed=seed,
        lr=lr,
        cost=cost(size, epochs, method))


def cells(mode: Mode):
    """Every applicable ``(method, size)`` of the grid."""
    return [(m, s) for s in mode.sizes for m in mode.methods
            if applicable(m, s, mode.ancestry)]


def shared_jobs(mode: Mode, work: str) -> List[Job]:
    """The grid at the shared recipe's lr: every cell, budget and seed."""
    return [
        train_job(mode, work, m, s, b, seed, mode.shared_lr)
        for m, s in cells(mode) for b in mode.budgets for seed in mode.seeds
    ]


def selection_jobs(mode: Mode, work: str) -> List[Job]:
    """Per cell and lr, ``select_budget`` epochs of seed 0 on the training
    images less the validation split, validated on that split."""
    jobs = []
    for method, size in cells(mode):
        for lr in mode.lrs:
            job = train_job(mode, work, method, size, mode.select_budget,
                            mode.seeds[0], lr)
            jobs.append(
                Job(f'select_{method}_{size.name}_lr{lr:g}',
                    job.config, {
                        **job.options,
                        **validation_options(mode)
                    },
                    after=job.after,
                    method=method,
                    size=size.name,
                    budget=mode.select_budget,
                    lr=lr,
                    variant='select',
                    cost=job.cost))
    return jobs


def chosen_lrs(mode: Mode, results: Mapping[str,
                                            Mapping]) -> Dict[tuple, float]:
    """``(method, size name) -> lr`` of the best validation accuracy, for
    every cell whose selection runs are all done (ties: the earlier lr of
    ``mode.lrs``)."""
    chosen = {}
    for method, size in cells(mode):
        scores = [
            results.get(f'select_{method}_{size.name}_lr{lr:g}',
                        {}).get('accuracy') for lr in mode.lrs
        ]
        if None in scores:
            continue
        best = max(range(len(scores)), key=lambda i: (scores[i], -i))
        chosen[(method, size.name)] = mode.lrs[best]
    return chosen


def chosen_jobs(mode: Mode, work: str, results: Mapping[str,
                                                        Mapping]) -> List[Job]:
    """The grid at each cell's chosen lr, for the cells chosen so far."""
    chosen = chosen_lrs(mode, results)
    return [
        train_job(mode, work, m, s, b, seed, chosen[(m, s.name)])
        for m, s in cells(mode) if (m, s.name) in chosen for b in mode.budgets
        for seed in mode.seeds
    ]


def transfer_jobs(mode: Mode, work: str, roots: Dict[str, str]) -> List[Job]:
    """Fashion-MNIST templates and ancestry -> MNIST / digits targets with
    a new head (WS and WAVE both drop the ancestry's head), at the shared
    recipe."""
    jobs = []
    for dataset in mode.transfer:
        for size in mode.transfer_sizes:
            for seed in mode.seeds:
                for method in ('scratch', 'ws', 'wave'):
                    if not applicable(method, size, mode.ancestry):
                        continue
                    opts = data_options(mode, mode.transfer_epochs, None, seed,
                                        roots[dataset], 'MNIST')
                    opts.update({
                        'val_dataloader.dataset.indices':
                        None,
                        **size.options(),
                        **method_options(
                            method, mode, work, mode.fit_iters, head=False)
                    })
                    jobs.append(
                        method_job(
                            f'transfer_{dataset}_{method}_{size.name}_s{seed}',
                            method,
                            opts,
                            size=size.name,
                            dataset=dataset,
                            budget=mode.transfer_epochs,
                            seed=seed,
                            cost=cost(size, 1, method)))
    return jobs
