"""Work spread over processes: procrastinate on the bot's PostgreSQL (bot.jobs.engine).

The embedded default (SQLite, one process) has no engine: its timed work runs on APScheduler
(bot.delivery.schedule) and its updates in process.
"""
