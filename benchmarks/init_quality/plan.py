"""The job list of one benchmark mode: ancestry, auxiliaries, the grid,
the transfer runs and the ablations (see :mod:`grid` for the vocabulary)."""
import os.path as osp
from typing import Dict, List, Sequence

from grid import (Job, Mode, ViTSize, applicable, config_path, data_options,
                  wave_init_options)

#: Ablation auxiliaries: name -> WaveTemplate overrides.
ABLATION_AUXES: Dict[str, Dict[str, object]] = {
    'aux_k4': {
        'model.backbone.num_templates': 4
    },
    'aux_k8': {
        'model.backbone.num_templates': 8
    },
    'aux_w32': {
        'model.backbone.template_width': 32
    },
    # Nested widths need every tensor templated: off here too.
    'aux_novec': {
        'model.backbone.templated': ['attn', 'ffn'],
        'model.nested_widths': []
    },
    'aux_plain': {
        'model.nested_min_layers': 0,
        'model.nested_widths': []
    },
    'aux_nested_depth': {
        'model.nested_widths': []
    },
    'aux_nested_width': {
        'model.nested_min_layers': 0
    },
}

#: Ablation variants: name -> what it changes of the defaults (the
#: auxiliary, the rules, the fit; see :func:`ablation_jobs`).
VARIANTS: Dict[str, Dict[str, object]] = {
    'default': {},
    'k4': dict(aux='aux_k4'),
    'k8': dict(aux='aux_k8'),
    'block32': dict(aux='aux_w32'),
    'no_vectors': dict(aux='aux_novec'),
    'no_nesting': dict(aux='aux_plain'),
    'nested_depth_only': dict(aux='aux_nested_depth'),
    'nested_width_only': dict(aux='aux_nested_width'),
    'crop_interp': dict(width_rule='crop', depth_rule='interp'),
    'crop_first': dict(width_rule='crop'),
    'scaled_interp': dict(depth_rule='interp'),
    'mean_first': dict(width_rule='mean'),
    'fit0': dict(fit_iters=0),
    'fit20': dict(fit_iters=20),
    'fit200': dict(fit_iters=200),
    'fit_lr1e-2': dict(fit_lr=1e-2),
    'fit_lr1e-3': dict(fit_lr=1e-3),
}

#: The auxiliary each method's targets read.
DEPENDS: Dict[str, Sequence[str]] = {
    'kd': ('ancestry', ),
    'ws': ('ancestry', ),
    'tleg': ('aux_tleg', ),
    'wave': ('aux_wave', ),
    'wave_df': ('aux_wave', ),
}


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
    if method == 'ws':
        init = 'model.init_cfg.WeightSelectionInit'
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
    if method in ('wave', 'wave_df'):
        return wave_init_options(
            templates_of(work, 'aux_wave'),
            fit_iters if method == 'wave' else 0,
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


def _cost(size: ViTSize, epochs: int, method: str) -> float:
    """Rough relative cost, to start the longest jobs first."""
    teacher = 1.5 if method == 'kd' else 1.0
    return max(epochs, 0.2) * size.layers * size.width**2 * teacher


def auxiliary_jobs(mode: Mode, work: str) -> List[Job]:
    anc = mode.ancestry
    workers = mode.ancestry_loader_workers
    base = {
        **data_options(mode, mode.ancestry_epochs, mode.ancestry_subset, 0),
        **anc.options(), 'train_dataloader.num_workers': workers,
        'train_dataloader.persistent_workers': workers > 0
    }
    distill = {**base, **teacher_options(mode, work)}
    aux = {
        **distill, 'model.backbone.template_width': mode.template_width,
        'model.backbone.num_templates': mode.num_templates,
        'model.nested_widths': list(mode.nested_widths),
        'model.nested_min_layers': mode.nested_min_layers
    }
    after = ('ancestry', )
    jobs = [
        Job('ancestry', config_path('ancestry'), base, kind='distill'),
        Job('aux_wave',
            config_path('distill'),
            aux,
            kind='distill',
            after=after),
        Job('aux_tleg',
            config_path('tleg_distill'),
            distill,
            kind='distill',
            after=after),
    ]
    if mode.ablations:
        jobs += [
            Job(name,
                config_path('distill'), {
                    **aux,
                    **extra
                },
                kind='distill',
                after=after) for name, extra in ABLATION_AUXES.items()
        ]
    return jobs


def needed_auxiliaries(mode: Mode, work: str,
                       jobs: Sequence[Job]) -> List[Job]:
    """The ancestry and the auxiliaries that ``jobs`` wait for."""
    auxes = auxiliary_jobs(mode, work)
    needed = {d for j in jobs for d in j.after}
    needed |= {d for a in auxes if a.name in needed for d in a.after}
    return [a for a in auxes if a.name in needed]


def grid_jobs(mode: Mode, work: str) -> List[Job]:
    """Every applicable (method, size, budget, seed), plus the untrained
    evaluations of the initializers (budget 0)."""
    jobs = []
    for size in mode.sizes:
        for seed in mode.seeds:
            for method in ('ws', 'tleg', 'mimetic', 'wave_df'):
                if not applicable(method, size, mode.ancestry):
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
            for method in ('scratch', 'kd', 'ws', 'tleg', 'mimetic', 'wave'):
                if not applicable(method, size, mode.ancestry):
                    continue
                for epochs in mode.budgets:
                    opts = {
                        **data_options(mode, epochs, mode.train_subset, seed),
                        **size.options(),
                        **method_options(method, mode, work, mode.fit_iters)
                    }
                    jobs.append(
                        method_job(
                            f'{method}_{size.name}_{epochs}ep_s{seed}',
                            method,
                            opts,
                            size=size.name,
                            budget=epochs,
                            seed=seed,
                            cost=_cost(size, epochs, method)))
    return jobs


def transfer_jobs(mode: Mode, work: str, roots: Dict[str, str]) -> List[Job]:
    """Fashion-MNIST templates and ancestry -> MNIST / digits targets with
    a new head (WS and WAVE both drop the ancestry's head)."""
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
                            cost=_cost(size, 1, method)))
    return jobs


def _variant_init(work: str, variant: Dict[str, object],
                  fit_iters: int) -> Dict[str, object]:
    """WaveInit and the scaler fit as an ablation variant sets them."""
    return wave_init_options(
        templates_of(work, variant['aux']),
        fit_iters,
        variant['width_rule'],
        variant['depth_rule'],
        fit_lr=variant['fit_lr'])


def ablation_jobs(mode: Mode, work: str) -> List[Job]:
    """One-epoch WAVE runs (and their untrained data-free init) varying one
    choice at a time from the defaults (:data:`VARIANTS`)."""
    default = dict(
        aux='aux_wave',
        width_rule='scaled',
        depth_rule='first',
        fit_iters=mode.fit_iters,
        fit_lr=mode.fit_lr)
    jobs = []
    for variant, change in VARIANTS.items():
        v = {**default, **change}
        after = (v['aux'], )
        for size in mode.ablation_sizes:
            for seed in mode.seeds:
                base = {
                    **data_options(mode, 1, mode.train_subset, seed),
                    **size.options()
                }
                labels = dict(variant=variant, size=size.name, seed=seed)
                jobs.append(
                    Job(f'abl_{variant}_{size.name}_s{seed}',
                        config_path('wave'), {
                            **base,
                            **_variant_init(work, v, v['fit_iters'])
                        },
                        after=after,
                        budget=1,
                        cost=_cost(size, 1, 'wave'),
                        **labels))
                # A variant of the fit alone shares default's data-free init.
                if not {'fit_iters', 'fit_lr'} & set(change):
                    jobs.append(
                        Job(f'abl_init_{variant}_{size.name}_s{seed}',
                            config_path('wave'), {
                                **base,
                                **_variant_init(work, v, 0)
                            },
                            kind='init',
                            after=after,
                            budget=0,
                            **labels))
    return jobs
