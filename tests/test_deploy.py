"""deploy/ loads against Dagster's own config schemas, offline: the instance yaml (storage, run
coordinator, K8sRunLauncher), the k8s_job_executor run config, the workspace and the k8s code
location. Nothing here contacts a cluster or Postgres: configs are validated, never instantiated
(K8sRunLauncher's constructor would load a kubeconfig)."""

from __future__ import annotations

import copy
import importlib
import shutil
from pathlib import Path
from typing import Any

import dagster_k8s as k8s
import pytest
import yaml
from dagster._config import process_config, validate_config
from dagster._core.errors import DagsterInvalidConfigError
from dagster._core.instance.config import dagster_instance_config

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
ENV = {
    "DAGSTER_PG_USERNAME": "dagster",
    "DAGSTER_PG_PASSWORD": "secret",
    "DAGSTER_PG_HOST": "postgres.example.invalid",
    "DAGSTER_PG_DB": "dagster",
    "DAGSTER_INSTANCE_CONFIG_MAP": "dagster-instance",
    "DAGSTER_PG_PASSWORD_SECRET": "dagster-postgresql-secret",
    "DAGSTER_K8S_NAMESPACE": "clusterdata",
}


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)


def _yaml(name: str) -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / name).read_text(encoding="utf-8"))


def _class_config(section: dict[str, Any]):
    """Import a ConfigurableClass named in the instance yaml and process its config against
    the class's own schema, without constructing it."""
    cls = getattr(importlib.import_module(section["module"]), section["class"])
    return cls, process_config(cls.config_type(), section.get("config", {}))


def _instance_errors(tmp_path: Path, config: dict[str, Any]) -> None:
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    dagster_instance_config(str(tmp_path))


def test_instance_yaml_validates_against_the_instance_schema(tmp_path: Path) -> None:
    shutil.copyfile(DEPLOY / "dagster.yaml", tmp_path / "dagster.yaml")
    config, custom_class = dagster_instance_config(str(tmp_path))
    assert custom_class is None
    assert config["storage"]["postgres"]["postgres_db"]["hostname"] == {"env": "DAGSTER_PG_HOST"}
    assert config["telemetry"]["enabled"] is False


def test_run_launcher_and_coordinator_load_their_classes_and_schemas() -> None:
    instance = _yaml("dagster.yaml")
    launcher_cls, launcher = _class_config(instance["run_launcher"])
    assert launcher_cls is k8s.K8sRunLauncher
    assert launcher.success, launcher.errors
    # Env vars are resolved by the schema (StringSource), so the values come from ENV.
    assert launcher.value["job_namespace"] == "clusterdata"
    assert launcher.value["instance_config_map"] == "dagster-instance"
    assert "CLUSTERDATA_DATA_DIR=/data" in launcher.value["env_vars"]
    coordinator_cls, coordinator = _class_config(instance["run_coordinator"])
    assert coordinator_cls.__name__ == "QueuedRunCoordinator"
    assert coordinator.success, coordinator.errors
    assert coordinator.value["max_concurrent_runs"] == 8


def test_executor_config_validates_against_k8s_job_executor_schema() -> None:
    execution = _yaml("k8s_executor.yaml")["execution"]["config"]
    result = process_config(k8s.k8s_job_executor.config_schema.config_type, execution)
    assert result.success, result.errors
    assert result.value["max_concurrent"] == 4
    assert result.value["volume_mounts"][0]["mountPath"] == "/data"


def test_wrong_keys_are_rejected(tmp_path: Path) -> None:
    """The validation can fail: a misspelt key in each file is an error, not ignored."""
    execution = copy.deepcopy(_yaml("k8s_executor.yaml")["execution"]["config"])
    execution["max_concurent"] = execution.pop("max_concurrent")
    result = validate_config(k8s.k8s_job_executor.config_schema.config_type, execution)
    assert not result.success
    assert any("max_concurent" in e.message for e in result.errors)

    instance = _yaml("dagster.yaml")
    launcher = copy.deepcopy(instance["run_launcher"])
    launcher["config"]["job_namespaces"] = launcher["config"].pop("job_namespace")
    assert not _class_config(launcher)[1].success

    broken = copy.deepcopy(instance)
    broken["storage"]["postgres"]["postgres_db"]["host"] = "db"
    with pytest.raises(DagsterInvalidConfigError):
        _instance_errors(tmp_path, broken)


def test_workspace_points_at_the_project_code_location() -> None:
    from dagster._core.workspace.config_schema import process_workspace_config

    workspace = _yaml("workspace.yaml")
    result = process_workspace_config(workspace)
    assert result.success, result.errors
    module = workspace["load_from"][0]["python_module"]["module_name"]
    assert module == "pipelines.definitions"
    assert importlib.import_module(module).defs is not None


def test_k8s_code_location_is_the_same_definitions_with_the_k8s_executor() -> None:
    from deploy.definitions_k8s import defs as k8s_defs
    from pipelines.definitions import defs as project_defs

    refresh = k8s_defs.resolve_job_def("refresh")
    assert refresh.executor_def is k8s.k8s_job_executor
    assert project_defs.resolve_job_def("refresh").executor_def is not k8s.k8s_job_executor
    assert set(k8s_defs.resolve_all_asset_keys()) == set(project_defs.resolve_all_asset_keys())
    assert {s.name for s in k8s_defs.schedules} == {s.name for s in project_defs.schedules}
