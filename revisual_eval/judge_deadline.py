"""A total deadline for one judge call, which httpx does not have.

httpx's ``timeout`` bounds each read, not the call: a judge that sends its headers and then one
byte a second never times out (``score --judge-timeout 5`` ran past 150 s). The transport here
starts a clock per request. Until the headers arrive, httpx's own timeouts (set to the whole
deadline) bound the wait. While the body arrives, each chunk is checked against the deadline, and a
watchdog shuts the socket down at the deadline, so even a judge that sends nothing more is cut off
then. Either way the call ends with ``httpx.ReadTimeout``, which the OpenAI client reports as a
timeout, retried like any other.
"""

from __future__ import annotations

import socket
import threading
import time

import httpx


class _DeadlineStream(httpx.SyncByteStream):
    """A response body that stops at the call's deadline."""

    def __init__(self, inner, deadline: float, total_s: float, request: httpx.Request, sock: socket.socket | None):
        self._inner, self._deadline, self._total_s, self._request = inner, deadline, total_s, request
        self._timer = None
        if sock is not None:
            # Wakes a read that is waiting when the deadline passes; shutdown (not close) is safe across threads.
            self._timer = threading.Timer(max(deadline - time.monotonic(), 0.0), _shutdown, (sock,))
            self._timer.daemon = True
            self._timer.start()

    def _expired(self) -> httpx.ReadTimeout:
        return httpx.ReadTimeout(f"the judge's reply did not end within the call's {self._total_s:g} s deadline",
                                 request=self._request)

    def __iter__(self):
        try:
            for chunk in self._inner:
                if time.monotonic() > self._deadline:
                    raise self._expired()
                yield chunk
        except httpx.TransportError as error:
            if time.monotonic() >= self._deadline and not isinstance(error, httpx.ReadTimeout):
                raise self._expired() from error  # the watchdog's shutdown, seen as a closed connection
            raise

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._inner.close()


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed: the call ended on its own


class DeadlineTransport(httpx.HTTPTransport):
    """``httpx.HTTPTransport`` whose every request ends within ``total_s`` seconds."""

    def __init__(self, total_s: float, **kwargs):
        super().__init__(**kwargs)
        self.total_s = float(total_s)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        deadline = time.monotonic() + self.total_s
        request.extensions["timeout"] = {name: self.total_s for name in ("connect", "read", "write", "pool")}
        response = super().handle_request(request)
        stream = response.extensions.get("network_stream")
        sock = stream.get_extra_info("socket") if stream is not None else None
        response.stream = _DeadlineStream(response.stream, deadline, self.total_s, request, sock)
        return response


def deadline_http_client(total_s: float) -> httpx.Client:
    """An ``httpx.Client`` for the OpenAI client: each call ends within ``total_s`` seconds."""
    return httpx.Client(transport=DeadlineTransport(total_s), timeout=total_s, follow_redirects=True)
