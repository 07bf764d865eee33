# Transfer to CUB (200 classes); see _base_.py.
_base_ = ['./_base_.py']

model = dict(head=dict(num_classes=200))
data_preprocessor = dict(num_classes=200)
train_dataloader = dict(
    dataset=dict(type='CUB', data_root='data/CUB_200_2011', split='train'))
val_dataloader = dict(
    dataset=dict(type='CUB', data_root='data/CUB_200_2011', split='test'))
test_dataloader = val_dataloader
