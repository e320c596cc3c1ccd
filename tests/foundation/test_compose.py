"""docker-compose.yml cannot run here (no Docker), so its promises are checked against the code."""

from __future__ import annotations

import re
import sys

import click
import requests
import yaml

from crmsync import config
from crmsync.cli import cli
from tests.support import REPO, background_process, free_port

COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
OUR_SERVICES = {name: s for name, s in SERVICES.items() if s.get("build")}
# Variables of the stack itself (not of crmsync), documented in the operator guide.
STACK_VARIABLES = {"POSTGRES_PASSWORD", "HTTP_PORT"}


def _referenced_variables() -> set[str]:
    text = (REPO / "docker-compose.yml").read_text()
    names = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", text))
    for service in OUR_SERVICES.values():
        names |= set(service.get("environment", {}))
    return names


def test_every_service_has_a_healthcheck():
    assert set(SERVICES) == {"postgres", "redis", "receiver", "worker", "registration", "nginx"}
    for name, service in SERVICES.items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"


def test_every_command_exists_in_the_package():
    for name, service in OUR_SERVICES.items():
        program, *words = service["command"]
        assert program == "crmsync", name
        command = cli
        for word in words:  # down the command groups (`crmsync registration serve`)
            if not isinstance(command, click.Group):
                break
            command = command.get_command(click.Context(cli), word)
            assert command, f"{name}: `crmsync {' '.join(words)}` does not exist"


def test_every_variable_is_documented():
    settings = {s.name for s in config.SETTINGS}
    operator_guide = (REPO / "docs" / "operator-guide.md").read_text()
    for name in _referenced_variables():
        if name in STACK_VARIABLES:
            assert f"`{name}`" in operator_guide, f"{name} is not documented in docs/operator-guide.md"
        else:
            assert name in settings, f"{name} is used by docker-compose.yml but is not a setting"


def test_nginx_mounts_a_shipped_site_configuration():
    mounts = [v.split(":")[0] for v in SERVICES["nginx"]["volumes"]]
    for mount in mounts:
        assert (REPO / mount).is_file(), f"nginx mounts {mount}, which the repository does not ship"
    site = (REPO / mounts[0]).read_text()
    assert "receiver:8080" in site, "the compose nginx must proxy to the receiver service"
    assert "client_max_body_size" in site


def _healthcheck_url(service: dict) -> str:
    command = " ".join(service["healthcheck"]["test"][1:])
    return re.search(r"https?://[^'\" ]+", command).group(0)


def test_receiver_healthcheck_hits_a_real_endpoint(sqlite_url, redis_url):
    from receiver import create_app

    path = "/" + _healthcheck_url(SERVICES["receiver"]).split("/", 3)[3]
    settings = config.load(environ={"DATABASE_URL": sqlite_url, "REDIS_URL": redis_url}, env_file=None)
    response = create_app(settings).test_client().get(path)
    assert response.status_code == 200, f"{path} answered {response.status_code}"


def test_nginx_healthcheck_path_reaches_the_receiver(sqlite_url, redis_url):
    from receiver import create_app

    path = "/" + _healthcheck_url(SERVICES["nginx"]).split("/", 3)[3]
    settings = config.load(environ={"DATABASE_URL": sqlite_url, "REDIS_URL": redis_url}, env_file=None)
    assert create_app(settings).test_client().get(path).status_code == 200


def test_registration_healthcheck_hits_a_real_endpoint(sqlite_url, redis_url):
    from registration.app import create_app

    service = SERVICES["registration"]
    port = service["environment"]["REGISTRATION_BIND"].rsplit(":", 1)[1]
    url = _healthcheck_url(service)
    assert f":{port}/" in url
    settings = config.load(environ={"DATABASE_URL": sqlite_url, "REDIS_URL": redis_url,
                                    "REGISTRATION_SECRET_KEY": "k" * 32}, env_file=None)
    path = "/" + url.split("/", 3)[3]
    assert create_app(settings).test_client().get(path).status_code == 200


def test_nginx_serves_the_registration_site_from_the_registration_service():
    mounts = {v.split(":")[1]: v.split(":")[0] for v in SERVICES["nginx"]["volumes"]}
    site = (REPO / mounts["/etc/nginx/conf.d/registration.conf"]).read_text()
    port = SERVICES["registration"]["environment"]["REGISTRATION_BIND"].rsplit(":", 1)[1]
    assert f"server registration:{port};" in site
    for include in re.findall(r"include (\S+);", site):
        assert include in mounts, f"the registration site includes {include}, which nginx does not mount"


def test_worker_healthcheck_hits_a_real_endpoint(sqlite_url, redis_url):
    service = SERVICES["worker"]
    compose_port = int(service["environment"]["WORKER_METRICS_PORT"])
    url = _healthcheck_url(service)
    assert f":{compose_port}/" in url
    port = free_port()
    env = {"DATABASE_URL": sqlite_url, "REDIS_URL": redis_url, "WORKER_METRICS_PORT": str(port),
           "SUITECRM_URL": "http://127.0.0.1:9", "SUITECRM_CLIENT_ID": "x", "SUITECRM_CLIENT_SECRET": "y"}
    local_url = url.replace(f":{compose_port}/", f":{port}/")
    with background_process([sys.executable, "-m", "crmsync", "worker"], env=env, ready_url=local_url):
        assert requests.get(local_url, timeout=5).status_code == 200


def test_image_builds_from_files_that_exist():
    dockerfile = (REPO / "Dockerfile").read_text()
    for source in re.findall(r"^COPY (\S+)", dockerfile, flags=re.M):
        assert (REPO / source).exists(), f"Dockerfile copies {source}, which does not exist"
