"""The simulated asynchronous workers (benchmarks.async_sim), their cost model and CLI."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
import itertools
import json
from pathlib import Path
from typing import Any

from benchmarks_support import write_fake_table
import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.samplers import RandomSampler
from optuna.study import Study
from optuna.trial import FrozenTrial
from optuna.trial import TrialState
import pytest

from benchmarks import ask_cost
from benchmarks import asynchronous
from benchmarks.async_report import on_grid
from benchmarks.async_sim import AsyncTask
from benchmarks.async_sim import Completion
from benchmarks.async_sim import enqueue_shared_first_wave
from benchmarks.async_sim import execute_async
from benchmarks.async_sim import nats_duration
from benchmarks.async_sim import shared_first_wave
from benchmarks.async_sim import simulate
from benchmarks.nats import EDGE_PARAMS
from benchmarks.nats import NATS_EDGES
from benchmarks.nats import NATS_OPERATIONS
from benchmarks.nats_cost import MAX_FLOPS
from benchmarks.nats_cost import network_cost
from benchmarks.nats_cost import TrainingCostModel
from benchmarks.problems import build_problem
from benchmarks.problems import ProblemSpec
from benchmarks.samplers import parse_sampler
from optuna_amoeba import AgingEvolutionSampler
from optuna_amoeba import MUTATION_KEY


pytestmark = pytest.mark.usefixtures("quiet_optuna")


@pytest.fixture(scope="module")
def table_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fake_table(tmp_path_factory.mktemp("nats") / "table.csv")


class ProbeSampler(BaseSampler):
    """RandomSampler that records, at each ask, how many trials are RUNNING (the new one
    included), and every trial it is told about."""

    def __init__(self, seed: int) -> None:
        self._random = RandomSampler(seed=seed)
        self.running_at_ask: list[int] = []
        self.told: list[int] = []

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        self.running_at_ask.append(len(running))

    def infer_relative_search_space(
        self, study: Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return {}

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return {}

    def sample_independent(
        self,
        study: Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        return self._random.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(
        self,
        study: Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        self.told.append(trial.number)


def _evaluation(table_path: Path, seed: int = 0, sigma: float = 0.0) -> Any:
    name = "nats-noisy" if sigma else "nats"
    spec = ProblemSpec(name=name, data=str(table_path), noise_sigma=sigma)
    return build_problem(spec).evaluation(seed)


def _max_overlap(completions: Sequence[Completion]) -> int:
    """The most trials in flight at once, from their [start, finish) intervals."""
    events = sorted(
        [(c.finish, -1) for c in completions] + [(c.start, 1) for c in completions]
    )  # at equal times a finish (-1) sorts before a start (+1)
    return max(itertools.accumulate(step for _, step in events))


def test_cost_model_time_unit_is_one_average_training() -> None:
    model = TrainingCostModel(overhead=0.5, jitter_sigma=0.0)
    durations = [
        model.expected_duration(ops)
        for ops in itertools.product(NATS_OPERATIONS, repeat=len(NATS_EDGES))
    ]
    assert np.mean(durations) == pytest.approx(1.0)
    largest = model.expected_duration(("nor_conv_3x3",) * 6)
    smallest = model.expected_duration(("none",) * 6)
    assert largest == pytest.approx(model.scale * 1.5)
    empty_cell = network_cost(("none",) * 6).flops
    assert smallest == pytest.approx(model.scale * (0.5 + empty_cell / MAX_FLOPS))
    assert model.duration(("none",) * 6, model.jitter(0)) == pytest.approx(smallest)


def test_cost_model_jitter_is_seeded_log_normal_of_mean_one() -> None:
    model = TrainingCostModel(overhead=0.5, jitter_sigma=0.2)
    ops = ("nor_conv_3x3",) * 6
    first = [model.duration(ops, stream) for stream in [model.jitter(7)] for _ in range(4000)]
    again = [model.duration(ops, stream) for stream in [model.jitter(7)] for _ in range(4000)]
    other = [model.duration(ops, stream) for stream in [model.jitter(8)] for _ in range(4000)]
    assert first == again and first != other
    ratio = np.array(first) / model.expected_duration(ops)
    assert np.mean(ratio) == pytest.approx(1.0, abs=0.02)
    assert np.std(np.log(ratio)) == pytest.approx(0.2, abs=0.01)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"overhead": -0.1}, "overhead must be a finite float >= 0"),
        ({"overhead": float("nan")}, "overhead must be a finite float >= 0"),
        ({"jitter_sigma": -1.0}, "jitter_sigma must be a finite float >= 0"),
    ],
)
def test_cost_model_refuses_bad_settings(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        TrainingCostModel(**kwargs)


@pytest.mark.parametrize("workers", [1, 3, 16])
def test_events_in_time_order_at_most_k_running_each_trial_told_once(
    table_path: Path, workers: int
) -> None:
    probe = ProbeSampler(seed=1)
    study = optuna.create_study(direction="maximize", sampler=probe)
    cost = TrainingCostModel(jitter_sigma=0.3)
    horizon = 12.0
    completions = simulate(
        study,
        _evaluation(table_path),
        nats_duration(cost, seed=1),
        workers=workers,
        horizon=horizon,
    )
    finishes = [c.finish for c in completions]
    assert finishes == sorted(finishes)
    assert len(completions) > 2 * workers
    # The samplers saw at most K RUNNING trials at every ask, and K of them at some ask.
    assert max(probe.running_at_ask) == workers
    assert _max_overlap(completions) == workers
    # Every trial was told once, in completion order, and nothing is left running.
    trials = study.get_trials(deepcopy=False)
    assert probe.told == [c.number for c in completions]
    assert sorted(probe.told) == [t.number for t in trials]
    assert all(t.state == TrialState.COMPLETE for t in trials)
    for completion in completions:
        trial = trials[completion.number]
        assert trial.value == completion.observed and trial.params == completion.params
        assert completion.start < horizon
        assert completion.finish > completion.start
    # A worker runs one trial at a time and starts the next when the last one completes.
    for worker in range(workers):
        own = [c for c in completions if c.worker == worker]
        assert own[0].start == 0.0
        assert all(a.finish == b.start for a, b in itertools.pairwise(own))


def test_ties_complete_in_start_order(table_path: Path) -> None:
    study = optuna.create_study(direction="maximize", sampler=RandomSampler(seed=0))
    completions = simulate(
        study, _evaluation(table_path), lambda params: 1.0, workers=3, max_trials=9
    )
    assert [c.number for c in completions] == list(range(9))
    assert [c.worker for c in completions] == [0, 1, 2] * 3
    assert [c.finish for c in completions] == [1.0] * 3 + [2.0] * 3 + [3.0] * 3


@pytest.mark.parametrize(
    "make_sampler",
    [
        lambda: AgingEvolutionSampler(population_size=8, sample_size=3, seed=5),
        lambda: optuna.samplers.TPESampler(seed=5, n_startup_trials=5),
    ],
)
def test_one_worker_is_sequential_optimisation(table_path: Path, make_sampler: Any) -> None:
    evaluate = _evaluation(table_path)
    study = optuna.create_study(direction="maximize", sampler=make_sampler())
    completions = simulate(
        study,
        evaluate,
        nats_duration(TrainingCostModel(), seed=0),
        workers=1,
        max_trials=40,
    )
    evaluate_again = _evaluation(table_path)
    sequential = optuna.create_study(direction="maximize", sampler=make_sampler())
    sequential.optimize(lambda trial: evaluate_again(trial)[0], n_trials=40)
    assert [c.params for c in completions] == [t.params for t in sequential.trials]
    assert [c.observed for c in completions] == [t.value for t in sequential.trials]
    assert all(a.finish == b.start for a, b in itertools.pairwise(completions))


def _task(
    table_path: Path,
    sampler: str,
    workers: int,
    seed: int,
    sigma: float,
    first_wave: str = "own",
) -> AsyncTask:
    return AsyncTask(
        problem=ProblemSpec(
            name="nats-noisy" if sigma else "nats", data=str(table_path), noise_sigma=sigma
        ),
        sampler=parse_sampler(sampler),
        workers=workers,
        seed=seed,
        horizon=6.0,
        cost=TrainingCostModel(),
        first_wave=first_wave,
    )


def _history(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in ("wall_seconds", "sampler_seconds")}


@pytest.mark.parametrize("sampler", ["amoeba[population_size=8,sample_size=3]", "tpe"])
def test_same_seed_same_history(table_path: Path, sampler: str) -> None:
    first = execute_async(_task(table_path, sampler, workers=4, seed=3, sigma=0.3))
    again = execute_async(_task(table_path, sampler, workers=4, seed=3, sigma=0.3))
    other = execute_async(_task(table_path, sampler, workers=4, seed=4, sigma=0.3))
    assert _history(first) == _history(again)
    assert first["finish"] != other["finish"]


def test_run_record_regrets(table_path: Path) -> None:
    record = execute_async(_task(table_path, "random", workers=4, seed=0, sigma=0.3))
    n = record["trials"]
    assert n == len(record["finish"]) == len(record["regret_by_mean"]) > 10
    assert record["finish"] == sorted(record["finish"])
    assert min(record["regret_by_mean"]) >= 0 and min(record["regret_best_observed"]) >= 0
    exact = execute_async(_task(table_path, "random", workers=4, seed=0, sigma=0.0))
    # Without noise the best observed value is the true value: regret never increases.
    assert all(b <= a for a, b in itertools.pairwise(exact["regret_best_observed"]))
    assert exact["regret_by_mean"] == exact["regret_best_observed"]


@pytest.mark.parametrize("sigma", [0.0, 0.3])
def test_first_wave_flags_follow_the_incumbent(table_path: Path, sigma: float) -> None:
    workers = 4
    record = execute_async(_task(table_path, "random", workers=workers, seed=1, sigma=sigma))
    starts = [f - d for f, d in zip(record["finish"], record["duration"], strict=True)]
    for incumbent in ("best_observed", "by_mean"):
        flags = record[f"first_wave_{incumbent}"]
        regrets = record[f"regret_{incumbent}"]
        assert len(flags) == record["trials"] and set(flags) <= {0, 1}
        # Until a trial of the second wave has completed, the incumbent is from the first.
        second = next(i for i, start in enumerate(starts) if start > 1e-6)
        assert all(flags[:second]) and second >= workers
        # The incumbent changes only when its regret does (different trials, distinct regrets
        # in this table almost surely), so a flag changes only with the regret.
        for i in range(1, len(flags)):
            if flags[i] != flags[i - 1]:
                assert regrets[i] != regrets[i - 1]
    # Not every flag is set: with this seed a later trial takes over.
    assert 0 in record["first_wave_best_observed"]


def test_shared_first_wave_is_seeded_and_uniform() -> None:
    wave = shared_first_wave(seed=5, workers=2000)
    assert wave == shared_first_wave(seed=5, workers=2000)
    assert wave[:8] != shared_first_wave(seed=6, workers=8)
    assert all(set(params) == set(EDGE_PARAMS) for params in wave)
    counts = Counter(params[EDGE_PARAMS[0]] for params in wave)
    # 400 expected per operation; a binomial s.d. of 18, so 4 s.d. either side.
    assert set(counts) == set(NATS_OPERATIONS)
    assert all(abs(count - 400) < 72 for count in counts.values()), counts


@pytest.mark.parametrize("sigma", [0.0, 0.3])
def test_shared_first_wave_is_the_same_for_every_sampler(table_path: Path, sigma: float) -> None:
    workers = 6
    records = {
        sampler: execute_async(
            _task(table_path, sampler, workers, seed=2, sigma=sigma, first_wave="shared")
        )
        for sampler in ("amoeba[population_size=8,sample_size=3]", "tpe", "random")
    }

    def first_wave(record: dict[str, Any]) -> list[tuple[float, float]]:
        # (finish, duration) of the trials started at time 0, in completion order.
        return [
            (finish, duration)
            for finish, duration in zip(record["finish"], record["duration"], strict=True)
            if abs(finish - duration) < 1e-6
        ]

    waves = [first_wave(record) for record in records.values()]
    assert len(waves[0]) == workers and all(wave == waves[0] for wave in waves)
    # Until a second-wave trial completes, every sampler holds the same incumbent.
    regrets = [record["regret_by_mean"][:workers] for record in records.values()]
    assert all(r[0] == regrets[0][0] for r in regrets)
    own = execute_async(_task(table_path, "random", workers, seed=2, sigma=sigma))
    assert first_wave(own) != waves[0]


def test_shared_first_wave_runs_as_enqueued_for_the_sampler(table_path: Path) -> None:
    task = _task(table_path, "amoeba[population_size=8,sample_size=3]", 4, 0, 0.0, "shared")
    study = optuna.create_study(direction="maximize", sampler=task.sampler.build(task.seed))
    enqueue_shared_first_wave(study, task.seed, task.workers)
    simulate(
        study,
        _evaluation(table_path),
        nats_duration(task.cost, task.seed),
        workers=task.workers,
        max_trials=12,
    )
    first_trials = sorted(study.trials, key=lambda trial: trial.number)[: task.workers]
    assert [t.params for t in first_trials] == shared_first_wave(task.seed, task.workers)
    assert all(t.system_attrs[MUTATION_KEY] == "enqueued" for t in first_trials)


def test_execute_async_refuses_an_unknown_first_wave(table_path: Path) -> None:
    with pytest.raises(ValueError, match="first_wave must be one of own, shared, got 'both'"):
        execute_async(_task(table_path, "random", 2, 0, 0.0, first_wave="both"))


def test_on_grid_steps_at_completions() -> None:
    grid = np.array([0.5, 1.0, 1.5, 2.0, 3.5])
    values = on_grid([1.0, 2.0, 3.0], [0.9, 0.4, 0.1], grid)
    np.testing.assert_allclose(values, [np.nan, 0.9, 0.9, 0.4, 0.1])


def test_simulate_refuses_bad_arguments(table_path: Path) -> None:
    study = optuna.create_study(direction="maximize")
    evaluate = _evaluation(table_path)
    with pytest.raises(ValueError, match="workers must be an int >= 1"):
        simulate(study, evaluate, lambda params: 1.0, workers=0)
    with pytest.raises(ValueError, match="horizon must be > 0"):
        simulate(study, evaluate, lambda params: 1.0, workers=1, horizon=0.0)
    with pytest.raises(ValueError, match="duration must be finite and > 0"):
        simulate(study, evaluate, lambda params: 0.0, workers=1, max_trials=1)


def test_cli_writes_tables_and_plots_and_reuses_runs(
    table_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "async"
    argv = [
        "--data", str(table_path), "--samplers", "amoeba[population_size=8,sample_size=3],tpe",
        "--workers", "1,4", "--trainings", "24", "--seeds", "2", "--first-seed", "30000",
        "--noise-sigma", "0.3", "--target", "1.0", "--out", str(out),
    ]  # fmt: skip
    assert asynchronous.main(argv) == 0
    for name in ("README.md", "summary.json", "meta.json", "regret_time.png", "speedup.png"):
        assert (out / name).is_file(), name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["incumbent"].startswith("recommend_by_mean")
    assert summary["workers"] == [1, 4] and summary["num_seeds"] == 2
    tpe = summary["samplers"]["tpe"]
    assert tpe["4"]["horizon"] == 6.0 and tpe["1"]["horizon"] == 24.0
    assert tpe["1"]["speedup"] in (None, 1.0)
    assert all(0.0 <= share <= 1.0 for share in tpe["4"]["first_wave_share"].values())
    readme = (out / "README.md").read_text()
    assert "python -m benchmarks.asynchronous --data" in readme
    assert "Time to mean regret ≤ 1" in readme
    assert "### Incumbents from the first wave" in readme
    assert summary["first_wave"] == "own" and "wilcoxon_p_vs_first" not in summary
    meta = json.loads((out / "meta.json").read_text())
    assert meta["config"]["seeds"] == [30000, 30001] and meta["finished"]
    capsys.readouterr()
    assert asynchronous.main(argv) == 0
    assert "reusing 8 run(s)" in capsys.readouterr().err


def test_cli_shared_first_wave_reports_paired_p_values(table_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "shared"
    argv = [
        "--data", str(table_path), "--samplers", "random,tpe", "--workers", "4",
        "--trainings", "24", "--seeds", "6", "--first-seed", "30000", "--first-wave", "shared",
        "--out", str(out),
    ]  # fmt: skip
    assert asynchronous.main(argv) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["first_wave"] == "shared"
    paired = summary["wilcoxon_p_vs_first"]["4"]["0.25"]["tpe"]
    assert 0.0 < paired <= 1.0
    readme = (out / "README.md").read_text()
    assert "first wave shared" in readme and "paired Wilcoxon signed-rank" in readme
    assert json.loads((out / "meta.json").read_text())["config"]["first_wave"] == "shared"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--workers", "0"], "--workers: expected an int >= 1, got 0"),
        (["--workers", "4,4"], "worker counts repeat"),
        (["--samplers", "nope"], "unknown sampler 'nope'"),
        (["--checkpoints", "1.5"], "expected fractions in (0, 1], got 1.5"),
        (["--overhead", "-1"], "expected a finite float >= 0, got -1.0"),
        (["--first-wave", "both"], "--first-wave: invalid choice: 'both'"),
    ],
)
def test_cli_refuses_bad_input_in_one_line(
    table_path: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    argv = ["--data", str(table_path), "--out", str(tmp_path / "out"), *extra]
    with pytest.raises(SystemExit) as exit_info:
        asynchronous.main(argv)
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert message in error and len(error.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_cli_refuses_a_missing_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        asynchronous.main(["--data", str(tmp_path / "none.csv"), "--out", str(tmp_path / "o")])
    assert exit_info.value.code == 2
    assert "does not exist" in capsys.readouterr().err


def test_edge_parameter_names_drive_durations() -> None:
    cost = TrainingCostModel(jitter_sigma=0.0)
    duration = nats_duration(cost, seed=0)
    params = dict.fromkeys(EDGE_PARAMS, "nor_conv_3x3")
    assert duration(params) == pytest.approx(cost.expected_duration(("nor_conv_3x3",) * 6))


def test_tpe_variants_with_and_without_the_constant_liar() -> None:
    # Optuna 5's TPESampler penalises running trials by default; tpe-no-liar turns it off.
    assert parse_sampler("tpe").settings()["constant_liar"] is True
    assert parse_sampler("tpe-no-liar").settings()["constant_liar"] is False
    sampler = parse_sampler("tpe-no-liar").build(seed=0)
    assert isinstance(sampler, optuna.samplers.TPESampler)


@pytest.mark.parametrize("turnover", [1, 8])
@pytest.mark.parametrize("space", list(ask_cost.SPACES))
def test_ask_cost_times_proposals_with_trials_running(space: str, turnover: int) -> None:
    storage = optuna.storages.InMemoryStorage()
    study_name, _ = ask_cost.fill(storage, space, size=60, running=8, seed=0)
    study = optuna.load_study(study_name=study_name, storage=storage)
    states = Counter(t.state for t in study.get_trials(deepcopy=False))
    assert states == {TrialState.COMPLETE: 52, TrialState.RUNNING: 8}
    for sampler in ask_cost.SAMPLERS:
        row = ask_cost.measure(
            storage, study_name, space, sampler, asks=3, turnover=turnover, seed=0
        )
        assert row["running"] == 8 and row["asks"] == 3 and row["turnover"] == turnover
        assert 0 < row["median_sampler_ms"] <= row["median_ask_ms"] <= row["p90_ask_ms"]
        assert 0 <= row["median_sampler_storage_ms"] <= row["median_sampler_ms"]
    # After each proposal (the first included) `turnover` trials finished and as many
    # started, the proposal among them; 8 are still running.
    study = optuna.load_study(study_name=study_name, storage=storage)
    states = Counter(t.state for t in study.get_trials(deepcopy=False))
    assert states == {TrialState.COMPLETE: 52 + 3 * 4 * turnover, TrialState.RUNNING: 8}


def test_ask_cost_writes_its_report_only_where_told(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    small = ["--size", "30", "--running", "4", "--asks", "1", "--tpe-asks", "1"]
    ask_cost.main(small)
    assert list(tmp_path.iterdir()) == []
    assert '"sampler": "AgingEvolutionSampler"' in capsys.readouterr().out
    ask_cost.main([*small, "--out", "report"])
    assert (tmp_path / "report" / "README.md").is_file()


@pytest.mark.parametrize("turnover", ["0", "5"])
def test_ask_cost_refuses_a_turnover_outside_the_running_trials(
    turnover: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        ask_cost.main(["--size", "30", "--running", "4", "--turnover", turnover])
    assert stopped.value.code == 2
    assert f"--turnover must be an int in [1, --running], got {turnover}" in (
        capsys.readouterr().err
    )
