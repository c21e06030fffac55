"""LocalEcs: moto's server in-process, the ECS control plane beside it, and a control endpoint.

One HTTP port serves both: AWS API calls (moto, with ECS's Fargate operations answered by
the control plane) and ``/_fargate_local/…`` (health, network, reset, behaviours, faults,
timing). A background thread advances emulated time.
"""

from __future__ import annotations

import io
import json
import re
import threading
import time
from collections import Counter
from dataclasses import asdict
from typing import Any
from urllib.parse import parse_qs

from werkzeug.serving import BaseWSGIServer, make_server

from fargate_local import live_tail
from fargate_local import moto_bridge as bridge
from fargate_local.behaviours import ApiFault, Behaviour, Behaviours, Timing
from fargate_local.control_plane import ControlPlane
from fargate_local.live_tail import LiveTails
from fargate_local.moto_bridge import EcsError
from fargate_local.quotas import RateQuotas
from fargate_local.request_validation import validated_body
from fargate_rules.capacity import FARGATE, FARGATE_SPOT, THROTTLING_MESSAGE, uses_spot
from fargate_rules.iam_documents import execution_role_template

ECS_TARGET_PREFIX = "AmazonEC2ContainerServiceV20141113."
CONTROL_PREFIX = "/_fargate_local/"
SQS_RECEIVE_MESSAGE = "AmazonSQS.ReceiveMessage"
LONG_POLL_STEP = 0.05  # seconds between looks of a long-polling ReceiveMessage
# moto's backends are module globals: one emulator per process (see LocalEcs.start).
_RUNNING: LocalEcs | None = None
_RUNNING_LOCK = threading.Lock()


class EmulatorAlreadyRunning(RuntimeError):
    """A second LocalEcs in one process would share (and reset) the first one's state."""


_CREDENTIAL_RE = re.compile(r"Credential=([^/]+)/\d+/([a-z0-9-]+)/")
_SIGNING_SERVICE_RE = re.compile(r"Credential=[^/]+/\d+/[a-z0-9-]+/([a-z0-9-]+)/")


def _json_response(start_response, status: int, payload: Any, content_type: str = "application/json") -> list[bytes]:
    body = json.dumps(payload, default=str).encode()
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 500: "Internal Server Error"}.get(status, "Error")
    start_response(f"{status} {reason}", [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]


def _ecs_error(start_response, error: EcsError) -> list[bytes]:
    return _json_response(
        start_response, error.status, {"__type": error.code, "message": error.message}, "application/x-amz-json-1.1"
    )


class _QuietRequestHandler(bridge.MotoRequestHandler):
    """No access log line per request (the emulator answers hundreds a second)."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


class LocalEcs:
    """The local ECS emulator. ``start()``, use ``endpoint``, ``reset()``, ``stop()``."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        region: str = "us-east-1",
        seed: int = 0,
        speed: float | None = None,
        verbose: bool = False,
    ):
        self.host, self.port, self.region, self.verbose = host, port, region, verbose
        self.behaviours = Behaviours(seed=seed)
        self.speed = speed
        self.control_plane = ControlPlane(self.behaviours)
        self.network: dict[str, Any] = {}
        self.calls: Counter[str] = Counter()  # ECS API calls answered, by operation (since reset)
        # Every AWS API call answered, as IAM names the action ("ec2:DescribeSubnets"), since reset:
        # what a policy must allow, and proof that a refused request changed nothing.
        self.actions: Counter[str] = Counter()
        self.quotas = RateQuotas()
        self.live_tails = LiveTails(self.control_plane.lock)
        self._moto_app = bridge.make_moto_app()
        self._server: BaseWSGIServer | None = None
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()

    # ------------------------------------------------------------------ lifecycle

    @property
    def endpoint(self) -> str:
        assert self._server is not None, "call start() first"
        host, port = self._server.server_address[:2]
        assert isinstance(host, str)  # (an IP socket's address; only AF_UNIX ones can be bytes)
        return f"http://{host}:{port}"

    def start(self) -> LocalEcs:
        global _RUNNING
        with _RUNNING_LOCK:
            if _RUNNING is not None and _RUNNING is not self:
                raise EmulatorAlreadyRunning(
                    f"a LocalEcs is already running in this process at {_RUNNING.endpoint}: moto keeps its state in "
                    "module-global backends, so a second one would share it and reset() on either would wipe both. "
                    "Use that one, stop() it first, or run another in its own process (fargate-local serve)."
                )
            _RUNNING = self
        try:
            self._server = make_server(
                self.host,
                self.port,
                self,
                threaded=True,
                request_handler=bridge.MotoRequestHandler if self.verbose else _QuietRequestHandler,
            )
        except BaseException:
            with _RUNNING_LOCK:
                _RUNNING = None
            raise
        self._stopping.clear()
        self.reset()
        self._threads = [
            threading.Thread(target=self._server.serve_forever, name="fargate-local-http", daemon=True),
            threading.Thread(target=self._reconcile_forever, name="fargate-local-reconciler", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        global _RUNNING
        with _RUNNING_LOCK:
            if _RUNNING is self:
                _RUNNING = None
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads = []

    def __enter__(self) -> LocalEcs:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def reset(self, seed: int | None = None) -> dict[str, Any]:
        """Forget everything (moto's state, behaviours, faults, timing), then recreate the network
        and the ecsTaskExecutionRole."""
        with self.control_plane.lock:
            bridge.reset_moto()
            self.behaviours.clear(seed)
            self.behaviours.timing = Timing() if self.speed is None else Timing(speed=self.speed)
            self.control_plane.reset()
            self.calls.clear()
            self.actions.clear()
            self.quotas.reset()
            self.live_tails.reset()
            self.control_plane.vcpu_quotas.reset()
            account = bridge.account_for_access_key(None)
            self.network = bridge.create_network(account, self.region)
            # As in an account where the console made it once: the execution role the DAGs
            # fall back to, from the same file the README tells users to create it from.
            bridge.load_aws_managed_policies(account)
            role = bridge.create_role(account, execution_role_template())
            self.network["execution_role_arn"] = role.arn
        return self.network

    def _reconcile_forever(self) -> None:
        while not self._stopping.wait(0.02):
            with self.control_plane.lock:
                try:
                    self.control_plane.tick()
                except Exception:  # keep the emulator alive; the error shows in the server log
                    import logging

                    logging.getLogger(__name__).exception("fargate-local reconciler step failed")

    # ------------------------------------------------------------------ Python API (same as the control endpoint)

    def add_behaviour(self, **rule: Any) -> None:
        self.behaviours.add(Behaviour.from_dict(rule))

    def add_api_fault(
        self, operation: str, kind: str = "throttle", rate: float = 1.0, count: int | None = None
    ) -> None:
        self.behaviours.add_api_fault(
            ApiFault.from_dict({"operation": operation, "kind": kind, "rate": rate, "count": count})
        )

    def set_timing(self, **values: float) -> None:
        self.behaviours.timing.update(values)

    def set_spot(
        self,
        *,
        capacity_missing_for: float | None = None,
        interruption_rate: float | None = None,
        interruptions: int | None = None,
        interrupt_after: float | None = None,
    ) -> None:
        """Play Fargate Spot's market: no Spot capacity for ``capacity_missing_for`` emulated seconds
        from now; interrupt a share (``interruption_rate``, 0-1) or a number (``interruptions``) of the
        Spot tasks launched from now on, ``interrupt_after`` emulated seconds after they reach RUNNING."""
        spot = self.behaviours.spot
        if capacity_missing_for is not None:
            if capacity_missing_for < 0:
                raise ValueError("spot.capacity_missing_for: must be 0 or more emulated seconds")
            spot.missing_until = time.monotonic() + self.behaviours.timing.real(capacity_missing_for)
        if interruption_rate is not None:
            if not 0 <= interruption_rate <= 1:
                raise ValueError("spot.interruption_rate: must be between 0 and 1")
            spot.interruption_rate = float(interruption_rate)
        if interruptions is not None:
            if interruptions < 0:
                raise ValueError("spot.interruptions: must be 0 or more")
            spot.interruptions = int(interruptions)
        if interrupt_after is not None:
            if interrupt_after < 0:
                raise ValueError("spot.interrupt_after: must be 0 or more emulated seconds")
            spot.interrupt_after = float(interrupt_after)

    def load_balancer_request(
        self, *, listener_arn: str, host: str, path: str = "/", source_ip: str = "203.0.113.10"
    ) -> dict[str, Any]:
        """What a request for ``host``/``path`` from ``source_ip`` through the listener gets: its rules
        as ELB evaluates them (``fargate_local.load_balancer_requests``)."""
        from fargate_local import load_balancer_requests

        account = bridge.account_for_access_key(None)
        rules = bridge.listener_rules(account, self.region, listener_arn)
        return load_balancer_requests.answer(
            rules,
            lambda arn: bridge.target_health(account, self.region, arn),
            host=host,
            path=path,
            source_ip=source_ip,
        )

    def set_event_delivery(self, **values: float) -> None:
        """How ECS's events reach EventBridge's targets (ecs_events.EventDelivery: delay, duplicate,
        reorder, loss)."""
        with self.control_plane.lock:
            self.control_plane.ecs_events.delivery.update(values)

    def set_live_tail(self, **values: float) -> None:
        """How Live Tail sessions behave (live_tail.LiveTailBehaviour: session_seconds, max_sessions,
        drop)."""
        self.live_tails.set(**values)

    def set_vcpu_quota(self, *, on_demand: float | None = None, spot: float | None = None) -> None:
        """The account's Fargate On-Demand and Spot vCPU quotas in this emulator (None: not enforced)."""
        self.control_plane.vcpu_quotas.set(on_demand=on_demand, spot=spot)

    def set_rate_quota(self, action: str, per_second: float) -> None:
        """Make a rate quota stricter than AWS's (never looser): e.g. ("logs:GetLogEvents", 2)."""
        self.quotas.set_rate(action, per_second)

    def describe(self) -> dict[str, Any]:
        # calls: ECS operations; actions: every service's calls as IAM names them (e.g. logs:GetLogEvents)
        return {
            "endpoint": self.endpoint,
            "network": self.network,
            "calls": dict(self.calls),
            "actions": dict(self.actions),
            "throttled": dict(self.quotas.throttled),
            "ecs_events": self.control_plane.ecs_events.describe(),
            "live_tail": self.live_tails.describe(),
            **self.behaviours.describe(),
        }

    # ------------------------------------------------------------------ WSGI

    def __call__(self, environ: dict[str, Any], start_response) -> list[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith(CONTROL_PREFIX):
            return self._control(environ, start_response, path[len(CONTROL_PREFIX) :].strip("/"))
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if not target.startswith(ECS_TARGET_PREFIX):
            action = self._count_action(environ)
            if action and not self.quotas.allow(*self._account_and_region(environ), action):
                return _ecs_error(start_response, EcsError("ThrottlingException", "Rate exceeded", 400))
            if target == SQS_RECEIVE_MESSAGE:
                return self._receive_message(environ, start_response)
            if target == live_tail.TARGET:  # a response stream, read as it is written: not under the lock
                return self.live_tails.start(
                    *self._account_and_region(environ),
                    _read_body(environ),
                    start_response,
                    lambda error: _ecs_error(start_response, error),
                )
            with self.control_plane.lock:
                return self._moto(environ, start_response)
        operation = target[len(ECS_TARGET_PREFIX) :]
        self.calls[operation] += 1
        self.actions[f"ecs:{operation}"] += 1
        if not self.quotas.allow(*self._account_and_region(environ), f"ecs:{operation}"):
            return _ecs_error(start_response, EcsError("ThrottlingException", THROTTLING_MESSAGE, 400))
        fault = self.behaviours.api_fault_for(operation)
        if fault is not None:
            if fault.kind == "throttle":
                return _ecs_error(start_response, EcsError("ThrottlingException", "Rate exceeded", 400))
            return _ecs_error(
                start_response, EcsError("ServerException", "Service Unavailable. Please try again later.", 500)
            )
        body_bytes = _read_body(environ)
        account, region = self._account_and_region(environ)
        try:  # malformed input answered as ECS does, before any handler or moto reads it
            body = validated_body(operation, body_bytes)
        except EcsError as error:
            return _ecs_error(start_response, error)
        if operation == "RunTask" and not self._launch_allowed(account, region, body):
            return _ecs_error(start_response, EcsError("ThrottlingException", THROTTLING_MESSAGE, 400))
        with self.control_plane.lock:
            try:
                result = self.control_plane.handle(operation, account, region, body, self._forwarder(environ))
            except EcsError as error:
                return _ecs_error(start_response, error)
            except Exception as error:  # a bug of ours must look like an AWS 500, not hang the client
                return _ecs_error(start_response, bridge.converted(error))
            if result is None:
                environ["wsgi.input"] = io.BytesIO(body_bytes)
                return self._moto(environ, start_response)
            return _json_response(start_response, 200, result, "application/x-amz-json-1.1")

    def _launch_allowed(self, account: str, region: str, body: dict[str, Any]) -> bool:
        """Fargate's task-launch bucket of the capacity the RunTask asks for (one On-Demand, one
        Spot), a token a task: ``count`` tasks in one call take ``count`` tokens."""
        strategy = body.get("capacityProviderStrategy") or []
        provider = FARGATE_SPOT if uses_spot(strategy) else FARGATE
        return self.quotas.allow(account, region, f"fargate:launch:{provider}", int(body.get("count") or 1))

    def _count_action(self, environ: dict[str, Any]) -> str | None:
        """Name the call as IAM does: the signing service and the operation (X-Amz-Target for
        JSON protocols, Action= for query protocols such as EC2, IAM and STS)."""
        service = _SIGNING_SERVICE_RE.search(environ.get("HTTP_AUTHORIZATION", ""))
        if not service:
            return None
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        operation = target.rsplit(".", 1)[-1] if target else None
        if operation is None:
            query = parse_qs(environ.get("QUERY_STRING", ""))
            if "Action" not in query and "form-urlencoded" in environ.get("CONTENT_TYPE", ""):
                body = _read_body(environ)
                environ["wsgi.input"] = io.BytesIO(body)
                query = parse_qs(body.decode("utf-8", "replace"))
            operation = (query.get("Action") or [None])[0]
        if operation is None:  # REST protocols (e.g. S3): method and path name the operation
            operation = f"{environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO')}"
        action = f"{service.group(1)}:{operation}"
        self.actions[action] += 1
        return action

    def _receive_message(self, environ: dict[str, Any], start_response) -> list[bytes]:
        """SQS's ReceiveMessage with its long poll (WaitTimeSeconds, else the queue's
        ReceiveMessageWaitTimeSeconds) waited out here, not in moto: moto waits inside the call, and
        under the emulator's lock every other call and the control plane (tasks, ECS's events into
        the queue) would stop for up to 20 s. Asked again without a wait every LONG_POLL_STEP seconds
        until a message is there or the time is up. (SQS's JSON protocol, which botocore speaks.)"""
        body = _read_body(environ)
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            request = None
        if not isinstance(request, dict):  # malformed: moto answers it as it does
            environ["wsgi.input"] = io.BytesIO(body)
            with self.control_plane.lock:
                return self._moto(environ, start_response)
        wait = request.get("WaitTimeSeconds")
        if wait is None:
            with self.control_plane.lock:
                wait = bridge.queue_receive_wait_seconds(*self._account_and_region(environ), request.get("QueueUrl"))
        quick = json.dumps({**request, "WaitTimeSeconds": 0}).encode()
        deadline = time.monotonic() + (wait if isinstance(wait, int) and 0 < wait <= 20 else 0)
        answer: dict[str, Any] = {}

        def keep(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            answer.update(status=status, headers=headers)
            return lambda data: None

        while True:
            inner = {**environ, "wsgi.input": io.BytesIO(quick), "CONTENT_LENGTH": str(len(quick))}
            with self.control_plane.lock:
                chunks = self._moto(inner, keep)
            if (
                time.monotonic() >= deadline
                or not answer["status"].startswith("200")
                or b'"Messages"' in b"".join(chunks)
            ):
                start_response(answer["status"], answer["headers"])
                return chunks
            time.sleep(LONG_POLL_STEP)

    def _moto(self, environ, start_response) -> list[bytes]:
        # Consume moto's (possibly lazy) body while holding the lock.
        return list(self._moto_app(environ, start_response))

    @staticmethod
    def _account_and_region(environ: dict[str, Any]) -> tuple[str, str]:
        match = _CREDENTIAL_RE.search(environ.get("HTTP_AUTHORIZATION", ""))
        access_key, region = (match.group(1), match.group(2)) if match else (None, "us-east-1")
        return bridge.account_for_access_key(access_key), region

    def _forwarder(self, environ: dict[str, Any]):
        def forward(operation: str, payload: dict[str, Any]) -> dict[str, Any]:
            body = json.dumps(payload).encode()
            inner = dict(environ)
            inner.update(
                {
                    "HTTP_X_AMZ_TARGET": ECS_TARGET_PREFIX + operation,
                    "wsgi.input": io.BytesIO(body),
                    "CONTENT_LENGTH": str(len(body)),
                    "REQUEST_METHOD": "POST",
                }
            )
            captured: dict[str, Any] = {}

            def start_response(status, headers, exc_info=None):
                captured["status"] = int(status.split()[0])

            data = json.loads(b"".join(self._moto_app(inner, start_response)) or b"{}")
            if captured["status"] != 200:
                raise EcsError(data.get("__type", "ServerException"), data.get("message", ""), captured["status"])
            return data

        return forward

    # ------------------------------------------------------------------ control endpoint

    def _control(self, environ, start_response, route: str) -> list[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        try:
            payload = json.loads(_read_body(environ) or b"{}")
            if route == "health":
                return _json_response(start_response, 200, {"status": "ok"})
            if route in ("", "describe"):
                return _json_response(start_response, 200, self.describe())
            if route == "network":
                return _json_response(start_response, 200, self.network)
            if route == "reset" and method == "POST":
                return _json_response(start_response, 200, self.reset(payload.get("seed")))
            if route == "behaviours" and method == "POST":
                self.add_behaviour(**payload)
                return _json_response(start_response, 200, self.behaviours.describe())
            if route == "api-faults" and method == "POST":
                self.add_api_fault(**payload)
                return _json_response(start_response, 200, self.behaviours.describe())
            if route in ("behaviours", "api-faults") and method == "DELETE":
                with self.behaviours._lock:
                    (self.behaviours.rules if route == "behaviours" else self.behaviours.api_faults).clear()
                return _json_response(start_response, 200, self.behaviours.describe())
            if route == "spot" and method in ("POST", "PUT"):
                self.set_spot(**payload)
                return _json_response(start_response, 200, self.behaviours.spot.describe())
            if route == "vcpu-quota" and method in ("POST", "PUT"):
                self.set_vcpu_quota(**payload)
                return _json_response(start_response, 200, dict(self.control_plane.vcpu_quotas.limits))
            if route == "load-balancer-request" and method == "POST":
                return _json_response(start_response, 200, self.load_balancer_request(**payload))
            if route == "event-delivery" and method in ("POST", "PUT"):
                self.set_event_delivery(**payload)
                return _json_response(start_response, 200, self.control_plane.ecs_events.describe())
            if route == "live-tail" and method in ("POST", "PUT"):
                self.set_live_tail(**payload)
                return _json_response(start_response, 200, self.live_tails.describe())
            if route == "timing" and method in ("POST", "PUT"):
                self.set_timing(**payload)
                return _json_response(start_response, 200, asdict(self.behaviours.timing))
        except (ValueError, TypeError) as error:
            return _json_response(start_response, 400, {"error": str(error)})
        return _json_response(start_response, 404, {"error": f"no route {method} {CONTROL_PREFIX}{route}"})


def _read_body(environ: dict[str, Any]) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    return environ["wsgi.input"].read(length) if length else b""
