"""The application database: small relational metadata (audiences, export log) via SQLAlchemy.

SQLite in the workspace (``app.db``) by default; any SQLAlchemy URL through
``$FINPERSONA_APP_DATABASE_URL``. Opening a database applies pending migrations.
"""

from finpersona.appdb.database import (
    APP_DB_FILE,
    URL_ENV,
    AppDatabase,
    database_url,
    open_app_database,
)
from finpersona.appdb.migrations import (
    LATEST_VERSION,
    MIGRATIONS,
    AppDatabaseError,
    Migration,
    current_version,
    migrate,
)
from finpersona.appdb.schema import audience_sizes, audiences, export_log, metadata

__all__ = [
    "APP_DB_FILE",
    "LATEST_VERSION",
    "MIGRATIONS",
    "URL_ENV",
    "AppDatabase",
    "AppDatabaseError",
    "Migration",
    "audience_sizes",
    "audiences",
    "current_version",
    "database_url",
    "export_log",
    "metadata",
    "migrate",
    "open_app_database",
]
