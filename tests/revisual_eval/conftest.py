"""A real OpenAI-compatible chat server on localhost for the judge tests.

It answers ``POST /v1/chat/completions`` with a deterministic judge policy that reads the prompts
revisual_eval sends:

* extraction and letter prompts: the text after the last ``ANSWER=`` in the model answer, else the
  last ``\\boxed{...}``, else NONE;
* consistency prompts: 1 if the model answer equals the standard answer ignoring case and spaces,
  or if the pair is listed in ``SAME``; else 0.

``server.faults`` injects failures: a callable ``(prompt_text, attempt) -> "500" | "malformed" |
"slow" | None`` where ``attempt`` counts earlier requests with the same prompt. Every request body
is recorded in ``server.requests``. ``server.models``, when set, is the set of model names served;
another name gets vLLM's 404.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

SAME = {("4.4 m", "440 cm"), ("B", "60°")}
SLOW_S = 1.0


def policy(messages: list[dict]) -> str:
    prompt = messages[-1]["content"]
    if prompt.rstrip().endswith("Same:"):
        block = prompt.rsplit("Question:", 1)[-1]
        standard = re.search(r"Standard answer: (.*)", block).group(1).strip()
        candidate = re.search(r"Model answer: (.*)", block).group(1).strip()
        same = candidate.replace(" ", "").lower() == standard.replace(" ", "").lower() or (standard, candidate) in SAME
        return f"Judgement: {int(same)}"
    answer = prompt.rsplit("Model answer:", 1)[-1]
    found = re.findall(r"ANSWER=([^\n]+)", answer) or re.findall(r"\\boxed\{([^}]*)\}", answer)
    return found[-1].strip() if found else "NONE"


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        server = self.server
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        prompt = body["messages"][-1]["content"]
        with server.lock:
            server.requests.append(body)
            attempt = server.attempts.get(prompt, 0)
            server.attempts[prompt] = attempt + 1
        if self.path != "/v1/chat/completions":
            return self._send(404, b'{"error": {"message": "not found"}}')
        if server.models is not None and body["model"] not in server.models:
            # What vLLM answers for a model it does not serve.
            return self._send(404, json.dumps({"object": "error", "message": f"The model `{body['model']}` does not exist.",
                                               "type": "NotFoundError", "code": 404}).encode())
        fault = server.faults(prompt, attempt) if server.faults else None
        if fault == "500":
            return self._send(500, b'{"error": {"message": "judge overloaded"}}')
        if fault == "malformed":
            return self._send(200, b'{"id": "x", "choices": [{"message": {"content": "1"')
        if fault == "slow":
            time.sleep(SLOW_S)
        reply = {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": 0,
            "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": policy(body["messages"])}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
        self._send(200, json.dumps(reply).encode())


class JudgeServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.requests: list[dict] = []
        self.attempts: dict[str, int] = {}
        self.faults = None
        self.models = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}/v1"

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.attempts.clear()
        self.faults = None
        self.models = None


@pytest.fixture(scope="module")
def judge_server():
    server = JudgeServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def judge(judge_server):
    judge_server.reset()
    yield judge_server
    judge_server.reset()
