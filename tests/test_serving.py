"""`automm serve` as a client meets it: a real server on the loopback address, real HTTP requests."""
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from automm import MultimodalPredictor
from tests.conftest import split

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow  # real server processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, model: Path, *args: str):
        self.port = free_port()
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen([sys.executable, "-m", "automm", "serve", "--model", str(model),
                                      "--port", str(self.port), *args], env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited: {self.proc.stdout.read()}")
            try:
                if self.get("/health")[0] == 200:
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("the server did not start within 120 s")

    def request(self, method: str, path: str, body: bytes | None = None, content_type: str = "application/json",
                conn: http.client.HTTPConnection | None = None):
        own = conn is None
        conn = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request(method, path, body, {"Content-Type": content_type} if body is not None else {})
            r = conn.getresponse()
            return r.status, json.loads(r.read() or b"null")
        finally:
            if own:
                conn.close()

    def get(self, path: str):
        return self.request("GET", path)

    def post(self, path: str, body: bytes, content_type: str = "application/json", conn=None):
        return self.request("POST", path, body, content_type, conn)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=60)


@pytest.fixture(scope="module")
def model(binary_df, tmp_path_factory):
    train, test = split(binary_df, 0.8)
    p = MultimodalPredictor(label="y", verbosity=0).fit(train, presets="fast", time_limit=30)
    folder = tmp_path_factory.mktemp("served") / "model"
    p.save(folder)
    return p, folder, test.drop(columns=["y"])


@pytest.fixture(scope="module")
def server(model):
    s = Server(model[1], "--workers", "2", "--max-body-mb", "1")
    yield s
    assert s.stop() == 0


def records(df) -> bytes:
    return df.to_json(orient="records").encode()


def test_predictions_over_http_equal_predicts(server, model):
    p, _, test = model
    status, got = server.post("/predict", records(test))
    assert status == 200 and got["predictions"] == p.predict(test).tolist()
    status, got = server.post("/predict_proba", records(test))
    expected = p.predict_proba(test)
    assert status == 200 and [list(r) for r in got["predictions"]] == [list(map(str, expected.columns))] * len(test)
    np.testing.assert_array_equal(np.array([list(r.values()) for r in got["predictions"]]), expected.to_numpy())
    status, got = server.post("/predict", test.to_csv(index=False).encode(), "text/csv")
    assert status == 200 and got["predictions"] == p.predict(test).tolist()


def test_info_and_health_describe_the_loaded_model(server, model):
    p = model[0]
    status, info = server.get("/info")
    assert status == 200 and info["digest"] == p.digest_ and server.get("/health")[1]["digest"] == p.digest_
    assert info["classes"] == list(p.classes_) and info["problem_type"] == "binary"
    assert {c[0] for c in info["schema"]} == {c.name for c in p.schema_.columns}
    assert info["versions"]["automm"] and info["versions"]["lightgbm"] and info["predict_rows_per_s"]["bagged"] > 0
    assert info["threads"] == max(1, len(os.sched_getaffinity(0)) // 2)  # the cores shared by two workers


@pytest.mark.parametrize("body, content_type, status, says", [
    (b'[{"x": ', "application/json", 400, "not valid JSON"),
    (b'{"rows": 3}', "application/json", 422, "missing from the data"),
    (b'[1, 2]', "application/json", 400, "array of records"),
    (b"", "application/json", 400, "empty"),
    (b"a,b\n1,2,3,4\n", "text/csv", 422, "missing from the data"),
])
def test_a_bad_request_is_a_4xx_that_says_why_and_the_server_goes_on(server, model, body, content_type, status,
                                                                     says):
    got = server.post("/predict", body, content_type)
    assert got[0] == status and says in got[1]["error"], got
    assert server.post("/predict", records(model[2].head(2)))[0] == 200


def test_the_column_and_the_limit_are_named(server, model):
    test = model[2]
    status, got = server.post("/predict", records(test.drop(columns=["color"]).head(3)))
    assert status == 422 and "'color'" in got["error"]
    rows = json.loads(records(test.head(3)))
    rows[2]["x"] = "twelve"
    status, got = server.post("/predict", json.dumps(rows).encode())
    assert status == 422 and "column 'x' is numeric" in got["error"] and "row 2" in got["error"]
    status, got = server.post("/predict", records(test.sample(6000, replace=True, random_state=0)))
    assert status == 413 and "at most 1 MB" in got["error"] and "--max-body-mb" in got["error"]
    assert server.post("/predict", records(test.head(1)))[0] == 200


@pytest.mark.slow
def test_a_bounded_load_of_concurrent_clients_gets_no_error_and_predicts_equal(server, model):
    p, _, test = model
    bodies = [test.iloc[[i % len(test)]] if i % 4 else test.iloc[:20] for i in range(400)]
    expected = [p.predict(b).tolist() for b in bodies[:4]]  # four kinds of body, repeating

    def client(start: int) -> list:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)  # kept alive, as a client pool does
        try:
            return [(i, server.post("/predict", records(bodies[i]), conn=conn)) for i in range(start, 400, 8)]
        finally:
            conn.close()
    with ThreadPoolExecutor(8) as pool:
        answers = [a for part in pool.map(client, range(8)) for a in part]
    assert len(answers) == 400 and all(status == 200 for _, (status, _) in answers)
    for i, (_, got) in answers:
        want = expected[i % 4] if i % 4 == 0 else p.predict(bodies[i]).tolist() if i < 8 else None
        if want is not None:
            assert got["predictions"] == want
    assert all(got["predictions"] == p.predict(bodies[i]).tolist() for i, (_, got) in answers[::37])


@pytest.mark.slow
def test_sigterm_lets_the_request_in_flight_finish_then_exits(model):
    p, folder, test = model
    s = Server(folder, "--max-body-mb", "64")
    big = test.sample(20_000, replace=True, random_state=1).reset_index(drop=True)
    answer = {}
    sender = threading.Thread(target=lambda: answer.update(r=s.post("/predict", records(big))))
    sender.start()
    time.sleep(0.8)  # the request is in flight (predicting 20,000 rows takes longer than this)
    s.proc.send_signal(signal.SIGTERM)
    sender.join(timeout=120)
    assert s.proc.wait(timeout=60) == 0
    status, got = answer["r"]
    assert status == 200 and got["predictions"] == p.predict(big).tolist()
    with pytest.raises(OSError):
        s.get("/health")  # and it no longer listens


def test_a_folder_that_is_no_model_is_refused_before_any_worker_starts(tmp_path):
    (tmp_path / "empty").mkdir()
    run = subprocess.run([sys.executable, "-m", "automm", "serve", "--model", str(tmp_path / "empty"), "--workers", "2",
                          "--port", str(free_port())], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert run.returncode == 2 and run.stderr.count("\n") == 1, run.stderr
    assert "is not a saved automm model" in run.stderr and str(tmp_path / "empty") in run.stderr
