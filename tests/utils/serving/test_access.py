"""Who may call the service: open on loopback, a key (or an explicit --no-auth) elsewhere."""

import pytest

import serve
from utils.cli import UsageError
from utils.serving.settings import API_KEY_ENV, access_key, is_loopback


@pytest.mark.parametrize(
    "host, loopback",
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.20", False),
        ("camera-box.local", False),
    ],
)
def test_loopback_addresses(host, loopback):
    assert is_loopback(host) is loopback


def test_a_loopback_service_is_open_unless_given_a_key(monkeypatch):
    monkeypatch.delenv(API_KEY_ENV, raising=False)
    assert access_key("127.0.0.1", None, False) is None
    assert access_key("127.0.0.1", "k", False) == "k"
    monkeypatch.setenv(API_KEY_ENV, "from-env")
    assert access_key("127.0.0.1", None, False) == "from-env"
    assert access_key("0.0.0.0", "flag-wins", False) == "flag-wins"


def test_another_address_needs_a_key_or_no_auth(monkeypatch):
    monkeypatch.delenv(API_KEY_ENV, raising=False)
    with pytest.raises(UsageError, match="--api-key.*--no-auth"):
        access_key("0.0.0.0", None, False)
    assert access_key("0.0.0.0", None, True) is None
    with pytest.raises(UsageError, match="contradict"):
        access_key("0.0.0.0", "k", True)


def test_serve_refuses_to_start_open_on_all_addresses(monkeypatch, capsys):
    monkeypatch.delenv(API_KEY_ENV, raising=False)
    assert serve.main(["--host", "0.0.0.0", "--backbone", "mobilenetv1"]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and error[0].startswith("error: --host 0.0.0.0")
