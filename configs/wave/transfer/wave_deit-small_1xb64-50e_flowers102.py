# Transfer to Flowers102 (102 classes); see _base_.py.
_base_ = ['./_base_.py']

model = dict(head=dict(num_classes=102))
data_preprocessor = dict(num_classes=102)
train_dataloader = dict(
    dataset=dict(
        type='Flowers102', data_root='data/Flowers102', split='trainval'))
val_dataloader = dict(
    dataset=dict(type='Flowers102', data_root='data/Flowers102', split='test'))
test_dataloader = val_dataloader
