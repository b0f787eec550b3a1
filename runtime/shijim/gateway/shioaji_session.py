"""The logged-in Shioaji client, shared by the market-data feed and the order adapter.

``ShioajiSession`` is the only place that constructs ``sj.Shioaji`` and calls ``login``. Keys come
from the environment (SHIOAJI_API_KEY / SHIOAJI_SECRET_KEY) and are never logged or stored
beyond the login call. Before the real SDK is imported, everything it writes (stderr from native
code, its log) is routed through ``shijim.gateway.broker_output`` so no fragment of a key leaves
the process; the broker's error text in ``ShioajiLoginError`` is redacted the same way.
``simulation=True`` selects Shioaji's simulation environment (``--simulation``); it still needs
the network.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shijim.gateway.broker_output import SecretRedactor, guard_broker_output

log = logging.getLogger(__name__)

ENV_API_KEY = "SHIOAJI_API_KEY"
ENV_SECRET_KEY = "SHIOAJI_SECRET_KEY"  # noqa: S105 (a variable name, not a secret)
# Production orders must be signed with the person's CA certificate (a .pfx file mounted from a
# Secret). Simulation needs none. Names match what the operator renders from the TradingShard.
ENV_CA_PATH = "SHIOAJI_CA_PATH"
ENV_CA_PASSWORD = "SHIOAJI_CA_PASSWORD"  # noqa: S105 (a variable name, not a secret)
ENV_PERSON_ID = "SHIOAJI_PERSON_ID"


class ShioajiLoginError(RuntimeError):
    """Login impossible or failed (the message never contains a key)."""


@dataclass(frozen=True)
class ShioajiCredentials:
    api_key: str = field(repr=False)
    secret_key: str = field(repr=False)
    ca_path: str = field(default="", repr=False)
    ca_password: str = field(default="", repr=False)
    person_id: str = field(default="", repr=False)

    def __repr__(self) -> str:
        return "ShioajiCredentials(api_key=<hidden>, secret_key=<hidden>, ca=<hidden>)"

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every value no output may show a fragment of (the CA path is not one)."""
        return (self.api_key, self.secret_key, self.ca_password, self.person_id)

    @property
    def has_ca(self) -> bool:
        return bool(self.ca_path and self.ca_password)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ShioajiCredentials | None:
        """Both keys from the environment, or None when neither is set."""
        e = os.environ if env is None else env
        key, secret = e.get(ENV_API_KEY, ""), e.get(ENV_SECRET_KEY, "")
        if not key and not secret:
            return None
        missing = [n for n, v in ((ENV_API_KEY, key), (ENV_SECRET_KEY, secret)) if not v]
        if missing:
            raise ShioajiLoginError(f"environment: {', '.join(missing)} not set")
        return cls(
            api_key=key,
            secret_key=secret,
            ca_path=e.get(ENV_CA_PATH, ""),
            ca_password=e.get(ENV_CA_PASSWORD, ""),
            person_id=e.get(ENV_PERSON_ID, ""),
        )


def _sdk_client(simulation: bool, credentials: ShioajiCredentials) -> Any:
    """The real ``sj.Shioaji``, its output filtered first (shioaji fixes its log at import)."""
    guard_broker_output(credentials.secrets)
    import shioaji as sj

    return sj.Shioaji(simulation=simulation)


class ShioajiSession:
    """One broker login: ``api`` (the ``sj.Shioaji`` client) and its accounts.

    ``client_factory`` replaces the real SDK (tests); only the real one gets the output filter.
    """

    def __init__(
        self,
        simulation: bool = False,
        client_factory: Callable[[bool], Any] | None = None,
    ) -> None:
        self.simulation = simulation
        self._client_factory = client_factory
        self.api: Any = None
        self.accounts: list[Any] = []
        self._lock = threading.Lock()

    @property
    def logged_in(self) -> bool:
        return self.api is not None

    @property
    def stock_account(self) -> Any:
        return getattr(self.api, "stock_account", None)

    @property
    def futopt_account(self) -> Any:
        return getattr(self.api, "futopt_account", None)

    def login(self, credentials: ShioajiCredentials) -> list[Any]:
        with self._lock:
            if self.api is not None:
                return self.accounts
            mode = "simulation" if self.simulation else "production"
            if not self.simulation and not credentials.has_ca:
                # Production orders are refused by the broker without an activated CA: fail at
                # start, not at the first order.
                raise ShioajiLoginError(
                    f"production trading needs {ENV_CA_PATH} and {ENV_CA_PASSWORD}"
                    f" (and {ENV_PERSON_ID}) set; use --simulation for the simulation environment"
                )
            if self._client_factory is None:
                api = _sdk_client(self.simulation, credentials)
            else:
                api = self._client_factory(self.simulation)
            try:
                # shioaji 1.7.9: login(api_key, secret_key, subscribe_trade, receive_window,
                # force_refresh); contracts are fetched explicitly so lookups never race them.
                accounts = api.login(
                    api_key=credentials.api_key,
                    secret_key=credentials.secret_key,
                    subscribe_trade=True,
                )
                api.fetch_contracts(contract_download=True)
                if credentials.has_ca:
                    activated = api.activate_ca(
                        ca_path=credentials.ca_path,
                        ca_passwd=credentials.ca_password,
                        person_id=credentials.person_id or None,
                    )
                    if not activated:
                        raise ShioajiLoginError(f"CA activation refused ({mode})")
            except ShioajiLoginError:
                _abandon(api)
                raise
            except Exception as exc:
                _abandon(api)
                # The exception text is the broker's: a base58 error names a character of the
                # secret key and its position, so it is redacted like the SDK's output.
                detail = SecretRedactor.of(credentials.secrets).redact(str(exc))
                raise ShioajiLoginError(
                    f"Shioaji login failed ({mode}): {type(exc).__name__}: {detail}"
                ) from None
            self.api = api
            self.accounts = list(accounts or [])
            log.info(
                "Shioaji logged in (%s), %d account(s)",
                "simulation" if self.simulation else "production",
                len(self.accounts),
            )
            return self.accounts

    def contract(self, code: str) -> Any | None:
        """The broker contract of ``code`` or None if the broker does not know it."""
        if self.api is None:
            raise ShioajiLoginError("contract lookup before login")
        contracts = self.api.Contracts
        for group in ("Futures", "Options", "Stocks", "Indexs"):
            found = _lookup(getattr(contracts, group, None), code)
            if found is not None:
                return found
        return None

    def logout(self) -> None:
        with self._lock:
            if self.api is None:
                return
            try:
                self.api.logout()
            except Exception as exc:  # logout on a dead session must not fail shutdown
                log.warning("Shioaji logout failed: %s", type(exc).__name__)
            self.api = None
            self.accounts = []


def _abandon(api: Any) -> None:
    """Log out a half-set-up client: each live login holds one of the person ID's 5 connections."""
    try:
        api.logout()
    except Exception as exc:  # not logged in, or the network is gone: nothing more to free
        log.debug("logout after a failed login: %s", type(exc).__name__)


def _lookup(group: Any, code: str) -> Any | None:
    if group is None:
        return None
    try:
        return group[code]
    except (KeyError, IndexError, TypeError, AttributeError):
        return None
