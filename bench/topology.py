"""The production topology on loopback: web processes (gunicorn, one gevent worker each), a jobs
process (alert rules, geofences, feed poller, digests), PostgreSQL and the Redis message queue.

    .venv/bin/python -m bench.topology --web 2             # or: make topology
    .venv/bin/python -m bench.topology --web 2 --demo      # with the demo organisation loaded

PostgreSQL and Redis are the machine's own (127.0.0.1:5432 database `test`, 127.0.0.1:6379 by
default; --database and --redis change them). The schema is migrated first. Each web process
listens on its own port from --port up; in production nginx spreads clients over them (see
deploy/nginx.conf). Tests and the load benchmark use Topology from Python.
"""

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DEFAULT_DATABASE = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Topology:
    database_url: str = DEFAULT_DATABASE
    redis_url: str = DEFAULT_REDIS
    web: int = 2
    jobs: bool = True
    base_port: int | None = None
    # A channel of its own, so topologies sharing one Redis (tests in parallel) never cross.
    channel: str = field(default_factory=lambda: "om-" + uuid.uuid4().hex[:8])
    extra_env: dict = field(default_factory=dict)
    log_dir: Path | None = None
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    ports: list[int] = field(default_factory=list)

    def env(self) -> dict:
        env = {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "SOCKETIO_MESSAGE_QUEUE": self.redis_url,
            "SOCKETIO_CHANNEL": self.channel,
            "SECRET_KEY": os.environ.get("SECRET_KEY") or "topology-" + self.channel,
            "RATELIMIT_STORAGE_URI": self.redis_url,
            "RATELIMIT_KEY_PREFIX": self.channel,
            "PYTHONUNBUFFERED": "1",
        }
        env.update(self.extra_env)
        return env

    def flask(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(BIN / "flask"), "--app", "wsgi", *args],
            cwd=ROOT,
            env=self.env(),
            check=check,
            capture_output=True,
            text=True,
        )

    def _log(self, name: str):
        if self.log_dir is None:
            return subprocess.DEVNULL
        self.log_dir.mkdir(parents=True, exist_ok=True)
        return open(self.log_dir / f"{name}.log", "ab")

    def start_web(self, index: int) -> None:
        port = self.ports[index]
        self.processes[f"web{index}"] = subprocess.Popen(
            [
                str(BIN / "gunicorn"),
                "--worker-class",
                "gevent",
                "--workers",
                "1",
                "--bind",
                f"127.0.0.1:{port}",
                "--graceful-timeout",
                "5",
                "wsgi:app",
            ],
            cwd=ROOT,
            env=self.env(),
            stdout=self._log(f"web{index}"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def start_jobs(self) -> None:
        self.processes["jobs"] = subprocess.Popen(
            [str(BIN / "flask"), "--app", "wsgi", "jobs", "--loop"],
            cwd=ROOT,
            env=self.env(),
            stdout=self._log("jobs"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def start(self, timeout: float = 60) -> "Topology":
        self.flask("db", "upgrade")
        first = self.base_port
        self.ports = [first + i if first else free_port() for i in range(self.web)]
        for index in range(self.web):
            self.start_web(index)
        if self.jobs:
            self.start_jobs()
        for index in range(self.web):
            self.wait_ready(index, timeout)
        return self

    def url(self, index: int = 0) -> str:
        return f"http://127.0.0.1:{self.ports[index]}"

    def wait_ready(self, index: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            process = self.processes[f"web{index}"]
            if process.poll() is not None:
                raise RuntimeError(f"web{index} exited with {process.returncode}")
            try:
                with urllib.request.urlopen(self.url(index) + "/healthz", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"web{index} did not answer /healthz within {timeout:g} s")
            time.sleep(0.2)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        process = self.processes.get(name)
        if process is not None and process.poll() is None:
            os.killpg(process.pid, sig)
            process.wait(timeout=10)

    def stop(self) -> None:
        for name in list(self.processes):
            self.kill(name, signal.SIGTERM)
        self.processes.clear()

    def __enter__(self) -> "Topology":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--web", type=int, default=2, help="web processes (default 2)")
    parser.add_argument("--port", type=int, default=8001, help="the first web process's port (default 8001)")
    parser.add_argument("--database", default=os.environ.get("DATABASE_URL", DEFAULT_DATABASE))
    parser.add_argument("--redis", default=os.environ.get("SOCKETIO_MESSAGE_QUEUE", DEFAULT_REDIS))
    parser.add_argument("--no-jobs", action="store_true", help="no jobs process")
    parser.add_argument("--demo", action="store_true", help="load the demo organisation first")
    parser.add_argument("--logs", type=Path, default=ROOT / "instance" / "topology", help="where processes log")
    args = parser.parse_args()
    topology = Topology(
        database_url=args.database,
        redis_url=args.redis,
        web=args.web,
        jobs=not args.no_jobs,
        base_port=args.port,
        channel="oscarmike",
        log_dir=args.logs,
    )
    if args.demo:
        topology.flask("db", "upgrade")
        print(topology.flask("demo").stdout)
    topology.start()
    print(f"web: {', '.join(topology.url(i) for i in range(args.web))}; jobs: {'on' if topology.jobs else 'off'}")
    print(f"database {args.database}, queue {args.redis}, logs in {args.logs}; Ctrl-C stops everything")
    try:
        while all(p.poll() is None for p in topology.processes.values()):
            time.sleep(1)
        print("a process exited; stopping the others", file=sys.stderr)
    except KeyboardInterrupt:
        pass
    finally:
        topology.stop()


if __name__ == "__main__":
    main()
