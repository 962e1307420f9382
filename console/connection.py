"""Open the shared database the operator asked for, with the password from the request or the keyring."""
from __future__ import annotations

from console.credentials import ConnectionRequest, PasswordStore, build_url
from console.db import Database, open_database
from console.schema import ensure_usable


def open_shared(*, request: ConnectionRequest, store: PasswordStore) -> Database:
    """Connect and check the schema; store the password (session, and keyring if asked) only once it worked."""
    where = dict(user=request.user, host=request.host, port=request.port, database=request.database)
    password = request.password if request.password is not None else store.get(**where)
    db = open_database(build_url(**where, password=password))
    try:
        # A shared database is upgraded deliberately (db upgrade), never by whoever connects first.
        ensure_usable(db, auto_upgrade=False)
    except Exception:
        db.dispose()
        raise
    if password:
        store.put(**where, password=password, remember=request.remember)
    return db
