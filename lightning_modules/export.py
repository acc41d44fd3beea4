"""Use a trained network without Lightning: load a checkpoint, export it.

``load_network(path)`` turns a checkpoint written by ``optuna-amoeba train`` (or any
:class:`~lightning_modules.module.NASNetModule` checkpoint) into a plain
:class:`~lightning_modules.network.NASNetwork` in evaluation mode. It reads the file with
``torch.load(weights_only=True)``, which unpickles tensors and plain Python values only, so
a checkpoint from elsewhere cannot run code on load. Inputs are ``N x C x H x W`` float
images normalised with the per-channel ``input_mean`` / ``input_std`` that
:func:`read_hyperparameters` returns (when the checkpoint recorded them).

``export_network`` writes the network as TorchScript (``torch.jit.load``) or as a
``torch.export`` program (``torch.export.load(path).module()``), batch size free.
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import os
from pathlib import Path
from typing import Any
from typing import TYPE_CHECKING
import warnings


if TYPE_CHECKING:
    import torch

    from lightning_modules.network import NASNetwork


EXPORT_FORMATS: dict[str, str] = {
    "torchscript": "model.torchscript.pt",
    "torch-export": "model.pt2",
}
"""Export formats and the file name ``optuna-amoeba train --export`` writes each to.

This module imports torch only when a function runs, so the command line can list the
formats without loading it."""

_NETWORK_PREFIX = "network."


@contextlib.contextmanager
def _torchscript_deprecation_quiet() -> Iterator[None]:
    # PyTorch deprecates TorchScript in favour of torch.export (said in docs/training.md);
    # the format stays for runtimes that only read TorchScript.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, message=r".*torch\.jit")
        yield


def _not_a_checkpoint(path: str | os.PathLike[str], reason: str) -> ValueError:
    return ValueError(f"{path} is not a NASNetModule checkpoint: {reason}")


def _read(path: str | os.PathLike[str]) -> dict[str, Any]:
    import pickle

    import torch

    try:
        checkpoint = torch.load(Path(path), map_location="cpu", weights_only=True)
    except OSError:  # a missing or unreadable file, not one of another format
        raise
    except pickle.UnpicklingError:
        # torch's message advises weights_only=False, which would let the file run code.
        raise _not_a_checkpoint(
            path, "it holds objects other than tensors and plain Python values"
        ) from None
    except Exception as error:  # torch.load raises many kinds for a file it cannot read
        reason = str(error).splitlines()[0] if str(error) else ""
        raise _not_a_checkpoint(
            path, f"torch.load cannot read it ({type(error).__name__}: {reason})"
        ) from None
    if not isinstance(checkpoint, dict) or not isinstance(
        checkpoint.get("hyper_parameters"), dict
    ):
        raise _not_a_checkpoint(path, "it has no hyper_parameters")
    return checkpoint


def read_hyperparameters(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The module hyperparameters stored in a checkpoint (genotype text, sizes, training
    settings and, when recorded, ``input_mean``, ``input_std`` and ``class_names``)."""
    return dict(_read(path)["hyper_parameters"])


def read_training_state(
    path: str | os.PathLike[str],
) -> tuple[dict[str, Any], int, dict[str, Any]]:
    """A training checkpoint's hyperparameters (as :func:`read_hyperparameters`), the number
    of epochs that training had finished and the states of its Lightning callbacks by state
    key (empty when it holds none)."""
    checkpoint = _read(path)
    epoch = checkpoint.get("epoch")
    if isinstance(epoch, bool) or not isinstance(epoch, int):
        raise _not_a_checkpoint(path, "it records no epoch")
    # The fit loop's count of finished epochs; "epoch" is one less in a checkpoint written
    # after an epoch, but equal in one Lightning writes when training ends.
    try:
        finished = checkpoint["loops"]["fit_loop"]["epoch_progress"]["current"]["processed"]
    except (KeyError, TypeError):
        finished = None
    if isinstance(finished, bool) or not isinstance(finished, int):
        finished = epoch + 1
    callbacks = checkpoint.get("callbacks")
    return (
        dict(checkpoint["hyper_parameters"]),
        finished,
        dict(callbacks) if isinstance(callbacks, dict) else {},
    )


def load_network(
    path: str | os.PathLike[str], *, map_location: str | torch.device = "cpu"
) -> NASNetwork:
    """The trained network of a checkpoint, in evaluation mode, on ``map_location``.

    One call, no Lightning needed: ``network = load_network("checkpoints/last.ckpt")``,
    then ``logits = network(images)``.
    """
    from lightning_modules.network import network_from_hparams

    # Read on the CPU: a map_location that cannot take the tensors fails at .to() below, with
    # torch's own message, not as a file that is not a checkpoint.
    checkpoint = _read(path)
    if not isinstance(checkpoint.get("state_dict"), dict):
        raise _not_a_checkpoint(path, "it has no state_dict")
    try:
        network = network_from_hparams(checkpoint["hyper_parameters"])
        state = {
            name[len(_NETWORK_PREFIX) :]: tensor
            for name, tensor in checkpoint["state_dict"].items()
            if name.startswith(_NETWORK_PREFIX)
        }
        network.load_state_dict(state)
    # load_state_dict raises RuntimeError for weights that do not fit the network.
    except (ValueError, RuntimeError) as error:
        raise _not_a_checkpoint(path, " ".join(str(error).split())) from None
    return network.to(map_location).eval()


def example_input(network: NASNetwork, batch_size: int = 2) -> torch.Tensor:
    """A zero batch of the shape ``network`` takes, on its device."""
    import torch

    size = network.image_size
    device = next(network.parameters()).device
    return torch.zeros(batch_size, network.in_channels, size, size, device=device)


def export_network(network: NASNetwork, path: str | os.PathLike[str], export_format: str) -> Path:
    """Write ``network`` (put in evaluation mode) to ``path`` as ``export_format``, one of
    :data:`EXPORT_FORMATS`; the batch dimension stays free. Returns the path."""
    import torch

    if export_format not in EXPORT_FORMATS:
        raise ValueError(
            f"export_format must be one of {', '.join(EXPORT_FORMATS)}; got {export_format!r}"
        )
    network.eval()
    example = example_input(network)
    target = Path(path)
    with torch.no_grad():
        if export_format == "torchscript":
            with _torchscript_deprecation_quiet():
                traced = torch.jit.trace(network, example)  # type: ignore[no-untyped-call]
                torch.jit.save(traced, str(target))
        else:
            batch = torch.export.Dim("batch", min=1)
            program = torch.export.export(network, (example,), dynamic_shapes=({0: batch},))
            torch.export.save(program, target)
    return target


def load_exported(path: str | os.PathLike[str]) -> torch.nn.Module:
    """A model written by :func:`export_network`, by its file name's suffix (``.pt2``:
    ``torch.export``; otherwise TorchScript)."""
    import torch

    if str(path).endswith(".pt2"):
        module: torch.nn.Module = torch.export.load(Path(path)).module()
        return module
    with _torchscript_deprecation_quiet():
        scripted: torch.nn.Module = torch.jit.load(  # type: ignore[no-untyped-call]
            str(path), map_location="cpu"
        )
    return scripted.eval()
