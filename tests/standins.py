"""Local stand-ins of the message providers, and reading codes from what they got.

``SmsProvider`` answers both SMS backends: the in-house webhook (``POST /webhook``,
JSON ``{"to", "text"}``, deduplicated by its ``Idempotency-Key`` as a gateway may)
and Twilio's Messages API (``POST
/2010-04-01/Accounts/{AccountSid}/Messages.json``), checked the way Twilio documents
it: HTTP Basic with the Account SID and auth token, a form body with ``To`` in E.164,
``From`` (or ``MessagingServiceSid``) and ``Body``; 201 with the message resource.
``MailServer`` is a real SMTP server (aiosmtpd) that keeps what it receives.
"""

import json
import re
import threading
import time
from base64 import b64decode
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

from tests.servers import free_port

CODE = re.compile(r"\b(\d{6})\b")
E164 = re.compile(r"^\+[1-9]\d{1,14}$")
TWILIO_SID = "AC" + "0123456789abcdef" * 2
TWILIO_TOKEN = "twilio-test-auth-token"
TWILIO_FROM = "+15005550006"


def code_in(text):
    """The six-digit code a message carries."""
    found = CODE.search(text)
    assert found, f"no code in {text!r}"
    return found.group(1)


def wait_for(predicate, timeout=30, step=0.05):
    """Poll until ``predicate()`` is truthy; returns its value or fails."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout} s waiting for {predicate}")


class SmsProvider:
    """An HTTP server standing in for the SMS gateway and for Twilio.

    ``mode``: ``ok``; ``down`` (503 to everything); ``refuse`` (Twilio's 400 for an
    invalid number). While ``gate`` is cleared the provider is slow: it holds every
    request until the gate opens again. With ``late`` above 0 it takes the next ``late``
    messages but answers each ``late_by`` seconds late (a provider that delivers and
    answers after the sender gave up). ``keys`` holds each request's idempotency header.
    """

    def __init__(self, mode="ok"):
        self.mode = mode
        self.gate = threading.Event()
        self.gate.set()
        self.messages = []  # (to, text) of each accepted message
        self.requests = 0
        self.rejected = []  # why a request broke the provider's documented rules
        self.keys = []  # Idempotency-Key (webhook) or I-Twilio-Idempotency-Token of each request
        self.late, self.late_by = 0, 0.0
        self.taken = set()  # idempotency keys of the webhook messages taken
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                provider.requests += 1
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                provider.keys.append(self.headers.get(
                    "Idempotency-Key" if self.path == "/webhook" else "I-Twilio-Idempotency-Token"))
                provider.gate.wait(60)
                if provider.mode == "down":
                    return self.answer(503, {"message": "unavailable"})
                if self.path == "/webhook":
                    return provider.webhook(self, body)
                return provider.twilio(self, body)

            def answer(self, status, payload):
                if provider.late > 0:  # taken, but the answer comes after the sender gave up
                    provider.late -= 1
                    time.sleep(provider.late_by)
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the sender stopped waiting (a late answer)
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def webhook(self, handler, body):
        """The in-house gateway: JSON ``{"to", "text"}``, 2xx delivered; a message whose
        ``Idempotency-Key`` it already took is answered again, not sent again."""
        try:
            message = json.loads(body)
            to, text = message["to"], message["text"]
        except (ValueError, KeyError, TypeError):
            self.rejected.append("webhook body")
            return handler.answer(400, {"error": "bad body"})
        key = handler.headers.get("Idempotency-Key")
        if key is None or key not in self.taken:
            self.taken.add(key)
            self.messages.append((to, text))
        return handler.answer(200, {"ok": True})

    def twilio(self, handler, body):
        """Twilio's Create a Message, as its API reference describes the request."""
        def error(status, code, message):
            self.rejected.append(message)
            return handler.answer(status, {"code": code, "message": message, "status": status,
                                           "more_info": f"https://www.twilio.com/docs/errors/{code}"})

        if handler.path != f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json":
            return error(404, 20404, f"The requested resource {handler.path} was not found")
        scheme, _, credentials = handler.headers.get("Authorization", "").partition(" ")
        if scheme != "Basic" or b64decode(credentials).decode() != f"{TWILIO_SID}:{TWILIO_TOKEN}":
            return error(401, 20003, "Authenticate")
        if handler.headers.get("Content-Type", "").split(";")[0] != "application/x-www-form-urlencoded":
            return error(400, 20001, "form body expected")
        form = {key: values[0] for key, values in parse_qs(body.decode()).items()}
        if not E164.match(form.get("To", "")):
            return error(400, 21211, f"The 'To' number {form.get('To')} is not a valid phone number.")
        if form.get("From") != TWILIO_FROM and not form.get("MessagingServiceSid"):
            return error(400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required")
        if not form.get("Body"):
            return error(400, 21602, "Message body is required.")
        if self.mode == "refuse":
            return error(400, 21614, f"'To' number {form['To']} is not a valid mobile number")
        self.messages.append((form["To"], form["Body"]))
        return handler.answer(201, {"sid": "SM" + "0" * 32, "status": "queued", "to": form["To"],
                                    "from": form.get("From"), "body": form["Body"]})

    def codes_to(self, to):
        """The codes received for ``to``, oldest first."""
        return [code_in(text) for dest, text in self.messages if dest == to]

    def close(self):
        """Stop serving."""
        self.gate.set()
        self.server.shutdown()
        self.server.server_close()


class MailServer:
    """A real SMTP server on a free loopback port, keeping each message it receives.

    While ``gate`` is cleared it is slow: it holds each message before answering.
    ``taken`` has every message whose data arrived, answered or not.
    """

    def __init__(self):
        import asyncio

        from aiosmtpd.controller import Controller

        self.messages = []  # email.message.EmailMessage
        self.taken = []  # the same, including those the client stopped waiting for
        self.gate = threading.Event()
        self.gate.set()
        self.attempts = 0
        server = self

        class Handler:
            async def handle_DATA(self, _server, _session, envelope):
                from email import message_from_bytes, policy

                server.attempts += 1
                message = message_from_bytes(envelope.content, policy=policy.default)
                server.taken.append(message)
                while not server.gate.is_set():
                    await asyncio.sleep(0.05)
                server.messages.append(message)
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def codes_to(self, address):
        """The codes received for ``address``, oldest first."""
        return [code_in(m.get_content()) for m in self.messages if m["To"] == address]

    def close(self):
        """Stop serving."""
        self.gate.set()
        self.controller.stop()
