-- One pattern row; an existing key (same id, earlier run) is updated in place.
INSERT INTO patterns (key, id, type, domain, content, framework, coverage, flakiness_score,
                      verdict, created_at, last_used, usage_count, metadata, kind, embedding_model)
VALUES (:key, :id, :type, :domain, :content, :framework, :coverage, :flakiness_score,
        :verdict, :created_at, :last_used, :usage_count, :metadata, :kind, :embedding_model)
ON CONFLICT(key) DO UPDATE SET
  id = excluded.id, type = excluded.type, domain = excluded.domain, content = excluded.content,
  framework = excluded.framework, coverage = excluded.coverage,
  flakiness_score = excluded.flakiness_score, verdict = excluded.verdict,
  created_at = excluded.created_at, last_used = excluded.last_used,
  usage_count = excluded.usage_count, metadata = excluded.metadata, kind = excluded.kind,
  embedding_model = excluded.embedding_model
