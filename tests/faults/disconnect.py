#!/usr/bin/env python3
"""tests/faults/disconnect.py QVL MODEL_DIR - a client that disconnects at every
phase of a request, for each API: the simple API, OpenAI's streamed and not,
Ollama's streamed. Phases: (a) while sending the headers, (b) mid-body, (c)
while queued behind another request, (d) during the image encoding, (e)
during the prompt's reading, (f) mid-answer, (g) after the answer was sent,
never reading it.

Starts its own `qvl serve` (one slot, a queue) on 127.0.0.1 with the given
model. The phase is known from /metrics (qvl_slots_phase, qvl_queue_length),
never from a sleep. After each disconnect the server must come back to its
idle state (no busy slot, nothing queued, one open connection and one
request in flight: the /metrics request itself), answer the next request with
200, and still run. Prints one tab-separated row per case for
tests/faults/run.sh: what, expected, observed, 1 or 0."""
import base64
import http.client
import json
import re
import select
import socket
import struct
import subprocess
import sys
import time
import zlib

WAIT_S = 20          # the longest any phase or recovery may take (ASan builds are slow)
LONG_ANSWER = 4000   # tokens: an answer still running when the client leaves
EXPECTED = "slot freed, next request served"


def png(width, height, seed):
    """A gradient PNG whose bytes differ by seed (so the image cache never has it)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\0" + bytes(((x * 7 + y * 3 + seed) & 255) for x in range(width * 3)) for y in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(rows, 1)) + chunk(b"IEND", b""))


class Server:
    def __init__(self, qvl, model):
        self.proc = subprocess.Popen([qvl, "serve", "--model", model, "--port", "0", "--parallel", "1",
                                      "--max-queue", "4", "--ctx", "8192", "--threads", "1", "--no-ocr"],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        deadline = time.monotonic() + 60
        self.port = None
        while self.port is None and time.monotonic() < deadline:
            if not select.select([self.proc.stdout], [], [], 1)[0]:
                continue
            line = self.proc.stdout.readline()
            if not line:
                break
            m = re.search(r"ready on http://127\.0\.0\.1:(\d+)", line)
            if m:
                self.port = int(m.group(1))
        if self.port is None:
            raise RuntimeError("qvl serve did not start")

    def connect(self):
        return socket.create_connection(("127.0.0.1", self.port), timeout=WAIT_S)

    def get(self, path):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=WAIT_S)
        c.request("GET", path)
        r = c.getresponse()
        body = r.read()
        c.close()
        return r.status, body

    def post(self, path, body):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        c.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, data

    def metrics(self):
        _, text = self.get("/metrics")
        out = {}
        for line in text.decode().splitlines():
            m = re.match(r'(qvl_\w+)(?:\{phase="(\w+)"\})? (\S+)$', line)
            if m:
                out[m.group(1) + ("." + m.group(2) if m.group(2) else "")] = float(m.group(3))
        return out

    def wait_for(self, pred):
        """Polls /metrics until pred(metrics) holds; returns them, or None after WAIT_S."""
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            m = self.metrics()
            if pred(m):
                return m
            time.sleep(0.02)
        return None


def idle(m):
    return (m["qvl_slots_busy"] == 0 and m["qvl_queue_length"] == 0 and m["qvl_connections"] == 1 and
            m["qvl_requests_in_flight"] == 1)


def raw_request(path, body):
    data = json.dumps(body).encode()
    head = ("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            "Content-Length: %d\r\n\r\n" % (path, len(data))).encode()
    return head, data


def read_until(sock, pattern):
    """Reads until pattern (bytes) appears; False if the stream ended first."""
    got = b""
    while pattern not in got:
        piece = sock.recv(65536)
        if not piece:
            return False
        got += piece
    return True


# Each API: its path, a body for (question, max_tokens, image bytes or None), and what
# marks streamed text in its answer (None: not streamed).
def simple_body(question, n, image):
    b = {"question": question, "max_tokens": n, "ignore_eos": True}
    if image:
        b.update(image=base64.b64encode(image).decode(), max_pixels=16777216, mode="vlm")
    return b


def openai_body(stream):
    def body(question, n, image):
        content = [{"type": "text", "text": question}]
        if image:
            url = "data:image/png;base64," + base64.b64encode(image).decode()
            content.insert(0, {"type": "image_url", "image_url": {"url": url}})
        return {"messages": [{"role": "user", "content": content}], "max_tokens": n, "ignore_eos": True,
                "stream": stream, "max_pixels": 16777216, "mode": "vlm"}
    return body


def ollama_body(model):
    def body(question, n, image):
        msg = {"role": "user", "content": question}
        if image:
            msg["images"] = [base64.b64encode(image).decode()]
        # max_pixels as the other APIs send it: the full 1024x1024 image, an encode
        # long enough for /metrics to show its phase (the default detail took ~20 ms)
        return {"model": model, "messages": [msg], "stream": True, "mode": "vlm",
                "options": {"num_predict": n, "ignore_eos": True, "max_pixels": 16777216}}
    return body


def main():
    qvl, model_dir = sys.argv[1], sys.argv[2]
    srv = Server(qvl, model_dir)
    rows = []
    try:
        model = json.loads(srv.get("/v1/models")[1])["data"][0]["id"]
        apis = [("simple API", "/api/v1/chat", simple_body, None),
                ("OpenAI", "/v1/chat/completions", openai_body(False), None),
                ("OpenAI streamed", "/v1/chat/completions", openai_body(True), b'"content"'),
                ("Ollama streamed", "/api/chat", ollama_body(model), b'"done":false')]
        long_prompt = "word " * 3000   # several 512-token passes
        seed = 0
        for name, path, body, text_mark in apis:
            for phase in "abcdefg":
                seed += 1
                rows.append(run_case(srv, name, path, body, text_mark, phase, long_prompt, seed))
    finally:
        srv.proc.terminate()
        rc = srv.proc.wait(timeout=60)
    rows.append(("SIGTERM after the disconnect sweep", "exit 0", "exit %d" % rc, rc == 0))
    for what, expected, observed, ok in rows:
        print("%s\t%s\t%s\t%d" % (what, expected, observed, 1 if ok else 0))


PHASES = {"a": "while sending headers", "b": "mid-body", "c": "while queued", "d": "during the image encoding",
          "e": "during the prompt", "f": "mid-answer", "g": "never reading the finished answer"}


def run_case(srv, name, path, body, text_mark, phase, long_prompt, seed):
    what = "client disconnects %s (%s): %s" % (PHASES[phase], phase, name)
    before = srv.metrics()
    reached, blocker = True, None
    sock = srv.connect()
    if phase == "a":
        sock.sendall(b"POST " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty")
        # the server has the bytes once it counts the connection
        reached = srv.wait_for(lambda m: m["qvl_connections"] == 2) is not None
    elif phase == "b":
        head, data = raw_request(path, body("hi", 8, None))
        sock.sendall(head + data[:len(data) // 2])
        reached = srv.wait_for(lambda m: m["qvl_connections"] == 2) is not None
    elif phase == "c":
        # a long answer holds the only slot; this request waits behind it
        blocker = srv.connect()
        head, data = raw_request("/v1/chat/completions", openai_body(False)("hold", LONG_ANSWER, None))
        blocker.sendall(head + data)
        reached = srv.wait_for(lambda m: m["qvl_slots_phase.answer"] == 1) is not None
        head, data = raw_request(path, body("hi", 8, None))
        sock.sendall(head + data)
        reached = reached and srv.wait_for(lambda m: m["qvl_queue_length"] == 1) is not None
    elif phase in "def":
        image = png(1024, 1024, seed) if phase == "d" else None
        question = long_prompt if phase == "e" else "hi"
        head, data = raw_request(path, body(question, LONG_ANSWER, image))
        sock.sendall(head + data)
        stage = {"d": "image", "e": "prompt", "f": "answer"}[phase]
        reached = srv.wait_for(lambda m: m["qvl_slots_phase." + stage] == 1) is not None
        if reached and phase == "f" and text_mark:
            reached = read_until(sock, text_mark)   # streamed: some of the answer has arrived
    else:  # g
        head, data = raw_request(path, body("hi", 8, None))
        sock.sendall(head + data)
        done = before["qvl_generations_total"] + 1
        reached = srv.wait_for(lambda m: m["qvl_generations_total"] >= done and m["qvl_slots_busy"] == 0) is not None
    sock.close()
    left_queue = None
    if phase == "c":
        # the queued client is noticed gone while the blocker still runs
        left_queue = srv.wait_for(lambda m: m["qvl_queue_length"] == 0 and m["qvl_slots_busy"] == 1) is not None
        blocker.close()
    after = srv.wait_for(idle)
    alive = srv.proc.poll() is None
    status = srv.post("/api/v1/chat", {"question": "hi", "max_tokens": 2})[0] if alive else None
    m = (after or srv.metrics()) if alive else {}
    cancelled = int(m["qvl_requests_cancelled_total"] - before["qvl_requests_cancelled_total"]) if m else -1
    # the requests that were queued or running when their client left, and only those, are stopped early
    want_cancelled = {"c": 2, "d": 1, "e": 1, "f": 1}.get(phase, 0)
    parts = []
    if not reached:
        parts.append("phase not reached")
    if left_queue is not None:
        parts.append("left the queue while the slot was busy" if left_queue else "stayed queued")
    if after:
        parts.append("slot freed, 1 connection, 1 request in flight")
    elif m:
        parts.append("not idle: busy %d, queued %d, connections %d, in flight %d" % (
            m["qvl_slots_busy"], m["qvl_queue_length"], m["qvl_connections"], m["qvl_requests_in_flight"]))
    parts.append("%d request%s cancelled" % (cancelled, "" if cancelled == 1 else "s"))
    parts.append("next request %s" % status if alive else "SERVER DIED (%s)" % srv.proc.returncode)
    ok = bool(reached and after and alive and status == 200 and left_queue is not False and
              cancelled == want_cancelled)
    return what, EXPECTED, "; ".join(parts), ok


if __name__ == "__main__":
    main()
