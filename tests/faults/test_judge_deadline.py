"""The judge's timeout bounds a whole call: a real server on 127.0.0.1 that sends its headers, then one
byte of the body a second. httpx's timeout is per read, so before the deadline transport each call ran
until the body ended (here 120 s); now the client hangs up at the deadline and the call is a timeout.
No time is measured: the server counts the bytes it sent before the client hung up."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from revisual_eval.__main__ import main
from revisual_eval.fixtures import write_fixture_data
from revisual_eval.runfiles import read_run_rows

BODY_BYTES = 120  # one a second: the call would last two minutes if only each read were bounded


class Trickle(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        body = json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": "m", "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "A" * BODY_BYTES}, "finish_reason": "stop"}]})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.flush()
        sent = 0
        try:
            for byte in body.encode():
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                sent += 1
                time.sleep(1.0)
        except (BrokenPipeError, ConnectionResetError):
            pass
        with self.server.lock:
            self.server.calls.append((sent, len(body)))


@pytest.fixture
def trickling_judge():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Trickle)
    server.daemon_threads, server.lock, server.calls = True, threading.Lock(), []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_a_trickling_judge_is_cut_off_at_the_calls_deadline(trickling_judge, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    rows = [{"benchmark": "mathvista", "id": i, "sample": 0, "response": "ANSWER=whitish"} for i in ("1", "2")]
    (run / "mathvista.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    url = f"http://127.0.0.1:{trickling_judge.server_port}/v1"
    # The check request before the run is a call like any other: cut off at its deadline, and the run is refused
    # in one line rather than scored with every row fallen back to the rules.
    with pytest.raises(SystemExit) as stopped:
        main(["score", "--run", str(run), "--data-root", str(write_fixture_data(tmp_path / "data")), "--benchmarks",
              "mathvista", "--judge", url, "--judge-model", "m", "--judge-timeout", "5", "--judge-retries", "0",
              "--no-progress"])
    assert stopped.value.code == 2
    assert "within 5 s" in capsys.readouterr().err
    # The server's view: the client hung up long before the body ended.
    deadline = time.monotonic() + 30  # only stops a hang: the handler notes the hang-up at its next write
    while not trickling_judge.calls and time.monotonic() < deadline:
        time.sleep(0.2)
    assert trickling_judge.calls and all(sent < total // 2 for sent, total in trickling_judge.calls), trickling_judge.calls
