"""The bot's own small web server: the connect page (SIWE) and signing pages for connected wallets."""
