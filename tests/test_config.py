"""Config comes from the environment over an optional TOML file; secrets never show."""

import json
import tomllib
from pathlib import Path

import pytest

from bot.config import ConfigError, load_config


def test_secrets_are_redacted_everywhere(tmp_path: Path) -> None:
    config = load_config({"TELEGRAM_BOT_TOKEN": "123:SECRET-TELEGRAM", "DISCORD_BOT_TOKEN": "SECRET-DISCORD"})
    shown = json.dumps(config.redacted(), default=str)
    assert "SECRET" not in shown and "***" in shown
    assert "SECRET" not in repr(config) and "SECRET" not in str(config)
    assert config.telegram_token is not None and config.telegram_token.reveal() == "123:SECRET-TELEGRAM"


def test_token_from_a_file_the_environment_names(tmp_path: Path) -> None:
    (tmp_path / "tok").write_text("FROM-FILE\n")
    config = load_config({"DISCORD_BOT_TOKEN_FILE": str(tmp_path / "tok")})
    assert config.discord_token is not None and config.discord_token.reveal() == "FROM-FILE"
    with pytest.raises(ConfigError, match="cannot be read"):
        load_config({"DISCORD_BOT_TOKEN_FILE": str(tmp_path / "missing")})


def test_toml_is_layered_under_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('chain = "base"\nlog_level = "debug"\n[limits]\nmax_usdc = "5000"\n')
    config = load_config({"INDEXBOT_CONFIG": str(path), "INDEXBOT_LOG_LEVEL": "warning"})
    assert config.chain == "base"
    assert config.log_level == "WARNING"
    assert str(config.limits.max_usdc) == "5000"


def test_secrets_in_the_toml_file_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('telegram_bot_token = "leak"\n')
    with pytest.raises(ConfigError, match="secrets do not belong"):
        load_config({"INDEXBOT_CONFIG": str(path)})


def test_no_chain_means_the_embedded_devnet() -> None:
    assert load_config({}).chain is None
    assert load_config({"INDEXBOT_RPC_URLS": "http://127.0.0.1:1, http://127.0.0.1:2"}).rpc_urls == (
        "http://127.0.0.1:1",
        "http://127.0.0.1:2",
    )


def test_log_lines_never_carry_a_secret(capsys: pytest.CaptureFixture[str]) -> None:
    import logging

    from bot.logs import setup_logging

    setup_logging(logging.DEBUG, ["123:SECRET"])
    logging.getLogger("httpx").warning("POST https://api.telegram.org/bot%s/getMe", "123:SECRET")
    try:
        raise RuntimeError("failed calling /bot123:SECRET/sendMessage")
    except RuntimeError:
        logging.getLogger("x").exception("boom")
    logging.getLogger("httpx").info("quiet at info")
    err = capsys.readouterr().err
    assert "SECRET" not in err
    assert "bot***/getMe" in err and "RuntimeError: failed calling /bot***/sendMessage" in err
    assert "quiet at info" not in err
    logging.getLogger().handlers.clear()


# -- every URL-valued setting is shown redacted, and logs hide it --------------------------------------------------

URL_SETTINGS = [  # (environment variable, value, where `indexbot config` shows it, what it shows, the secret in it)
    ("INDEXBOT_RPC_URLS", "https://rpcuser:Rpc-Passw0rd@node.example.org/rpc", ("rpc_urls", 0),
     "https://node.example.org/rpc", "Rpc-Passw0rd"),
    ("INDEXBOT_RPC_URLS", "https://base-mainnet.g.alchemy.com/v2/AbCdEf123456GhIjKl7890", ("rpc_urls", 0),
     "https://base-mainnet.g.alchemy.com/v2/***", "AbCdEf123456GhIjKl7890"),
    ("INDEXBOT_RPC_URLS", "http://[::1]:8545/?apikey=Qu3ryK3yValue", ("rpc_urls", 0), "http://[::1]:8545/?***",
     "Qu3ryK3yValue"),
    ("HTTPS_PROXY", "http://proxyuser:Pr0xy-Secret@proxy.example:3128", ("proxies", "HTTPS_PROXY"),
     "http://proxy.example:3128", "Pr0xy-Secret"),
    ("https_proxy", "http://proxy.example:3128/?auth=Pr0xyQu3ryToken", ("proxies", "https_proxy"),
     "http://proxy.example:3128/?***", "Pr0xyQu3ryToken"),
    ("ALL_PROXY", "socks5://Sock5KeyAsUser1234@socks.example:1080", ("proxies", "ALL_PROXY"),
     "socks5://socks.example:1080", "Sock5KeyAsUser1234"),
    ("HTTP_PROXY", "http://proxy.example/k/Path-Key-0123456789", ("proxies", "HTTP_PROXY"),
     "http://proxy.example/k/***", "Path-Key-0123456789"),
    ("TELEGRAM_API_URL", "https://tg:Tg-Api-Passw0rd@bot-api.example", ("telegram_api_url",),
     "https://bot-api.example", "Tg-Api-Passw0rd"),
    ("TELEGRAM_API_URL", "https://bot-api.example/gw/9f8e7d6c5b4a39281706", ("telegram_api_url",),
     "https://bot-api.example/gw/***", "9f8e7d6c5b4a39281706"),
    ("INDEXBOT_PUBLIC_URL", "https://bot.example/?access_token=Publ1cUrlToken", ("web", "public_url"),
     "https://bot.example/?***", "Publ1cUrlToken"),
    ("INDEXBOT_PUBLIC_URL", "https://web:Web-Passw0rd@bot.example", ("web", "public_url"), "https://bot.example",
     "Web-Passw0rd"),
    ("DISCORD_INVITE_URL", "https://discord.gg/invite?key=Inv1teSecretKey", ("discord_invite_url",),
     "https://discord.gg/invite?***", "Inv1teSecretKey"),
]


@pytest.mark.parametrize(("name", "value", "where", "shown", "secret"), URL_SETTINGS)
def test_url_settings_are_shown_redacted(name: str, value: str, where: tuple[str | int, ...], shown: str,
                                         secret: str) -> None:
    redacted: object = load_config({name: value}).redacted()
    assert secret not in json.dumps(redacted, default=str)
    for step in where:
        redacted = redacted[step]  # type: ignore[index]
    assert redacted == shown


@pytest.mark.parametrize(("name", "value", "where", "shown", "secret"), URL_SETTINGS)
def test_url_settings_never_reach_a_log_line(name: str, value: str, where: object, shown: str, secret: str) -> None:
    """The whole URL, the URL in another shape (no query, a trailing path) and the secret alone are all hidden."""
    import logging

    from bot.logs import RedactSecrets

    scrubber = RedactSecrets(load_config({name: value}).secrets)
    for line in (f"POST {value}", f"connect to {value.split('?')[0]}/extra failed", f"error: {secret!r} rejected"):
        record = logging.LogRecord("web3.providers", logging.WARNING, __file__, 1, "%s", (line,), None)
        scrubber.filter(record)
        assert secret not in record.getMessage(), record.getMessage()


def test_indexbot_config_prints_no_credential(tmp_path: Path) -> None:
    import subprocess
    import sys

    env = {"PATH": "/usr/bin:/bin", "INDEXBOT_HOME": str(tmp_path), **{n: v for n, v, *_ in URL_SETTINGS[::3]}}
    out = subprocess.run([str(Path(sys.executable).with_name("indexbot")), "config"], capture_output=True, text=True,
                         timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    printed = json.loads(out.stdout)
    assert printed["proxies"] == {"HTTPS_PROXY": "http://proxy.example:3128", "HTTP_PROXY": "http://proxy.example/k/***"}
    assert printed["rpc_urls"] == ["https://node.example.org/rpc"]
    assert printed["web"]["public_url"] == "https://bot.example/?***"
    for _, _, _, _, secret in URL_SETTINGS:
        assert secret not in out.stdout + out.stderr


@pytest.mark.parametrize(("toml", "expected"), [
    ("", 20),  # unset: the default
    ("max_open = 1", 1),
    ("max_open = 1000", 1000),
    ('max_open = " 7 "', 7),
])
def test_orders_max_open_is_a_whole_number_in_range(tmp_path: Path, toml: str, expected: int) -> None:
    path = tmp_path / "c.toml"
    path.write_text(f"[orders]\n{toml}\n")
    assert load_config({"INDEXBOT_CONFIG": str(path)}).limits_max_open == expected


@pytest.mark.parametrize("toml", [
    "max_open = 2.5", "max_open = 0", "max_open = -3", "max_open = 1001", "max_open = true", 'max_open = "five"',
    'max_open = "1e2"', 'max_open = "١٢"', "max_open = 3.0", 'max_open = ""',
])
def test_orders_max_open_refuses_what_is_not_one(tmp_path: Path, toml: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(f"[orders]\n{toml}\n")
    with pytest.raises(ConfigError) as refused:
        load_config({"INDEXBOT_CONFIG": str(path)})
    shown = str(refused.value)
    assert "[orders] max_open must be a whole number from 1 to 1000" in shown and "seconds" not in shown
    assert repr(tomllib.loads(toml)["max_open"]) in shown  # says what it got


@pytest.mark.parametrize(("toml", "expected"), [
    ("", 300),  # unset: the default
    ("transfers_seconds = 30", 30),
    ("transfers_seconds = 86400", 86400),
    ("transfers_seconds = 600", 600),
    ('transfers_seconds = " 120 "', 120),
])
def test_portfolio_transfers_seconds_is_a_whole_number_of_seconds_in_range(tmp_path: Path, toml: str, expected: int) -> None:
    path = tmp_path / "c.toml"
    path.write_text(f"[portfolio]\n{toml}\n")
    assert load_config({"INDEXBOT_CONFIG": str(path)}).transfers_seconds == expected


@pytest.mark.parametrize("toml", [
    "transfers_seconds = 29", "transfers_seconds = 0", "transfers_seconds = -300", "transfers_seconds = 86401",
    "transfers_seconds = 300.5", "transfers_seconds = 300.0", "transfers_seconds = true", 'transfers_seconds = "5m"',
    'transfers_seconds = "3e2"', 'transfers_seconds = "٣٠٠"', 'transfers_seconds = ""',
])
def test_portfolio_transfers_seconds_refuses_what_is_not_one(tmp_path: Path, toml: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(f"[portfolio]\n{toml}\n")
    with pytest.raises(ConfigError) as refused:
        load_config({"INDEXBOT_CONFIG": str(path)})
    shown = str(refused.value)
    assert "[portfolio] transfers_seconds must be a whole number from 30 to 86400" in shown and "seconds between" in shown
    assert repr(tomllib.loads(toml)["transfers_seconds"]) in shown  # says what it got
