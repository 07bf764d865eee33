import copy
import os
import re
import uuid

import pytest
import torch
from mmengine.runner import Runner
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from wave_helpers import (TEACHER_ARCH, TINY_AUX, distill_cfg, save_teacher,
                          teacher_cfg, tiny_runner_cfg, tiny_vit_cfg)


@pytest.fixture
def teacher_ckpt(tmp_path):
    path = str(tmp_path / 'teacher.pth')
    return path, save_teacher(path, teacher_cfg())


def build(cfg):
    return MODELS.build(copy.deepcopy(cfg))


def make_runner(cfg):
    # Runner(**cfg) rather than Runner.from_cfg(Config(cfg)): the latter
    # formats the config text with yapf several times a run (seconds each).
    cfg.pop('custom_imports')
    return Runner(**cfg)


def assert_state_equal(module, state):
    own = module.state_dict()
    assert set(own) == set(state)
    for name, value in state.items():
        assert torch.equal(own[name], value), name


def images(n=4, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [
        torch.randint(0, 256, (3, 16, 16), dtype=torch.uint8, generator=gen)
        for _ in range(n)
    ]


def batch(model, n=4):
    data = dict(
        inputs=images(n),
        data_samples=[DataSample().set_gt_label(i % 3) for i in range(n)])
    data = model.data_preprocessor(data, training=True)
    return data['inputs'], data['data_samples']


def test_teacher_loaded_frozen_and_hidden(teacher_ckpt):
    path, state = teacher_ckpt
    model = build(distill_cfg(path))
    assert_state_equal(model.teacher, state)
    # Not a submodule: absent from the state dict, parameters and modules.
    # The state dict is the one of the same student without a teacher.
    cfg = dict(distill_cfg(path), type='ImageClassifier')
    del cfg['teacher']
    student = build(cfg)
    assert set(model.state_dict()) == set(student.state_dict())
    own = {id(p) for p in model.parameters()}
    assert own.isdisjoint(id(p) for p in model.teacher.parameters())
    assert all(m is not model.teacher for m in model.modules())
    for name, param in model.teacher.named_parameters():
        assert not param.requires_grad, name


def test_model_repr(teacher_ckpt):
    """``print(model)`` works (the stock submodules of the WaveTemplate
    backbone describe themselves from tensors it generates)."""
    text = repr(build(distill_cfg(teacher_ckpt[0])))
    assert 'WaveTemplate' in text and 'KroneckerDistillHead' in text
    assert 'Linear(in_features=64, out_features=192, bias=True)' in text


def test_teacher_stays_in_eval_mode(teacher_ckpt):
    model = build(distill_cfg(teacher_ckpt[0]))
    assert model.teacher.training is False
    model.train()
    assert model.training and model.backbone.training
    assert model.teacher.training is False
    assert not any(m.training for m in model.teacher.modules())
    model.eval()
    model.train(True)
    assert model.teacher.training is False


def test_loss_gives_no_teacher_gradients(teacher_ckpt):
    model = build(
        distill_cfg(
            teacher_ckpt[0],
            head=dict(
                feat_weight=0.5, teacher_channels=TEACHER_ARCH['embed_dims'])))
    model.init_weights()
    model.train()
    inputs, samples = batch(model)
    losses = model.loss(inputs, samples)
    assert set(losses) == {'loss_cls', 'loss_kd', 'loss_feat'}
    sum(losses.values()).backward()
    for name, param in model.teacher.named_parameters():
        assert param.grad is None, name
    assert model.head.feat_proj.weight.grad is not None
    assert all(p.grad is not None for p in model.backbone.parameters())


def test_teacher_unchanged_by_runner_training(teacher_ckpt, tmp_path):
    path, state = teacher_ckpt
    model = distill_cfg(
        path,
        head=dict(
            feat_weight=0.5, teacher_channels=TEACHER_ARCH['embed_dims']))
    cfg = tiny_runner_cfg(
        model,
        str(tmp_path / 'work'),
        max_iters=3,
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=1e-2)),
        experiment_name=f'distill_{uuid.uuid4().hex}')
    runner = make_runner(cfg)
    teacher = runner.model.teacher
    runner.train()
    student = runner.model
    assert student.teacher is teacher
    assert_state_equal(teacher, state)
    assert teacher.training is False
    for name, param in teacher.named_parameters():
        assert not param.requires_grad and param.grad is None, name
    # The distillation terms were computed and logged by the Runner.
    for key in ('loss_cls', 'loss_kd', 'loss_feat'):
        assert runner.message_hub.get_scalar(f'train/{key}').current() > 0
    # The optimizer holds student parameters only, and all of them.
    in_optim = {
        id(p)
        for g in runner.optim_wrapper.param_groups
        for p in g['params']
    }
    assert in_optim == {id(p) for p in student.parameters()}
    assert in_optim.isdisjoint(id(p) for p in teacher.parameters())
    # The checkpoint holds no teacher tensor.
    ckpt = torch.load(
        str(tmp_path / 'work' / 'iter_3.pth'),
        map_location='cpu',
        weights_only=True)
    assert set(ckpt['state_dict']) == set(student.state_dict())


@pytest.mark.parametrize(
    'init_cfg',
    [
        dict(type='Constant', layer='Linear', val=0.5, bias=0.5),
        # mmpretrain's DeiT recipe.
        [
            dict(type='TruncNormal', layer='Linear', std=.02),
            dict(type='Constant', layer='LayerNorm', val=1., bias=0.)
        ],
    ],
    ids=['constant', 'deit'])
def test_model_init_cfg_does_not_touch_teacher(teacher_ckpt, init_cfg):
    path, state = teacher_ckpt
    cfg = distill_cfg(path, head=dict(init_cfg=None), init_cfg=init_cfg)
    model = build(cfg)
    model.init_weights()
    assert_state_equal(model.teacher, state)
    if isinstance(init_cfg, dict):
        # The init did run on the student's Linear layers.
        assert (model.head.layers.head.weight == 0.5).all()


def test_teacher_follows_dtype(teacher_ckpt):
    model = build(distill_cfg(teacher_ckpt[0]))
    model.to(torch.float64)
    for name, value in model.teacher.state_dict().items():
        assert value.dtype == torch.float64, name
    inputs, samples = batch(model)
    assert inputs.dtype == torch.float64
    logits, _ = model.teacher_outputs(inputs)
    assert logits.dtype == torch.float64
    losses = model.loss(inputs, samples)
    assert losses['loss_kd'].isfinite()
    model.float()
    assert model.teacher.head.layers.head.weight.dtype == torch.float32


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_renormalisation_for_teacher_preprocessor(tmp_path, dtype):
    """Teacher trained on ``(x - mean_t) / std_t`` gets exactly that input,
    whatever the student's normalisation."""
    norm = dict(
        type='ClsDataPreprocessor',
        mean=[100., 110., 120.],
        std=[50., 60., 70.],
        num_classes=3)
    tcfg = teacher_cfg(data_preprocessor=norm)
    path = str(tmp_path / 'teacher.pth')
    save_teacher(path, tcfg)
    model = build(distill_cfg(path, teacher=tcfg)).to(dtype)
    stock = build(tcfg).to(dtype)
    stock.load_state_dict(torch.load(path)['state_dict'])
    stock.eval()

    data = dict(inputs=images())
    student_inputs = model.data_preprocessor(data)['inputs']
    teacher_inputs = stock.data_preprocessor(data)['inputs']
    assert student_inputs.dtype == dtype
    logits, _ = model.teacher_outputs(student_inputs)
    with torch.no_grad():
        expected = stock(teacher_inputs, mode='tensor')
        unnormalised = stock(student_inputs, mode='tensor')
    torch.testing.assert_close(
        logits,
        expected,
        rtol=0,
        atol=1e-5 if dtype == torch.float32 else 1e-10)
    # Without the re-normalisation the teacher's answer would differ.
    assert (unnormalised - expected).abs().max() > 1e-2


def test_no_renormalisation_when_preprocessors_match(teacher_ckpt):
    path, state = teacher_ckpt
    model = build(distill_cfg(path))
    stock = build(teacher_cfg())
    stock.load_state_dict(state)
    stock.eval()
    inputs, _ = batch(model)
    logits, _ = model.teacher_outputs(inputs)
    with torch.no_grad():
        torch.testing.assert_close(
            logits, stock(inputs, mode='tensor'), rtol=0, atol=0)


def test_error_missing_checkpoint(tmp_path):
    path = str(tmp_path / 'no_such_teacher.pth')
    with pytest.raises(FileNotFoundError, match=re.escape(path)):
        build(distill_cfg(path))


def test_error_missing_checkpoint_before_training(tmp_path):
    """The Runner builds the model in its constructor: nothing is trained."""
    path = str(tmp_path / 'no_such_teacher.pth')
    work_dir = tmp_path / 'work'
    cfg = tiny_runner_cfg(
        distill_cfg(path),
        str(work_dir),
        experiment_name=f'missing_{uuid.uuid4().hex}')
    with pytest.raises(FileNotFoundError, match=re.escape(path)):
        make_runner(cfg)
    assert not list(work_dir.glob('*.pth'))


def test_error_work_dir_without_last_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path))):
        build(distill_cfg(str(tmp_path)))


@pytest.mark.parametrize(
    'arch,match', [
        (dict(TEACHER_ARCH,
              num_layers=3), r'missing keys \[\'backbone\.layers\.2\.'),
        (dict(TEACHER_ARCH,
              num_layers=1), r'unexpected keys \[\'backbone\.layers\.1\.'),
        (dict(TEACHER_ARCH, embed_dims=64, feedforward_channels=64),
         r'shape mismatches \[.*backbone\.cls_token \(1, 1, 32\) vs '
         r'\(1, 1, 64\)'),
    ],
    ids=['deeper', 'shallower', 'wider'])
def test_error_wrong_arch_names_keys(teacher_ckpt, arch, match):
    path, _ = teacher_ckpt
    with pytest.raises(ValueError, match=match) as info:
        build(distill_cfg(path, teacher=teacher_cfg(arch=arch)))
    assert 'does not fit the teacher arch' in str(info.value)
    assert path in str(info.value)


def test_error_class_count_mismatch(tmp_path):
    path = str(tmp_path / 'teacher5.pth')
    save_teacher(path, teacher_cfg(num_classes=5))
    with pytest.raises(
            ValueError, match='teacher has 5 classes, the '
            'student 3'):
        build(distill_cfg(path, teacher=teacher_cfg(num_classes=5)))


def test_checkpoint_from_work_dir(tmp_path, weights_only_loads):
    """A teacher work dir resolves through ``last_checkpoint`` to a full
    MMEngine checkpoint (message hub included, loaded under weights_only)."""
    work_dir = str(tmp_path / 'teacher_work')
    cfg = tiny_runner_cfg(
        teacher_cfg(),
        work_dir,
        max_iters=1,
        experiment_name=f'teacher_{uuid.uuid4().hex}')
    runner = make_runner(cfg)
    runner.train()
    with open(os.path.join(work_dir, 'last_checkpoint')) as f:
        ckpt = f.read().strip()
    assert ckpt.endswith('iter_1.pth')

    loaded = weights_only_loads
    model = build(distill_cfg(work_dir))
    assert loaded == [ckpt]
    assert_state_equal(model.teacher, runner.model.state_dict())


def test_nested_truncation_is_the_first_layers(teacher_ckpt):
    """The nested features are those of a stock ViT made of the student's
    first layers, final norm and class token, and the full features are
    unchanged by the hook."""
    path, _ = teacher_ckpt
    model = build(distill_cfg(path, nested_min_layers=1)).eval()
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        feats, nested = model.extract_nested_feat(x, 2)
        full = model.extract_feat(x)
    state = {
        k: v
        for k, v in model.backbone.to_vit_state_dict().items()
        if not k.startswith('layers.') or int(k.split('.')[1]) < 2
    }
    vit = build(tiny_vit_cfg(dict(TINY_AUX['arch'], num_layers=2)))
    vit.load_state_dict(state, strict=True)
    vit.eval()
    with torch.no_grad():
        torch.testing.assert_close(nested[0], vit(x)[0])
    torch.testing.assert_close(feats[0], full[0])


def test_nested_losses_train_only_the_first_layers(teacher_ckpt):
    path, _ = teacher_ckpt
    model = build(distill_cfg(path, nested_min_layers=3, nested_weight=0.5))
    inputs, samples = batch(model)
    losses = model.loss(inputs, samples)
    assert {'loss_cls_nested', 'loss_kd_nested'} <= set(losses)
    (losses['loss_cls_nested'] + losses['loss_kd_nested']).backward()
    grads = model.backbone.bank.scalers.grad('fc1')
    assert grads[:3].abs().sum() > 0  # depth 3 of 4: layers 0-2 only
    assert torch.equal(grads[3:], torch.zeros_like(grads[3:]))
    half = build(distill_cfg(path, nested_min_layers=3, nested_weight=1.0))
    half.load_state_dict(model.state_dict())
    again = half.loss(inputs, samples)
    torch.testing.assert_close(again['loss_kd_nested'] * 0.5,
                               losses['loss_kd_nested'])


@pytest.mark.parametrize('options, match', [
    (dict(nested_min_layers=4), r'\[1, 3\] for a 4-layer'),
    (dict(
        nested_min_layers=1,
        backbone=dict(type='WaveTemplate', out_type='avg_featmap', **
                      TINY_AUX)), "out_type='avg_featmap'"),
])
def test_error_nested_options(teacher_ckpt, options, match):
    with pytest.raises(ValueError, match=match):
        build(distill_cfg(teacher_ckpt[0], **options))
