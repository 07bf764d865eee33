# Transfer to OxfordIIITPet (37 classes); see _base_.py.
_base_ = ['./_base_.py']

model = dict(head=dict(num_classes=37))
data_preprocessor = dict(num_classes=37)
train_dataloader = dict(
    dataset=dict(
        type='OxfordIIITPet',
        data_root='data/Oxford-IIIT_Pets',
        split='trainval'))
val_dataloader = dict(
    dataset=dict(
        type='OxfordIIITPet', data_root='data/Oxford-IIIT_Pets', split='test'))
test_dataloader = val_dataloader
