"""The deployment files agree with the code: render.yaml, the Dockerfile and .dockerignore.

Checks that every variable render.yaml sets is one the settings read, that the settings accept the
literal values, that every ``rural24 <command>`` the image or the Blueprint runs exists in the CLI,
and that the image runs as a non-root user without the development-only ``embedded`` extra.
"""

from __future__ import annotations

import fnmatch
import json
import re
import secrets
import shlex
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from infrastructure.settings import KNOWN_VARIABLES, load_settings

ROOT = Path(__file__).resolve().parents[2]
RENDER_YAML = ROOT / "render.yaml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

HEALTH_PATH = "/api/health"

# Stand-ins for what Render fills in at deploy time.
FAKE_DATABASE_URL = "postgresql://u:p@db:5432/rural24"
FAKE_KEYVALUE_URL = "redis://kv:6379"


# --------------------------------------------------------------------------------------------
# render.yaml
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def blueprint() -> dict[str, Any]:
    data = yaml.safe_load(RENDER_YAML.read_text(encoding="utf-8"))
    assert isinstance(data, dict), "render.yaml must be a mapping"
    return data


def _services(blueprint: dict[str, Any]) -> list[dict[str, Any]]:
    return list(blueprint.get("services") or [])


def _groups(blueprint: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    return {group["name"]: list(group.get("envVars") or []) for group in blueprint.get("envVarGroups") or []}


def _only(services: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    matching = [service for service in services if service.get("type") == kind]
    assert len(matching) == 1, f"expected exactly one {kind} service, found {len(matching)}"
    return matching[0]


def _all_env_entries(blueprint: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every envVars entry in the file, with where it is (for messages)."""
    for service in _services(blueprint):
        for entry in service.get("envVars") or []:
            yield f"service {service['name']}", entry
    for name, entries in _groups(blueprint).items():
        for entry in entries:
            yield f"group {name}", entry


def _effective_entries(blueprint: dict[str, Any], service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The variables a service ends up with: its groups' entries, then its own."""
    groups = _groups(blueprint)
    merged: dict[str, dict[str, Any]] = {}
    for entry in service.get("envVars") or []:
        if "fromGroup" in entry:
            for group_entry in groups[entry["fromGroup"]]:
                merged[group_entry["key"]] = group_entry
    for entry in service.get("envVars") or []:
        if "key" in entry:
            merged[entry["key"]] = entry
    return merged


OPERATOR_VALUES = {
    "FRONTEND_URL": "https://rural24.com.ar",
    "EMAIL_URL": "smtps://mailer:secret@smtp.example.com:465",
    "MEDIA_STORAGE_URL": "s3://rural24-media/ads",
    "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "s" * 40,
    "AWS_REGION": "sa-east-1",
}
# What obstore reads to reach the bucket of an s3:// MEDIA_STORAGE_URL (infrastructure/media.py).
S3_MEDIA_VARIABLES = ("MEDIA_STORAGE_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION")


def _environ_for(blueprint: dict[str, Any], service: dict[str, Any]) -> dict[str, str]:
    """What the service's process would see, with fakes for the values Render generates."""
    environ: dict[str, str] = {}
    alphabet = string.ascii_letters + string.digits
    for key, entry in _effective_entries(blueprint, service).items():
        if "value" in entry:
            environ[key] = str(entry["value"]).lower() if isinstance(entry["value"], bool) else str(entry["value"])
        elif "fromDatabase" in entry:
            environ[key] = FAKE_DATABASE_URL
        elif "fromService" in entry:
            assert entry["fromService"]["type"] in {"keyvalue", "redis"}, f"{key}: unexpected fromService"
            environ[key] = FAKE_KEYVALUE_URL
        elif entry.get("generateValue") is True:
            environ[key] = "".join(secrets.choice(alphabet) for _ in range(48))
        else:
            assert entry.get("sync") is False, f"{key}: no value, no reference and not sync: false"
            if key in OPERATOR_VALUES:  # what the operator types into the dashboard
                environ[key] = OPERATOR_VALUES[key]
    return environ


def test_render_yaml_sets_only_known_variables(blueprint: dict[str, Any]) -> None:
    keys = [(where, entry["key"]) for where, entry in _all_env_entries(blueprint) if "key" in entry]
    assert keys, "render.yaml sets no environment variables"
    unknown = sorted({f"{key} ({where})" for where, key in keys if key not in KNOWN_VARIABLES})
    assert not unknown, f"render.yaml sets variables the settings never read: {unknown}"


def test_render_yaml_leaves_port_to_render(blueprint: dict[str, Any]) -> None:
    keys = {entry.get("key") for _, entry in _all_env_entries(blueprint)}
    assert "PORT" not in keys


def test_every_env_entry_has_exactly_one_source(blueprint: dict[str, Any]) -> None:
    sources = {"value", "fromDatabase", "fromService", "generateValue", "sync"}
    for where, entry in _all_env_entries(blueprint):
        if "fromGroup" in entry:
            assert set(entry) == {"fromGroup"}, f"{where}: {entry}"
            continue
        present = sources & set(entry)
        assert len(present) == 1, f"{where}: {entry.get('key')} needs exactly one of {sorted(sources)}"


def test_groups_hold_only_literal_or_generated_values(blueprint: dict[str, Any]) -> None:
    # Render ignores references and `sync: false` inside an environment group.
    for name, entries in _groups(blueprint).items():
        for entry in entries:
            assert "value" in entry or entry.get("generateValue") is True, (
                f"group {name}: {entry.get('key')} must be a literal value or generateValue"
            )


def test_web_service_health_check_and_release_step(blueprint: dict[str, Any]) -> None:
    web = _only(_services(blueprint), "web")
    assert web["healthCheckPath"] == HEALTH_PATH
    assert shlex.split(web["preDeployCommand"]) == ["rural24", "migrate"]
    assert web.get("runtime") == "docker"


def test_worker_runs_the_saq_worker(blueprint: dict[str, Any]) -> None:
    worker = _only(_services(blueprint), "worker")
    assert shlex.split(worker["dockerCommand"]) == ["rural24", "worker"]
    assert worker.get("runtime") == "docker"


def test_jwt_secret_is_generated_once_and_shared(blueprint: dict[str, Any]) -> None:
    in_groups = [entry for entries in _groups(blueprint).values() for entry in entries if entry["key"] == "JWT_SECRET"]
    assert len(in_groups) == 1, "JWT_SECRET must be defined once, in an environment group"
    assert in_groups[0].get("generateValue") is True
    for service in _services(blueprint):
        own = [entry for entry in service.get("envVars") or [] if entry.get("key") == "JWT_SECRET"]
        assert not own, f"{service['name']} overrides JWT_SECRET: the API and the worker would disagree"
    for kind in ("web", "worker"):
        entry = _effective_entries(blueprint, _only(_services(blueprint), kind)).get("JWT_SECRET")
        assert entry is in_groups[0], f"the {kind} service does not get the shared JWT_SECRET"


@pytest.mark.parametrize("kind", ["web", "worker"])
def test_services_run_in_production(blueprint: dict[str, Any], kind: str) -> None:
    entries = _effective_entries(blueprint, _only(_services(blueprint), kind))
    assert entries["APP_ENV"].get("value") == "production"


def test_references_name_existing_resources(blueprint: dict[str, Any]) -> None:
    groups = set(_groups(blueprint))
    databases = {database["name"] for database in blueprint.get("databases") or []}
    replicas = {
        replica["name"]
        for database in blueprint.get("databases") or []
        for replica in database.get("readReplicas") or []
    }
    services = {(service["type"], service["name"]) for service in _services(blueprint)}
    for where, entry in _all_env_entries(blueprint):
        if "fromGroup" in entry:
            assert entry["fromGroup"] in groups, f"{where}: unknown group {entry['fromGroup']}"
        if "fromDatabase" in entry:
            assert entry["fromDatabase"]["name"] in databases | replicas, f"{where}: unknown database"
            assert entry["fromDatabase"]["property"] == "connectionString"
        if "fromService" in entry:
            ref = entry["fromService"]
            ref_type = "keyvalue" if ref["type"] == "redis" else ref["type"]
            known = {("keyvalue" if kind == "redis" else kind, name) for kind, name in services}
            assert (ref_type, ref["name"]) in known, f"{where}: unknown service {ref}"


def test_everything_in_one_region(blueprint: dict[str, Any]) -> None:
    # Services reach the database and Key Value over the private network only within a region.
    resources = [*_services(blueprint), *(blueprint.get("databases") or [])]
    regions = {resource.get("region", "oregon") for resource in resources}
    assert len(regions) == 1, f"resources spread over several regions: {sorted(regions)}"


def test_keyvalue_is_private(blueprint: dict[str, Any]) -> None:
    keyvalue = _only(_services(blueprint), "keyvalue")
    assert keyvalue["ipAllowList"] == []


@pytest.mark.parametrize("kind", ["web", "worker"])
def test_settings_accept_the_blueprint(blueprint: dict[str, Any], kind: str) -> None:
    environ = _environ_for(blueprint, _only(_services(blueprint), kind))
    settings = load_settings(environ)
    assert settings.app.is_production
    assert settings.db.url == FAKE_DATABASE_URL
    assert settings.redis.enabled
    assert settings.redis.url == FAKE_KEYVALUE_URL
    assert settings.session.strategy == "redis"
    assert not settings.session.jwt_secret_is_ephemeral
    assert settings.session.jwt_secret == environ["JWT_SECRET"]
    assert settings.app.trusted_proxy_hops == 1
    if kind == "web":
        assert settings.server.workers == int(environ["WEB_CONCURRENCY"])


@pytest.mark.parametrize("kind", ["web", "worker"])
def test_services_are_asked_for_everything_s3_media_needs(blueprint: dict[str, Any], kind: str) -> None:
    # Production refuses local media; both processes write to the bucket (uploads, image sizes).
    entries = _effective_entries(blueprint, _only(_services(blueprint), kind))
    for name in S3_MEDIA_VARIABLES:
        assert name in entries, f"the {kind} service is never asked for {name}"
        assert entries[name].get("sync") is False, f"{name} is the operator's to type in (sync: false), not a literal"


# --------------------------------------------------------------------------------------------
# Dockerfile
# --------------------------------------------------------------------------------------------


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs: comments dropped, continuation lines joined."""
    logical: list[str] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if current and line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    if current.strip():
        logical.append(current)
    result = []
    for line in logical:
        instruction, _, arguments = line.partition(" ")
        result.append((instruction.upper(), arguments.strip()))
    return result


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    return _instructions(DOCKERFILE.read_text(encoding="utf-8"))


def _stages(instructions: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for instruction, arguments in instructions:
        if instruction == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((instruction, arguments))
    return stages


def _exec_form(instructions: list[tuple[str, str]], name: str) -> list[str] | None:
    found = [arguments for instruction, arguments in instructions if instruction == name]
    if not found:
        return None
    value = json.loads(found[-1])  # the last one wins; JSON (exec) form is required
    assert isinstance(value, list), f"{name} must use the JSON exec form"
    assert all(isinstance(part, str) for part in value)
    return value


def _final_stage(dockerfile: list[tuple[str, str]]) -> list[tuple[str, str]]:
    stages = _stages(dockerfile)
    assert len(stages) >= 2, "the Dockerfile must be multi-stage (builder + runtime)"
    return stages[-1]


def test_image_runs_as_non_root(dockerfile: list[tuple[str, str]]) -> None:
    users = [arguments for instruction, arguments in _final_stage(dockerfile) if instruction == "USER"]
    assert users, "the runtime stage sets no USER: the container would run as root"
    user = users[-1].split(":", 1)[0].strip()
    assert user not in {"root", "0"}


def test_image_leaves_out_the_embedded_extra(dockerfile: list[tuple[str, str]]) -> None:
    text = " ".join(arguments for instruction, arguments in dockerfile if instruction == "RUN")
    assert "--all-extras" not in text
    assert not re.search(r"--extra[ =]+embedded\b", text)
    assert "rural24[embedded]" not in text
    assert "pgserver" not in text
    syncs = [arguments for instruction, arguments in dockerfile if instruction == "RUN" and "uv sync" in arguments]
    assert syncs, "the image does not install the project with uv sync"
    for command in syncs:
        assert "--frozen" in command or "--locked" in command, f"uv sync must install the lock as it is: {command}"
        assert "--no-dev" in command, f"uv sync must leave out the dev group: {command}"


def test_image_serves_by_default_on_port_8000(dockerfile: list[tuple[str, str]]) -> None:
    final = _final_stage(dockerfile)
    command = (_exec_form(final, "ENTRYPOINT") or []) + (_exec_form(final, "CMD") or [])
    assert command == ["rural24", "serve"]
    assert any(instruction == "EXPOSE" and "8000" in arguments.split() for instruction, arguments in final)


def test_image_health_check_probes_the_health_path(
    dockerfile: list[tuple[str, str]], blueprint: dict[str, Any]
) -> None:
    checks = [arguments for instruction, arguments in _final_stage(dockerfile) if instruction == "HEALTHCHECK"]
    assert checks, "the runtime stage has no HEALTHCHECK"
    assert HEALTH_PATH in checks[-1]
    assert _only(_services(blueprint), "web")["healthCheckPath"] == HEALTH_PATH


def _copy_sources(dockerfile: list[tuple[str, str]]) -> list[str]:
    sources: list[str] = []
    for instruction, arguments in dockerfile:
        if instruction not in {"COPY", "ADD"}:
            continue
        parts = shlex.split(arguments)
        if any(part.startswith("--from") for part in parts):
            continue
        paths = [part for part in parts if not part.startswith("--")]
        sources.extend(paths[:-1])
    return sources


def _dockerignore_patterns() -> list[str]:
    if not DOCKERIGNORE.exists():
        return []
    lines = DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
    return [line.strip().rstrip("/") for line in lines if line.strip() and not line.strip().startswith("#")]


def test_build_context_has_what_the_dockerfile_copies(dockerfile: list[tuple[str, str]]) -> None:
    patterns = _dockerignore_patterns()
    sources = _copy_sources(dockerfile)
    assert sources
    for source in sources:
        name = source.rstrip("/")
        assert (ROOT / name).exists(), f"the Dockerfile copies {source}, which is not in the repository"
        ignored = [pattern for pattern in patterns if fnmatch.fnmatch(name, pattern) and not pattern.startswith("!")]
        assert not ignored, f"the Dockerfile copies {source}, but .dockerignore excludes it ({ignored})"


def test_dockerignore_keeps_local_state_out() -> None:
    patterns = set(_dockerignore_patterns())
    for needed in (".venv", ".data", "media", ".git", "tests", "bench"):
        assert needed in patterns, f".dockerignore should exclude {needed}"


# --------------------------------------------------------------------------------------------
# Every `rural24 <command>` the deployment runs exists
# --------------------------------------------------------------------------------------------


def _rural24_commands(dockerfile: list[tuple[str, str]], blueprint: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, subcommand) for each `rural24 <subcommand>` in the image and the Blueprint."""
    commands: list[tuple[str, list[str]]] = []
    final = _final_stage(dockerfile)
    image_command = (_exec_form(final, "ENTRYPOINT") or []) + (_exec_form(final, "CMD") or [])
    commands.append(("Dockerfile CMD", image_command))
    for service in _services(blueprint):
        for field in ("preDeployCommand", "dockerCommand", "startCommand"):
            if field in service:
                commands.append((f"{service['name']}.{field}", shlex.split(service[field])))
    found = []
    for where, argv in commands:
        if len(argv) >= 2 and Path(argv[0]).name == "rural24":
            found.append((where, argv[1]))
    return found


def test_deployment_runs_serve_worker_and_migrate(dockerfile: list[tuple[str, str]], blueprint: dict[str, Any]) -> None:
    subcommands = {sub for _, sub in _rural24_commands(dockerfile, blueprint)}
    assert {"serve", "worker", "migrate"} <= subcommands


def test_every_deployed_command_exists_in_the_cli(dockerfile: list[tuple[str, str]], blueprint: dict[str, Any]) -> None:
    from rural24.cli import main as cli  # the console script `rural24 = "rural24.cli:main"`

    assert isinstance(cli, click.Group), "rural24.cli.main must be a click group"
    with click.Context(cli) as ctx:
        available = set(cli.list_commands(ctx))
    missing = sorted(
        f"rural24 {sub} ({where})" for where, sub in _rural24_commands(dockerfile, blueprint) if sub not in available
    )
    assert not missing, f"commands the deployment runs that the CLI lacks: {missing}; it has {sorted(available)}"


def test_metrics_token_is_generated_once_and_shared(blueprint: dict[str, Any]) -> None:
    # /metrics is behind a bearer token in production: one generated value for the API and the worker
    in_groups = [
        entry for entries in _groups(blueprint).values() for entry in entries if entry["key"] == "METRICS_TOKEN"
    ]
    assert len(in_groups) == 1
    assert in_groups[0].get("generateValue") is True
    for kind in ("web", "worker"):
        assert _effective_entries(blueprint, _only(_services(blueprint), kind)).get("METRICS_TOKEN") is in_groups[0]
