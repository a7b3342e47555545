"""moto's server (`python -m moto.server`), with one change to its DynamoDB.

moto 5's TransactWriteItems deep-copies a table for every item of the call, so that it
can put the table back if the transaction fails: 100 writes to a 5,000-item table took
17 s, and a sync's cost grew with the square of the table. Here nothing is copied but
the items the call names, as they were before it; if the call fails, those items are
put back (or removed, if they did not exist). A call then costs what its items cost.
What the call does and answers, its rollback included, is unchanged.

Usage: python3 infra/local/moto_server.py -H 127.0.0.1 -p 5055
"""

import copy
import sys
import threading

import moto.dynamodb.models as models
from moto.dynamodb.models.table import Table
from moto.server import main

_call = threading.local()


class _NoTableCopyInATransaction:
    """The `copy` module as `moto.dynamodb.models` sees it: during a transaction a
    table's "copy" is the table itself (its items are saved one by one instead);
    everything else is the real module."""

    def __getattr__(self, name):
        return getattr(copy, name)

    def deepcopy(self, value, memo=None):
        if getattr(_call, "active", False) and isinstance(value, Table):
            return value
        return copy.deepcopy(value, memo)


def _key(backend, op_type, op):
    if op_type != "Put":
        return op["Key"]
    table = backend.get_table(op["TableName"])
    key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = op["Item"][table.range_key_attr]
    return key


_transact_write_items = models.DynamoDBBackend.transact_write_items


def _transact_saving_items(self, transact_items):
    saved = []
    for entry in transact_items:
        op_type, op = next(iter(entry.items()))
        try:
            key = _key(self, op_type, op)
            before = self.get_item(op["TableName"], key)
        except Exception:
            continue  # moto's own validation will refuse the call
        saved.append((op["TableName"], key, copy.deepcopy(before.to_json()["Attributes"]) if before else None))
    _call.active = True
    try:
        return _transact_write_items(self, transact_items)
    except Exception:
        for table_name, key, attrs in reversed(saved):
            if attrs is None:
                if self.get_item(table_name, key) is not None:
                    self.delete_item(table_name, key)
            else:
                self.put_item(table_name, attrs)
        raise
    finally:
        _call.active = False


models.copy = _NoTableCopyInATransaction()
models.DynamoDBBackend.transact_write_items = _transact_saving_items

if __name__ == "__main__":
    main(sys.argv[1:])
