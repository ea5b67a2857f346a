"""Object and field definitions: the emulator's metadata, looked up ignoring case like Salesforce.

Each object carries the standard system fields; Opportunity, Account and User carry the
standard fields psa-sync and the demo touch, plus the PSA custom fields on Opportunity.
"""

from __future__ import annotations

from dataclasses import dataclass, field

TEXT_TYPES = {"string", "textarea", "picklist", "url", "email", "phone"}
NUMBER_TYPES = {"currency", "double", "percent", "int"}
ID_TYPES = {"id", "reference"}
FIELD_TYPES = TEXT_TYPES | NUMBER_TYPES | ID_TYPES | {"boolean", "date", "datetime"}
_SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "boolean": "xsd:boolean",
    "int": "xsd:int",
    "currency": "xsd:double",
    "double": "xsd:double",
    "percent": "xsd:double",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
}

STAGES = {  # StageName → (default probability, IsClosed, IsWon)
    "Prospecting": (10, False, False),
    "Qualification": (10, False, False),
    "Needs Analysis": (20, False, False),
    "Value Proposition": (50, False, False),
    "Id. Decision Makers": (60, False, False),
    "Perception Analysis": (70, False, False),
    "Proposal/Price Quote": (75, False, False),
    "Negotiation/Review": (90, False, False),
    "Closed Won": (100, True, True),
    "Closed Lost": (0, True, False),
}
OPPORTUNITY_TYPES = (
    "New Customer",
    "Existing Customer - Upgrade",
    "Existing Customer - Replacement",
    "Existing Customer - Downgrade",
)
ACCOUNT_TYPES = (
    "Prospect",
    "Customer - Direct",
    "Customer - Channel",
    "Channel Partner / Reseller",
    "Installation Partner",
    "Technology Partner",
    "Other",
)
INDUSTRIES = (
    "Agriculture",
    "Apparel",
    "Banking",
    "Biotechnology",
    "Chemicals",
    "Communications",
    "Construction",
    "Consulting",
    "Education",
    "Electronics",
    "Energy",
    "Engineering",
    "Entertainment",
    "Environmental",
    "Finance",
    "Food & Beverage",
    "Government",
    "Healthcare",
    "Hospitality",
    "Insurance",
    "Machinery",
    "Manufacturing",
    "Media",
    "Not For Profit",
    "Recreation",
    "Retail",
    "Shipping",
    "Technology",
    "Telecommunications",
    "Transportation",
    "Utilities",
    "Other",
)


@dataclass(frozen=True)
class FieldDef:
    """One field as describe reports it; ``type`` uses describe's lower-case names."""

    name: str
    type: str
    label: str = ""
    length: int = 0
    precision: int = 0
    scale: int = 0
    nillable: bool = True
    updateable: bool = True
    createable: bool = True
    custom: bool = False
    calculated: bool = False
    picklist: tuple[str, ...] = ()
    restricted: bool = False
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None

    def __post_init__(self):
        if self.type not in FIELD_TYPES:
            raise ValueError(
                f"unknown field type {self.type!r} for {self.name}; "
                f"use one of {sorted(FIELD_TYPES)}"
            )

    @property
    def sql_type(self) -> str:
        if self.type in TEXT_TYPES:
            return "TEXT COLLATE NOCASE"
        if self.type == "boolean":
            return "INTEGER NOT NULL DEFAULT 0"  # a checkbox is never null
        if self.type == "int":
            return "INTEGER"
        if self.type in NUMBER_TYPES:
            return "REAL"
        return "TEXT"  # ids, dates and datetimes: fixed formats that sort as text

    def describe(self) -> dict:
        picklist = [
            {
                "active": True,
                "defaultValue": False,
                "label": value,
                "validFor": None,
                "value": value,
            }
            for value in self.picklist
        ]
        return {
            "name": self.name,
            "label": self.label or self.name,
            "type": self.type,
            "length": self.length,
            "precision": self.precision,
            "scale": self.scale,
            "digits": 18 if self.type == "int" else 0,
            "byteLength": self.length * 3,
            "nillable": self.nillable,
            "updateable": self.updateable,
            "createable": self.createable,
            "custom": self.custom,
            "calculated": self.calculated,
            "defaultedOnCreate": not self.nillable and not self.createable,
            "externalId": False,
            "unique": False,
            "filterable": True,
            "sortable": self.type != "textarea",
            "idLookup": self.type == "id" or self.name == "Username",
            "nameField": self.name == "Name",
            "restrictedPicklist": self.restricted,
            "picklistValues": picklist,
            "referenceTo": list(self.reference_to),
            "relationshipName": self.relationship_name,
            "soapType": _SOAP_TYPES.get(self.type, "xsd:string"),
        }


@dataclass
class ObjectDef:
    """An sObject: its name, key prefix and fields (ordered, looked up ignoring case)."""

    name: str
    key_prefix: str
    label: str
    custom: bool = False
    fields: dict[str, FieldDef] = field(default_factory=dict)
    #: child relationships by lower-case name:
    #: (relationship name, child object, the child's parent field)
    children: dict[str, tuple[str, str, str]] = field(default_factory=dict)

    def add(self, definition: FieldDef) -> FieldDef:
        key = definition.name.lower()
        if key in self.fields:
            raise ValueError(f"{self.name} already has a field {definition.name}")
        self.fields[key] = definition
        return definition

    def field(self, name: str) -> FieldDef | None:
        return self.fields.get(name.lower())

    def relationship(self, name: str) -> FieldDef | None:
        lowered = name.lower()
        for definition in self.fields.values():
            if definition.relationship_name and definition.relationship_name.lower() == lowered:
                return definition
        return None

    def describe(self, version: str) -> dict:
        base = f"/services/data/v{version}/sobjects/{self.name}"
        return {
            "name": self.name,
            "label": self.label,
            "labelPlural": self.label + "s",
            "keyPrefix": self.key_prefix,
            "custom": self.custom,
            "createable": True,
            "updateable": True,
            "deletable": True,
            "undeletable": True,
            "queryable": True,
            "retrieveable": True,
            "searchable": True,
            "layoutable": True,
            "replicateable": True,
            "childRelationships": [
                {
                    "relationshipName": rel,
                    "childSObject": child,
                    "field": parent_field,
                    "cascadeDelete": True,
                    "deprecatedAndHidden": False,
                    "restrictedDelete": False,
                }
                for rel, child, parent_field in self.children.values()
            ],
            "recordTypeInfos": [],
            "urls": {
                "sobject": base,
                "describe": base + "/describe",
                "rowTemplate": base + "/{ID}",
            },
            "fields": [definition.describe() for definition in self.fields.values()],
        }


def _text(name: str, length: int, label: str = "", **kw) -> FieldDef:
    return FieldDef(name, kw.pop("type", "string"), label or name, length=length, **kw)


def _system_fields(obj: ObjectDef, with_owner: bool = True) -> None:
    ro = {"updateable": False, "createable": False}
    obj.add(FieldDef("Id", "id", f"{obj.label} ID", length=18, nillable=False, **ro))
    obj.add(FieldDef("IsDeleted", "boolean", "Deleted", nillable=False, **ro))
    if with_owner:
        obj.add(
            FieldDef(
                "OwnerId",
                "reference",
                "Owner ID",
                length=18,
                nillable=False,
                reference_to=("User",),
                relationship_name="Owner",
            )
        )
    for prefix, label in (("Created", "Created"), ("LastModified", "Last Modified")):
        obj.add(FieldDef(f"{prefix}Date", "datetime", f"{label} Date", nillable=False, **ro))
        obj.add(
            FieldDef(
                f"{prefix}ById",
                "reference",
                f"{label} By ID",
                length=18,
                nillable=False,
                reference_to=("User",),
                relationship_name=f"{prefix}By",
                **ro,
            )
        )
    obj.add(FieldDef("SystemModstamp", "datetime", "System Modstamp", nillable=False, **ro))


def _user() -> ObjectDef:
    obj = ObjectDef("User", "005", "User")
    _system_fields(obj, with_owner=False)
    obj.add(_text("Username", 80, nillable=False))
    obj.add(_text("FirstName", 40, "First Name"))
    obj.add(_text("LastName", 80, "Last Name", nillable=False))
    obj.add(_text("Name", 121, "Full Name", updateable=False, createable=False))
    obj.add(_text("Email", 128, type="email", nillable=False))
    obj.add(FieldDef("IsActive", "boolean", "Active", nillable=False))
    return obj


def _account() -> ObjectDef:
    obj = ObjectDef("Account", "001", "Account")
    _system_fields(obj)
    obj.add(_text("Name", 255, "Account Name", nillable=False))
    obj.add(_text("Type", 255, "Account Type", type="picklist", picklist=ACCOUNT_TYPES))
    obj.add(_text("Industry", 255, type="picklist", picklist=INDUSTRIES))
    obj.add(_text("BillingCity", 40, "Billing City"))
    obj.add(_text("BillingCountry", 80, "Billing Country"))
    obj.add(_text("Phone", 40, "Account Phone", type="phone"))
    obj.add(_text("Website", 255, type="url"))
    obj.add(FieldDef("AnnualRevenue", "currency", "Annual Revenue", precision=18, scale=0))
    obj.add(FieldDef("NumberOfEmployees", "int", "Employees", precision=8))
    obj.add(_text("Description", 32000, "Account Description", type="textarea"))
    return obj


def _opportunity() -> ObjectDef:
    obj = ObjectDef("Opportunity", "006", "Opportunity")
    _system_fields(obj)
    obj.add(_text("Name", 120, "Opportunity Name", nillable=False))
    obj.add(
        FieldDef(
            "AccountId",
            "reference",
            "Account ID",
            length=18,
            reference_to=("Account",),
            relationship_name="Account",
        )
    )
    obj.add(FieldDef("Amount", "currency", precision=18, scale=2))
    obj.add(FieldDef("CloseDate", "date", "Close Date", nillable=False))
    obj.add(
        _text(
            "StageName",
            255,
            "Stage",
            type="picklist",
            picklist=tuple(STAGES),
            restricted=True,
            nillable=False,
        )
    )
    obj.add(FieldDef("Probability", "percent", "Probability (%)", precision=3, scale=0))
    ro = {"updateable": False, "createable": False, "nillable": False}
    obj.add(FieldDef("IsClosed", "boolean", "Closed", **ro))
    obj.add(FieldDef("IsWon", "boolean", "Won", **ro))
    obj.add(_text("Type", 255, "Opportunity Type", type="picklist", picklist=OPPORTUNITY_TYPES))
    obj.add(
        _text(
            "LeadSource",
            255,
            "Lead Source",
            type="picklist",
            picklist=("Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other"),
        )
    )
    obj.add(_text("Description", 32000, type="textarea"))
    custom = {"custom": True}
    obj.add(_text("PSA_Project_Id__c", 255, "PSA Project Id", **custom))
    obj.add(_text("PSA_Project_URL__c", 255, "PSA Project URL", type="url", **custom))
    obj.add(_text("PSA_Status__c", 40, "PSA Status", **custom))
    obj.add(
        FieldDef(
            "PSA_Percent_Complete__c",
            "percent",
            "PSA Percent Complete",
            precision=3,
            scale=0,
            **custom,
        )
    )
    obj.add(
        FieldDef("PSA_Hours_Spent__c", "double", "PSA Hours Spent", precision=16, scale=2, **custom)
    )
    # figures a PSA computes (Tryton's project_revenue), for the Tryton mapping's back-sync
    obj.add(FieldDef("PSA_Revenue__c", "currency", "PSA Revenue", precision=18, scale=2, **custom))
    obj.add(FieldDef("PSA_Cost__c", "currency", "PSA Cost", precision=18, scale=2, **custom))
    obj.add(FieldDef("End_Date__c", "date", "End Date", **custom))
    # a project's plan, written back by a mapping's structure.backsync
    obj.add(
        FieldDef("PSA_Tasks_Done__c", "double", "PSA Tasks Done", precision=6, scale=0, **custom)
    )
    obj.add(
        FieldDef("PSA_Tasks_Total__c", "double", "PSA Tasks Total", precision=6, scale=0, **custom)
    )
    obj.add(
        FieldDef(
            "PSA_Hours_Logged__c", "double", "PSA Hours Logged", precision=16, scale=2, **custom
        )
    )
    obj.add(
        FieldDef(
            "PSA_Hours_Estimated__c",
            "double",
            "PSA Hours Estimated",
            precision=16,
            scale=2,
            **custom,
        )
    )
    obj.add(_text("PSA_Current_Phase__c", 80, "PSA Current Phase", **custom))
    return obj


class Schema:
    """The org's objects by name (ignoring case) and by key prefix."""

    def __init__(self):
        from sync.emulator import products  # products builds on this module's helpers

        self.objects: dict[str, ObjectDef] = {}
        opportunity = _opportunity()
        products.opportunity_fields(opportunity)
        for obj in (_user(), _account(), opportunity, *products.objects()):
            self.objects[obj.name.lower()] = obj

    def object(self, name: str) -> ObjectDef | None:
        return self.objects.get(name.lower())

    def by_prefix(self, prefix: str) -> ObjectDef | None:
        for obj in self.objects.values():
            if obj.key_prefix == prefix:
                return obj
        return None

    def add_object(self, name: str, label: str | None = None) -> ObjectDef:
        if not name.endswith("__c"):
            raise ValueError(f"custom object names end in __c: {name!r}")
        if self.object(name):
            raise ValueError(f"object {name} already exists")
        prefix = f"a{len(self.objects):02d}"
        obj = ObjectDef(name, prefix, label or name[:-3].replace("_", " "), custom=True)
        _system_fields(obj)
        obj.add(_text("Name", 80, f"{obj.label} Name", nillable=False))
        self.objects[name.lower()] = obj
        return obj

    def add_field(self, object_name: str, name: str, type: str, **attrs) -> FieldDef:
        obj = self.object(object_name)
        if obj is None:
            raise ValueError(f"no object {object_name!r}")
        attrs.setdefault("custom", name.endswith("__c"))
        attrs.setdefault("label", name.removesuffix("__c").replace("_", " "))
        if type in TEXT_TYPES:
            attrs.setdefault("length", 255)
        if "picklist" in attrs:
            attrs["picklist"] = tuple(attrs["picklist"])
        if "reference_to" in attrs:
            attrs["reference_to"] = tuple(
                [attrs["reference_to"]]
                if isinstance(attrs["reference_to"], str)
                else attrs["reference_to"]
            )
        return obj.add(FieldDef(name, type, **attrs))


def derived_opportunity_values(stage: str, values: dict) -> dict:
    """IsWon, IsClosed and (unless given) Probability follow StageName, as in a real org."""
    probability, closed, won = STAGES.get(stage, (0, False, False))
    out = {"IsClosed": closed, "IsWon": won}
    if "Probability" not in values:
        out["Probability"] = probability
    return out


__all__ = ["FieldDef", "ObjectDef", "Schema", "STAGES", "derived_opportunity_values"]
