-- Payloads of search results: one statement for all k keys (a JSON array).
SELECT key, id, type, domain, framework, content, kind
FROM patterns WHERE key IN (SELECT value FROM json_each(?))
