"""Depthwise kernels at PyTorch's initial scale (``NASNetwork``'s) against the reference's.

Both draw convolution weights with variance scaling over fan-out (slim's
``nasnet_cifar_arg_scope``); TensorFlow counts a depthwise kernel's fan-out per group (k*k),
PyTorch's ``kaiming_normal_`` over the layer (C*k*k), so its depthwise kernels start sqrt(C)
times smaller. Each of ``--genotypes`` random genotypes (seeded) trains twice with the same
seed, once each way; prints the validation accuracies, their means and a paired Wilcoxon
test:

    PYTHONPATH=. python benchmarks/results/digits/init_scale.py --epochs 1
    PYTHONPATH=. python benchmarks/results/digits/init_scale.py --epochs 3
    PYTHONPATH=. python benchmarks/results/digits/init_scale.py --epochs 3 --filters 8 \
        --batch-size 64 --learning-rate 0.1

(the last: the settings of ``optuna-amoeba search --dataset digits``).
"""

from __future__ import annotations

import argparse
import logging
import math
import warnings

import numpy as np
import optuna
from scipy.stats import wilcoxon
import torch
from torch import nn

from lightning_modules.network import NASNetwork
from lightning_modules.objective import make_objective
from optuna_amoeba import nasnet


def tensorflow_fan_out(network: NASNetwork) -> None:
    for module in network.modules():
        if isinstance(module, nn.Conv2d):
            height, width = module.kernel_size
            fan_out = module.out_channels // module.groups * height * width
            nn.init.normal_(module.weight, 0.0, math.sqrt(2.0 / fan_out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--genotypes", type=int, default=16)
    parser.add_argument("--filters", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=0.05)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    torch.set_num_threads(1)
    space = nasnet.search_space()
    rng = np.random.RandomState(12345)
    genotypes = [
        {name: d.to_external_repr(rng.randint(len(d.choices))) for name, d in space.items()}  # type: ignore[attr-defined]
        for _ in range(args.genotypes)
    ]
    objective = make_objective(
        dataset="digits",
        epochs=args.epochs,
        num_cells=1,
        num_filters=args.filters,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        seed=7,
        pruning=False,
    )
    pytorch = NASNetwork._init_weights
    accuracies = []
    for number, params in enumerate(genotypes):
        pair = []
        for init in (pytorch, tensorflow_fan_out):
            NASNetwork._init_weights = init  # type: ignore[method-assign, assignment]
            trial = optuna.trial.FixedTrial(params, number=number)
            pair.append(objective(trial))  # type: ignore[arg-type]
        NASNetwork._init_weights = pytorch  # type: ignore[method-assign]
        accuracies.append(pair)
        print(f"genotype {number}: PyTorch's {pair[0]:.4f}, TensorFlow's {pair[1]:.4f}")
    pytorch_accuracy, tensorflow_accuracy = np.array(accuracies).T
    print(
        f"mean: PyTorch's {pytorch_accuracy.mean():.3f}, TensorFlow's "
        f"{tensorflow_accuracy.mean():.3f}, paired Wilcoxon "
        f"p = {wilcoxon(tensorflow_accuracy - pytorch_accuracy).pvalue:.2g}"
    )


if __name__ == "__main__":
    main()
