import pytest
import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmpretrain.models.heads import VisionTransformerClsHead
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

B, C, K = 4, 8, 5


def _head(**kwargs):
    """A built head with random (not the default all-zero) weights."""
    torch.manual_seed(0)
    head = MODELS.build(
        dict(
            type='KroneckerDistillHead',
            num_classes=K,
            in_channels=C,
            **kwargs))
    head.init_weights()
    with torch.no_grad():
        for param in head.parameters():
            param.normal_()
    return head


def _batch(labels=(0, 1, 2, 3)):
    torch.manual_seed(1)
    feats = (torch.randn(B, C), )
    samples = [DataSample().set_gt_label(label) for label in labels]
    return feats, samples


def _reference_kd(student, teacher, alpha, tau):
    """alpha * tau^2 * sum_c p_t (log p_t - log p_s) / B, in float64."""
    student, teacher = student.double(), teacher.double()
    p_t = torch.softmax(teacher / tau, dim=-1)
    log_p_s = torch.log_softmax(student / tau, dim=-1)
    kl = (p_t * (torch.log(p_t) - log_p_s)).sum() / student.shape[0]
    return alpha * tau**2 * kl


@pytest.mark.parametrize('alpha,tau', [(1.0, 1.0), (0.7, 2.0), (2.5, 0.5)])
def test_soft_loss_matches_formula(alpha, tau):
    head = _head(alpha=alpha, tau=tau)
    feats, samples = _batch()
    teacher = 3 * torch.randn(B, K)
    losses = head.loss(feats, samples, teacher_logits=teacher)
    student = head.layers.head(feats[-1]).detach()
    expected = _reference_kd(student, teacher, alpha, tau)
    torch.testing.assert_close(
        losses['loss_kd'].double(), expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(losses['loss_cls'],
                               F.cross_entropy(student, torch.arange(4)))


def test_soft_loss_zero_for_identical_logits():
    head = _head(alpha=1.0, tau=3.0)
    feats, samples = _batch()
    same = head.layers.head(feats[-1]).detach()
    losses = head.loss(feats, samples, teacher_logits=same)
    assert abs(losses['loss_kd'].item()) < 1e-6
    # ... and positive as soon as the teacher disagrees.
    losses = head.loss(feats, samples, teacher_logits=same.flip(0))
    assert losses['loss_kd'].item() > 1e-3


def test_hard_loss_is_ce_on_teacher_argmax():
    head = _head(alpha=0.5, distill='hard')
    feats, samples = _batch()
    teacher = torch.randn(B, K)
    teacher[torch.arange(B), torch.tensor([4, 4, 0, 1])] = 10.
    losses = head.loss(feats, samples, teacher_logits=teacher)
    student = head.layers.head(feats[-1]).detach()
    expected = 0.5 * F.cross_entropy(student, torch.tensor([4, 4, 0, 1]))
    torch.testing.assert_close(losses['loss_kd'], expected)
    # Not the ground truth labels: those give a different value.
    assert not torch.allclose(losses['loss_kd'],
                              0.5 * F.cross_entropy(student, torch.arange(4)))


@pytest.mark.parametrize(
    'kwargs,teacher_feats,keys', [
        (dict(), False, {'loss_cls', 'loss_kd'}),
        (dict(feat_weight=0.3), True, {'loss_cls', 'loss_kd', 'loss_feat'}),
        (dict(alpha=0.0), False, {'loss_cls'}),
    ],
    ids=['kd', 'kd+feat', 'alpha0'])
def test_loss_keys(kwargs, teacher_feats, keys):
    head = _head(**kwargs)
    feats, samples = _batch()
    losses = head.loss(
        feats,
        samples,
        teacher_logits=torch.randn(B, K),
        teacher_feats=torch.randn(B, C) if teacher_feats else None)
    assert set(losses) == keys
    assert all(k.startswith('loss_') for k in losses)
    # MMEngine sums every key containing 'loss': the total is their sum.
    total, log_vars = BaseModel.parse_losses(None, losses)
    torch.testing.assert_close(total, sum(losses.values()))


def test_loss_without_teacher_is_classification_only():
    head = _head()
    feats, samples = _batch()
    assert set(head.loss(feats, samples)) == {'loss_cls'}


def test_loss_keys_with_accuracy():
    head = _head(cal_acc=True, topk=(1, 2))
    feats, samples = _batch()
    losses = head.loss(feats, samples, teacher_logits=torch.randn(B, K))
    assert {'loss_cls', 'loss_kd'} <= set(losses)
    loss_keys = [k for k in losses if 'loss' in k]
    assert loss_keys and all(k.startswith('loss_') for k in loss_keys)
    assert {'accuracy_top-1', 'accuracy_top-2'} <= set(losses)


def test_mixup_soft_targets():
    """A data preprocessor with Mixup turns labels into ``gt_score``."""
    preprocessor = MODELS.build(
        dict(
            type='ClsDataPreprocessor',
            num_classes=K,
            mean=[127.5] * 3,
            std=[127.5] * 3,
            batch_augments=dict(augments=dict(type='Mixup', alpha=1.0))))
    torch.manual_seed(2)
    data = dict(
        inputs=[
            torch.randint(0, 256, (3, 4, 4), dtype=torch.uint8)
            for _ in range(B)
        ],
        data_samples=[DataSample().set_gt_label(i) for i in range(B)])
    samples = preprocessor(data, training=True)['data_samples']
    scores = torch.stack([s.gt_score for s in samples])
    assert scores.shape == (B, K) and (scores.max(dim=1).values < 1).any()

    head = _head(
        alpha=0.8, tau=2.0, loss=dict(type='CrossEntropyLoss', use_soft=True))
    feats, _ = _batch()
    teacher = torch.randn(B, K)
    losses = head.loss(feats, samples, teacher_logits=teacher)
    student = head.layers.head(feats[-1]).detach()
    expected_cls = -(scores * torch.log_softmax(student, -1)).sum(-1).mean()
    torch.testing.assert_close(losses['loss_cls'], expected_cls)
    torch.testing.assert_close(
        losses['loss_kd'].double(),
        _reference_kd(student, teacher, 0.8, 2.0),
        rtol=1e-5,
        atol=1e-6)


def test_feature_term_with_projection():
    head = _head(feat_weight=0.5, teacher_channels=12)
    assert isinstance(head.feat_proj, torch.nn.Linear)
    assert tuple(head.feat_proj.weight.shape) == (12, C)
    assert 'feat_proj.weight' in head.state_dict()
    feats, samples = _batch()
    teacher_feats = torch.randn(B, 12)
    losses = head.loss(
        feats,
        samples,
        teacher_logits=torch.randn(B, K),
        teacher_feats=teacher_feats)
    expected = 0.5 * F.mse_loss(head.feat_proj(feats[-1]), teacher_feats)
    torch.testing.assert_close(losses['loss_feat'], expected)
    losses['loss_feat'].backward()
    for param in head.feat_proj.parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0
    # The feature term alone does not train the classifier layer.
    assert head.layers.head.weight.grad is None


def test_feature_term_same_width_has_no_projection():
    head = _head(feat_weight=2.0, teacher_channels=C)
    assert head.feat_proj is None
    feats, samples = _batch()
    teacher_feats = torch.randn(B, C)
    losses = head.loss(feats, samples, teacher_feats=teacher_feats)
    torch.testing.assert_close(losses['loss_feat'],
                               2.0 * F.mse_loss(feats[-1], teacher_feats))


@pytest.mark.parametrize('hidden_dim', [None, 6])
def test_predict_same_as_vit_head(hidden_dim):
    head = _head(hidden_dim=hidden_dim, alpha=3.0, tau=4.0)
    stock = VisionTransformerClsHead(
        num_classes=K, in_channels=C, hidden_dim=hidden_dim)
    stock.load_state_dict(head.state_dict(), strict=True)
    head.eval(), stock.eval()
    feats, _ = _batch()
    torch.testing.assert_close(head(feats), stock(feats), rtol=0, atol=0)
    ours = head.predict(feats, [DataSample() for _ in range(B)])
    theirs = stock.predict(feats, [DataSample() for _ in range(B)])
    for a, b in zip(ours, theirs):
        assert torch.equal(a.pred_score, b.pred_score)
        assert torch.equal(a.pred_label, b.pred_label)


def test_invalid_distill_raises():
    with pytest.raises(ValueError, match="distill must be 'soft' or 'hard'"):
        MODELS.build(
            dict(
                type='KroneckerDistillHead',
                num_classes=K,
                in_channels=C,
                distill='kl'))
