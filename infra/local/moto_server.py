"""moto's server (`python -m moto.server`), with one change to its DynamoDB.

moto 5's TransactWriteItems deep-copies a table for every item of the call, to roll
back on a failure: 100 items against a 5,000-item table took 17 s, so a syncer that
writes in transactions could not be tested on it. Here each call copies each table
once (the first copy is taken before any item is applied, as before), so a call costs
one copy. What the call does, rollback included, is unchanged.

Usage: python3 infra/local/moto_server.py -H 127.0.0.1 -p 5055
"""

import copy
import sys
import threading

import moto.dynamodb.models as models
from moto.dynamodb.models.table import Table
from moto.server import main

_call = threading.local()


class _TablesCopiedOncePerCall:
    """The `copy` module as `moto.dynamodb.models` sees it: during a transaction a
    table's deep copy is taken once and reused; everything else is the real module."""

    def __getattr__(self, name):
        return getattr(copy, name)

    def deepcopy(self, value, memo=None):
        copies = getattr(_call, "tables", None)
        if copies is None or not isinstance(value, Table):
            return copy.deepcopy(value, memo)
        if id(value) not in copies:
            copies[id(value)] = copy.deepcopy(value, memo)
        return copies[id(value)]


_transact_write_items = models.DynamoDBBackend.transact_write_items


def _transact_copying_once(self, transact_items):
    _call.tables = {}
    try:
        return _transact_write_items(self, transact_items)
    finally:
        _call.tables = None


models.copy = _TablesCopiedOncePerCall()
models.DynamoDBBackend.transact_write_items = _transact_copying_once

if __name__ == "__main__":
    main(sys.argv[1:])
