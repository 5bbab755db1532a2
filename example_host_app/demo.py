"""``make demo``: the example helpdesk with mail flowing, no account or service needed.

Starts a local mail server (pymap mailboxes + an aiosmtpd relay), migrates and seeds
a SQLite database, then runs a Celery worker and beat on an embedded broker (kombu's
filesystem transport: no Redis) and the web app. Simulated customers write in.
Ctrl-C stops all of it.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from example_host_app import stored_secret_key
from ucmail_ext.celery_config import queues
from ucmail_ext.devserver.customers import CustomerSimulator
from ucmail_ext.devserver.imap import Mailbox, start_pymap, wait_for_port
from ucmail_ext.devserver.smtp import RelayHandler, start_relay

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("DEMO_DATA", ROOT / "demo-data"))
HOST = "127.0.0.1"
WEB_PORT = int(os.environ.get("DEMO_WEB_PORT", "5000"))
SMTP_PORT = int(os.environ.get("DEMO_SMTP_PORT", "8025"))
IMAP_PORT = int(os.environ.get("DEMO_IMAP_PORT", "8143"))
CUSTOMER_INTERVAL = float(os.environ.get("DEMO_CUSTOMER_INTERVAL", "45"))
CAMPAIGN_ADDRESSES = ("support@demo.test", "sales@demo.test")

log = logging.getLogger("demo")


def demo_environment() -> dict[str, str]:
    env = dict(os.environ)
    # Random, made once and kept with the demo's data: never a key from the source.
    secret_key = env.get("HELPDESK_SECRET_KEY") or stored_secret_key(DATA / "secret-key")
    env.update(
        FLASK_APP="example_host_app",
        PYTHONPATH=str(ROOT),
        HELPDESK_SQLALCHEMY_DATABASE_URI=f"sqlite:///{DATA / 'helpdesk.db'}",
        HELPDESK_SQLALCHEMY_ENGINE_OPTIONS='{"connect_args": {"timeout": 30}}',
        HELPDESK_SECRET_KEY=secret_key,
        # kombu's SQLAlchemy transport: a transactional queue in a file, no Redis.
        HELPDESK_BROKER_URL=f"sqla+sqlite:///{DATA / 'broker.sqlite'}",
        HELPDESK_UCMAIL_PUBLIC_URL=f"http://{HOST}:{WEB_PORT}",
        HELPDESK_UCMAIL_POLL_INTERVAL="5",
        HELPDESK_UCMAIL_ROUTING_INTERVAL="5",
        HELPDESK_UCMAIL_DIALER_TICK="5",
        HELPDESK_UCMAIL_ATTACHMENT_DIR=str(DATA / "files"),
    )
    return env


def run(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "-m", "flask", *args], env=env, check=True, cwd=ROOT)


def spawn(env: dict[str, str], name: str, *args: str) -> subprocess.Popen[bytes]:
    log_file = open(DATA / f"{name}.log", "ab")
    return subprocess.Popen(
        [sys.executable, "-m", *args],
        env=env,
        cwd=ROOT,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )


def _stop_on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    # `kill` or a supervisor's SIGTERM stops everything too, not only Ctrl-C.
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    DATA.mkdir(parents=True, exist_ok=True)
    env = demo_environment()
    processes: list[subprocess.Popen[bytes]] = []
    simulator: CustomerSimulator | None = None
    relay = None
    mailboxes = {
        address: Mailbox(address, "demo", IMAP_PORT + n)
        for n, address in enumerate(CAMPAIGN_ADDRESSES)
    }
    try:
        for box in mailboxes.values():
            processes.append(start_pymap(box, DATA / "imap.log"))
        simulator = CustomerSimulator(
            HOST, SMTP_PORT, list(CAMPAIGN_ADDRESSES), CUSTOMER_INTERVAL, first_delay=12
        )
        relay = start_relay(
            HOST, SMTP_PORT, RelayHandler(mailboxes, DATA / "outbox", simulator.answer), mailboxes
        )
        run(env, "ucmail", "db", "upgrade")
        run(env, "init-db")
        run(
            env,
            "seed-demo",
            "--mail-host",
            HOST,
            "--smtp-port",
            str(SMTP_PORT),
            "--imap-port",
            str(IMAP_PORT),
        )
        worker_queues = ",".join(["celery", *queues()])
        processes.append(
            spawn(
                env,
                "worker",
                "celery",
                "-A",
                "make_celery",
                "worker",
                "-P",
                "threads",
                "-c",
                "4",
                "-Q",
                worker_queues,
                "-l",
                "info",
            )
        )
        processes.append(
            spawn(
                env,
                "beat",
                "celery",
                "-A",
                "make_celery",
                "beat",
                "-l",
                "info",
                "-s",
                str(DATA / "beat-schedule"),
            )
        )
        processes.append(
            spawn(
                env, "web", "flask", "run", "--host", HOST, "--port", str(WEB_PORT), "--no-reload"
            )
        )
        wait_for_port(HOST, WEB_PORT, timeout=30)
        simulator.start()
        print(
            f"\n  The demo helpdesk runs at http://{HOST}:{WEB_PORT}/\n"
            "  Log in as agent1@example.com / demo (agents: agent1..agent3),\n"
            "  supervisor@example.com / demo or admin@example.com / demo.\n"
            f"  Customers write to {', '.join(CAMPAIGN_ADDRESSES)} every"
            f" {CUSTOMER_INTERVAL:.0f}s;\n"
            f"  what customers receive lands in {DATA / 'outbox'}.\n"
            f"  Logs: {DATA}/*.log.  Ctrl-C stops everything.\n",
            flush=True,
        )
        while all(p.poll() is None for p in processes):
            time.sleep(1)
        failed = next(p for p in processes if p.poll() is not None)
        print(f"a demo process exited ({failed.args[:4]}); see {DATA}/*.log", file=sys.stderr)
    except KeyboardInterrupt:
        print("\nstopping the demo ...")
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        if simulator is not None:
            simulator.stop()
        if relay is not None:
            relay.stop()


if __name__ == "__main__":
    main()
