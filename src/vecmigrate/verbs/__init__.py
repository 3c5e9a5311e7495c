"""One module per verb of the command line (migrate, sync, status, verify, rollback, reconcile,
export, repair, sql, shell, bench): the library functions `commands` and `cli` call."""
