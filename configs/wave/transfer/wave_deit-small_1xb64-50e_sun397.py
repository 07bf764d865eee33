# Transfer to SUN397 (397 classes); see _base_.py.
_base_ = ['./_base_.py']

model = dict(head=dict(num_classes=397))
data_preprocessor = dict(num_classes=397)
train_dataloader = dict(
    dataset=dict(type='SUN397', data_root='data/SUN397', split='train'))
val_dataloader = dict(
    dataset=dict(type='SUN397', data_root='data/SUN397', split='test'))
test_dataloader = val_dataloader
