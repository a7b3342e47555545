-- Plausible USD prices per category: an offer of a product of the category outside
-- them is quarantined (PRICE_BOUNDS, releasable). Only the seed's own rows are
-- replaced; an operator's rows are kept and win over the seed's for a category.
DELETE FROM category_price_bounds WHERE origin = 'seed';
INSERT INTO category_price_bounds (category, min_usd, max_usd, origin) VALUES
    ('smartphones', 20.00, 3000.00, 'seed'),
    ('laptops', 100.00, 8000.00, 'seed'),
    ('audio', 5.00, 2000.00, 'seed'),
    ('tv', 50.00, 20000.00, 'seed'),
    ('tablets', 30.00, 3000.00, 'seed'),
    ('wearables', 10.00, 2000.00, 'seed'),
    ('kitchen', 3.00, 2000.00, 'seed');
