-- How many patterns of each type and domain, with their mean coverage and flakiness.
SELECT coalesce(type, 'unknown') AS type, coalesce(domain, 'unknown') AS domain, count(*) AS patterns,
       round(avg(coverage), 3) AS mean_coverage, round(avg(flakiness_score), 3) AS mean_flakiness
FROM patterns GROUP BY 1, 2 ORDER BY patterns DESC
