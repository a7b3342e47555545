-- The USD rate of each currency, pinned to the batch the first time the batch finds
-- one: a replay reuses it, so it converts bit for bit as before, whatever rates arrived
-- since. A currency without a rate at the first run gets one at a later run, once a rate
-- exists. The rate is the newest dated on the batch date or in the 6 days before it
-- (reference rates are not published on weekends and holidays); ties between sources
-- are broken the same way every run. An EUR-based cross rate is rate(EUR->USD) /
-- rate(EUR->C), rounded half away from zero to 10 places. USD itself is 1.
INSERT INTO batch_fx (batch_id, currency, usd_per_unit, rate_date, source)
SELECT :batch_id, r.currency, r.usd_per_unit, r.rate_date, r.source
FROM (
    SELECT n.currency, ROUND(n.usd_per_unit, 10) AS usd_per_unit, n.rate_date, n.source
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
    ) n
    WHERE n.newest = 1
    UNION ALL
    SELECT 'USD', 1, CAST(:batch_date AS DATE), 'identity'
) r
WHERE NOT EXISTS (
    SELECT 1 FROM batch_fx p WHERE p.batch_id = :batch_id AND p.currency = r.currency
);
