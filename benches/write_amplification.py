#!/usr/bin/env python3
"""Write amplification on SQLite (issue 27): what one change costs in bytes.

Starts `BINARY serve` on a fresh SQLite file in a temporary directory, creates N users one at
a time through SCIM (the body an identity provider sends: userName, externalId, name, a work
e-mail), then pushes one group of all of them, and reports:
  - bytes the server process wrote to disk per create and for the group push (the WAL's pages
    and the checkpoints' writes: /proc/PID/io write_bytes), and
  - bytes per user of the database file, per table and index (SQLite's dbstat), after a
    checkpoint.

Usage: benches/write_amplification.py BINARY [N=1000]
Compare builds by running it once per binary. Needs the sqlite3 module with dbstat (CPython's
usually has it).
"""
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request


def written(pid):
    with open(f"/proc/{pid}/io") as io:
        for line in io:
            if line.startswith("write_bytes"):
                return int(line.split()[1])
    return 0


def post(base, token, path, body):
    request = urllib.request.Request(
        base + path, data=json.dumps(body).encode(), method="POST",
        headers={"Authorization": "Bearer " + token, "Content-Type": "application/scim+json"})
    with urllib.request.urlopen(request) as answer:
        return json.load(answer)


def main():
    binary, count = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    with tempfile.TemporaryDirectory() as work:
        database = os.path.join(work, "amplification.db")
        out = open(os.path.join(work, "out"), "w+")
        server = subprocess.Popen([binary, "serve", "--bind", "127.0.0.1:0", "--database", database],
                                  cwd=work, stdout=out, stderr=subprocess.DEVNULL)
        try:
            base = token = None
            for _ in range(100):
                out.seek(0)
                text = out.read()
                base = re.search(r"^SCIM base URL[^:]*: (\S+)", text, re.M)
                token = re.search(r"^SCIM bearer token: (\S+)", text, re.M)
                if base and token:
                    break
                time.sleep(0.1)
            base, token = base.group(1), token.group(1)
            before = written(server.pid)
            ids = []
            for i in range(count):
                ids.append(post(base, token, "/Users", {
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": f"seed{i:06d}@example.com", "externalId": f"ext{i:06d}",
                    "name": {"givenName": "Seed", "familyName": f"N{i:06d}"},
                    "emails": [{"value": f"seed{i:06d}@example.com", "type": "work", "primary": True}],
                    "active": True})["id"])
            time.sleep(1.5)
            creates = written(server.pid) - before
            before = written(server.pid)
            post(base, token, "/Groups", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                                          "displayName": "everyone",
                                          "members": [{"value": i} for i in ids]})
            time.sleep(1.5)
            push = written(server.pid) - before
        finally:
            server.terminate()
            server.wait()
        print(f"{count} creates, one at a time: {creates / count / 1024:.1f} KiB written per create")
        print(f"one group of {count} members: {push / 1024:.0f} KiB written")
        db = sqlite3.connect(database)
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        print(f"database file: {os.path.getsize(database) / count:.0f} B per user; by table and index:")
        for name, size in db.execute(
                "SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC LIMIT 16"):
            print(f"  {name:40s} {size / count:7.0f} B per user")


if __name__ == "__main__":
    main()
