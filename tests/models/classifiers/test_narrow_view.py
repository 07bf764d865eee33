import copy

import pytest
import torch
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from wave_helpers import (TINY_AUX, distill_cfg, save_teacher, teacher_cfg,
                          tiny_classifier_cfg, tiny_vit_cfg)

NARROW = dict(
    TINY_AUX['arch'], embed_dims=32, num_heads=1, feedforward_channels=128)


@pytest.fixture
def teacher_ckpt(tmp_path):
    path = str(tmp_path / 'teacher.pth')
    save_teacher(path, teacher_cfg())
    return path


def build(cfg):
    return MODELS.build(copy.deepcopy(cfg))


def test_view_is_the_data_free_narrow_target(teacher_ckpt, tmp_path):
    """The view's scores are those of a stock ViT of that width initialised
    by WaveInit(head=True) from the student's templates file."""
    model = build(distill_cfg(teacher_ckpt, nested_widths=[32])).eval()
    path = str(tmp_path / 'student.safetensors')
    model.backbone.export_templates(path, head=model.head.state_dict())
    target = build(
        tiny_classifier_cfg(
            tiny_vit_cfg(NARROW),
            init_cfg=dict(type='WaveInit', templates=path, head=True)))
    target.init_weights()
    target.eval()
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        ours = model.narrow_views[0].scores(model.backbone, model.head, x)
        theirs = target.head(target.extract_feat(x))
    torch.testing.assert_close(ours, theirs)


def test_narrow_losses_train_the_cropped_student(teacher_ckpt):
    model = build(
        distill_cfg(teacher_ckpt, nested_widths=[32], nested_weight=0.5))
    assert not any('narrow' in k for k in model.state_dict())
    inputs = torch.randn(4, 3, 16, 16)
    samples = [DataSample().set_gt_label(i % 3) for i in range(4)]
    losses = model.loss(inputs, samples)
    assert {'loss_cls_narrow', 'loss_kd_narrow'} <= set(losses)
    (losses['loss_cls_narrow'] + losses['loss_kd_narrow']).backward()
    bank = model.backbone.bank
    assert bank.templates['fc1'].grad.abs().sum() > 0
    # fc1 is a 2x2 grid of blocks at width 64; the 32-wide view uses the
    # first block only.
    grads = bank.scalers.grad('fc1')
    assert grads[..., 0, 0].abs().sum() > 0
    grads[..., 0, 0] = 0
    assert torch.equal(grads, torch.zeros_like(grads))
    full = build(
        distill_cfg(teacher_ckpt, nested_widths=[32], nested_weight=1.0))
    full.load_state_dict(model.state_dict())
    again = full.loss(inputs, samples)
    torch.testing.assert_close(again['loss_kd_narrow'] * 0.5,
                               losses['loss_kd_narrow'])


def test_view_follows_the_dtype(teacher_ckpt):
    model = build(distill_cfg(teacher_ckpt, nested_widths=[32])).double()
    view = model.narrow_views[0]
    assert view.bank.templates['q'].dtype == torch.float64
    scores = view.scores(model.backbone, model.head,
                         torch.randn(1, 3, 16, 16, dtype=torch.float64))
    assert scores.dtype == torch.float64


@pytest.mark.parametrize('options, match', [
    (dict(nested_widths=[48]), 'nested width 48 must be a multiple'),
    (dict(nested_widths=[64]), r'in \[32, 64\)'),
    (dict(
        nested_widths=[32],
        backbone=dict(
            type='WaveTemplate', templated=['attn', 'ffn'], **
            TINY_AUX)), 'not templated'),
    (dict(nested_widths=[32],
          backbone=tiny_vit_cfg()), 'need a WaveTemplate backbone'),
])
def test_errors(teacher_ckpt, options, match):
    with pytest.raises(ValueError, match=match):
        build(distill_cfg(teacher_ckpt, **options))


def test_error_head_with_hidden_layer(teacher_ckpt):
    cfg = distill_cfg(
        teacher_ckpt, nested_widths=[32], head=dict(hidden_dim=8))
    with pytest.raises(ValueError, match='hidden_dim=8'):
        build(cfg)
