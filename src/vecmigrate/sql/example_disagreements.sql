-- Shadow reads where the dual-write primary and secondary disagreed (lowest recall first).
SELECT sid, datetime(at / 1000, 'unixepoch') AS seen_at, k, round(recall, 3) AS recall, primary_ids, secondary_ids
FROM shadow_disagreements ORDER BY recall, sid
