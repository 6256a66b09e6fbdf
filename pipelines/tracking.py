"""Where MLflow tracking lives and how values reach it; ``resources.MlflowResource`` uses it.

The embedded default keeps runs in ``sqlite:///<state>/mlflow.db`` and a SQLite store's
artifacts in ``mlartifacts/`` beside its database (MLflow 3 refuses the bare ``./mlruns``
file store); production sets ``MLFLOW_TRACKING_URI`` to the tracking server. Model
versions move between the aliases ``challenger`` (every new version) and ``champion``
(promoted by evaluation).

Every call made through :func:`tracked_client` that fails raises :class:`TrackingError`,
which names the tracking URI and the call: "the server did not answer" is then never a
bare ``Connection refused`` that leaves the user guessing which server was meant.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, cast

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import ErrorCode
from mlflow.tracking import MlflowClient
from requests import RequestException
from sqlalchemy.exc import SQLAlchemyError

from pipelines.state import state_dir

CHALLENGER = "challenger"
CHAMPION = "champion"
_PARAM_VALUE_LIMIT = 6000


def default_tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{state_dir() / 'mlflow.db'}"


def sqlite_path(tracking_uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` tracking URI (None for any other store)."""
    if not tracking_uri.startswith("sqlite:///"):
        return None
    return Path(tracking_uri.removeprefix("sqlite:///"))


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested config -> ``{"default.batch_size": "8", ...}`` for MLflow params."""
    flat: dict[str, str] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = str(value)[:_PARAM_VALUE_LIMIT]
    return flat


class TrackingError(MlflowException):
    """An MLflow call that failed, with the tracking URI it was made to and the call.

    A subclass of ``MlflowException`` that keeps the original error code, so a caller that
    tells "does not exist" from other failures (``error_code``) still can.
    """


def _reason(exc: BaseException) -> str:
    text = (exc.message if isinstance(exc, MlflowException) else str(exc)).strip()
    if "Connection refused" in text or "Failed to establish a new connection" in text:
        return "connection refused (is the tracking server running?)"
    return text.splitlines()[0] if text else type(exc).__name__


def tracking_error(uri: str, call: str, exc: BaseException) -> TrackingError:
    """``exc`` as a :class:`TrackingError` naming ``uri`` and ``call``."""
    code = exc.error_code if isinstance(exc, MlflowException) else "INTERNAL_ERROR"
    return TrackingError(
        f"MLflow tracking at {uri}: {call} failed: {_reason(exc)}",
        error_code=ErrorCode.Value(code),
    )


class _NamingClient:
    """Forwards to an ``MlflowClient``; each failing public call raises a TrackingError."""

    def __init__(self, client: MlflowClient, uri: str) -> None:
        self._client = client
        self._uri = uri

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name.startswith("_") or not callable(attribute):
            return attribute
        return self._naming(name, attribute)

    def _naming(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return method(*args, **kwargs)
            except TrackingError:
                raise
            except (MlflowException, RequestException, OSError, SQLAlchemyError) as exc:
                # the cause is in the message; chaining it would make tools that report
                # the root cause (Dagster's step failure) show it without the URI
                raise tracking_error(self._uri, name, exc) from None

        return call


def tracked_client(uri: str) -> MlflowClient:
    """A client for tracking and registry at ``uri`` whose errors name ``uri``."""
    return cast(MlflowClient, _NamingClient(MlflowClient(tracking_uri=uri, registry_uri=uri), uri))
