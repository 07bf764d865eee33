# Transfer to Food101 (101 classes); see _base_.py.
_base_ = ['./_base_.py']

model = dict(head=dict(num_classes=101))
data_preprocessor = dict(num_classes=101)
train_dataloader = dict(
    dataset=dict(type='Food101', data_root='data/food-101', split='train'))
val_dataloader = dict(
    dataset=dict(type='Food101', data_root='data/food-101', split='test'))
test_dataloader = val_dataloader
