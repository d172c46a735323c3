"""Two replicas behind a real HAProxy, under a bounded load of concurrent streams: both take streams; one is
sent SIGTERM mid-load and every stream it had finishes whole while new ones go to the other; no client sees
an error; the replica comes back on its port and takes streams again (`make test-lb`, prints its figures).

HAProxy is Debian's package, run as a child process on loopback with the configuration below.
"""

from __future__ import annotations

import io
import shutil
import signal
import socket
import statistics
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import soundfile
import torch

from model_core import WaveNet, load_checkpoint, save_checkpoint
from model_core.checkpoint import SHIPPED_CHECKPOINT
from service.process import ServiceProcess, free_port

from .conftest import vowel

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("haproxy") is None, reason="no haproxy (apt-get install haproxy)")]

CLIENTS = 6
DURATION = 2.5  # seconds of audio per stream
GRACE_SECONDS = 10
START_SECONDS = 120  # a replica measures its kernels and capacity before it is ready: slow on a busy machine
REPLICA_SETTINGS = {"max_streams_per_worker": 8, "queue_size": 8, "step_threads": 1, "decode_workers": 1}

# Health: /readyz every 200 ms, out after 2 misses, back after 2 answers. Until the checks notice, a request
# can meet a replica that has stopped accepting: connection refused, a kept-alive connection that the
# replica closes unanswered, or 503 `draining`. None of these started a stream, so HAProxy sends the request
# again, to the other replica (redispatch on every retry). For a request with a body that retry needs the
# whole request buffered first (http-buffer-request); without it HAProxy closes the client's connection
# unanswered when a reused server connection turns out closed (test_retried_post_survives_...).
HAPROXY_CONFIG = """\
global
    maxconn 256
    stats socket {socket} mode 600 level admin
    log stdout format raw local0

defaults
    mode http
    log global
    option httplog
    timeout connect 1s
    timeout client 60s
    timeout server 60s
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response 503
    option http-buffer-request

frontend streams
    bind 127.0.0.1:{port}
    default_backend replicas

backend replicas
    balance leastconn
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter 200ms fall 2 rise 2
    http-response set-header X-Served-By %s
    server a 127.0.0.1:{a} check
    server b 127.0.0.1:{b} check
"""


def wait_until(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.02)


@dataclass
class Stream:
    sent: float
    answered: float | None = None
    finished: float | None = None
    replica: str | None = None
    status: int | None = None
    content_length: int | None = None
    body: bytes = b""
    error: str | None = None


class HAProxy:
    def __init__(self, directory: Path, a: int, b: int) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.socket = directory / "haproxy.sock"
        config = directory / "haproxy.cfg"
        config.write_text(HAPROXY_CONFIG.format(socket=self.socket, port=self.port, a=a, b=b))
        self.log = open(directory / "haproxy.log", "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(["haproxy", "-db", "-f", str(config)], stdout=self.log,
                                        stderr=subprocess.STDOUT)

    def servers(self) -> dict[str, dict[str, str]]:
        """Per server: HAProxy's own counters from `show stat` (status, retries, redispatches...)."""
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(str(self.socket))
            s.sendall(b"show stat\n")
            text = b"".join(iter(lambda: s.recv(65536), b"")).decode()
        header, *rows = [line for line in text.splitlines() if line]
        names = header.lstrip("# ").split(",")
        table = [dict(zip(names, row.split(","), strict=False)) for row in rows]
        return {row["svname"]: row for row in table if row["pxname"] == "replicas"}

    def wait_status(self, server: str, status: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"haproxy exited with {self.process.returncode}")
            try:
                if self.servers().get(server, {}).get("status") == status:
                    return
            except OSError:
                pass  # the stats socket is not there yet
            time.sleep(0.05)
        raise TimeoutError(f"haproxy never saw {server} {status}")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        self.log.close()


class Load:
    """CLIENTS threads, each POSTing /generate through the balancer again and again until stopped."""

    def __init__(self, url: str, seed_wav: bytes) -> None:
        self.url, self.seed_wav = url, seed_wav
        self.streams: list[Stream] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.client, args=(i,)) for i in range(CLIENTS)]

    def client(self, index: int) -> None:
        with httpx.Client(timeout=60) as client:
            n = 0
            while not self.stopping.is_set():
                stream = Stream(sent=time.monotonic())
                with self.lock:
                    self.streams.append(stream)
                try:
                    with client.stream("POST", self.url + "/generate", content=self.seed_wav,
                                       params={"duration": DURATION, "random_seed": index * 1000 + n},
                                       headers={"Content-Type": "audio/wav"}) as response:
                        stream.answered = time.monotonic()
                        stream.replica = response.headers.get("X-Served-By")
                        stream.status = response.status_code
                        stream.content_length = int(response.headers.get("Content-Length", -1))
                        stream.body = response.read()
                except httpx.HTTPError as error:
                    stream.error = repr(error)
                stream.finished = time.monotonic()
                n += 1

    def served(self, replica: str, since: float = 0.0) -> list[Stream]:
        with self.lock:
            return [s for s in self.streams if s.replica == replica and s.finished and s.sent >= since]

    def in_flight(self, replica: str) -> list[Stream]:
        with self.lock:
            return [s for s in self.streams if s.replica == replica and s.answered and not s.finished]

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=60)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    # The shipped model's size with random weights: streams cost what they do in production.
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "model.safetensors"
    shipped = load_checkpoint(SHIPPED_CHECKPOINT)[0].config
    return save_checkpoint(WaveNet(shipped), path, {"training_data": "none (random weights)"})


def seed_wav() -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, vowel(0.25), 8000, subtype="PCM_16", format="WAV")
    return buffer.getvalue()


def check_whole(stream: Stream) -> None:
    assert stream.error is None, stream.error
    assert stream.status == 200, stream.body[:300]
    assert len(stream.body) == stream.content_length
    audio, rate = soundfile.read(io.BytesIO(stream.body), dtype="int16")
    assert len(audio) == round(DURATION * rate)


def summary(streams: list[Stream]) -> str:
    per = {r: sum(s.replica == r for s in streams) for r in ("a", "b")}
    times = [s.finished - s.sent for s in streams]
    errors = sum(s.error is not None or s.status != 200 for s in streams)
    return (f"{per['a']:>3} {per['b']:>3} {errors:>6}   {statistics.median(times):5.2f} s  {max(times):5.2f} s"
            if streams else "  -")


def test_replica_drains_and_returns_behind_haproxy(checkpoint, tmp_path):
    def replica(name: str, port: int | None = None) -> ServiceProcess:
        return ServiceProcess(checkpoint, tmp_path / f"{name}.log", grace_seconds=GRACE_SECONDS, port=port,
                              **REPLICA_SETTINGS)

    a, b = replica("a"), replica("b")
    processes = [a, b]
    balancer = None
    try:
        a.wait_ready(START_SECONDS)
        b.wait_ready(START_SECONDS)
        balancer = HAProxy(tmp_path, a.port, b.port)
        balancer.wait_status("a", "UP")
        balancer.wait_status("b", "UP")
        with Load(balancer.url, seed_wav()) as load:
            wait_until(lambda: len(load.served("a")) >= 2 and len(load.served("b")) >= 2, 60,
                       "both replicas serving")
            wait_until(lambda: load.in_flight("a"), 30, "a stream in flight on a")
            in_flight_at_term = load.in_flight("a")
            terminated = time.monotonic()
            a.process.send_signal(signal.SIGTERM)
            exit_code = a.process.wait(timeout=GRACE_SECONDS + 10)
            exited = time.monotonic()
            a.log.close()
            balancer.wait_status("a", "DOWN")
            time.sleep(1.0)  # load on b alone
            restarted = time.monotonic()
            a = replica("a2", port=a.port)
            processes.append(a)
            a.wait_ready(START_SECONDS)
            balancer.wait_status("a", "UP")
            back = time.monotonic()
            wait_until(lambda: len(load.served("a", since=back)) >= 2 and load.served("b", since=back), 60,
                       "both replicas serving again")
        streams = load.streams
        counters = balancer.servers()
    finally:
        if balancer is not None:
            balancer.stop()
        for process in processes:
            if process.process.returncode is None:
                process.stop()

    before = [s for s in streams if s.sent < terminated]
    while_away = [s for s in streams if terminated <= s.sent < back]
    after = [s for s in streams if s.sent >= back]
    print(f"\n{CLIENTS} clients, {DURATION:g} s streams, HAProxy leastconn over 2 replicas")
    print("phase                          a   b errors   median    max")
    print(f"before SIGTERM to a          {summary(before)}")
    print(f"a draining / down / starting {summary(while_away)}")
    print(f"a back                       {summary(after)}")
    print(f"streams in flight on a at SIGTERM: {len(in_flight_at_term)}; a exited {exit_code} "
          f"{exited - terminated:.2f} s after it; its restart was ready and UP in {back - restarted:.2f} s")
    print(f"haproxy: retries a={counters['a']['wretr']} b={counters['b']['wretr']}, "
          f"redispatches a={counters['a']['wredis']} b={counters['b']['wredis']}")

    for stream in streams:
        check_whole(stream)
    assert {s.replica for s in before} == {"a", "b"}
    assert in_flight_at_term and all(s.finished for s in in_flight_at_term)
    assert exit_code == 0, (tmp_path / "a.log").read_text()[-2000:]
    # Streams sent while a was draining, down or starting went to b (a's new process serves only once UP).
    assert all(s.replica == "b" for s in while_away if s.answered < restarted)
    assert while_away


class AnswerThenClose(BaseHTTPRequestHandler):
    """Answers whole, then closes the kept-alive connection a moment later without a word: what a replica
    does to its idle connections when it starts draining, here after every request."""

    protocol_version = "HTTP/1.1"

    def answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
        self.wfile.flush()
        time.sleep(0.003)  # long enough for HAProxy to pool the connection and reuse it
        self.close_connection = True

    do_GET = do_POST = answer

    def log_message(self, *_: object) -> None:
        pass


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, *_: object) -> None:
        """HAProxy ends its health checks with a reset, which the handler may meet while writing."""


def test_retried_post_survives_a_replica_closing_its_kept_alive_connection(tmp_path):
    """The race the drain test meets only now and then, on every request: HAProxy sends a client's next POST
    over a pooled connection that the server has just closed."""
    servers = [QuietServer(("127.0.0.1", 0), AnswerThenClose) for _ in range(2)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    balancer = HAProxy(tmp_path, *(server.server_address[1] for server in servers))
    try:
        balancer.wait_status("a", "UP")
        balancer.wait_status("b", "UP")
        failures = 0
        with httpx.Client(timeout=10) as client:
            for _ in range(300):
                try:
                    client.post(balancer.url + "/generate", content=b"x" * 4000).raise_for_status()
                except httpx.HTTPError:
                    failures += 1
    finally:
        balancer.stop()
        for server in servers:
            server.shutdown()
    assert failures == 0
