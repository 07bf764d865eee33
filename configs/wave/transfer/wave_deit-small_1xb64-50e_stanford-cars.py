# Transfer to StanfordCars (196 classes); see _base_.py.
_base_ = ['./_base_.py']

model = dict(head=dict(num_classes=196))
data_preprocessor = dict(num_classes=196)
train_dataloader = dict(
    dataset=dict(
        type='StanfordCars', data_root='data/stanfordcars', split='train'))
val_dataloader = dict(
    dataset=dict(
        type='StanfordCars', data_root='data/stanfordcars', split='test'))
test_dataloader = val_dataloader
