"""vecmigrate: move AgentDB-family SQLite memories onto USearch + sqlite-vec, without losing a row.

    from vecmigrate import Migrator, open_store, status

    result = Migrator("data/agentic-qe.db", "data/patterns.vecdb").migrate(batch_size=1000)
    with open_store("data/patterns.vecdb") as store:
        hits = store.search_text("login form validation", k=5)
"""

__version__ = "0.1.0"
# Each public name, and the module it comes from: imported on first use (PEP 562), so that
# `import vecmigrate` (and `vecmigrate --help`) does not load numpy, APSW and USearch. It imports
# nothing at all: the console script's Ctrl-C handler (vecmigrate.__main__) starts after it.
_EXPORTS = {
    "VecmigrateError": ".errors",
    "MigrationResult": ".models", "Pattern": ".models", "RollbackResult": ".models", "SearchHit": ".models",
    "Status": ".models", "SyncPass": ".models",
    "GenericMapping": ".sources",
    "open_store": ".stores",
    "MigrateOptions": ".verbs.migrate", "Migrator": ".verbs.migrate", "migrate": ".verbs.migrate",
    "rollback": ".verbs.rollback",
    "status": ".verbs.status",
    "Syncer": ".verbs.sync", "sync": ".verbs.sync",
}
__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str) -> object:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'vecmigrate' has no attribute {name!r}")
    from importlib import import_module
    value = getattr(import_module(_EXPORTS[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
