"""Where the token, base URL and team come from, and the credentials file."""

from __future__ import annotations

import importlib
import os
import stat

import pytest



@pytest.fixture(scope="module")
def config(pack):
    return importlib.import_module(pack.__name__ + ".client.config")


def test_precedence_argument_environment_file(config, monkeypatch, tmp_path):
    path = tmp_path / "creds.json"
    config.write_credentials("flp_from-file-123", team="file-team", path=path)
    s = config.resolve_settings(credentials_path=path)
    assert (s.token, s.token_source, s.team) == ("flp_from-file-123", "file", "file-team")
    monkeypatch.setenv("FRIENDLI_TOKEN", "flp_from-env-456")
    monkeypatch.setenv("FRIENDLI_TEAM", "env-team")
    s = config.resolve_settings(credentials_path=path)
    assert (s.token, s.token_source, s.team) == ("flp_from-env-456", "environment", "env-team")
    s = config.resolve_settings(token="flp_arg-789", team="arg-team", credentials_path=path)
    assert (s.token, s.token_source, s.team) == ("flp_arg-789", "argument", "arg-team")
    assert "flp_" not in repr(s)


def test_base_url_defaults_and_environment(config, monkeypatch):
    assert config.resolve_settings().edit_url == "https://api.friendli.ai/dedicated/v1/images/edits"
    assert config.resolve_settings("container").edit_url == "http://localhost:8000/v1/images/edits"
    monkeypatch.setenv("FRIENDLI_BASE_URL", "http://10.0.0.5:9000/")
    assert config.resolve_settings().base_url == "http://10.0.0.5:9000"
    with pytest.raises(config.FriendliConfigError, match="base URL"):
        config.resolve_settings(base_url="api.friendli.ai")
    with pytest.raises(config.FriendliConfigError, match="service"):
        config.resolve_settings("serverless")


def test_credentials_file_is_private_atomic_and_deletable(config, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    path = config.write_credentials("flp_secret-abc")
    assert path == tmp_path / "comfyui-friendli" / "credentials.json"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    config.write_credentials("flp_secret-def", team="t")
    assert config.read_credentials() == {"token": "flp_secret-def", "team": "t"}
    assert [p.name for p in path.parent.iterdir()] == ["credentials.json"]  # no temp files left
    assert config.delete_credentials() is True and config.delete_credentials() is False
    assert config.read_credentials() == {}


def test_unreadable_credentials_file_is_ignored(config, tmp_path):
    path = tmp_path / "c.json"
    path.write_text("[not, json")
    assert config.read_credentials(path) == {}
