#!/usr/bin/env python3
"""An SMTP server (aiosmtpd) that writes every message it accepts to a directory, for
the email receiver's tests.

Each message becomes `<n>.json`: {"mail_from", "rcpt_tos", "authenticated", "tls" (whether
the mail came over TLS), "data" (the whole message as sent), "headers" (decoded and
unfolded, as a mail client shows them; names lower-case), "body" (the decoded text/plain
part)}, written under a temporary name and then linked to its own, so a reader never sees
half a file. AUTH PLAIN/LOGIN accepts the user `sightline` with the password in
$SIGHTLINE_TEST_SMTP_PASSWORD (when set); sending without AUTH is allowed too. Recipients
at `refuse.invalid` are refused with 550 (a permanent failure).

By default the server speaks plain SMTP and offers AUTH without TLS. With `--starttls CERT
KEY` it offers STARTTLS with that certificate chain and key (PEM) and refuses every
command but EHLO, NOOP and QUIT before it (AUTH and MAIL included), as a submission port
(587) that requires TLS does. With `--tls CERT KEY` it speaks TLS from the first byte
(SMTPS, port 465). Recorders in different modes may share MAIL_DIR.

Usage: smtp_recorder.py PORT_FILE MAIL_DIR [--starttls CERT KEY | --tls CERT KEY]
"""

import argparse
import asyncio
import email
import email.policy
import itertools
import json
import os
import socket
import ssl

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
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        plain = message.get_body(("plain",))
        record = {
            "headers": {name.lower(): str(value) for name, value in message.items()},
            "body": plain.get_content() if plain is not None else None,
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "authenticated": bool(session.authenticated),
            # After STARTTLS the transport is the TLS one too.
            "tls": server.transport.get_extra_info("ssl_object") is not None,
            "data": envelope.content.decode("utf-8", errors="replace"),
        }
        temporary = os.path.join(self.mail_dir, f".{os.getpid()}.json.tmp")
        with open(temporary, "w") as file:
            json.dump(record, file)
        # Recorders in other modes may share the directory: a link claims the next free
        # number (it fails where rename would replace), and the file is whole before it.
        while True:
            try:
                os.link(temporary, os.path.join(self.mail_dir, f"{next(COUNTER)}.json"))
                break
            except FileExistsError:
                continue
        os.unlink(temporary)
        return "250 Message accepted"


# Read once at start: .ci/run exports it before starting the recorders.
PASSWORD = os.environ.get("SIGHTLINE_TEST_SMTP_PASSWORD")


def authenticator(server, session, envelope, mechanism, auth_data):
    if not isinstance(auth_data, LoginPassword) or PASSWORD is None:
        return AuthResult(success=False, handled=False)
    ok = auth_data.login == b"sightline" and auth_data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def server_context(cert, key):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


def main():
    parser = argparse.ArgumentParser(description="An SMTP server that records each mail.")
    parser.add_argument("port_file")
    parser.add_argument("mail_dir")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--starttls", nargs=2, metavar=("CERT", "KEY"))
    mode.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    arguments = parser.parse_args()
    os.makedirs(arguments.mail_dir, exist_ok=True)
    port = free_port()
    if arguments.starttls:
        # aiosmtpd counts only a STARTTLS upgrade as TLS, so AUTH is held to it.
        security = {
            "tls_context": server_context(*arguments.starttls),
            "require_starttls": True,
            "auth_require_tls": True,
        }
    elif arguments.tls:
        # The whole connection is TLS, but aiosmtpd does not know it (it tracks only
        # STARTTLS): requiring TLS for AUTH would refuse AUTH here.
        security = {
            "ssl_context": server_context(*arguments.tls),
            "auth_require_tls": False,
        }
    else:
        security = {"auth_require_tls": False}
    controller = Controller(
        Handler(arguments.mail_dir),
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticator,
        auth_required=False,
        **security,
    )
    controller.start()
    with open(arguments.port_file, "w") as file:
        file.write(str(port))
    try:
        asyncio.new_event_loop().run_forever()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
