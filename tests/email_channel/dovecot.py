"""A throwaway dovecot IMAP server for the tests (no fake IMAP).

Its own configuration in a temporary directory, loopback only, plaintext login on a
free port, a static password for every user (each test uses its own user, so its own
maildir), mail owned by ``nobody`` (dovecot refuses uid 0 mail), stopped by the PID
in ``base_dir/master.pid``. See ../shared NOTES ("Mail") for the facts it rests on.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

PASSWORD = "imap-secret"


def dovecot_binary() -> str | None:
    found = shutil.which("dovecot")
    if found:
        return found
    return "/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Dovecot:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = _free_port()
        self.binary = dovecot_binary() or "dovecot"

    def start(self) -> None:
        run = self.root / "run"
        mail = self.root / "mail"
        run.mkdir(parents=True)
        mail.mkdir()
        os.chmod(self.root, 0o755)  # noqa: S103 (dovecot reads the mail as nobody)
        if os.geteuid() == 0:
            shutil.chown(mail, "nobody", "nogroup")
            user = "uid=nobody gid=nogroup"
        else:
            user = f"uid={os.getuid()} gid={os.getgid()}"
        config = self.root / "dovecot.conf"
        config.write_text(
            f"""protocols = imap
listen = 127.0.0.1
base_dir = {run}
log_path = {self.root}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{mail}/%u
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
passdb {{
  driver = static
  args = password={PASSWORD}
}}
userdb {{
  driver = static
  args = {user} home={mail}/%u
}}
"""
        )
        subprocess.run([self.binary, "-c", str(config)], check=True, timeout=30)
        deadline = time.monotonic() + 15
        while True:  # the listener is up once it accepts a connection
            try:
                with socket.create_connection(("127.0.0.1", self.port), 0.5):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    log = (self.root / "dovecot.log").read_text(errors="replace")
                    raise RuntimeError(f"dovecot did not start:\n{log}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        pid_file = self.root / "run" / "master.pid"
        if pid_file.exists():
            os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)
