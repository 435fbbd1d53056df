"""Front ends: one adapter per chat platform (terminal, Telegram, Discord) and the web pages of connected
wallets. Only here may `telegram` and `discord` be imported."""
