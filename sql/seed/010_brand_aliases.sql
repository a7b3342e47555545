-- Brand aliases: a brand_key as sources write it (normalised like the loader's
-- brand_key: lower case, every run of non-alphanumerics one space) to the brand_key it
-- means. Only the seed's own rows are replaced; an operator's rows are kept and win.
DELETE FROM brand_aliases WHERE origin = 'seed';
INSERT INTO brand_aliases (alias_key, brand_key, origin) VALUES
    ('apple inc', 'apple', 'seed'),
    ('apple computer', 'apple', 'seed'),
    ('samsung electronics', 'samsung', 'seed'),
    ('samsung electronics co ltd', 'samsung', 'seed'),
    ('sony corp', 'sony', 'seed'),
    ('sony corporation', 'sony', 'seed'),
    ('sony electronics', 'sony', 'seed'),
    ('hewlett packard', 'hp', 'seed'),
    ('hp inc', 'hp', 'seed'),
    ('lg electronics', 'lg', 'seed'),
    ('lenovo group', 'lenovo', 'seed'),
    ('dell technologies', 'dell', 'seed'),
    ('dell inc', 'dell', 'seed'),
    ('microsoft corporation', 'microsoft', 'seed'),
    ('google llc', 'google', 'seed'),
    ('bose corporation', 'bose', 'seed'),
    ('philips electronics', 'philips', 'seed'),
    ('koninklijke philips', 'philips', 'seed');
