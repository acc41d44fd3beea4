"""optuna-dashboard integration, checked through the dashboard's own WSGI app."""

from __future__ import annotations

from collections.abc import Iterator
import io
import json
from pathlib import Path
import re
import sys
from typing import Any
import wsgiref.util
import xml.etree.ElementTree as ElementTree

import optuna
from optuna.artifacts import FileSystemArtifactStore
from optuna.storages import BaseStorage
import pytest

from optuna_amoeba import AgingEvolutionSampler
from optuna_amoeba import nasnet
from optuna_amoeba import recommend_by_mean
from optuna_amoeba.visualization._history import lineage


optuna_dashboard = pytest.importorskip(
    "optuna_dashboard", reason="optuna-dashboard is not installed (extra 'viz')"
)
pytest.importorskip("plotly", reason="plotly is not installed (extra 'viz')")
PIL_Image = pytest.importorskip("PIL.Image", reason="Pillow (a matplotlib dependency) is absent")

from optuna_amoeba.visualization import dashboard  # noqa: E402


NUM_TRIALS = 10
SVG_TRIAL = 3
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _score(genotype: nasnet.Genotype) -> float:
    """A cheap objective with structure to climb: prefer later ops and later inputs."""
    return float(
        sum(
            nasnet.OPERATIONS.index(op) + 0.5 * state
            for _, cell in genotype.cells()
            for block in cell.blocks
            for op, state in ((block.op_a, block.input_a), (block.op_b, block.input_b))
        )
    )


class Search:
    def __init__(
        self, study: optuna.Study, store: FileSystemArtifactStore, storage: BaseStorage
    ) -> None:
        self.study = study
        self.store = store
        self.storage = storage
        self.genotypes: dict[int, nasnet.Genotype] = {}


@pytest.fixture(scope="module")
def search(tmp_path_factory: pytest.TempPathFactory) -> Search:
    """A small NASNet search that feeds the dashboard the way ``optuna-amoeba search`` does."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    root = tmp_path_factory.mktemp("dashboard")
    artifacts = root / "artifacts"
    artifacts.mkdir()
    store = FileSystemArtifactStore(str(artifacts))
    # In memory: fast, and the dashboard reads it the same way (docs/make_screenshots.sh
    # exercises SQLite).
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(
        study_name="viz-test",
        storage=storage,
        direction="maximize",
        sampler=AgingEvolutionSampler(population_size=4, sample_size=2, seed=1),
    )
    state = Search(study, store, storage)

    def objective(trial: optuna.Trial) -> float:
        genotype = nasnet.suggest_genotype(trial, num_blocks=3)
        state.genotypes[trial.number] = genotype
        file_format = "svg" if trial.number == SVG_TRIAL else "png"
        dashboard.upload_cell_picture(study, trial, genotype, store, file_format=file_format)
        return _score(genotype)

    def callback(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        dashboard.update_study_dashboard(study)

    study.optimize(objective, n_trials=NUM_TRIALS, callbacks=[callback])
    return state


def _recommended_trial(study: optuna.Study) -> optuna.trial.FrozenTrial:
    """The first evaluation of the set ``recommend_by_mean`` keeps."""
    return study.trials[recommend_by_mean(study)[0].trial_numbers[0]]


def _get(app: Any, path: str, query: str = "") -> tuple[str, dict[str, str], bytes]:
    environ: dict[str, Any] = {}
    wsgiref.util.setup_testing_defaults(environ)
    environ.update(REQUEST_METHOD="GET", PATH_INFO=path, QUERY_STRING=query)
    reply: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        reply["status"], reply["headers"] = status, dict(headers)

    chunks = app(environ, start_response)
    try:
        body = b"".join(chunks)
    finally:
        if hasattr(chunks, "close"):
            chunks.close()
    return reply["status"], reply["headers"], body


@pytest.fixture(scope="module")
def study_api(search: Search) -> Iterator[tuple[Any, dict[str, Any]]]:
    app = optuna_dashboard.wsgi(search.storage, artifact_store=search.store)
    status, _, body = _get(app, f"/api/studies/{search.study._study_id}", "after=0")
    assert status.startswith("200"), status
    yield app, json.loads(body)


def _png_text(data: bytes) -> dict[str, str]:
    """The tEXt chunks of a PNG file."""
    assert data.startswith(PNG_SIGNATURE)
    chunks, position = {}, len(PNG_SIGNATURE)
    while position < len(data):
        length = int.from_bytes(data[position : position + 4], "big")
        kind = data[position + 4 : position + 8]
        content = data[position + 8 : position + 8 + length]
        if kind == b"tEXt":
            key, _, value = content.partition(b"\0")
            chunks[key.decode("latin-1")] = value.decode("latin-1")
        position += 12 + length
    return chunks


def test_study_api_returns_the_progress_graph(search: Search, study_api: Any) -> None:
    _, detail = study_api
    graphs = {graph["id"]: graph["graph_object"] for graph in detail["plotly_graph_objects"]}
    assert list(graphs) == [dashboard.GRAPH_ID], "each update must replace the one graph"
    figure = json.loads(graphs[dashboard.GRAPH_ID])
    traces = {trace["name"]: trace for trace in figure["data"]}

    best = _recommended_trial(search.study)
    chain = lineage(search.study, best)
    lineage_trace = traces[f"lineage of recommended trial {best.number}"]
    assert lineage_trace["x"] == [step.trial.number for step in chain]
    assert lineage_trace["y"] == pytest.approx([step.trial.value for step in chain])

    plotted: dict[int, float] = {}
    for name, trace in traces.items():
        if name.startswith("trial ("):
            plotted.update(zip(trace["x"], trace["y"], strict=True))
    assert plotted == pytest.approx({t.number: t.value for t in search.study.trials})
    assert any(name.startswith("population best (P=4, aging)") for name in traces)


def test_study_api_returns_the_recommended_genotype_note(search: Search, study_api: Any) -> None:
    _, detail = study_api
    note = detail["note"]["body"]
    best = _recommended_trial(search.study)
    numbers = recommend_by_mean(search.study)[0].trial_numbers
    assert note.startswith("## Recommended architecture")
    trials = "Trials" if len(numbers) > 1 else "Trial"
    assert f"{trials} **{', '.join(map(str, numbers))}**" in note
    (code,) = re.findall(r"```\n(.*?)```", note, re.DOTALL)
    assert nasnet.Genotype.parse(code) == search.genotypes[best.number]
    assert max(len(line) for line in code.splitlines()) < 60, "one block per line"


def test_trial_artifacts_are_the_right_cell_pictures(search: Search, study_api: Any) -> None:
    app, detail = study_api
    assert len(detail["trials"]) == NUM_TRIALS
    study_id = search.study._study_id
    compared_pixels = 0
    for trial in detail["trials"]:
        number = trial["number"]
        (artifact,) = trial["artifacts"]
        file_format = "svg" if number == SVG_TRIAL else "png"
        assert artifact["filename"] == f"trial_{number}_cells.{file_format}"
        status, headers, body = _get(
            app, f"/artifacts/{study_id}/{trial['trial_id']}/{artifact['artifact_id']}"
        )
        assert status.startswith("200"), status
        assert headers["Content-Type"] == dashboard.CELL_PICTURE_FORMATS[file_format]
        genotype = search.genotypes[number]
        title = f"study 'viz-test' · trial {number}"
        url = f"/artifacts/{study_id}/{trial['trial_id']}/{artifact['artifact_id']}"
        assert trial["note"]["body"] == f"![cells of trial {number}]({url})\n\n`{genotype}`"
        if file_format == "png":
            text = _png_text(body)
            assert text["Title"] == title
            assert text["Description"] == str(genotype)
            if compared_pixels == 3:  # rendering is the slow part; three pictures suffice
                continue
            compared_pixels += 1
            expected = dashboard.render_cell_picture(genotype, title=title)
            with (
                PIL_Image.open(io.BytesIO(body)) as got,
                PIL_Image.open(io.BytesIO(expected)) as want,
            ):
                assert got.size == want.size
                assert got.tobytes() == want.tobytes()
        else:
            root = ElementTree.fromstring(body)
            assert root.tag == "{http://www.w3.org/2000/svg}svg"
            titles = [e.text for e in root.iter("{http://purl.org/dc/elements/1.1/}title")]
            assert title in titles
            descriptions = [
                e.text for e in root.iter("{http://purl.org/dc/elements/1.1/}description")
            ]
            assert descriptions == [str(genotype)]
            # Every op label of this trial's cells is drawn in the picture.
            ids = {element.get("id") for element in root.iter()}
            for cell_type, cell in genotype.cells():
                for k in range(cell.num_blocks):
                    assert f"{cell_type}:op:{k}a" in ids and f"{cell_type}:op:{k}b" in ids


def test_upload_refuses_finished_trials_and_bad_formats(search: Search) -> None:
    finished = search.study.trials[0]
    genotype = search.genotypes[0]
    with pytest.raises(ValueError, match="running trials"):
        dashboard.upload_cell_picture(search.study, finished, genotype, search.store)
    with pytest.raises(ValueError, match="file_format must be one of png, svg"):
        dashboard.render_cell_picture(genotype, title="x", file_format="jpg")


def test_dashboard_works_for_other_search_spaces(tmp_path: Path) -> None:
    study = optuna.create_study(
        sampler=AgingEvolutionSampler(population_size=3, sample_size=2, seed=0)
    )
    study.optimize(lambda t: (t.suggest_float("x", -2, 2) - 1) ** 2, n_trials=8)
    dashboard.update_study_dashboard(study)
    note = optuna_dashboard.get_note(study)
    # The best trial led on one evaluation, so the sampler evaluated it again.
    recommended = recommend_by_mean(study)[0]
    assert recommended.count == 2 and study.best_trial.number in recommended.trial_numbers
    numbers = ", ".join(str(number) for number in recommended.trial_numbers)
    assert f"Trials **{numbers}**" in note
    assert f"x = {study.best_trial.params['x']!r}" in note


def test_note_and_lineage_show_the_recommended_set_not_a_lucky_trial(
    lucky_trial_study: optuna.Study,
) -> None:
    study = lucky_trial_study
    assert study.best_trial.number == 2
    note = dashboard.best_note(study)
    assert note.startswith("## Recommended architecture")
    assert "Trials **0, 3, 5**, objective value mean **0.9** over 3 evaluations" in note
    assert "x = 0.2" in note
    traces = {trace.name for trace in dashboard.progress_figure(study).data}
    assert "lineage of recommended trial 0" in traces
    by_target = dashboard.best_note(study, target=lambda trial: trial.values[0])
    assert by_target.startswith("## Current best") and "Trial **2**" in by_target


def test_missing_extra_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "plotly.graph_objects", None)
    study = optuna.create_study()
    with pytest.raises(ImportError, match=r"pip install 'optuna-amoeba\[viz\]'"):
        dashboard.update_study_dashboard(study)


def test_target_name_labels_the_note_and_the_graph(lucky_trial_study: optuna.Study) -> None:
    def size(trial: optuna.trial.FrozenTrial) -> float:
        return trial.values[0]

    note = dashboard.best_note(lucky_trial_study, target=size, target_name="size")
    assert "Trial **2**, size **" in note
    figure = dashboard.progress_figure(lucky_trial_study, target=size, target_name="size")
    assert figure.layout.yaxis.title.text == "size"


def test_a_trial_completed_by_another_worker_meanwhile_does_not_break_the_refresh() -> None:
    # Another worker completes the study's new leader between the refresh's read of the
    # trials and its ranking: the ranking must come from the same read.
    study = optuna.create_study(direction="maximize")
    for value in (0.1, 0.2):
        study.enqueue_trial({"x": value})
        study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=1)
    read_before = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    study.enqueue_trial({"x": 0.9})
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=1)
    shown = dashboard._incumbent(study, read_before, lambda trial: trial.values[0], None)
    assert shown is not None and shown[0].number == 1


def test_a_failed_refresh_warns_and_the_search_goes_on(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from lightning_modules.commands.search import DashboardUpdater

    url = "postgresql://u:s3cret@h/db"

    def lost_connection(study: optuna.Study, **_: object) -> None:
        cause = RuntimeError(f"server closed the connection to {url}")
        raise optuna.exceptions.StorageInternalError("An exception is raised.") from cause

    monkeypatch.setattr(dashboard, "update_study_dashboard", lost_connection)
    study = optuna.create_study()
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=1)
    updater = DashboardUpdater(url)
    with caplog.at_level("WARNING"):
        updater(study, study.trials[0], study.trials)
    assert updater.enabled
    assert "graphs not updated after trial 0: RuntimeError: server closed" in caplog.text
    assert "s3cret" not in caplog.text


def _count_trial_reads(monkeypatch: pytest.MonkeyPatch, study: optuna.Study) -> list[object]:
    """A list that grows by one at each read of ``study``'s trials from its storage."""
    reads: list[object] = []
    read = study._storage.get_all_trials

    def counted(*args: Any, **kwargs: Any) -> Any:
        reads.append(args)
        return read(*args, **kwargs)

    monkeypatch.setattr(study._storage, "get_all_trials", counted)
    return reads


def test_a_refresh_reads_the_trials_once_or_takes_the_callers_read(
    monkeypatch: pytest.MonkeyPatch, lucky_trial_study: optuna.Study
) -> None:
    study = lucky_trial_study
    trials = study.get_trials(deepcopy=False)
    reads = _count_trial_reads(monkeypatch, study)
    dashboard.update_study_dashboard(study)
    assert len(reads) == 1, "the graph and the note come from one read"
    note = optuna_dashboard.get_note(study)
    dashboard.update_study_dashboard(study, trials=trials)
    assert len(reads) == 1
    assert optuna_dashboard.get_note(study) == note
    assert "Trials **0, 3, 5**" in note


def test_a_refresh_refuses_trials_that_are_not_the_studys_read(
    lucky_trial_study: optuna.Study,
) -> None:
    trials = lucky_trial_study.get_trials(deepcopy=False)
    for wrong in (trials[1:], trials[::-1], trials[0]):
        with pytest.raises(ValueError, match="every state, in number order"):
            dashboard.update_study_dashboard(lucky_trial_study, trials=wrong)  # type: ignore[arg-type]


def test_the_progress_line_and_the_dashboard_refresh_share_one_read(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    lucky_trial_study: optuna.Study,
) -> None:
    from lightning_modules.commands.search import DashboardUpdater
    from lightning_modules.commands.search import ProgressDisplay

    study = lucky_trial_study
    last = study.trials[-1]
    reads = _count_trial_reads(monkeypatch, study)
    stream = io.StringIO()
    display = ProgressDisplay(6, stream=stream, dashboard=DashboardUpdater("sqlite:///x.db"))
    with caplog.at_level("WARNING"):
        display(study, last)
    assert len(reads) == 1
    assert "not updated" not in caplog.text
    assert "recommended=0.9000 (mean of 3, trials 0, 3, 5)" in stream.getvalue()
    assert "Trials **0, 3, 5**" in optuna_dashboard.get_note(study)
