#!/usr/bin/env python3
"""Commands on the record store: schema, import, export, legacy hashes."""
from typing import Any, List

import click
import orjson
from flask.cli import AppGroup

from models import base, passwords
from models.settings import Settings
from models.store import (DuplicateRecordError, Insert, JsonFileStore,
                          RecordStore, read_json_records, write_atomically)
from models.user import User

KINDS = ("User", "UserSession", "Authenticator", "Passkey", "AuthEvent")
"""The record kinds `import-json` and `export-json` move, in this order
(security events too: §6.4 keeps them in the record store)."""
IMPORT_BATCH = 1000


def register(cli: AppGroup, auth: Any, settings: Settings) -> None:
    """Add the record store commands to `cli`.

    They are `db-upgrade`, `import-json`, `export-json` and
    `upgrade-legacy-hashes`.
    """
    _add_maintenance(cli)
    _add_transfers(cli)


def _add_maintenance(cli: AppGroup) -> None:
    """Add `upgrade-legacy-hashes` and `db-upgrade`."""

    @cli.command("upgrade-legacy-hashes")
    def upgrade_legacy_hashes() -> None:
        """Wrap every legacy SHA-256 hash as argon2id(sha256-hex).

        The OWASP Password Storage Cheat Sheet's "upgrading legacy
        hashes": the accounts still log in, and become plain argon2id at
        the next login.
        """
        legacy: List[User] = []
        for user in User.all():
            if isinstance(user.password, str) \
                    and passwords.is_legacy_hash(user.password):
                user._password = passwords.wrap_legacy_hash(user.password)
                legacy.append(user)
        User.save_many(legacy)
        click.echo("wrapped {} legacy hashes".format(len(legacy)))

    @cli.command("db-upgrade")
    def db_upgrade() -> None:
        """Create or upgrade the schema of DATABASE_URL (Alembic)."""
        from models.sql_store import schema_revision
        store = _database()
        store.prepare()
        current, head = schema_revision(store)
        click.echo("database at revision {} (newest {})".format(
            current, head))


def _add_transfers(cli: AppGroup) -> None:
    """Add `import-json` and `export-json` (JSON files and DATABASE_URL)."""

    @cli.command("import-json")
    def import_json() -> None:
        """Copy .db_User.json, .db_UserSession.json, .db_Passkey.json and
        .db_Authenticator.json (second factors, still sealed) into
        DATABASE_URL.

        Records whose id is already in the database are skipped, so a
        second run adds nothing; a user whose email is taken by another
        id is reported and skipped. Legacy hashes are kept as they are.
        Records go in by transactions of 1,000.
        """
        store = _database()
        for kind in KINDS:
            _import_kind(store, kind)

    @cli.command("export-json")
    @click.option("--force", is_flag=True,
                  help="Replace .db_*.json files that exist.")
    def export_json(force: bool) -> None:
        """Write the users, sessions, passkeys and second factors of
        DATABASE_URL to .db_*.json."""
        store = _database()
        for kind in KINDS:
            path = JsonFileStore.path(kind)
            if not force and read_json_records(path):
                raise click.ClickException(
                    "{} exists and holds records; use --force to replace "
                    "it".format(path))
        for kind in KINDS:
            records = {record["id"]: record for record in store.iterate(kind)}
            write_atomically(JsonFileStore.path(kind), orjson.dumps(records))
            click.echo("{}: {} written".format(kind, len(records)))


def _database() -> RecordStore:
    """Return the database store; raise `ClickException` without one."""
    store = base.get_store()
    if store.cached:
        raise click.ClickException("DATABASE_URL is not set")
    return store


def _import_kind(store: RecordStore, kind: str) -> None:
    """Insert the records of `.db_<kind>.json` the database lacks."""
    records = read_json_records(JsonFileStore.path(kind))
    known = {record["id"] for record in store.iterate(kind)}
    fresh = [record for record in records.values()
             if record.get("id") not in known]
    added = skipped = 0
    for start in range(0, len(fresh), IMPORT_BATCH):
        batch = fresh[start:start + IMPORT_BATCH]
        try:
            store.apply(kind, [Insert(record) for record in batch])
            added += len(batch)
            continue
        except DuplicateRecordError:
            pass
        for record in batch:
            try:
                store.apply(kind, [Insert(record)])
                added += 1
            except DuplicateRecordError:
                skipped += 1
                click.echo("skipped {} {}: its email is taken".format(
                    kind, record.get("id")), err=True)
    click.echo("{}: {} read, {} added, {} already there, {} skipped".format(
        kind, len(records), added, len(records) - len(fresh), skipped))
