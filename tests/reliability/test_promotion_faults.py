"""Promotion under registry faults: a failed promote leaves a consistent registry, a retry completes.

The registry is the real SQLite store; only the client is wrapped: :class:`FaultyClient` raises
an ``MlflowException`` (as a REST error would arrive) on chosen write calls. Faults hit each
write of the move (challenger, previous_champion, champion, challenger removal), the decision
record, and the commit (removal of the ``promotion.pending`` tag), once (a transient error: the
aliases are put back) or from that write on (the registry is down: putting them back fails too
and the next promote repairs). After every fault the ``promote`` entry point exits 2 with one
line, no model has a champion whose recorded decision is ``rejected``, and a retry without
faults ends with exactly the aliases and record a clean promotion gives.

``MLFLOW_DELTA_SOAK=1`` repeats every scenario (``MLFLOW_DELTA_SOAK_REPEATS``, default 10).
"""

import uuid
from dataclasses import dataclass
from typing import Optional

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import TEMPORARILY_UNAVAILABLE

from mlflow_delta_plugin.promotion.aliases import PENDING_TAG
from mlflow_delta_plugin.promotion.lease import LEASE_TAG_PREFIX
from mlflow_delta_plugin.steps import promote as promote_module
from mlflow_delta_plugin.steps.prepare import prepare
from mlflow_delta_plugin.steps.train import train
from tests.conftest import load_entrypoint
from tests.reliability.soak import SOAK_REPEATS

pytestmark = pytest.mark.slow

ALIAS_WRITES = ("set_registered_model_alias", "delete_registered_model_alias")
DOWN = 10_000  # a fault "count" that outlasts every retry: the registry is down


class FaultyClient(MlflowClient):
    """A real MlflowClient whose matching write calls number ``first`` .. ``first+count-1``
    raise ``MlflowException(TEMPORARILY_UNAVAILABLE)`` without reaching the store."""

    methods: tuple = ()
    key: Optional[str] = None  # only calls whose 2nd argument (alias, tag key) is this
    first = 1
    count = 0
    seen = 0
    raised = 0

    def _maybe_fail(self, method: str, args: tuple) -> None:
        cls = type(self)
        if method not in cls.methods or (cls.key is not None and args[1] != cls.key):
            return
        cls.seen += 1
        if cls.first <= cls.seen < cls.first + cls.count:
            cls.raised += 1
            raise MlflowException(f"injected registry fault in {method} (call {cls.seen})",
                                  error_code=TEMPORARILY_UNAVAILABLE)

    def set_registered_model_alias(self, *args, **kwargs):
        self._maybe_fail("set_registered_model_alias", args)
        return super().set_registered_model_alias(*args, **kwargs)

    def delete_registered_model_alias(self, *args, **kwargs):
        self._maybe_fail("delete_registered_model_alias", args)
        return super().delete_registered_model_alias(*args, **kwargs)

    def set_model_version_tag(self, *args, **kwargs):
        self._maybe_fail("set_model_version_tag", args)
        return super().set_model_version_tag(*args, **kwargs)

    def delete_registered_model_tag(self, *args, **kwargs):
        self._maybe_fail("delete_registered_model_tag", args)
        return super().delete_registered_model_tag(*args, **kwargs)

    @classmethod
    def arm(cls, methods: tuple, first: int, count: int, key: Optional[str] = None) -> None:
        cls.methods, cls.first, cls.count, cls.key = methods, first, count, key
        cls.seen = cls.raised = 0


@dataclass(frozen=True)
class Scenario:
    """A fault on the ``first``-th matching write, for ``count`` writes; with or without an
    earlier champion; the retry's threshold (None: none)."""

    name: str
    methods: tuple
    first: int
    count: int
    key: Optional[str] = None
    with_champion: bool = True
    retry_threshold: Optional[float] = None


_MOVE = ["challenger", "previous_champion", "champion", "challenger removal"]
SCENARIOS = (
    [Scenario(f"transient fault at {w}", ALIAS_WRITES, i + 1, 1) for i, w in enumerate(_MOVE)]
    + [Scenario(f"registry down from {w}", ALIAS_WRITES, i + 1, DOWN)
       for i, w in enumerate(_MOVE)]
    + [Scenario(f"first promotion, transient fault at {w}", ALIAS_WRITES, i + 1, 1,
                with_champion=False)
       for i, w in enumerate(["challenger", "champion", "challenger removal"])]
    + [Scenario("first promotion, registry down from champion", ALIAS_WRITES, 2, DOWN,
                with_champion=False),
       Scenario("fault writing the decision record", ("set_model_version_tag",), 3, 1),
       Scenario("fault committing (pending tag removal)", ("delete_registered_model_tag",), 1, 1,
                key=PENDING_TAG),
       Scenario("registry down, retry rejects the candidate", ALIAS_WRITES, 4, DOWN,
                retry_threshold=1.01)]
)


@pytest.fixture(scope="module")
def trained(tracking_uri, tmp_path_factory):
    """A prepared table and two logged models trained on it: (table, [model uri, model uri])."""
    folder = tmp_path_factory.mktemp("promotion-faults")
    mlflow.set_experiment(experiment_id=mlflow.create_experiment(
        f"promotion-faults-{uuid.uuid4().hex[:8]}", artifact_location=str(folder / "artifacts")))
    from mlflow_delta_plugin.config import DEFAULT_INPUT, DEFAULT_LABEL

    table = str(folder / "features")
    with mlflow.start_run():
        prepare(input=DEFAULT_INPUT, table=table, label=DEFAULT_LABEL)
    uris = []
    for seed in (1, 2):
        with mlflow.start_run():
            uris.append(train(table, model_type="linear", seed=seed).model_uri)
    return table, uris


def _register(uris: list, with_champion: bool) -> str:
    """A fresh registered model with versions 1 and 2; version 1 champion when asked."""
    name = f"faults_{uuid.uuid4().hex[:10]}"
    for uri in uris:
        mlflow.register_model(uri, name)
    if with_champion:
        MlflowClient().set_registered_model_alias(name, "champion", "1")
    return name


def _promote(table: str, name: str, capsys, threshold: Optional[float] = None):
    """The promote entry point in this process: (exit code, stderr)."""
    # The two linear fits score alike: accept a tie, so the promotion reaches the alias moves.
    argv = ["--model_name", name, "--candidate", "2", "--table", table,
            "--min_improvement", "-0.01"]
    if threshold is not None:
        argv += ["--threshold", str(threshold)]
    capsys.readouterr()
    code = load_entrypoint("promote").main(argv)
    return code, capsys.readouterr().err


def _state(name: str) -> tuple[dict, dict]:
    model = MlflowClient().get_registered_model(name)
    return ({k: str(v) for k, v in (model.aliases or {}).items()}, dict(model.tags or {}))


def _decision(name: str, version: str) -> Optional[str]:
    return MlflowClient().get_model_version(name, version).tags.get("promotion.decision")


def _check_consistent(name: str, before: dict) -> None:
    """What must hold after any fault: the champion is the old one or the candidate, never a
    version recorded as rejected; no lease is left behind."""
    aliases, tags = _state(name)
    assert aliases.get("champion") in {before.get("champion"), "2"}, aliases
    if "champion" in aliases:
        assert _decision(name, aliases["champion"]) != "rejected", aliases
    assert not [k for k in tags if k.startswith(LEASE_TAG_PREFIX)], tags
    if PENDING_TAG not in tags:  # committed or fully put back: exactly the state before
        assert aliases == before, (aliases, before)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_fault_leaves_a_consistent_registry_and_a_retry_completes(scenario, trained, mlflow_env,
                                                                   monkeypatch, capsys):
    table, uris = trained
    monkeypatch.setattr(promote_module, "MlflowClient", FaultyClient)
    for _ in range(SOAK_REPEATS):
        name = _register(uris, scenario.with_champion)
        before, _ = _state(name)
        FaultyClient.arm(scenario.methods, scenario.first, scenario.count, scenario.key)

        code, stderr = _promote(table, name, capsys)
        assert FaultyClient.raised >= 1, f"the fault never fired ({FaultyClient.seen} calls)"
        assert code == 2, stderr
        assert "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1, stderr
        assert stderr.startswith("error: promote: registry error while promoting version 2")
        _check_consistent(name, before)
        if scenario.count == 1:
            assert PENDING_TAG not in _state(name)[1]
            assert "the aliases were put back" in stderr
        else:
            assert "putting the aliases back failed too" in stderr

        FaultyClient.arm((), 1, 0)
        code, stderr = _promote(table, name, capsys, scenario.retry_threshold)
        assert code == 0, stderr
        aliases, tags = _state(name)
        assert PENDING_TAG not in tags
        if scenario.retry_threshold is not None:  # rejected: the aliases are as before
            assert aliases == before and _decision(name, "2") == "rejected"
            continue
        expected = {"champion": "2", **({"previous_champion": "1"}
                                        if scenario.with_champion else {})}
        assert aliases == expected
        record = MlflowClient().get_model_version(name, "2").tags
        assert record["promotion.decision"] == "promoted"
        assert record["promotion.champion_version"] == before.get("champion", "none")
        assert record["promotion.previous_champion"] == expected.get("previous_champion", "none")
