"""The parse + validate baseline of `make bench`: Python's standard library (csv, json,
xml.etree) reading the same file as the loader (or, for XML, the scraper's Merchant
feed parser) and applying the same checks to every record: field lengths in bytes,
control characters, a product id, a positive decimal price, a 3-letter currency, an
RFC 3339 observation time, availability from the known wordings.

Usage: python3 bench/parse_baseline.py csv|json|xml FILE RUNS
Prints one JSON object: the median seconds of RUNS runs, and valid and rejected counts.
"""

import csv
import json
import re
import statistics
import sys
import time
import xml.etree.ElementTree as ET
from datetime import datetime
from decimal import Decimal, InvalidOperation

LIMITS = {"product_id": 256, "name": 1024, "brand": 256, "gtin": 32, "mpn": 128,
          "category": 512, "availability": 64, "url": 2048}
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
CURRENCY = re.compile(r"^[A-Z]{3}$")
AVAILABILITY = {"in_stock", "out_of_stock", "preorder", "backorder", "in stock", "out of stock"}
G = "{http://base.google.com/ns/1.0}"


def valid(r):
    """True when the record passes; the loader's checks, in its order."""
    if r.get("reject_reason"):
        return False
    for field, limit in LIMITS.items():
        value = r.get(field) or ""
        if len(value.encode()) > limit or CONTROL.search(value):
            return False
    if not r.get("product_id"):
        return False
    try:
        price = Decimal(r.get("price") or "")
    except InvalidOperation:
        return False
    if not price.is_finite() or price <= 0 or not CURRENCY.match(r.get("currency") or ""):
        return False
    availability = r.get("availability")
    if availability and availability not in AVAILABILITY:
        return False
    observed = r.get("observed_at")
    if observed:
        try:
            datetime.fromisoformat(observed.replace("Z", "+00:00"))
        except ValueError:
            return False
    return True


def records_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        yield from csv.DictReader(f)


def records_json(path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def records_xml(path):
    for _, item in ET.iterparse(path):
        if item.tag != "item":
            continue
        amount, _, currency = (item.findtext(G + "price") or "").partition(" ")
        yield {"product_id": item.findtext(G + "id"), "name": item.findtext(G + "title"),
               "brand": item.findtext(G + "brand"), "gtin": item.findtext(G + "gtin"),
               "price": amount, "currency": currency, "url": item.findtext(G + "link"),
               "availability": item.findtext(G + "availability")}
        item.clear()


def main():
    kind, path, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    read = {"csv": records_csv, "json": records_json, "xml": records_xml}[kind]
    seconds, counts = [], None
    for _ in range(runs):
        start = time.perf_counter()
        good = bad = 0
        for record in read(path):
            if valid(record):
                good += 1
            else:
                bad += 1
        seconds.append(time.perf_counter() - start)
        counts = (good, bad)
    print(json.dumps({"seconds": statistics.median(seconds), "valid": counts[0], "rejected": counts[1]}))


if __name__ == "__main__":
    main()
