"""What a chat platform's start-up error means, for `indexbot run` (bot.cli): a network failure worth trying again,
or a refusal told in one line (never the exception's own text: python-telegram-bot's InvalidToken holds the token)."""

from __future__ import annotations

import asyncio

import aiohttp
import discord
import telegram.error


def transient(exc: BaseException) -> bool:
    """A platform connection that failed for a network reason (worth trying again), not a refusal."""
    if isinstance(exc, telegram.error.BadRequest):  # a NetworkError subclass, but Telegram did answer
        return False
    if isinstance(exc, (telegram.error.NetworkError, telegram.error.RetryAfter)):  # TimedOut is a NetworkError
        return True
    return isinstance(exc, (aiohttp.ClientConnectionError, asyncio.TimeoutError, ConnectionError,
                            discord.GatewayNotFound, discord.DiscordServerError))


def platform_refusal(exc: BaseException) -> str | None:
    """The one line for a platform's refusal at start-up; None when `exc` is not one."""
    if isinstance(exc, telegram.error.InvalidToken):
        return "Telegram refused the bot token (401/404): check TELEGRAM_BOT_TOKEN"
    if isinstance(exc, telegram.error.Conflict):
        return "Telegram says another process is already polling with this bot token: stop it first"
    if isinstance(exc, discord.LoginFailure):
        return "Discord refused the bot token: check DISCORD_BOT_TOKEN"
    if isinstance(exc, discord.PrivilegedIntentsRequired):
        return "Discord refused the gateway intents: enable them for the bot in the developer portal"
    return None
