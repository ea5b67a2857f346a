"""Record operations as an org performs them: validation, system fields, derived fields, stamps.

Both the REST handlers and the control API write through here, so a user's edit and an API
write move SystemModstamp the same way, and every write is seen by Change Data Capture
(``capture``: each public write is one transaction unless the caller opened a larger one).
``RecordFailure`` carries the status code a real org answers; REST handlers turn it into an
error body or a SaveResult.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sync.emulator import ids, products
from sync.emulator.apierror import RecordFailure
from sync.emulator.schema import ObjectDef, Schema, derived_opportunity_values
from sync.emulator.store import HIDDEN, Store
from sync.emulator.values import format_datetime, to_json, to_storage

if TYPE_CHECKING:
    from sync.emulator.pubsub.capture import ChangeCapture

_SYSTEM = {
    "Id",
    "IsDeleted",
    "CreatedDate",
    "CreatedById",
    "LastModifiedDate",
    "LastModifiedById",
    "SystemModstamp",
}


class Records:
    def __init__(
        self,
        schema: Schema,
        store: Store,
        id_factory: ids.IdFactory,
        user_id: str,
        capture: ChangeCapture,
    ):
        self.schema = schema
        self.store = store
        self.id_factory = id_factory
        self.user_id = user_id
        self.capture = capture

    # ------------------------------------------------------------------------- lookups

    def object(self, name: str) -> ObjectDef:
        obj = self.schema.object(name)
        if obj is None:
            raise RecordFailure("INVALID_TYPE", f"sObject type '{name}' is not supported.")
        return obj

    def locate(self, obj: ObjectDef, raw_id: Any) -> tuple[str, dict[str, Any]]:
        """The canonical Id and stored row for an Id of this object (deleted rows included).

        Raises:
            RecordFailure: MALFORMED_ID for a bad or foreign Id, INVALID_CROSS_REFERENCE_KEY for
                one that never existed here.
        """
        record_id = ids.normalize(raw_id)
        if record_id is None or record_id[:3] != obj.key_prefix:
            raise RecordFailure(
                "MALFORMED_ID", f"{obj.name} ID: id value of incorrect type: {raw_id}", ["Id"]
            )
        row = self.store.row(obj, record_id)
        if row is None:
            raise RecordFailure("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [])
        return record_id, row

    # -------------------------------------------------------------------------- writes

    def prepare(self, obj: ObjectDef, fields: dict[str, Any], creating: bool) -> dict[str, Any]:
        """Validate incoming fields (any case) into stored values keyed by canonical name."""
        stored: dict[str, Any] = {}
        refused = []
        for name, value in fields.items():
            definition = obj.field(name)
            if definition is None:
                raise RecordFailure(
                    "INVALID_FIELD",
                    f"No such column '{name}' on sobject of type {obj.name}",
                    [name],
                )
            if not (definition.createable if creating else definition.updateable):
                refused.append(definition.name)
                continue
            stored[definition.name] = to_storage(definition, value)
        if refused:
            verb = "create" if creating else "update"
            raise RecordFailure(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to {verb}/update fields: {', '.join(refused)}. "
                "Please check the security settings of this field "
                "and verify that it is read/write for your profile or permission set.",
                refused,
            )
        for name, value in stored.items():
            definition = obj.field(name)
            if definition.type == "reference" and value is not None:
                self._check_reference(definition.reference_to, value, name)
        if obj.name == "Opportunity" and "StageName" in stored:
            stored.update(derived_opportunity_values(stored["StageName"], stored))
        return stored

    def _has_lines(self, opportunity_id: str) -> bool:
        with self.store.lock:
            return (
                self.store.db.execute(
                    'SELECT 1 FROM "OpportunityLineItem" WHERE OpportunityId = ? LIMIT 1',
                    [opportunity_id],
                ).fetchone()
                is not None
            )

    def _check_reference(self, targets: tuple[str, ...], value: str, name: str) -> None:
        for target in targets:
            target_obj = self.schema.object(target)
            if (
                target_obj
                and value[:3] == target_obj.key_prefix
                and self.store.row(target_obj, value)
            ):
                return
        raise RecordFailure(
            "INVALID_CROSS_REFERENCE_KEY", f"invalid cross reference id: {value}", [name]
        )

    def create(
        self,
        obj_name: str,
        fields: dict[str, Any],
        *,
        stamp: datetime | None = None,
        hidden: bool = False,
    ) -> str:
        with self.capture.transaction():
            return self._create(obj_name, fields, stamp, hidden)

    def _create(
        self, obj_name: str, fields: dict[str, Any], stamp: datetime | None, hidden: bool
    ) -> str:
        obj = self.object(obj_name)
        stored = self.prepare(obj, fields, creating=True)
        if obj.name == products.LINE_ITEM:
            self._require(obj, stored)
            products.prepare_line(self, stored, None)
        for definition in obj.fields.values():
            if definition.name not in stored and definition.name not in _SYSTEM:
                if definition.type == "boolean":
                    stored[definition.name] = 0
                elif definition.name == "OwnerId":
                    stored["OwnerId"] = self.user_id
                elif not definition.nillable and definition.createable:
                    raise RecordFailure(
                        "REQUIRED_FIELD_MISSING",
                        f"Required fields are missing: [{definition.name}]",
                        [definition.name],
                    )
        when = format_datetime(stamp) if stamp else self.store.next_stamp()
        with self.store.lock:
            record_id = self.id_factory.new(obj.key_prefix)
            stored.update(
                Id=record_id,
                IsDeleted=0,
                CreatedDate=when,
                CreatedById=self.user_id,
                LastModifiedDate=when,
                LastModifiedById=self.user_id,
                SystemModstamp=when,
            )
            if obj.name == "User":
                stored["Name"] = " ".join(
                    p for p in (stored.get("FirstName"), stored.get("LastName")) if p
                )
            stored[HIDDEN] = int(hidden)
            self.capture.note(obj, record_id, creating=True)
            self.store.insert(obj, stored)
            if obj.name == products.LINE_ITEM:
                products.roll_up(self, stored["OpportunityId"])
        return record_id

    def _require(self, obj: ObjectDef, stored: dict[str, Any]) -> None:
        missing = [
            d.name
            for d in obj.fields.values()
            if not d.nillable
            and d.createable
            and d.name not in _SYSTEM
            and stored.get(d.name) is None
        ]
        if missing:
            raise RecordFailure(
                "REQUIRED_FIELD_MISSING",
                f"Required fields are missing: [{', '.join(missing)}]",
                missing,
            )

    def update(
        self,
        obj: ObjectDef,
        record_id: str,
        fields: dict[str, Any],
        *,
        stamp: datetime | str | None = None,
    ) -> None:
        """Apply validated fields to a live record; stamps move even when nothing changed."""
        with self.capture.transaction():
            self._update(obj, record_id, fields, stamp)

    def _update(
        self, obj: ObjectDef, record_id: str, fields: dict[str, Any], stamp: datetime | str | None
    ) -> None:
        _, row = self.locate(obj, record_id)
        if row["IsDeleted"]:
            raise RecordFailure("ENTITY_IS_DELETED", "entity is deleted", [])
        stored = self.prepare(obj, fields, creating=False)
        if obj.name == "Opportunity" and "Amount" in stored and self._has_lines(row["Id"]):
            del stored["Amount"]  # an org silently ignores it: Amount is the lines' sum
        if obj.name == products.LINE_ITEM:
            products.prepare_line(self, stored, row)
        self.touch(obj, row["Id"], stored, stamp)
        if obj.name == products.LINE_ITEM and products.rolls_up(stored):
            products.roll_up(self, row["OpportunityId"])

    def touch(
        self, obj: ObjectDef, record_id: str, stored: dict[str, Any], stamp: datetime | str | None
    ) -> None:
        """Write stored values and move the stamps.

        ``stamp`` overrides them: one per transaction, or a late commit's.
        """
        when = (
            stamp
            if isinstance(stamp, str)
            else format_datetime(stamp)
            if stamp
            else self.store.next_stamp()
        )
        stored = {
            **stored,
            "LastModifiedDate": when,
            "LastModifiedById": self.user_id,
            "SystemModstamp": when,
        }
        with self.capture.transaction():
            self.capture.note(obj, record_id)
            self.store.update(obj, record_id, stored)

    def set_deleted(self, obj: ObjectDef, raw_id: str, deleted: bool) -> str:
        with self.capture.transaction():
            return self._set_deleted(obj, raw_id, deleted)

    def _set_deleted(self, obj: ObjectDef, raw_id: str, deleted: bool) -> str:
        record_id, row = self.locate(obj, raw_id)
        if obj.name == products.LINE_ITEM:
            if not deleted:
                raise RecordFailure("UNDELETE_FAILED", "Entity is not in the recycle bin", [])
            products.delete_line(self, record_id)
            return record_id
        if bool(row["IsDeleted"]) == deleted:
            code = "ENTITY_IS_DELETED" if deleted else "UNDELETE_FAILED"
            raise RecordFailure(
                code, "entity is deleted" if deleted else "Entity is not in the recycle bin", []
            )
        when = self.store.next_stamp()
        self.capture.note(obj, record_id)
        self.store.update(obj, record_id, {"IsDeleted": int(deleted), "SystemModstamp": when})
        return record_id

    def release(self, obj: ObjectDef, record_ids: list[str] | None) -> int:
        """Commit held (late) rows.

        They become visible, and their change events are published now.
        """
        return self.capture.release(obj, record_ids, lambda: self.store.release(obj, record_ids))

    def clone(self, obj_name: str, raw_id: str) -> str:
        """A copy as the UI's Clone makes it: every createable field, custom ones included."""
        obj = self.object(obj_name)
        _, row = self.locate(obj, raw_id)
        fields = {
            definition.name: to_json(definition, row[definition.name])
            for definition in obj.fields.values()
            if definition.createable and definition.name not in _SYSTEM
        }
        return self.create(obj.name, fields)

    # --------------------------------------------------------------------------- reads

    def rest_shape(self, obj: ObjectDef, row: dict[str, Any], version: str) -> dict[str, Any]:
        """A whole record as ``GET /sobjects/<type>/<id>`` returns it."""
        out: dict[str, Any] = {
            "attributes": {
                "type": obj.name,
                "url": f"/services/data/v{version}/sobjects/{obj.name}/{row['Id']}",
            }
        }
        for definition in obj.fields.values():
            out[definition.name] = to_json(definition, row.get(definition.name))
        return out
