#!/usr/bin/env python3
"""An SMTP server (aiosmtpd) that writes every message it accepts to a directory, for
the email receiver's tests.

Each message becomes `<n>.json`: {"mail_from", "rcpt_tos", "authenticated", "data"
(the whole message as sent), "headers" (decoded and unfolded, as a mail client shows them;
names lower-case), "body" (the decoded text/plain part)}, written under a temporary name and renamed, so a
reader never sees half a file. AUTH PLAIN/LOGIN is offered without TLS and accepts the
user `sightline` with the password in $SIGHTLINE_TEST_SMTP_PASSWORD (when set); sending
without AUTH is allowed too. Recipients at `refuse.invalid` are refused with 550 (a
permanent failure).

Usage: smtp_recorder.py PORT_FILE MAIL_DIR
"""

import asyncio
import email
import email.policy
import itertools
import json
import os
import socket
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

COUNTER = itertools.count(1)


class Handler:
    def __init__(self, mail_dir):
        self.mail_dir = mail_dir

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.endswith("@refuse.invalid"):
            return "550 5.1.1 mailbox refused on purpose"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        number = next(COUNTER)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        plain = message.get_body(("plain",))
        record = {
            "headers": {name.lower(): str(value) for name, value in message.items()},
            "body": plain.get_content() if plain is not None else None,
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "authenticated": bool(session.authenticated),
            "data": envelope.content.decode("utf-8", errors="replace"),
        }
        temporary = os.path.join(self.mail_dir, f".{number}.json.tmp")
        with open(temporary, "w") as file:
            json.dump(record, file)
        os.rename(temporary, os.path.join(self.mail_dir, f"{number}.json"))
        return "250 Message accepted"


def authenticator(server, session, envelope, mechanism, auth_data):
    expected = os.environ.get("SIGHTLINE_TEST_SMTP_PASSWORD")
    if not isinstance(auth_data, LoginPassword) or expected is None:
        return AuthResult(success=False, handled=False)
    ok = auth_data.login == b"sightline" and auth_data.password == expected.encode()
    return AuthResult(success=ok, handled=False)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main():
    port_file, mail_dir = sys.argv[1], sys.argv[2]
    os.makedirs(mail_dir, exist_ok=True)
    port = free_port()
    controller = Controller(
        Handler(mail_dir),
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticator,
        auth_require_tls=False,
        auth_required=False,
    )
    controller.start()
    with open(port_file, "w") as file:
        file.write(str(port))
    try:
        asyncio.new_event_loop().run_forever()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
