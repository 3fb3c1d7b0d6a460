"""The seal of a legacy lane 0: one keyed record after the unkeyed records of before migration 0008.

Anyone who can INSERT into audit_log can compute an unkeyed ('sha256') record: the hash functions are the
database's own. So verification accepts unkeyed records only up to the last one migration 0029 found
(``audit_legacy_end()``, which only the database owner can change), and calls a lane 0 that still ends
there 'unsealed': anyone could add an unkeyed record after it. The service closes that at start, before
it serves: if lane 0 ends with exactly that record, it appends one keyed record after it through the
lane-0 append path (under lane 0's lock, conditional on that head), so two processes starting at once
seal once. Nothing else is ever sealed: an unkeyed head 0029 did not record is forged, and sealing it
would certify it.

The seal is a record of its own kind, action 'audit.seal' (user 'govshare', department '', resource
'audit_log', no rows, no grants), not a data access: usage, denial and assessment statistics count only
'read' and 'verify', grant use counts only records citing a grant, and the audit records API shows it to
supervisors as what it is. Its detail names the record it seals.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime

import orjson

from .audit import APPEND_BATCH, RETRIES, AuditRecord, AuditTrail
from .audit_records import KEYED, chain_hash, payload, record_fields, utc_text

logger = logging.getLogger("govshare.audit")

SEAL_ACTION = "audit.seal"
# Lane 0's head with its algorithm, beside where 0029 found the unkeyed records end.
LANE_0_HEAD = """select h.lane_seq, h.hash, h.algorithm, e.lane_seq as legacy_seq, e.hash as legacy_hash
    from audit_legacy_end() e
    left join lateral (select a.lane_seq, a.hash, a.algorithm from audit_log a where a.lane = 0
                       order by a.lane_seq desc limit 1) h on true"""


async def seal_legacy_lane(trail: AuditTrail) -> int | None:
    """Seal lane 0 if it ends with the last unkeyed record of before migration 0008: the seal's global
    seq, or None when there is nothing to seal (lane 0 empty, ending keyed, or ending with a record 0029
    did not find, which verify reports as written without the key)."""
    for _attempt in range(RETRIES):
        rows = await trail.pools.fetch(trail.database, "audit.seal", LANE_0_HEAD)
        head = rows[0]
        if head["lane_seq"] is None or head["algorithm"] == KEYED or \
                (head["lane_seq"], head["hash"]) != (head["legacy_seq"], head["legacy_hash"]):
            return None
        after, after_hash = int(head["lane_seq"]), str(head["hash"])
        seal = AuditRecord(f"seal-{uuid.uuid4().hex}", "govshare", "", SEAL_ACTION, None, "audit_log",
                           detail={"sealed_lane_seq": after, "sealed_hash": after_hash})
        fields = record_fields(seal)
        at = utc_text(datetime.now(UTC))
        digest = chain_hash(trail.key, after_hash, payload(after + 1, at, fields, 0))
        row = {**fields, "lane_seq": after + 1, "at": at, "prev_hash": after_hash, "hash": digest}
        result = await trail.pools.fetch(trail.database, "audit.seal", APPEND_BATCH, 0, after, after_hash,
                                         orjson.dumps([row]).decode(), None)
        if result[0]["appended"]:
            logger.warning("sealed lane 0 of the audit trail after its unkeyed records (lane_seq %d)", after)
            return int(result[0]["seqs"][0])
        # another process appended to lane 0 first (most likely its own seal): look again
    return None
