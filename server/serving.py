"""Serving HTTP: bind the listener first (one clear error if that fails), then run one uvicorn process
or a supervisor with N worker processes that share the bound socket."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import tempfile
from collections.abc import Callable, Mapping
from typing import Any

from prometheus_client.multiprocess import mark_process_dead
from starlette.applications import Starlette

from govshare.core.errors import CannotListen, GovshareError

from . import logs
from .metrics import MULTIPROCESS_DIR

# `uvicorn --factory govshare.server.app:app_factory` builds the app in each worker from the environment.
APP_FACTORY = "govshare.server.app:app_factory"
logger = logging.getLogger("govshare.server")


def bind(host: str, port: int) -> socket.socket:
    """Bind before anything else starts: a port in use then costs one line, not a half-started app."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise CannotListen(f"cannot listen on {host}:{port}: unknown address ({exc.strerror})") from exc
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        reason = "address already in use" if exc.errno == 98 else (exc.strerror or str(exc)).lower()
        raise CannotListen(f"cannot listen on {host}:{port}: {reason}") from exc
    sock.set_inheritable(True)
    return sock


def serve(sock: socket.socket, app: Starlette | None, workers: int, worker_env: Mapping[str, str],
          log_format: str = "json") -> None:
    """One process serving ``app``, or ``workers`` processes each building the app from the environment
    (``worker_env`` added to it: DSNs of an embedded server, the demo secret)."""
    import uvicorn

    # server_header=False: no "server: uvicorn" on answers (it names the stack to an attacker, and costs
    # every answer a header line).
    if workers == 1:
        assert app is not None
        server = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_level="info", server_header=False,
                                                log_config=logs.config(log_format), access_log=False))
        _listening(sock, workers)
        try:
            server.run(sockets=[sock])
        except KeyboardInterrupt:  # uvicorn shuts down on Ctrl-C, then re-raises it: a normal stop
            pass
        except SystemExit as exc:  # uvicorn exits when the application's startup fails
            raise GovshareError("the service did not start: see the log above") from exc
        return
    os.environ.update(worker_env)
    # One metrics view over all workers: prometheus-client's multiprocess mode in a folder of this run
    # (read by the workers when they import it, so set before they start), removed when we stop.
    folder = tempfile.mkdtemp(prefix="govshare-metrics-")
    os.environ[MULTIPROCESS_DIR] = folder
    config = uvicorn.Config(APP_FACTORY, factory=True, workers=workers, lifespan="on", log_level="info",
                            server_header=False, log_config=logs.config(log_format), access_log=False)
    _listening(sock, workers)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            _supervisor(config, [sock], folder).run()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        os.environ.pop(MULTIPROCESS_DIR, None)


def _listening(sock: socket.socket, workers: int) -> None:
    # uvicorn names the address only when it binds the socket itself; an operator needs the line either way.
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    logger.info("listening on http://%s:%d/graphql (%d worker process%s)", shown, port, workers,
                "es" if workers > 1 else "")


def _supervisor_class() -> type:
    from uvicorn.supervisors import Multiprocess

    class Supervisor(Multiprocess):
        """uvicorn's supervisor, also forgetting a dead worker's live gauges (its in-flight requests, pool
        connections, schema version), so they do not haunt the metrics; its counters stay, or the totals
        would go backwards."""

        def __init__(self, config: Any, sockets: list[socket.socket], metrics_dir: str) -> None:
            super().__init__(config, sockets)
            self.metrics_dir = metrics_dir

        def _forgetting(self, step: Callable[[], None]) -> None:
            before = {p.pid for p in self.processes}
            step()
            for pid in before - {p.pid for p in self.processes}:
                if pid is not None:
                    mark_process_dead(pid, self.metrics_dir)  # type: ignore[no-untyped-call]

        def keep_subprocess_alive(self) -> None:
            self._forgetting(super().keep_subprocess_alive)

        def restart_all(self) -> None:
            self._forgetting(super().restart_all)

        def handle_ttou(self) -> None:
            self._forgetting(super().handle_ttou)

    return Supervisor


def _supervisor(config: Any, sockets: list[socket.socket], metrics_dir: str) -> Any:
    return _supervisor_class()(config, sockets, metrics_dir)
