from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch

from lightning_modules.data import DigitsDataModule
from lightning_modules.module import NASNetModule
from lightning_modules.objective import quiet_lightning
from optuna_amoeba.nasnet import AMOEBANET_A
from optuna_amoeba.nasnet import NASNET_A


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _module(**options: object) -> NASNetModule:
    settings: dict[str, object] = {
        "genotype": AMOEBANET_A,
        "num_cells": 1,
        "num_filters": 4,
        "num_classes": 10,
        "in_channels": 1,
        "image_size": 8,
    }
    settings.update(options)
    return NASNetModule(**settings)  # type: ignore[arg-type]


def test_genotype_is_kept_as_text_in_hyperparameters() -> None:
    module = _module()
    assert module.hparams["genotype"] == str(AMOEBANET_A)
    rebuilt = NASNetModule(**module.hparams)
    assert rebuilt.genotype == AMOEBANET_A
    assert {name: p.shape for name, p in rebuilt.state_dict().items()} == {
        name: p.shape for name, p in module.state_dict().items()
    }


def test_checkpoint_rebuilds_the_trained_network(tmp_path: Path) -> None:
    pl.seed_everything(0, verbose=False)
    module = _module(genotype=str(NASNET_A), auxiliary_weight=0.4, drop_path_keep_prob=0.7)
    with quiet_lightning():
        trainer = pl.Trainer(
            max_epochs=1,
            accelerator="cpu",
            limit_train_batches=2,
            limit_val_batches=1,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            num_sanity_val_steps=0,
        )
        trainer.fit(module, datamodule=DigitsDataModule(batch_size=16))
    assert {"train_loss", "train_acc", "val_loss", "val_acc"} <= set(trainer.callback_metrics)
    assert 0.0 <= trainer.callback_metrics["val_acc"].item() <= 1.0
    path = tmp_path / "model.ckpt"
    trainer.save_checkpoint(path)

    restored = NASNetModule.load_from_checkpoint(path)
    assert restored.genotype == NASNET_A
    assert restored.hparams["auxiliary_weight"] == 0.4
    for name, tensor in module.state_dict().items():
        assert torch.equal(restored.state_dict()[name], tensor), name
    restored.eval()
    module.eval()
    images = torch.randn(4, 1, 8, 8)
    assert torch.allclose(restored(images), module(images))


def test_training_step_adds_weighted_auxiliary_loss(monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(0)
    module = _module(auxiliary_weight=0.5, label_smoothing=0.1)
    logged: dict[str, object] = {}
    monkeypatch.setattr(module, "_progress", lambda: 0.0)
    monkeypatch.setattr(module, "log", lambda name, value, **_: logged.__setitem__(name, value))
    images, labels = torch.randn(6, 1, 8, 8), torch.randint(0, 10, (6,))
    torch.manual_seed(1)
    logits, auxiliary_logits = module.network(images)
    main_loss = module.train_loss(logits, labels)
    expected = main_loss + 0.5 * module.train_loss(auxiliary_logits, labels)
    torch.manual_seed(1)
    loss = module.training_step((images, labels), 0)
    assert torch.allclose(loss, expected)
    assert not torch.allclose(loss, main_loss)
    assert logged["train_loss"] is loss


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("genotype", "normal: magic(h0) + identity(h1)", "cannot parse genotype"),
        ("learning_rate", -1.0, "learning_rate must be a finite number >= 0, got -1.0"),
        ("label_smoothing", 1.0, r"label_smoothing must be a number in \[0, 1\), got 1.0"),
        ("num_filters", 0, "num_filters must be an int >= 1, got 0"),
    ],
)
def test_module_rejects_bad_arguments(option: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _module(**{option: value})
