"""``project.work.salesforce_key``: indexed, unique, not copied (see __init__)."""

from trytond.model import Index, Unique, fields
from trytond.pool import PoolMeta


class Work(metaclass=PoolMeta):
    __name__ = "project.work"

    salesforce_key = fields.Char(
        "Salesforce Key",
        strip=True,
        help="The Salesforce record this project was made for (written by psa-sync).",
    )

    @classmethod
    def __setup__(cls):
        super().__setup__()
        table = cls.__table__()
        cls._sql_constraints += [
            (
                "salesforce_key_unique",
                Unique(table, table.salesforce_key),
                "psa_sync_key.msg_salesforce_key_unique",
            ),
        ]
        cls._sql_indexes.add(Index(table, (table.salesforce_key, Index.Equality())))

    @classmethod
    def copy(cls, works, default=None):
        default = dict(default or {})
        default.setdefault("salesforce_key", None)  # a copy is a new project, not the deal's
        return super().copy(works, default=default)
