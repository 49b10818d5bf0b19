"""Deliver events from a JSON-lines file into the test table, checkpointing each batch.

Run as a process that the crash test kills with SIGKILL at random moments: each batch's files
and its checkpoint commit together, so a restart resumes after the last committed batch.
Usage: crash_writer.py DATA_DIR EVENTS_FILE BATCH_SIZE
"""

from __future__ import annotations

import sys
from pathlib import Path

import orjson
from builders import ACCOUNT, TRAIL, open_test_warehouse

from trailhouse.events.model import LoggedEvent
from trailhouse.iam.roles import service_linked_role_arn
from trailhouse.store.ports import DocumentWrite

CHECKPOINT = "test-checkpoint"


def main(data_dir: str, events_file: str, batch_size: int) -> None:
    tw = open_test_warehouse(Path(data_dir))
    rows = [orjson.loads(line) for line in Path(events_file).read_bytes().splitlines()]
    events = [LoggedEvent(**{**row, "body": row["body"].encode()}) for row in rows]
    while True:
        found = tw.metadata.get_document(CHECKPOINT, ACCOUNT, TRAIL)
        done = orjson.loads(found.body)["seq"] if found else 0
        batch = [e for e in events if e.seq > done][:batch_size]
        if not batch:
            break
        checkpoint = DocumentWrite(
            CHECKPOINT,
            ACCOUNT,
            TRAIL,
            orjson.dumps({"seq": batch[-1].seq}),
            found.version if found else 0,
        )
        tw.warehouse.writer.append(
            tw.project,
            tw.table,
            batch,
            writer_role_arn=service_linked_role_arn(ACCOUNT),
            source_account=ACCOUNT,
            source=f"{ACCOUNT}-{TRAIL}",
            extra_writes=[checkpoint],
        )
    tw.close()
    print("done", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
