"""Wix's error shapes, raised from anywhere and turned into a response by the server."""

from __future__ import annotations


class ApiError(Exception):
    def __init__(self, status: int, body: dict | None, headers: dict | None = None):
        super().__init__(status, body)
        self.status = status
        self.body = body
        self.headers = headers or {}


def app_error(
    status: int, code: str, message: str, data: dict | None = None, headers: dict | None = None
) -> ApiError:
    return ApiError(
        status,
        {
            "message": message,
            "details": {
                "applicationError": {"code": code, "description": message, "data": data or {}}
            },
        },
        headers,
    )


def invalid(
    field: str, description: str, rule: str = "OTHER", data: dict | None = None
) -> ApiError:
    return ApiError(
        400,
        {
            "message": f"{field}: {description}" if field else description,
            "details": {
                "validationError": {
                    "fieldViolations": [
                        {
                            "field": field,
                            "description": description,
                            "violatedRule": rule,
                            "ruleName": rule,
                            "data": data or {},
                        }
                    ]
                }
            },
        },
    )


def not_found(what: str, code: str = "NOT_FOUND") -> ApiError:
    return app_error(404, code, f"{what} not found")


def server_error(status: int = 500) -> ApiError:
    # Wix sends system errors without a body by design.
    return ApiError(status, None)
