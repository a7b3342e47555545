-- For each currency, the newest USD rate dated on the batch date or in the 6 days before
-- it (reference rates are not published on weekends and holidays). Ties between sources
-- are broken the same way every run. USD itself needs no rate.
INSERT INTO batch_fx (batch_id, currency, usd_per_unit, rate_date, source)
SELECT :batch_id, r.currency, r.usd_per_unit, r.rate_date, r.source
FROM (
    SELECT f.currency, f.usd_per_unit, f.rate_date, f.source,
           ROW_NUMBER() OVER (
               PARTITION BY f.currency
               ORDER BY f.rate_date DESC, f.source, f.usd_per_unit
           ) AS newest
    FROM fx_usd_per_unit f
    WHERE f.rate_date <= CAST(:batch_date AS DATE)
      AND f.rate_date > CAST(:batch_date AS DATE) - 7
      AND f.currency <> 'USD'
) r
WHERE r.newest = 1;
INSERT INTO batch_fx (batch_id, currency, usd_per_unit, rate_date, source)
VALUES (:batch_id, 'USD', 1, CAST(:batch_date AS DATE), 'identity');
