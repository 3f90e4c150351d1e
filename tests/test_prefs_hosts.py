"""Trusted hosts (Settings > Friendli): one entry is one host, and a bad entry gets a message naming it."""

from __future__ import annotations

import importlib
import json

import pytest

from helpers import call


@pytest.fixture(scope="module")
def prefs(pack):
    return importlib.import_module(pack.__name__ + ".client.prefs")


def refusal(prefs, hosts) -> str:
    with pytest.raises(prefs.FriendliInputError) as info:
        prefs.validate({"trusted_hosts": hosts})
    assert info.value.field == "trusted_hosts"
    return str(info.value)


def test_good_entries_are_kept_in_canonical_form(prefs):
    kept = prefs.validate({"trusted_hosts": ["https://My-Proxy.example.com/x", " 10.0.0.5:8443 ", "[::1]:8080",
                                             "http://gpu-box:65535", "10.0.0.5:8443"]})
    assert kept.trusted_hosts == ("my-proxy.example.com", "10.0.0.5:8443", "[::1]:8080", "gpu-box:65535")


def test_an_entry_with_a_space_is_refused_whole_with_how_to_separate_hosts(prefs):
    message = refusal(prefs, ["http://bad host"])
    assert message == ("trusted_hosts: 'http://bad host' has a space in it, and a host name has none. Separate hosts "
                       "with commas, e.g. my-proxy.example.com, 10.0.0.5:8443")
    assert "has a space" in refusal(prefs, ["a.example.com\tb.example.com"])


@pytest.mark.parametrize("bad, says", [
    ("ftp://a.example.com", "only http:// or https://"),
    ("a.example.com:0", "is not a host name or host:port"),
    ("a.example.com:70000", "is not a host name or host:port"),
    ("a_b.example.com", "is not a host name or host:port"),
    ("https://", "is not a host name or host:port"),
])
def test_other_bad_entries_name_themselves(prefs, bad, says):
    message = refusal(prefs, [bad])
    assert says in message and repr(bad) in message


def test_a_stored_file_with_a_bad_entry_falls_back_to_no_trusted_hosts(prefs, tmp_path):
    path = tmp_path / "preferences.json"
    path.write_text(json.dumps({"trusted_hosts": ["ok.example.com", "http://bad host"], "max_in_flight": 3}))
    read = prefs.read(path)
    assert read.trusted_hosts == () and read.max_in_flight == 3  # never half a list


@pytest.mark.asyncio
async def test_the_route_refuses_the_entry_and_keeps_the_old_list(client, cred_path):
    status, _ = await call(client, "POST", "/friendli/preferences", json={"trusted_hosts": ["proxy.example.com"]})
    assert status == 200
    status, data = await call(client, "POST", "/friendli/preferences", json={"trusted_hosts": ["http://bad host"]})
    assert status == 400 and "'http://bad host' has a space in it" in data["error"], data
    status, data = await call(client, "GET", "/friendli/preferences")
    assert data["trusted_hosts"] == ["proxy.example.com"]
