"""psa_sync_key: the Tryton module psa-sync needs (README.md, "Tryton").

Adds ``project.work.salesforce_key``: the Salesforce record a project was made for. It is indexed
(finding a deal's project is one search) and unique (a second project with the same key is refused
by the database, whoever creates it). A copy of a project does not carry the key.

This package is a Tryton server module, not part of psa-sync's own code: it is installed into
trytond's ``modules`` directory as ``psa_sync_key`` (scripts/tryton.sh does it) and activated with
``trytond-admin -d DB -u psa_sync_key --activate-dependencies``.
"""

try:
    from trytond.pool import Pool
except (
    ImportError
):  # imported outside a Tryton server (psa-sync's own tooling): nothing to register
    Pool = None


def register():
    from . import work

    Pool.register(work.Work, module="psa_sync_key", type_="model")
