#!/usr/bin/python3
"""A real SMTP server on loopback for revokd's integration tests (Debian's aiosmtpd).

serve --port P --dir D   accept mail on 127.0.0.1:P; write each delivered message to
                         D/<n>.json (envelope, decoded subject and parts with HTML
                         entities decoded, raw text, arrival time); refuse, with 550, every recipient whose local
                         part starts with "reject". Runs until stdin closes (or,
                         with --until-killed, until a signal).
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
        record.update(mail_from=envelope.mail_from, rcpt_tos=list(envelope.rcpt_tos), received_at=time.time())
        n = next(self.counter)
        tmp = os.path.join(self.out, "%06d.tmp" % n)
        with open(tmp, "w") as f:
            json.dump(record, f)
        os.rename(tmp, os.path.join(self.out, "%06d.json" % n))
        return "250 Message accepted for delivery"


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve")
    serve.add_argument("--port", type=int, required=True)
    serve.add_argument("--dir", required=True)
    serve.add_argument("--until-killed", action="store_true", help="run until a signal, not until stdin closes")
    parse = sub.add_parser("parse")
    parse.add_argument("file")
    args = parser.parse_args()
    if args.command == "parse":
        with open(args.file, "rb") as f:
            json.dump(describe(f.read()), sys.stdout)
        return
    from aiosmtpd.controller import Controller

    controller = Controller(Sink(args.dir), hostname="127.0.0.1", port=args.port)
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
