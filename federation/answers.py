"""A size limit on what a node's server may send, enforced on the connection before asyncpg reads it.

A node's owner controls its server, so no SQL (``left(col, n)``, ``octet_length`` tests) bounds what it
returns: any query can be answered with values of up to 1 GB, and asyncpg reads each message whole into
memory before returning anything. ``LimitedConnection`` puts a counter between the socket and asyncpg's
protocol: it follows the PostgreSQL message framing (a type byte and a 4-byte length per message) and
closes the connection as soon as a message announces more than ``MAX_MESSAGE_BYTES`` (one row: before its
body is read) or an answer (everything between two ReadyForQuery messages) exceeds ``MAX_ANSWER_BYTES``.
asyncpg then fails the statement as a lost connection, which the pools report as that node being
unavailable: only its rows are lost. Reading the framing costs a few operations per message, not per byte.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from typing import Any

import asyncpg

logger = logging.getLogger("govshare.answers")

# One message (a row with all its values) and one answer. Far above anything the service asks for (pages
# of at most 100 rows of strings of bounded length, catalogs, department lists), far below what would
# exhaust a worker's memory. Read at each check, so a test can lower them.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
MAX_ANSWER_BYTES = 64 * 1024 * 1024
READY_FOR_QUERY = ord("Z")
HEADER = 5  # type byte + int32 length (which counts itself, not the type byte)
_HEADER = struct.Struct(">Bi")  # a message's type byte and its length


class _Limiter(asyncio.Protocol):
    """Between the transport and asyncpg's protocol: forwards everything, counting messages on the way."""

    def __init__(self, inner: Any, transport: asyncio.Transport, peer: str) -> None:
        self._inner = inner
        self._transport = transport
        self._peer = peer
        self._header = b""  # a header split across reads
        self._body = 0  # bytes of the current message's body still to come (skipped, not counted again)
        self._answer = 0  # bytes of the messages since the last ReadyForQuery
        self._closed = False

    def data_received(self, data: bytes) -> None:
        if self._closed:
            return
        if not self._within(data):
            self._closed = True
            self._transport.abort()
            return
        self._inner.data_received(data)

    def _within(self, data: bytes) -> bool:
        """Whether every message announced up to the end of ``data`` keeps to the limits (a message counts
        from its header, so one over them is refused before its body comes)."""
        if self._header:  # a header split across reads: join it with what follows (one short copy)
            data, self._header = self._header + data, b""
        size, position = len(data), self._body
        if position >= size:
            self._body = position - size
            return True
        # One pass of a few operations per message (a federated catalog page is ~700 of them): the type and
        # the length read together by struct in C, the length's two bounds in one comparison. An answer's
        # size is the distance from where it started (after the last ReadyForQuery, or this read's first
        # unread byte) to the end of its last announced message, checked at each ReadyForQuery and after the
        # last header: the same bytes as a sum per message, checked before asyncpg sees any of them.
        answer, start, unpack = self._answer, position, _HEADER.unpack_from
        most_length, most_answer = MAX_MESSAGE_BYTES + 4, MAX_ANSWER_BYTES
        while position + HEADER <= size:
            kind, length = unpack(data, position)  # the length counts itself: 4 more than the body
            if not 4 <= length <= most_length:
                logger.warning("database server %s announced a message of %d bytes (limit %d): connection closed, "
                               "its answer is not read", self._peer, length - 4, most_length - 4)
                return False
            if kind == READY_FOR_QUERY:  # the answer ends with this message, which it does not count
                if answer + position - start > most_answer:
                    return self._too_much(most_answer)
                answer, start = 0, position + 1 + length
            position += 1 + length
        answer += position - start
        if answer > most_answer:
            return self._too_much(most_answer)
        self._answer = answer
        if position < size:  # the next header is not whole yet
            self._header, self._body = data[position:], 0
        else:
            self._body = position - size
        return True

    def _too_much(self, most_answer: int) -> bool:
        logger.warning("database server %s sent more than %d bytes in one answer: connection closed", self._peer,
                       most_answer)
        return False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # made before we were put in
        pass

    def connection_lost(self, exc: Exception | None) -> None:
        self._inner.connection_lost(exc)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()  # type: ignore[no-any-return]

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()


class LimitedConnection(asyncpg.Connection):
    """An asyncpg connection whose server's messages and answers are size-limited (module docstring)."""

    def __init__(self, protocol: Any, transport: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(protocol, transport, *args, **kwargs)
        peer = transport.get_extra_info("peername")
        transport.set_protocol(_Limiter(protocol, transport, str(peer)))
