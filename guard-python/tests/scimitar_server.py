"""The real Scimitar for the end-to-end tests: `scimitar serve` (the binary named by
SCIMITAR_BIN) on a random port and a fresh SQLite database in a temporary directory, with the
few SCIM and OAuth calls the tests make."""

from __future__ import annotations

import base64
import json
import os
import pathlib
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

BASE_URL_LINE = "SCIM base URL (tenant URL for Okta or Entra): "
TOKEN_LINE = "SCIM bearer token: "
SCIM_USER = "urn:scimitar:params:oauth:token-type:scim-user"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"


def binary() -> str | None:
    return os.environ.get("SCIMITAR_BIN") or None


def _environment() -> dict:
    return {k: v for k, v in os.environ.items() if not k.startswith("SCIMITAR_")}


class Scimitar:
    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="scimitar-guard-python-")
        self.workdir = pathlib.Path(self._dir.name)
        self.database = str(self.workdir / "s.db")
        self.process = subprocess.Popen(
            [binary(), "serve", "--bind", "127.0.0.1:0", "--database", self.database],
            cwd=self.workdir,
            env=_environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.scim_token = None
        scim_base = None
        deadline = time.monotonic() + 60
        for line in self.process.stdout:
            if line.startswith(TOKEN_LINE):
                self.scim_token = line[len(TOKEN_LINE) :].strip()
            if line.startswith(BASE_URL_LINE):
                scim_base = line[len(BASE_URL_LINE) :].strip()
                break
            assert time.monotonic() < deadline, "scimitar serve printed its address in time"
        assert scim_base and self.scim_token, "scimitar serve printed its SCIM base URL and token"
        self.scim_base = scim_base
        self.root = scim_base[: -len("/scim/v2")]
        # Keep reading stdout so the server never blocks on a full pipe.
        threading.Thread(target=self.process.stdout.read, daemon=True).start()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def close(self) -> None:
        self.stop()
        self._dir.cleanup()

    def cli(self, *args: str) -> dict:
        done = subprocess.run(
            [binary(), *args, "--database", self.database],
            cwd=self.workdir,
            env=_environment(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def app_client(self, name: str = "app") -> tuple[str, str]:
        """A trusted app client: (client id, secret)."""
        created = self.cli("client", "create", "--name", name, "--kind", "app", "--trusted")
        return created["client_id"], created["secret"]

    def request(self, method, url, *, body=None, headers=None, basic=None) -> tuple[int, dict]:
        request = urllib.request.Request(url, method=method, data=body, headers=dict(headers or {}))
        if basic:
            request.add_header("Authorization", "Basic " + base64.b64encode(":".join(basic).encode()).decode())
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                text = response.read()
                return response.status, json.loads(text) if text else {}
        except urllib.error.HTTPError as error:
            text = error.read()
            return error.code, json.loads(text) if text else {}

    def scim(self, method: str, path: str, document: dict) -> dict:
        status, answer = self.request(
            method,
            f"{self.scim_base}{path}",
            body=json.dumps(document).encode(),
            headers={"Authorization": f"Bearer {self.scim_token}", "Content-Type": "application/scim+json"},
        )
        assert 200 <= status < 300, (status, answer)
        return answer

    def create_user(self, user_name: str) -> str:
        return self.scim("POST", "/Users", {"userName": user_name, "active": True})["id"]

    def deactivate(self, user: str) -> None:
        self.scim(
            "PATCH",
            f"/Users/{user}",
            {
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "path": "active", "value": False}],
            },
        )

    def oauth(self, client: tuple[str, str], endpoint: str, form: dict) -> tuple[int, dict]:
        return self.request(
            "POST",
            f"{self.root}/oauth2/{endpoint}",
            body=urllib.parse.urlencode(form).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            basic=client,
        )

    def access_token(self, client: tuple[str, str], user: str) -> str:
        """A new session for `user` by the trusted token exchange; its access token."""
        status, answer = self.oauth(
            client,
            "token",
            {"grant_type": TOKEN_EXCHANGE, "subject_token": user, "subject_token_type": SCIM_USER},
        )
        assert status == 200, answer
        return answer["access_token"]

    def revoke(self, client: tuple[str, str], token: str) -> None:
        status, answer = self.oauth(client, "revoke", {"token": token})
        assert status == 200, answer
