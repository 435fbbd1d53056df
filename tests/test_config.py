"""Config comes from the environment over an optional TOML file; secrets never show."""

import json
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
