"""The target's files: its database (schema, settings, writes), the change log, lineage of
source rows, the migration ledger, generations and their swap, the USearch index file, and
the lock that decides who may write."""
