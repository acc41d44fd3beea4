from __future__ import annotations

import os
from pathlib import Path

from benchmarks_support import BEST_OPS
from benchmarks_support import write_fake_table
import numpy as np
import optuna
import pytest

from benchmarks.nats import EDGE_PARAMS
from benchmarks.nats import format_arch
from benchmarks.nats import NatsTable
from benchmarks.nats import parse_arch
from benchmarks.nats import suggest_nats_arch
from benchmarks.problems import build_problem
from benchmarks.problems import ProblemSpec


ARCH = (
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|"
    "+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
)


@pytest.fixture(scope="module")
def fake_table_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fake_table(tmp_path_factory.mktemp("nats") / "table.csv")


def test_parse_arch_reads_edges_in_node_order() -> None:
    assert parse_arch(ARCH) == (
        "nor_conv_3x3",
        "nor_conv_3x3",
        "avg_pool_3x3",
        "skip_connect",
        "nor_conv_3x3",
        "skip_connect",
    )
    assert format_arch(parse_arch(ARCH)) == ARCH
    assert EDGE_PARAMS == ("edge_1_0", "edge_2_0", "edge_2_1", "edge_3_0", "edge_3_1", "edge_3_2")


@pytest.mark.parametrize(
    ("arch", "message"),
    [
        ("|none~0|+|none~0|none~1|", "3 '\\+'-separated"),
        ("|none~0|+|none~0|+|none~0|none~1|none~2|", "2 input edge"),
        ("|none~0|+|none~0|none~2|+|none~0|none~1|none~2|", "'op~1'"),
        ("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", "'conv' in"),
        ("none~0|+|none~0|none~1|+|none~0|none~1|none~2|", "enclosed"),
    ],
)
def test_parse_arch_rejects_malformed_strings(arch: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_arch(arch)


def test_table_lookup_and_best(fake_table_path: Path) -> None:
    table = NatsTable.from_csv(fake_table_path)
    assert table.accuracy.shape == (5,) * 6
    best = dict(zip(EDGE_PARAMS, BEST_OPS, strict=True))
    assert table.lookup(best) == table.best
    assert int((table.accuracy == table.best).sum()) == 1
    worse = dict(best, edge_3_2="none")
    assert table.lookup(worse) < table.best


def test_table_rejects_incomplete_repeated_and_bad_files(
    fake_table_path: Path, tmp_path: Path
) -> None:
    lines = fake_table_path.read_text().splitlines()
    incomplete = tmp_path / "incomplete.csv"
    incomplete.write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(ValueError, match="covers 15624 of the 15625"):
        NatsTable.from_csv(incomplete)

    repeated = tmp_path / "repeated.csv"
    repeated.write_text("\n".join([*lines, lines[1]]) + "\n")
    with pytest.raises(ValueError, match="repeated"):
        NatsTable.from_csv(repeated)

    no_column = tmp_path / "no_column.csv"
    no_column.write_text("arch,accuracy\n" + "\n".join(lines[1:3]) + "\n")
    with pytest.raises(ValueError, match="lacks column"):
        NatsTable.from_csv(no_column)

    not_finite = tmp_path / "nan.csv"
    not_finite.write_text(lines[0] + "\n" + lines[1].rsplit(",", 1)[0] + ",nan\n")
    with pytest.raises(ValueError, match=r"nan.csv:2: test_accuracy must be finite"):
        NatsTable.from_csv(not_finite)

    with pytest.raises(ValueError, match="does not exist"):
        NatsTable.from_csv(tmp_path / "missing.csv")


def test_noisy_problem_shares_noise_per_seed(fake_table_path: Path) -> None:
    problem = build_problem(
        ProblemSpec(name="nats-noisy", data=str(fake_table_path), noise_sigma=0.3)
    )
    assert problem.optimum == NatsTable.from_csv(fake_table_path).best

    def noise(seed: int, sampler_seed: int) -> list[float]:
        evaluate = problem.evaluation(seed)
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=sampler_seed))
        out = []
        for _ in range(30):
            trial = study.ask()
            observed, true = evaluate(trial)
            out.append(observed - true)
            study.tell(trial, observed)
        return out

    same_seed = noise(3, 0), noise(3, 1)
    assert same_seed[0] == pytest.approx(same_seed[1])
    assert noise(4, 0) != pytest.approx(same_seed[0])
    assert 0.15 < float(np.std(same_seed[0])) < 0.45


def test_suggest_nats_arch_uses_six_categoricals() -> None:
    study = optuna.create_study()
    trial = study.ask()
    params = suggest_nats_arch(trial)
    assert list(params) == list(EDGE_PARAMS)
    assert all(
        isinstance(d, optuna.distributions.CategoricalDistribution)
        for d in trial.distributions.values()
    )


@pytest.mark.skipif(
    not os.environ.get("AMOEBA_NATS_CSV"),
    reason="AMOEBA_NATS_CSV is not set (path to the NATS-Bench CIFAR-10 topology CSV)",
)
def test_real_cifar10_table_facts() -> None:
    table = NatsTable.from_csv(os.environ["AMOEBA_NATS_CSV"])
    assert table.accuracy.size == 15_625
    assert table.best == pytest.approx(94.3733)
    assert int((table.accuracy == table.best).sum()) == 2
    assert float(np.median(table.accuracy)) == pytest.approx(90.74, abs=0.01)
