-- Category rules. source_path rules match LOWER(the offer's category path) LIKE pattern,
-- keyword rules the offer's name_key (its name in lower case, whitespace collapsed) LIKE
-- pattern. Patterns are lower case. The best rule wins: the lowest
-- priority, then source_path before keyword, then the category name. Here: specific
-- paths 5, paths 10, product-type words 20, product lines and brands' names 30 (so
-- "Pixel Watch" is a watch, "OLED laptop" a laptop). Only the seed's own rows are
-- replaced; an operator's rows are kept.
DELETE FROM category_rules WHERE origin = 'seed';
INSERT INTO category_rules (rule_kind, pattern, category, priority, origin) VALUES
    ('source_path', '%headphone%', 'audio', 5, 'seed'),
    ('source_path', '%earphone%', 'audio', 5, 'seed'),
    ('source_path', '%computers > laptops%', 'laptops', 5, 'seed'),
    ('source_path', '%phones%', 'smartphones', 10, 'seed'),
    ('source_path', '%smartphones%', 'smartphones', 10, 'seed'),
    ('source_path', '%laptops%', 'laptops', 10, 'seed'),
    ('source_path', '%notebooks%', 'laptops', 10, 'seed'),
    ('source_path', '%audio%', 'audio', 10, 'seed'),
    ('source_path', '%televisions%', 'tv', 10, 'seed'),
    ('source_path', '%tablets%', 'tablets', 10, 'seed'),
    ('source_path', '%wearables%', 'wearables', 10, 'seed'),
    ('source_path', '%smartwatches%', 'wearables', 10, 'seed'),
    ('source_path', '%kitchen%', 'kitchen', 10, 'seed'),
    ('keyword', '%smartphone%', 'smartphones', 20, 'seed'),
    ('keyword', '%laptop%', 'laptops', 20, 'seed'),
    ('keyword', '%notebook%', 'laptops', 20, 'seed'),
    ('keyword', '%headphone%', 'audio', 20, 'seed'),
    ('keyword', '%earbud%', 'audio', 20, 'seed'),
    ('keyword', '%speaker%', 'audio', 20, 'seed'),
    ('keyword', '%soundbar%', 'audio', 20, 'seed'),
    ('keyword', '%television%', 'tv', 20, 'seed'),
    ('keyword', '%tablet%', 'tablets', 20, 'seed'),
    ('keyword', '%watch%', 'wearables', 20, 'seed'),
    ('keyword', '%fitness tracker%', 'wearables', 20, 'seed'),
    ('keyword', '%kettle%', 'kitchen', 20, 'seed'),
    ('keyword', '%toaster%', 'kitchen', 20, 'seed'),
    ('keyword', '%blender%', 'kitchen', 20, 'seed'),
    ('keyword', '%coffee%', 'kitchen', 20, 'seed'),
    ('keyword', '%iphone%', 'smartphones', 30, 'seed'),
    ('keyword', '%galaxy s%', 'smartphones', 30, 'seed'),
    ('keyword', '%pixel%', 'smartphones', 30, 'seed'),
    ('keyword', '%macbook%', 'laptops', 30, 'seed'),
    ('keyword', '%thinkpad%', 'laptops', 30, 'seed'),
    ('keyword', '%airpods%', 'audio', 30, 'seed'),
    ('keyword', '% tv%', 'tv', 30, 'seed'),
    ('keyword', '%oled%', 'tv', 30, 'seed'),
    ('keyword', '%ipad%', 'tablets', 30, 'seed');
