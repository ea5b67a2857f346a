"""What a name in a mapping looks like, checked at load before any query is built from it.

A Salesforce API name (``Opportunity``, ``Hours__c``) names an object or one field of the record;
a field path follows lookups up to five levels (``Account.Owner.Email``), as SOQL allows; a
project field name is psa-sync's own (``lower_case_with_underscores``).
"""

from __future__ import annotations

import re

API_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
FIELD_PATH = re.compile(r"[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*){0,4}\Z")
PROJECT_FIELD = re.compile(r"[a-z][a-z0-9_]*\Z")
