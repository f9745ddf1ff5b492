"""The SQLite results database (schema in ``schema.sql``): see :mod:`difflaws.store.db`."""

from difflaws.store.db import DB_FILE, ResultsDB, workspace_db

__all__ = ["DB_FILE", "ResultsDB", "workspace_db"]
