"""Loads the sidecar's components in Dapr's order: secret stores first, then everything else.

Each component gets its metadata resolved (secretKeyRef through its ``auth.secretStore`` or the
default secret store), is created through the lazy registry and initialised within its
``initTimeout``. A failure stops startup with a message naming the file, the component and the
cause, unless the component says ``ignoreErrors: true``.

Every building-block operation on a component passes the sidecar's pipeline
(``Direction.OUTBOUND_COMPONENT``, target: the component's name) -- Resiliency's
``targets.components.<name>.outbound`` and the ``Default...Component...Policy`` defaults. This is
done here, once per component when it is added: the family's operation methods are replaced on that
instance by guarded ones (see ``guard_component``). A component whose chain is empty is left
untouched, so calls to it cost nothing more. Long-lived operations (pub/sub ``subscribe``, input
binding ``read``, configuration ``subscribe``) are not guarded.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import importlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pydapr.components.base import Component, ComponentConfigError, ComponentMetadata
from pydapr.components.registry import UnknownComponentType, registry
from pydapr.errors import DaprError
from pydapr.pipeline import Call, Chain, Direction, Pipeline
from pydapr.resiliency import Failure, NotAFailure, Permanent, StatusError
from pydapr.resources import Component as ComponentSpec
from pydapr.resources import SecretKeyRef, expand_placeholders, registry_version

log = logging.getLogger("pydapr.components")


class SecretLookup(Protocol):
    async def get_secret(self, key: str, metadata: dict[str, str]) -> dict[str, str]: ...


class ComponentStartupError(Exception):
    """A component could not be loaded; the message names file, component and cause."""


@dataclass(slots=True)
class LoadedComponent:
    spec: ComponentSpec
    metadata: ComponentMetadata
    instance: Component

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def family(self) -> str:
        return self.spec.family

    def describe(self) -> dict[str, Any]:
        """The entry for GET /v1.0/metadata's ``components``."""
        return {
            "name": self.spec.name,
            "type": self.spec.type,
            "version": self.spec.version,
            "capabilities": sorted(self.instance.features()),
        }


class ComponentStore:
    """The sidecar's loaded components, by family and name."""

    def __init__(
        self, *, app_id: str, namespace: str, base_dir: Path, pipeline: Pipeline | None = None
    ) -> None:
        self.app_id = app_id
        self.pipeline = pipeline
        self.namespace = namespace
        self.base_dir = base_dir
        self._by_family: dict[str, dict[str, LoadedComponent]] = {}

    def by_family(self, family: str) -> dict[str, LoadedComponent]:
        return self._by_family.get(family, {})

    def all(self) -> list[LoadedComponent]:
        return [c for family in self._by_family.values() for c in family.values()]

    def unread_metadata(self) -> list[str]:
        """One warning per component with metadata nothing read: component and runtime have taken
        what they apply by the end of startup, so whatever is left is a setting not applied."""
        warnings = []
        for loaded in self.all():
            keys = loaded.metadata.unread()
            if keys:
                spec = loaded.spec
                verb = "is" if len(keys) == 1 else "are"
                warnings.append(
                    f'{spec.source}: Component "{spec.name}" ({spec.type}/{spec.version}): '
                    f"metadata {', '.join(keys)} {verb} not applied by pydapr"
                )
        return warnings

    def add(self, loaded: LoadedComponent) -> None:
        self._by_family.setdefault(loaded.family, {})[loaded.name] = loaded
        if self.pipeline is not None:
            # After it is listed: the Resiliency source reads the component's type from the store.
            chain = self.pipeline.chain(Direction.OUTBOUND_COMPONENT, loaded.name)
            if not chain.empty:
                guarded = guard_component(loaded.instance, loaded.family, chain)
                if guarded:
                    names = ", ".join(guarded)
                    log.info("component %s: %s run through its outbound policy", loaded.name, names)

    async def load_all(self, specs: list[ComponentSpec]) -> None:
        secret_specs = [s for s in specs if s.family == "secretstores"]
        other_specs = [s for s in specs if s.family != "secretstores"]
        for spec in secret_specs:
            await self._load_one(spec)
        for spec in other_specs:
            await self._load_one(spec)

    async def _load_one(self, spec: ComponentSpec) -> None:
        where = f'{spec.source}: Component "{spec.name}"'
        type_name = spec.type.lower()
        version = registry_version(spec.version, registry.versions(type_name))
        try:
            # The type first, so a file naming a type pydapr lacks gets only that error.
            cls = registry.resolve(type_name, version)
            properties = await self._resolve_metadata(spec)
            metadata = ComponentMetadata(
                name=spec.name,
                type=spec.type,
                version=spec.version,
                properties=properties,
                app_id=self.app_id,
                namespace=self.namespace,
                base_dir=self.base_dir,
            )
            instance = cls()
            try:
                await asyncio.wait_for(instance.init(metadata), timeout=spec.init_timeout)
            except TimeoutError:
                await _close_quietly(instance)
                raise ComponentStartupError(
                    f"init did not finish within initTimeout ({spec.init_timeout:g}s)"
                ) from None
            except BaseException:
                await _close_quietly(instance)
                raise
        except UnknownComponentType as exc:
            self._fail(spec, f"{where}: {exc}")
            return
        except (ComponentStartupError, ComponentConfigError) as exc:
            self._fail(spec, f"{where} ({type_name}/{version}): {exc}")
            return
        except Exception as exc:
            self._fail(spec, f"{where} ({type_name}/{version}): init failed: {type(exc).__name__}: {exc}")
            return
        self.add(LoadedComponent(spec, metadata, instance))
        log.info("component loaded: %s (%s/%s)", spec.name, spec.type, spec.version)

    def _fail(self, spec: ComponentSpec, message: str) -> None:
        if spec.ignore_errors:
            log.warning("%s (ignored: spec.ignoreErrors is true)", message)
            return
        raise ComponentStartupError(message)

    async def _resolve_metadata(self, spec: ComponentSpec) -> dict[str, str]:
        properties = spec.plain_metadata()
        for item_name, ref in spec.secret_refs():
            properties[item_name] = await self.secret(spec.secret_store, ref, f"metadata {item_name!r}")
        try:
            return expand_placeholders(properties, app_id=self.app_id, namespace=self.namespace)
        except ValueError as exc:
            raise ComponentStartupError(str(exc)) from None

    async def secret(self, store_name: str | None, ref: SecretKeyRef, what: str) -> str:
        """Resolve one ``secretKeyRef`` through ``store_name`` (or the only secret store loaded);
        the error names what needed it, the store and the secret, never a secret value."""
        stores = self.by_family("secretstores")
        if store_name is None:
            if len(stores) != 1:
                names = ", ".join(sorted(stores)) or "none loaded"
                raise ComponentStartupError(
                    f"{what} uses secretKeyRef but auth.secretStore is not set (secret stores: {names})"
                )
            store_name = next(iter(stores))
        store = stores.get(store_name)
        if store is None:
            raise ComponentStartupError(
                f"auth.secretStore {store_name!r} is not a loaded secret store "
                f"(loaded: {', '.join(sorted(stores)) or 'none'})"
            )
        lookup: Any = store.instance
        try:
            values = await lookup.get_secret(ref.name, {})
        except Exception as exc:
            raise ComponentStartupError(
                f"{what}: secret {ref.name!r} not found in secret store {store_name!r}: {exc}"
            ) from exc
        value = values.get(ref.key)
        if value is None:
            raise ComponentStartupError(
                f"{what}: secret {ref.name!r} in secret store {store_name!r} has no key {ref.key!r}"
            )
        return str(value)

    async def close_all(self) -> None:
        # Close in reverse: secret stores last, since others may still hold references to them.
        for loaded in reversed(self.all()):
            await _close_quietly(loaded.instance)
        self._by_family.clear()


async def _close_quietly(instance: Component) -> None:
    try:
        await instance.close()
    except Exception:
        log.exception("closing component failed")


# --- the outbound-component interception point -------------------------------------------------------

# family -> (contract module, base class, ((method, operation name), ...)). Only request/response
# operations: subscribe (pub/sub, configuration) and input bindings' read are long-lived.
_FAMILIES: dict[str, tuple[str, str, tuple[tuple[str, str], ...]]] = {
    "state": (
        "pydapr.state.contract",
        "StateStore",
        (
            ("get", "get"),
            ("set", "set"),
            ("delete", "delete"),
            ("transact", "transaction"),
            ("query", "query"),
            ("list_keys", "listKeys"),
        ),
    ),
    "pubsub": ("pydapr.pubsub.contract", "PubSub", (("publish", "publish"), ("bulk_publish", "bulkPublish"))),
    "bindings": ("pydapr.bindings.contract", "OutputBinding", (("invoke", "invoke"),)),
    "secretstores": (
        "pydapr.secrets.contract",
        "SecretStore",
        (("get_secret", "getSecret"), ("bulk_get_secret", "bulkGetSecret")),
    ),
    "configuration": ("pydapr.configuration.contract", "ConfigurationStore", (("get", "get"),)),
    "lock": ("pydapr.lock.contract", "LockStore", (("try_lock", "tryLock"), ("unlock", "unlock"))),
    "crypto": (
        "pydapr.crypto.contract",
        "SubtleCrypto",
        (
            ("get_key", "getKey"),
            ("encrypt", "encrypt"),
            ("decrypt", "decrypt"),
            ("wrap_key", "wrapKey"),
            ("unwrap_key", "unwrapKey"),
            ("sign", "sign"),
            ("verify", "verify"),
        ),
    ),
    "conversation": ("pydapr.conversation.contract", "ConversationModel", (("converse", "converse"),)),
}

# The errors a family's components raise for the caller's mistakes (contract.py of each family).
_CALLER_ERRORS: dict[str, tuple[tuple[str, str], ...]] = {
    "state": (("pydapr.state.contract", "StateStoreError"),),  # ETagMismatch, ETagInvalid, QueryError
    "bindings": (("pydapr.bindings.contract", "BindingError"),),
    "crypto": (("pydapr.crypto.contract", "CryptoProviderError"),),  # KeyNotFound, key not allowed ...
}
# Whatever the family: a request the component refuses (bad input or metadata), an operation it
# does not support, something that does not exist (SecretNotFound, KeyError), a Dapr error it raised.
_ALWAYS_CALLERS: tuple[type[BaseException], ...] = (
    ValueError,
    TypeError,
    LookupError,
    NotImplementedError,
    ComponentConfigError,
    DaprError,
)

# The components whose guarded operation the current task is inside (by id): a guarded method that
# calls another guarded method of the same instance runs that one directly, inside the one policy.
_INSIDE: contextvars.ContextVar[frozenset[int]] = contextvars.ContextVar(
    "pydapr_guarded", default=frozenset()
)

ErrorKind = Callable[[Exception], Exception | None]


def guard_component(instance: Component, family: str, chain: Chain) -> list[str]:
    """Run the family's operations on ``instance`` through ``chain``; returns the methods guarded.

    - The instance keeps its class (isinstance checks hold); guarded methods are instance attributes.
    - The caller's mistakes (see ``caller_error``) are neither retried nor counted by a breaker.
    - A method the component does not override (a family default such as ``PubSub.bulk_publish``,
      which loops over ``publish``) is not guarded itself: each operation it makes is, so the
      policy applies once per item. A guarded method that calls another guarded method of the same
      instance (a native bulk operation built on ``get``) runs it directly: one policy per call the
      API makes, never one inside another (timeouts and retries do not multiply).
    """
    spec = _FAMILIES.get(family)
    if spec is None:
        return []
    module_name, base_name, methods = spec
    base = getattr(importlib.import_module(module_name), base_name)
    if not isinstance(instance, base):
        return []
    classify_error = _error_classifier(family)
    done = []
    for method, operation in methods:
        if getattr(type(instance), method, None) is getattr(base, method, None):
            continue  # the family's default (or the base's NotImplementedError): nothing of its own
        original = getattr(instance, method)
        setattr(instance, method, _guarded(instance, original, chain, operation, classify_error))
        done.append(method)
    return done


def caller_error(family: str, exc: Exception) -> bool:
    """Whether ``exc``, raised by a component of ``family``, is the caller's mistake."""
    return isinstance(_error_classifier(family)(exc), NotAFailure)


@functools.cache
def _error_classifier(family: str) -> ErrorKind:
    """A function that wraps an operation's exception for the runner: ``NotAFailure`` for the
    caller's mistakes, ``StatusError`` for a binding's answer with a status; ``None`` leaves it."""
    callers = _ALWAYS_CALLERS + tuple(
        getattr(importlib.import_module(module), name) for module, name in _CALLER_ERRORS.get(family, ())
    )
    bindings = family == "bindings"

    def classify(exc: Exception) -> Exception | None:
        if bindings:
            # A binding error carrying a remote answer's status (bindings.http's non-2xx): a 5xx
            # or 429 is the server's failure, retried under ``matching.httpStatusCodes``.
            status = getattr(exc, "status", None)
            if isinstance(status, int) and (status >= 500 or status == 429):
                return StatusError(Failure(http_status=status), str(exc))
        if isinstance(exc, callers):
            return NotAFailure(exc)
        return None

    return classify


def _instance_of(operation: str, args: tuple[Any, ...]) -> str:
    """What of the component the operation is for, as daprd's metrics label it: a publish's topic
    (``PublishRequest.topic``, ``bulk_publish``'s first argument) or an output binding's operation
    (``InvokeRequest.operation``); "" for every other operation."""
    if not args or operation not in _LABELLED_OPERATIONS:
        return ""
    first = args[0]
    value = first if isinstance(first, str) else getattr(first, _LABELLED_OPERATIONS[operation], "")
    return value if isinstance(value, str) else ""


# The request field naming the instance, by operation (bulkPublish's topic is its first argument).
_LABELLED_OPERATIONS = {"publish": "topic", "bulkPublish": "topic", "invoke": "operation"}


def _guarded(
    instance: Component,
    original: Callable[..., Awaitable[Any]],
    chain: Chain,
    operation: str,
    classify_error: ErrorKind,
) -> Callable[..., Awaitable[Any]]:
    key = id(instance)
    target = chain.target

    @functools.wraps(original)
    async def guarded(*args: Any, **kwargs: Any) -> Any:
        inside = _INSIDE.get()
        if key in inside:
            return await original(*args, **kwargs)

        async def attempt() -> Any:
            try:
                return await original(*args, **kwargs)
            except Exception as exc:
                wrapped = classify_error(exc)
                if wrapped is None:
                    raise
                if isinstance(wrapped, StatusError):
                    raise wrapped from exc  # unwrapped again below
                raise wrapped from None

        token = _INSIDE.set(inside | {key})
        try:
            call = Call(
                Direction.OUTBOUND_COMPONENT, target, operation, instance=_instance_of(operation, args)
            )
            return await chain.run(call, attempt)
        except (NotAFailure, Permanent) as exc:  # an interceptor other than Resiliency let it through
            raise exc.error from None
        except StatusError as exc:
            if isinstance(exc.__cause__, Exception):
                raise exc.__cause__ from None  # the binding's own error, as without a policy
            raise
        finally:
            _INSIDE.reset(token)

    guarded.__pydapr_guarded__ = operation  # type: ignore[attr-defined]
    return guarded
