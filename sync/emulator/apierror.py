"""The error a REST handler raises; the server turns it into Salesforce's JSON array body."""

from __future__ import annotations


class ApiError(Exception):
    """A Salesforce REST error: HTTP ``status`` and one ``[{"message", "errorCode", "fields"}]``."""

    def __init__(self, status: int, code: str, message: str, fields: list[str] | None = None):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields

    def body(self) -> list[dict]:
        item: dict = {"message": self.message, "errorCode": self.code}
        if self.fields is not None:
            item["fields"] = self.fields
        return [item]


class RecordFailure(Exception):
    """One record of a write failed; collections report it in the SaveResult with ``statusCode``."""

    def __init__(self, code: str, message: str, fields: list[str] | None = None):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.fields = fields or []

    def save_error(self) -> dict:
        return {"statusCode": self.code, "message": self.message, "fields": self.fields}

    def as_api_error(self, status: int = 400) -> ApiError:
        return ApiError(status, self.code, self.message, self.fields)


def not_found() -> ApiError:
    return ApiError(404, "NOT_FOUND", "The requested resource does not exist")
