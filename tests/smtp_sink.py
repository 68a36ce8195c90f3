#!/usr/bin/python3
"""A real SMTP server on loopback for revokd's integration tests (Debian's aiosmtpd).

serve --port P --dir D   accept mail on 127.0.0.1:P; write each delivered message to
                         D/<n>.json (envelope, decoded subject and parts with HTML
                         entities decoded, raw text, arrival time, whether it came
                         over TLS, the authenticated login); refuse, with 550, every
                         recipient whose local part starts with "reject". Runs until
                         stdin closes (or, with --until-killed, until a signal).
    --tls implicit|starttls --cert PEM --key PEM
                         TLS from the first byte, or STARTTLS required before MAIL.
    --auth USER:PASS     require AUTH (PLAIN or LOGIN) with this login; offered only
                         over TLS.
parse FILE               print the same JSON for one .eml file.
"""
import argparse
import asyncio
import email
import html as html_entities
import email.policy
import itertools
import json
import os
import sys
import time


def describe(raw: bytes) -> dict:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    text = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    return {
        "subject": str(msg["subject"] or ""),
        "message_id": str(msg["message-id"] or ""),
        "from": str(msg["from"] or ""),
        "to": str(msg["to"] or ""),
        "text": text.get_content() if text is not None else "",
        # The HTML part with entities decoded (&#x2f; → /), for content checks.
        "html": html_entities.unescape(html.get_content()) if html is not None else "",
        "raw": raw.decode("utf-8", "replace"),
    }


class Sink:
    def __init__(self, out: str):
        self.out = out
        self.counter = itertools.count(1)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.split("@")[0].lower().startswith("reject"):
            return "550 5.1.1 <%s>: mailbox unavailable" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        record = describe(envelope.original_content or envelope.content)
        record.update(
            mail_from=envelope.mail_from,
            rcpt_tos=list(envelope.rcpt_tos),
            received_at=time.time(),
            tls=session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None,
            login=session.auth_data.decode() if isinstance(session.auth_data, bytes) else None,
        )
        n = next(self.counter)
        tmp = os.path.join(self.out, "%06d.tmp" % n)
        with open(tmp, "w") as f:
            json.dump(record, f)
        os.rename(tmp, os.path.join(self.out, "%06d.json" % n))
        return "250 Message accepted for delivery"


class Authenticator:
    """Accepts one login (PLAIN or LOGIN)."""

    def __init__(self, user: str, password: str):
        self.user = user.encode()
        self.password = password.encode()

    def __call__(self, server, session, envelope, mechanism, auth_data):
        from aiosmtpd.smtp import AuthResult, LoginPassword

        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == self.user
            and auth_data.password == self.password
        )
        return AuthResult(success=ok, auth_data=auth_data.login if ok else None)


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve")
    serve.add_argument("--port", type=int, required=True)
    serve.add_argument("--dir", required=True)
    serve.add_argument("--until-killed", action="store_true", help="run until a signal, not until stdin closes")
    serve.add_argument("--tls", choices=["implicit", "starttls"])
    serve.add_argument("--cert")
    serve.add_argument("--key")
    serve.add_argument("--auth", help="USER:PASS")
    parse = sub.add_parser("parse")
    parse.add_argument("file")
    args = parser.parse_args()
    if args.command == "parse":
        with open(args.file, "rb") as f:
            json.dump(describe(f.read()), sys.stdout)
        return
    from aiosmtpd.controller import Controller

    options = {}
    if args.tls:
        import ssl

        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)
        if args.tls == "implicit":
            # The whole connection is TLS: AUTH may be offered from the start.
            options.update(ssl_context=context, auth_require_tls=False)
        else:
            options.update(tls_context=context, require_starttls=True)
    if args.auth:
        user, password = args.auth.split(":", 1)
        options.update(auth_required=True, authenticator=Authenticator(user, password))
    controller = Controller(Sink(args.dir), hostname="127.0.0.1", port=args.port, **options)
    controller.start()
    print("ready", flush=True)
    try:
        if args.until_killed:
            import signal

            signal.pause()
        else:
            sys.stdin.read()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
