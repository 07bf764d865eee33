# Transfer to CIFAR100 (100 classes); see _base_.py.
_base_ = ['./_base_.py']

# CIFAR images are arrays already in memory: no LoadImageFromFile.
train_pipeline = [
    dict(type='RandomResizedCrop', scale=224, backend='pillow'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='Resize', scale=224, backend='pillow'),
    dict(type='PackInputs'),
]
model = dict(head=dict(num_classes=100))
data_preprocessor = dict(num_classes=100)
train_dataloader = dict(
    dataset=dict(
        type='CIFAR100',
        data_root='data/cifar100',
        split='train',
        pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(
        type='CIFAR100',
        data_root='data/cifar100',
        split='test',
        pipeline=test_pipeline))
test_dataloader = val_dataloader
