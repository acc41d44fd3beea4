"""Samplers by name, with keyword overrides, and a clock for the time spent inside them.

A spec is a registered name or an import path ``package.module:ClassName``, optionally followed
by keyword overrides in brackets: ``amoeba[population_size=10,sample_size=3]``,
``optuna.samplers:QMCSampler[scramble=True]``. Values are read as int, float, bool
(``True``/``False``), ``None``, or else a string (quotes force a string: ``x='1'``). The
``seed`` keyword is set per run and cannot be overridden.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
import functools
import importlib
import inspect
import re
import time
from typing import Any

from optuna.samplers import BaseSampler
from optuna.storages import BaseStorage


@dataclass(frozen=True)
class _Registered:
    target: str
    kwargs: dict[str, Any]
    description: str


REGISTERED: dict[str, _Registered] = {
    "amoeba": _Registered(
        "optuna_amoeba:AgingEvolutionSampler", {}, "AgingEvolutionSampler, defaults"
    ),
    "amoeba-paper": _Registered(
        "optuna_amoeba:AgingEvolutionSampler",
        # Real et al. 2019, section 4 (the CIFAR-10 search): P=100, S=25; evolution starts
        # once the population is full (Algorithm 1): no re-evaluation, no TPE proposals.
        {
            "population_size": 100,
            "sample_size": 25,
            "n_startup_trials": 100,
            "reevaluation_probability": 0.0,
            "tpe_probability": 0.0,
        },
        "AgingEvolutionSampler with the paper's P=100, S=25, random until P, no re-evaluation "
        "or TPE",
    ),
    "amoeba-nonaging": _Registered(
        "optuna_amoeba:AgingEvolutionSampler",
        {"aging": False},
        "AgingEvolutionSampler(aging=False): the worst member leaves, not the oldest",
    ),
    "tpe": _Registered("optuna.samplers:TPESampler", {}, "TPESampler, defaults"),
    "tpe-multivariate": _Registered(
        "optuna.samplers:TPESampler", {"multivariate": True}, "TPESampler(multivariate=True)"
    ),
    "tpe-independent": _Registered(
        "optuna.samplers:TPESampler", {"multivariate": False}, "TPESampler(multivariate=False)"
    ),
    "tpe-no-liar": _Registered(
        "optuna.samplers:TPESampler",
        {"constant_liar": False},
        "TPESampler(constant_liar=False): running trials are not penalised",
    ),
    "random": _Registered("optuna.samplers:RandomSampler", {}, "RandomSampler"),
    "nsgaii": _Registered("optuna.samplers:NSGAIISampler", {}, "NSGAIISampler, defaults"),
    # Peers from other libraries (the 'peers' extra), driven through their own ask/tell APIs.
    "synetune-re": _Registered(
        "benchmarks.peers:SyneTuneRegularizedEvolutionSampler",
        {},
        "Syne Tune's RegularizedEvolution searcher, its defaults (P=100, S=10)",
    ),
    "nevergrad": _Registered(
        "benchmarks.peers:NevergradSampler",
        {},
        "Nevergrad's DiscreteOnePlusOne, a (1+1) evolutionary algorithm",
    ),
}

_SPEC = re.compile(r"^(?P<target>[^\[\]]+?)\s*(?:\[(?P<overrides>[^\[\]]*)\])?$")
_IMPORT_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
_KEYWORD = re.compile(r"^[A-Za-z_]\w*$")
_TIMED_METHODS = (
    "before_trial",
    "infer_relative_search_space",
    "sample_relative",
    "sample_independent",
    "after_trial",
)


def split_specs(text: str) -> list[str]:
    """Split a comma-separated list of sampler specs, ignoring commas inside brackets."""
    specs: list[str] = []
    depth = 0
    current: list[str] = []
    for char in text:
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth < 0:
                raise ValueError(f"unbalanced ']' in sampler list {text!r}")
        if char == "," and depth == 0:
            specs.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    if depth != 0:
        raise ValueError(f"unbalanced '[' in sampler list {text!r}")
    specs.append("".join(current).strip())
    if any(not spec for spec in specs):
        raise ValueError(f"empty sampler name in list {text!r}")
    return specs


def parse_value(text: str) -> Any:
    """``int``, ``float``, ``bool``, ``None`` or ``str``, in that order of preference."""
    stripped = text.strip()
    if len(stripped) >= 2 and stripped[0] == stripped[-1] and stripped[0] in "'\"":
        return stripped[1:-1]
    if stripped in ("True", "true"):
        return True
    if stripped in ("False", "false"):
        return False
    if stripped in ("None", "none", "null"):
        return None
    for convert in (int, float):
        try:
            return convert(stripped)
        except ValueError:
            continue
    return stripped


def _format_value(value: Any) -> str:
    if isinstance(value, str) and parse_value(value) != value:
        return repr(value)
    return str(value)


@dataclass(frozen=True)
class SamplerSpec:
    """A sampler to build once per run: ``target`` class, keyword arguments, a label."""

    label: str
    target: str
    kwargs: dict[str, Any] = field(default_factory=dict)

    def sampler_class(self) -> type[BaseSampler]:
        module_name, _, class_name = self.target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as error:
            message = f"sampler {self.label!r}: cannot import {module_name}: {error}"
            raise ValueError(message) from None
        cls = getattr(module, class_name, None)
        if not (isinstance(cls, type) and issubclass(cls, BaseSampler)):
            raise ValueError(
                f"sampler {self.label!r}: {self.target} is not an optuna BaseSampler subclass"
            )
        return cls

    def accepts_seed(self) -> bool:
        parameters = inspect.signature(self.sampler_class()).parameters
        return "seed" in parameters

    def build(self, seed: int | None) -> BaseSampler:
        """A fresh sampler; ``seed`` is passed when the class takes one."""
        cls = self.sampler_class()
        kwargs = dict(self.kwargs)
        if seed is not None and self.accepts_seed():
            kwargs["seed"] = seed
        try:
            return cls(**kwargs)
        except (TypeError, ValueError) as error:
            raise ValueError(f"sampler {self.label!r}: {error}") from None

    def settings(self) -> dict[str, Any]:
        """Every constructor argument but ``seed``: the defaults of the installed version
        with ``kwargs`` applied (values JSON cannot hold are written as their repr)."""
        parameters = inspect.signature(self.sampler_class()).parameters
        resolved: dict[str, Any] = {}
        for name, parameter in parameters.items():
            if name == "seed" or parameter.kind in (
                parameter.VAR_POSITIONAL,
                parameter.VAR_KEYWORD,
            ):
                continue
            value = self.kwargs.get(name, parameter.default)
            if value is inspect.Parameter.empty:
                continue
            plain = value is None or isinstance(value, (bool, int, float, str))
            resolved[name] = value if plain else repr(value)
        return resolved

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, "target": self.target, "kwargs": self.kwargs}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SamplerSpec:
        return cls(label=data["label"], target=data["target"], kwargs=dict(data["kwargs"]))


def parse_sampler(text: str) -> SamplerSpec:
    """Parse one spec (see the module docstring); the class is imported to check it."""
    match = _SPEC.match(text.strip())
    if match is None:
        raise ValueError(
            f"sampler {text!r} must be a name or module:Class, optionally followed by "
            "[key=value,...]"
        )
    target = match.group("target")
    overrides: dict[str, Any] = {}
    override_text = match.group("overrides")
    if override_text is not None and override_text.strip():
        for item in override_text.split(","):
            key, sep, value = item.partition("=")
            key = key.strip()
            if not sep or not _KEYWORD.match(key):
                raise ValueError(f"override {item.strip()!r} in {text!r} must be key=value")
            if key == "seed":
                raise ValueError(f"sampler {text!r}: seed is set per run (--seeds), not here")
            if key in overrides:
                raise ValueError(f"sampler {text!r}: {key} given twice")
            overrides[key] = parse_value(value)
    if target in REGISTERED:
        registered = REGISTERED[target]
        kwargs = {**registered.kwargs, **overrides}
        class_path = registered.target
    elif _IMPORT_PATH.match(target):
        kwargs = overrides
        class_path = target
    else:
        raise ValueError(
            f"unknown sampler {target!r}: use one of {', '.join(REGISTERED)} or an import path "
            "like package.module:ClassName"
        )
    label = target
    if overrides:
        label += "[" + ",".join(f"{k}={_format_value(v)}" for k, v in overrides.items()) + "]"
    spec = SamplerSpec(label=label, target=class_path, kwargs=kwargs)
    spec.sampler_class()
    return spec


def parse_samplers(text: str) -> list[SamplerSpec]:
    """Parse a comma-separated list; labels must be distinct."""
    specs = [parse_sampler(item) for item in split_specs(text)]
    labels = [spec.label for spec in specs]
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise ValueError(f"sampler(s) listed twice: {', '.join(repeated)}")
    return specs


class SamplerClock:
    """Seconds spent inside a sampler's methods; nested calls are counted once."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._depth = 0

    def _wrap(self, method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def timed(*args: Any, **kwargs: Any) -> Any:
            if self._depth:
                return method(*args, **kwargs)
            self._depth += 1
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start
                self._depth -= 1

        return timed

    @property
    def inside(self) -> bool:
        """Whether a timed sampler method is running now."""
        return self._depth > 0

    def time_storage(self, storage: BaseStorage, names: Sequence[str]) -> list[float]:
        """Also time ``storage``'s methods ``names`` while the sampler calls them.

        Returns a one-element list holding those seconds, updated in place: the part of
        :attr:`seconds` that the sampler spent waiting on the storage.
        """
        spent = [0.0]
        for name in names:
            method = getattr(storage, name)

            def timed(*args: Any, _method: Callable[..., Any] = method, **kwargs: Any) -> Any:
                if not self.inside:
                    return _method(*args, **kwargs)
                start = time.perf_counter()
                try:
                    return _method(*args, **kwargs)
                finally:
                    spent[0] += time.perf_counter() - start

            setattr(storage, name, timed)
        return spent

    @classmethod
    def attach(cls, sampler: BaseSampler) -> SamplerClock:
        """Wrap ``sampler``'s methods (on the instance) so that they add to the clock."""
        clock = cls()
        for name in _TIMED_METHODS:
            setattr(sampler, name, clock._wrap(getattr(sampler, name)))
        return clock
