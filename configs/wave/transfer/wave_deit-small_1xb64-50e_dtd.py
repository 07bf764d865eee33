# Transfer to DTD (47 classes); see _base_.py.
_base_ = ['./_base_.py']

model = dict(head=dict(num_classes=47))
data_preprocessor = dict(num_classes=47)
train_dataloader = dict(
    dataset=dict(type='DTD', data_root='data/dtd', split='trainval'))
val_dataloader = dict(
    dataset=dict(type='DTD', data_root='data/dtd', split='test'))
test_dataloader = val_dataloader
