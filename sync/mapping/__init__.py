"""The mapping language: which Salesforce records become PSA projects, and how each field is made.

:func:`load_mapping` reads and validates a mapping file, reporting every problem at once as
``file:line: key: message``, and returns a frozen :class:`Mapping`. Inside, ``loader`` reads the
file and hands each section to its module (``source``, ``fields`` for one field rule,
``directions``, ``members``, ``pipeline``, ``structure``), and ``model`` holds the typed objects
the other stages read (:class:`Mapping`, ``Source``, ``Lifecycle``, ``FieldRule``).
"""

from sync.mapping.loader import load_mapping
from sync.mapping.model import SYSTEM_FIELDS, Mapping

__all__ = ["Mapping", "load_mapping", "SYSTEM_FIELDS"]
