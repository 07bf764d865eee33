"""Every config under configs/ loads and builds its model (shrunk); the
quickstart's baselines inherit the target base alone."""
import ast
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner
from mmpretrain.registry import MODELS

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = sorted(
    p for p in glob.glob(
        osp.join(ROOT, 'configs', '**', '*.py'), recursive=True)
    if '_base_' not in p)
QUICKSTART = osp.join(ROOT, 'configs', 'wave', 'quickstart')
TARGET_BASE = './_base_/target_fmnist.py'
#: The methods the init benchmark compares, each a sibling of the others.
TARGETS = {
    method: f'{method}_vit-6x128-p7_1xb128-1e_fmnist.py'
    for method in ('scratch', 'kd', 'ws', 'tleg', 'mimetic', 'front', 'wave')
}
BASELINES = [c for m, c in TARGETS.items() if m != 'wave'
             ] + ['tleg-distill_vit-6x128-p7_1xb128-3e_fmnist.py']


def _two_steps(cfg, tmp_path, images: dict) -> None:
    """Make ``cfg`` train 2 iterations on 4 synthetic ``images``, with no
    evaluation and a checkpoint at the end, into ``tmp_path``."""
    cfg.train_dataloader = dict(
        batch_size=2,
        num_workers=0,
        persistent_workers=False,
        sampler=dict(type='DefaultSampler', shuffle=True),
        dataset=dict(
            type='SyntheticImageNet',
            num_samples=4,
            pipeline=[dict(type='PackInputs')],
            **images))
    cfg.train_cfg = dict(by_epoch=False, max_iters=2)
    cfg.param_scheduler = []
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.test_cfg = cfg.test_dataloader = cfg.test_evaluator = None
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook', interval=2, by_epoch=False)
    cfg.work_dir = str(tmp_path)
    cfg.log_level = 'WARNING'


def _shrunk_model(cfg: Config) -> dict:
    model = cfg.model
    model.pop('init_cfg', None)
    if 'teacher' in model:
        model.teacher.checkpoint = None
    return model


def test_configs_found():
    names = {osp.basename(p) for p in CONFIGS}
    assert 'distill_deit-b.py' in names
    assert 'distill_vit-6x128-p7_1xb128-3e_fmnist.py' in names
    assert set(TARGETS.values()) <= names
    assert len(CONFIGS) >= 20


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: osp.relpath(p, ROOT))
def test_config_builds(path):
    cfg = Config.fromfile(path)
    assert cfg.custom_imports['imports'] == ['wave_mm']
    model = MODELS.build(_shrunk_model(cfg))
    assert sum(p.numel() for p in model.parameters()) > 0


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: osp.relpath(p, ROOT))
def test_loaders_without_workers_say_so_to_tools_train(path):
    """mmpretrain's tools/train.py turns persistent workers on unless the
    config sets them, and torch refuses them without workers."""
    cfg = Config.fromfile(path)
    for field in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(field) or {}
        if loader.get('num_workers', 1) == 0:
            assert loader.get('persistent_workers') is False, field


def _types(node) -> set:
    """Every ``type`` named anywhere in a (merged) config value."""
    if isinstance(node, dict):
        own = {node['type']} if isinstance(node.get('type'), str) else set()
        return own.union(*(_types(v) for v in node.values()))
    if isinstance(node, (list, tuple)):
        return set().union(*(_types(v) for v in node))
    return set()


def _bases(path: str) -> list:
    """The ``_base_`` list a config file itself names."""
    for node in ast.parse(open(path).read()).body:
        if isinstance(node, ast.Assign) and \
                getattr(node.targets[0], 'id', None) == '_base_':
            return ast.literal_eval(node.value)
    return []


@pytest.mark.parametrize('name', sorted(TARGETS.values()))
def test_targets_inherit_the_target_base_alone(name):
    assert _bases(osp.join(QUICKSTART, name)) == [TARGET_BASE]


@pytest.mark.parametrize('name', BASELINES)
def test_baselines_have_no_wave(name):
    """A change to WAVE's configs cannot reach a baseline."""
    cfg = Config.fromfile(osp.join(QUICKSTART, name))
    found = _types(cfg.model) | _types(cfg.get('custom_hooks', []))
    assert not found & {'WaveInit', 'ScalerInitHook', 'WaveTemplate'}, found


def test_wave_target_differs_from_scratch_only_in_its_init():
    """The WAVE target is the scratch target with WaveInit and the scaler
    fit: the same model, data and schedule."""
    wave, scratch = (
        Config.fromfile(osp.join(QUICKSTART, TARGETS[m])).to_dict()
        for m in ('wave', 'scratch'))
    assert wave['model'].pop('init_cfg')['type'] == 'WaveInit'
    scratch['model'].pop('init_cfg')
    assert [h['type'] for h in wave.pop('custom_hooks')] == ['ScalerInitHook']
    scratch.pop('custom_hooks')
    wave.pop('templates')
    assert wave == scratch


def test_distill_deit_b_steps(tmp_path):
    """The ImageNet stage-1 recipe, shrunk to 32px synthetic images, takes
    optimizer steps with its own model, loss, batch augments and hooks."""
    cfg = Config.fromfile(osp.join(ROOT, 'configs/wave/distill_deit-b.py'))
    cfg.model = _shrunk_model(cfg)
    cfg.model.backbone.img_size = 32
    cfg.model.teacher.model.backbone.img_size = 32
    _two_steps(cfg, tmp_path, dict(img_shape=(32, 32, 3)))
    runner = Runner.from_cfg(cfg)
    before = {k: v.clone() for k, v in runner.model.state_dict().items()}
    runner.train()
    after = runner.model.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert osp.isfile(osp.join(tmp_path, 'templates.safetensors'))


@pytest.mark.parametrize(
    'options', [
        {},
        {
            'model.backbone.kron_order': 'ST'
        },
        {
            'model.backbone.fused_qkv': False
        },
        {
            'model.backbone.kron_order': 'ST',
            'model.backbone.fused_qkv': False
        },
    ],
    ids=['default', 'ST', 'split_qkv', 'both'])
def test_quickstart_distill_steps_with_each_architecture_option(
        tmp_path, options):
    """The quickstart's stage 1 (nested widths 64 and 96 of 64-wide blocks,
    nested depths) with the architecture options set as ``--cfg-options``
    does: two steps on synthetic 28px images, the option in the file."""
    from wave_mm.templates import load_templates
    cfg = Config.fromfile(
        osp.join(QUICKSTART, 'distill_vit-6x128-p7_1xb128-3e_fmnist.py'))
    cfg.merge_from_dict(options)
    cfg.model = _shrunk_model(cfg)
    _two_steps(cfg, tmp_path, dict(num_classes=10, img_shape=(28, 28, 1)))
    runner = Runner.from_cfg(cfg)
    assert cfg.model.nested_widths == [64, 96]
    assert len(runner.model.narrow_views) == 2
    before = {k: v.clone() for k, v in runner.model.state_dict().items()}
    runner.train()
    after = runner.model.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    data = load_templates(osp.join(tmp_path, 'templates.safetensors'))
    # The defaults: templates first, q, k and v as one type.
    assert data.kron_order == options.get('model.backbone.kron_order', 'TS')
    fused = options.get('model.backbone.fused_qkv', True)
    assert ('qkv' in data.specs) == fused and ('q' in data.specs) != fused


def test_fsdp_policy_keeps_template_dicts_whole():
    """The ViT-L FSDP config's auto-wrap policy, applied to its auxiliary,
    makes no FSDP unit of a template or scaler ParameterDict."""
    from torch.distributed.fsdp.wrap import size_based_auto_wrap_policy
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs/wave/distill_vit-l-fsdp_16xb64_in1k.py'))
    policy = cfg.strategy.model_wrapper.auto_wrap_policy
    assert policy.type.endswith('size_based_auto_wrap_policy')
    backbone = MODELS.build(cfg.model.backbone)
    wrapped = [
        name for name, module in backbone.named_modules()
        if size_based_auto_wrap_policy(
            module,
            recurse=False,
            nonwrapped_numel=sum(p.numel() for p in module.parameters()),
            min_num_params=int(policy.min_num_params))
    ]
    assert not [n for n in wrapped if n.startswith('bank.')], wrapped


def test_distill_deit_b_can_start_from_the_projection():
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs/wave/distill_deit-b_from-projection.py'))
    init = cfg.model.backbone.init_cfg
    assert init.type == 'KroneckerProjectionInit'
    assert init.checkpoint == cfg.model.teacher.checkpoint
    plain = Config.fromfile(osp.join(ROOT, 'configs/wave/distill_deit-b.py'))
    assert 'init_cfg' not in plain.model.backbone
