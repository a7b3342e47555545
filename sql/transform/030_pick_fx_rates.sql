-- For each currency, the newest USD rate on or before the batch date, at most 7 days
-- old (reference rates are not published on weekends and holidays).
INSERT INTO batch_fx (batch_id, currency, usd_per_unit, rate_date, source)
SELECT :batch_id, r.currency, r.usd_per_unit, r.rate_date, r.source
FROM (
    SELECT f.currency, f.usd_per_unit, f.rate_date, f.source,
           ROW_NUMBER() OVER (PARTITION BY f.currency ORDER BY f.rate_date DESC) AS newest
    FROM fx_usd_per_unit f
    WHERE f.rate_date <= CAST(:batch_date AS DATE)
      AND f.rate_date > CAST(:batch_date AS DATE) - 7
) r
WHERE r.newest = 1;
