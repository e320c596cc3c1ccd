import subprocess
import sys

import pytest

from crmsync import config
from crmsync.config import ConfigError
from tests.support import REPO


def test_defaults_need_no_setup():
    settings = config.load(environ={}, env_file=None)
    assert settings.database_url.startswith("sqlite:///")
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.max_batch_events == 500


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("REDIS_URL", "localhost:6379"),
        ("DATABASE_URL", "oracle://x"),
        ("WEBHOOK_SECRETS", "not-a-secret"),
        ("MAX_BODY_BYTES", "-1"),
        ("TRUSTED_PROXIES", "two"),
        ("USER_DELETION_POLICY", "shred"),
        ("CONTACT_MATCH_BY_EMAIL", "perhaps"),
    ],
)
def test_bad_value_names_the_variable(variable, value):
    with pytest.raises(ConfigError, match=f"^{variable}: "):
        config.load(environ={variable: value}, env_file=None)


def test_env_file_is_read_and_environment_wins(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("QUEUE_NAME=from-file\nLOG_LEVEL=DEBUG\n")
    settings = config.load(environ={"LOG_LEVEL": "ERROR"}, env_file=env_file)
    assert settings.queue_name == "from-file"
    assert settings.log_level == "ERROR"


def test_secrets_are_masked_when_printed():
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    printed = config.load(environ={"WEBHOOK_SECRETS": secret}, env_file=None).redacted()
    assert printed["WEBHOOK_SECRETS"] == "***"
    assert secret not in repr(printed)


def test_required_setting_names_the_variable():
    settings = config.load(environ={}, env_file=None)
    with pytest.raises(ConfigError, match="WEBHOOK_SECRETS is not set"):
        settings.require("webhook_secrets")


def test_documentation_table_matches_the_settings():
    documented = (REPO / "docs" / "configuration.md").read_text()
    assert config.markdown_table() in documented, "run `crmsync config --markdown` and paste it into docs/configuration.md"


def test_cli_reports_bad_configuration_with_the_variable_name():
    result = subprocess.run([sys.executable, "-m", "crmsync", "config"], env={"REDIS_URL": "nope", "PATH": ""},
                            capture_output=True, text=True, cwd=REPO)
    assert result.returncode != 0
    assert "REDIS_URL" in result.stderr
