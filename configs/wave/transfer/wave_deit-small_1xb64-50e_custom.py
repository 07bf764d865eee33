# Transfer to any image folder tree (``data/custom/{train,val}/CLASS/*.jpg``)
# through mmpretrain's CustomDataset; set num_classes to the class count.
_base_ = ['./_base_.py']

num_classes = 10
model = dict(head=dict(num_classes=num_classes))
data_preprocessor = dict(num_classes=num_classes)
train_dataloader = dict(
    dataset=dict(
        type='CustomDataset', data_root='data/custom', data_prefix='train'))
val_dataloader = dict(
    dataset=dict(
        type='CustomDataset', data_root='data/custom', data_prefix='val'))
test_dataloader = val_dataloader
