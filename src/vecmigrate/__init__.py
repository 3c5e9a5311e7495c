"""vecmigrate: move AgentDB-family SQLite memories onto USearch + sqlite-vec, without losing a row.

    from vecmigrate import Migrator, open_store, status

    result = Migrator("data/agentic-qe.db", "data/patterns.vecdb").migrate(batch_size=1000)
    with open_store("data/patterns.vecdb") as store:
        hits = store.search_text("login form validation", k=5)
"""

from .errors import VecmigrateError
from .models import (
           MigrationResult,
           Pattern,
           RollbackResult,
           SearchHit,
           Status,
           SyncPass,
)
from .sources import GenericMapping
from .stores import open_store
from .verbs.migrate import MigrateOptions, Migrator, migrate
from .verbs.rollback import rollback
from .verbs.status import status
from .verbs.sync import Syncer, sync

__version__ = "0.1.0"
__all__ = ["Migrator", "MigrateOptions", "migrate", "sync", "Syncer", "status", "rollback", "open_store",
           "MigrationResult", "SyncPass", "RollbackResult", "Pattern", "GenericMapping",
           "SearchHit", "Status", "VecmigrateError", "__version__"]
