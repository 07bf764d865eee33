# Fashion-MNIST: 28x28 grey images, 10 classes. ``tools/prepare_data.py``
# un-gzips the idx files into ``data_root``, where mmpretrain reads them.
dataset_type = 'FashionMNIST'
data_root = 'data/fashion_mnist'
data_preprocessor = dict(
    num_classes=10, mean=[72.94], std=[90.02], to_rgb=False)

train_pipeline = [dict(type='PackInputs')]
test_pipeline = [dict(type='PackInputs')]

# In-process loading: the images are in memory, and a loader worker's
# batches cost the training process 2.8x the CPU time of loading them itself.
# (mmpretrain's tools/train.py turns persistent workers on unless a config
# says otherwise, and torch refuses them without workers.)
train_dataloader = dict(
    batch_size=128,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        test_mode=False,
        download=False,
        pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True),
)
val_dataloader = dict(
    batch_size=256,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='test',
        test_mode=True,
        download=False,
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_dataloader = val_dataloader
test_evaluator = val_evaluator
