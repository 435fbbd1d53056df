"""Helpers shared by the test files, each defined once (tests/test_helpers_once.py fails if one is copied again).

- `auxil.catalog`: catalog sentences as a test expects to read them (`text`, `html_text`, `entry`, `starts`);
- `auxil.requests`: requests to the core router from console users, and what their answers offer (`ask`, `press`,
  `say`, `click`, `labels`, `request`, and `Console` for a file whose users write from other chats);
- `auxil.trading`: a funded custodial user, the notices front end that records (`Recorder`), settled intents;
- `auxil.issuance`: a bot whose stock market keeps hours of the test's choosing (`hours_app`) and the fulfiller;
- `auxil.chain`: devnet calls shared by several files (mint, view, call, the devnet's profile data);
- `auxil.telegram` / `auxil.discord`: a user's lines, presses and slash commands through the platform stand-ins;
- `auxil.cli` (`indexbot` as a process), `auxil.clock` (`utc`, `Clock`), `auxil.alerts` (the rebalance watcher),
  `auxil.connected` (the signing pages' hash callback).

Fixtures shared by several files (`db`, `w3`, `frontend`, the devnet, the bot, the stand-ins) are in the conftest,
which also marks each test `pure`, `chain` or `platform` from the fixtures it uses.

tests/ is on sys.path (pytest puts the rootdir conftest's folder there), so a test imports `from auxil.x import y`.
"""
