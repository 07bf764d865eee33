"""Tiny configs shared by the tests (imported as ``wave_helpers``)."""
import torch
from mmpretrain.registry import MODELS

#: A tiny auxiliary: 4 layers, width 64 (two 32-wide template blocks).
# The element-wise expectations of the tests are written for the 'ST'
# order with q, k and v apart; the options' own tests cover the others.
TINY_AUX = dict(
    arch=dict(
        embed_dims=64, num_layers=4, num_heads=2, feedforward_channels=256),
    img_size=16,
    patch_size=4,
    template_width=32,
    num_templates=3,
    kron_order='ST',
    fused_qkv=False)


def tiny_vit_cfg(arch=None, **kwargs) -> dict:
    """A stock ViT config compatible with :data:`TINY_AUX` templates."""
    cfg = dict(
        type='VisionTransformer',
        arch=arch or TINY_AUX['arch'],
        img_size=16,
        patch_size=4)
    cfg.update(kwargs)
    return cfg


def tiny_classifier_cfg(backbone: dict,
                        num_classes: int = 3,
                        **kwargs) -> dict:
    """An ImageClassifier around ``backbone`` with a ViT head."""
    arch = backbone['arch']
    width = arch['embed_dims'] if isinstance(arch, dict) else {
        'deit-tiny': 192,
        'deit-small': 384,
        'deit-base': 768
    }[arch]
    cfg = dict(
        type='ImageClassifier',
        backbone=backbone,
        neck=None,
        head=dict(
            type='VisionTransformerClsHead',
            num_classes=num_classes,
            in_channels=width),
        data_preprocessor=dict(
            type='ClsDataPreprocessor',
            mean=[127.5] * 3,
            std=[127.5] * 3,
            num_classes=num_classes))
    cfg.update(kwargs)
    return cfg


def tiny_runner_cfg(model: dict,
                    work_dir: str,
                    num_classes: int = 3,
                    max_iters: int = 2,
                    batch_size: int = 4,
                    **kwargs) -> dict:
    """A Runner config: synthetic 16x16 images, SGD, iteration-based."""
    dataset = dict(
        type='SyntheticImageNet',
        num_samples=16,
        num_classes=num_classes,
        img_shape=(16, 16, 3),
        pipeline=[dict(type='PackInputs')])
    cfg = dict(
        model=model,
        work_dir=work_dir,
        train_dataloader=dict(
            dataset=dataset,
            batch_size=batch_size,
            num_workers=0,
            sampler=dict(type='DefaultSampler', shuffle=True),
            collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(
            logger=dict(type='LoggerHook', interval=1),
            checkpoint=dict(
                type='CheckpointHook', interval=max_iters, by_epoch=False)),
        default_scope='mmpretrain',
        log_level='WARNING',
        randomness=dict(seed=0),
        custom_imports=dict(imports=['wave_mm'], allow_failed_imports=False))
    cfg.update(kwargs)
    return cfg


#: A tiny stock ViT teacher, narrower and shallower than the student.
TEACHER_ARCH = dict(
    embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)


def teacher_cfg(num_classes=3, arch=TEACHER_ARCH, **kwargs):
    return tiny_classifier_cfg(
        tiny_vit_cfg(arch), num_classes=num_classes, **kwargs)


def save_teacher(path, cfg):
    """Build ``cfg``, give it random non-trivial weights, save them the way
    a plain training script would; returns the state dict."""
    torch.manual_seed(123)
    model = MODELS.build(cfg)
    model.init_weights()
    with torch.no_grad():
        # The stock head starts at zero: give it weights so logits differ.
        model.head.layers.head.weight.normal_()
        model.head.layers.head.bias.normal_()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    torch.save({'state_dict': state}, path)
    return state


def distill_cfg(checkpoint, teacher=None, num_classes=3, head=None, **kwargs):
    """A tiny ``DistillImageClassifier``: a ``TINY_AUX`` student and a
    ``teacher_cfg()`` teacher loaded from ``checkpoint``."""
    cfg = dict(
        type='DistillImageClassifier',
        backbone=dict(type='WaveTemplate', **TINY_AUX),
        neck=None,
        head=dict(
            type='KroneckerDistillHead',
            num_classes=num_classes,
            in_channels=TINY_AUX['arch']['embed_dims'],
            alpha=1.0,
            tau=2.0,
            **(head or {})),
        teacher=dict(model=teacher or teacher_cfg(), checkpoint=checkpoint),
        data_preprocessor=dict(
            type='ClsDataPreprocessor',
            mean=[127.5] * 3,
            std=[127.5] * 3,
            num_classes=num_classes))
    cfg.update(kwargs)
    return cfg


def classifier_with_init(backbone: dict, init: dict, where: str):
    """A built, initialised tiny classifier with ``init`` as the
    ``init_cfg`` of its ``'backbone'`` or of the whole ``'model'``."""
    cfg = tiny_classifier_cfg(backbone)
    if where == 'backbone':
        cfg['backbone']['init_cfg'] = init
    else:
        cfg['init_cfg'] = init
    model = MODELS.build(cfg)
    model.init_weights()
    return model
