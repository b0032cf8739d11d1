# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""TLS handshakes to MX-ONE listeners, as a SIP peer or a phone makes them.

Plain Python over the standard library (``socket``, ``ssl``,
``urllib.request``, ``concurrent.futures``) and ``certs.facts()``; no
AnsibleModule, so the tests drive it against real local servers.

One probe: TCP connect to ``address:port``, TLS handshake trusting only the
given CA file (``check_hostname``, ``CERT_REQUIRED``, TLS 1.2 or newer,
``server_hostname=server_name``), optionally presenting a client
certificate. The result says ok or why not, the TLS version and cipher,
and the facts of the certificate the server sent; when verification
fails, a second handshake without verification still reports which
certificate is served. Only connection refused and timeouts are retried:
a listener that was just reloaded may need a moment, a wrong certificate
will not get better.

Nothing secret leaves this file: the client key's passphrase lives only in
the callback handed to ``SSLContext.load_cert_chain``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import concurrent.futures
import errno
import re
import socket
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request

from ansible_collections.mxone.pki.plugins.module_utils._crypto import serialization
from ansible_collections.mxone.pki.plugins.module_utils.certs import facts, load_certificate, utcnow
from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError
from ansible_collections.mxone.pki.plugins.module_utils.files import read_bytes
from ansible_collections.mxone.pki.plugins.module_utils.keys import key_fits_certificate, load_private_key
from ansible_collections.mxone.pki.plugins.module_utils.pem import PRIVATE_KEY_LABELS, encode_pem, split_pem

DEFAULT_PORT = 5061
ENDPOINT_KEYS = ("name", "address", "port", "server_name", "system", "expected_cert")
MAX_CA_BYTES = 1024 * 1024
# TLS 1.3: the client's handshake ends before the server has judged the client
# certificate; its verdict (session tickets, or an alert) comes one round trip
# later. Wait at most this long for it.
SERVER_VERDICT_SECONDS = 1.0
_POLL_SECONDS = 0.05

# OpenSSL verify codes for a name that does not match the certificate.
_NAME_MISMATCH_CODES = (62, 64)  # X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH
# Alerts a server sends about the client's certificate (or the lack of one).
_CLIENT_CERT_ALERTS = (
    "TLSV13_ALERT_CERTIFICATE_REQUIRED", "TLSV1_ALERT_UNKNOWN_CA", "SSLV3_ALERT_BAD_CERTIFICATE",
    "SSLV3_ALERT_CERTIFICATE_UNKNOWN", "SSLV3_ALERT_CERTIFICATE_EXPIRED", "SSLV3_ALERT_CERTIFICATE_REVOKED",
    "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE", "TLSV1_ALERT_ACCESS_DENIED", "TLSV1_ALERT_DECRYPT_ERROR",
)
_SSL_NOISE = re.compile(r"^\[[A-Z0-9_]+: [A-Z0-9_]+\]\s*|\s*\(_ssl\.c:\d+\)$")


# ------------------------------------------------------------------ endpoints


class Endpoint(object):
    """One TLS listener to check: a label, where to connect, the name to verify."""

    def __init__(self, name, address, port=DEFAULT_PORT, server_name=None, system=None, expected_cert=None):
        self.name = name
        self.address = address
        self.port = port
        self.server_name = server_name
        self.system = system
        self.expected_cert = expected_cert

    @property
    def where(self):
        host = "[%s]" % self.address if ":" in self.address else self.address
        return "%s:%d" % (host, self.port)

    def describe(self):
        """``name (address:port, server_name)``, as failure messages list it."""
        return "%s (%s, %s)" % (self.name, self.where, self.server_name)

    def as_dict(self):
        return dict(name=self.name, system=self.system, address=self.address, port=self.port,
                    server_name=self.server_name)


def _text(value, field):
    if value is None:
        return None
    if not isinstance(value, str):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise MxonePkiError("%s must be a string, not %s" % (field, type(value).__name__), field=field)
    value = value.strip()
    return value or None


def parse_endpoints(raw, field="endpoints"):
    """``Endpoint`` list from the option's dicts; errors name ``endpoints[i].key``.

    ``address`` is required; ``port`` defaults to 5061, ``name`` and
    ``server_name`` to the address (a peer that routes by IP must find the
    IP in the certificate).
    """
    if not isinstance(raw, (list, tuple)) or not raw:
        raise MxonePkiError("%s must be a non-empty list of dicts" % field, field=field)
    endpoints = []
    for index, item in enumerate(raw):
        where = "%s[%d]" % (field, index)
        if not isinstance(item, dict):
            raise MxonePkiError("%s must be a dict with address, port, server_name" % where, field=where)
        unknown = sorted(set(item) - set(ENDPOINT_KEYS))
        if unknown:
            raise MxonePkiError("%s: unknown key(s) %s (known: %s)"
                                % (where, ", ".join(unknown), ", ".join(ENDPOINT_KEYS)), field=where)
        address = _text(item.get("address"), where + ".address")
        if not address:
            raise MxonePkiError("%s.address is required" % where, field=where + ".address")
        port = item.get("port")
        if port is None or port == "":
            port = DEFAULT_PORT
        try:
            if isinstance(port, bool):
                raise ValueError
            port = int(port)
        except (TypeError, ValueError):
            raise MxonePkiError("%s.port must be an integer, not %r" % (where, item.get("port")),
                                field=where + ".port")
        if not 0 < port < 65536:
            raise MxonePkiError("%s.port %d is not a TCP port (1-65535)" % (where, port), field=where + ".port")
        name = _text(item.get("name"), where + ".name") or address
        server_name = _text(item.get("server_name"), where + ".server_name") or address
        system = _text(item.get("system"), where + ".system")
        expected = _text(item.get("expected_cert"), where + ".expected_cert")
        endpoints.append(Endpoint(name, address, port, server_name, system, expected))
    return endpoints


# ------------------------------------------------------------------- trust


class Trust(object):
    """The CA certificates to trust (PEM text for ``ssl``), or why there are none."""

    def __init__(self, source, cadata=None, certificates=(), error=None):
        self.source = source
        self.cadata = cadata
        self.certificates = list(certificates)
        self.error = error

    def as_dict(self):
        return dict(source=self.source, error=self.error,
                    certificates=[dict(subject=c["subject"], not_after=c["not_after"],
                                       sha256_fingerprint=c["sha256_fingerprint"]) for c in self.certificates])


def _safe_url(url):
    """The URL without any user:password part, for messages."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = "[%s]" % host
    netloc = host + (":%d" % parts.port if parts.port else "")
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def trust_from_bytes(data, source):
    """``Trust`` from the CA file's bytes (PEM with one or more certificates, or one DER certificate).

    Other PEM blocks are skipped; no certificate at all is an error.
    """
    certs = []
    if b"-----BEGIN" in data:
        blocks = split_pem(data, source=source)[0]
        for block in blocks:
            if block.label in ("CERTIFICATE", "TRUSTED CERTIFICATE", "X509 CERTIFICATE"):
                certs.append(load_certificate(block.der, source="%s %s" % (source, block.describe())))
    elif data.strip():
        try:
            certs.append(load_certificate(data, source=source))
        except MxonePkiError:
            certs = []
    if not certs:
        raise MxonePkiError("%s holds no certificate" % source, file=source)
    now = utcnow()
    cadata = "".join(encode_pem("CERTIFICATE", c.public_bytes(serialization.Encoding.DER)) for c in certs)
    try:
        ssl.create_default_context(cadata=cadata)
    except (ssl.SSLError, ValueError) as exc:
        raise MxonePkiError("%s: ssl cannot use its certificates (%s)" % (source, _ssl_text(exc)), file=source)
    return Trust(source, cadata, [facts(c, now) for c in certs])


def fetch(url, timeout, max_bytes=MAX_CA_BYTES):
    """GET ``url`` directly (as a phone would: no proxy); bytes, or MxonePkiError saying why not."""
    shown = _safe_url(url)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as response:
            data = response.read(max_bytes + 1)
    except urllib.error.HTTPError as exc:
        raise MxonePkiError("could not fetch the CA from %s: HTTP %d %s" % (shown, exc.code, exc.reason))
    except urllib.error.URLError as exc:
        reason = exc.reason
        text = "timeout" if isinstance(reason, socket.timeout) else getattr(reason, "strerror", None) or str(reason)
        raise MxonePkiError("could not fetch the CA from %s: %s" % (shown, text))
    except (socket.timeout, TimeoutError):
        raise MxonePkiError("could not fetch the CA from %s: timeout after %ss" % (shown, timeout))
    except (OSError, ValueError) as exc:
        raise MxonePkiError("could not fetch the CA from %s: %s" % (shown, exc))
    if len(data) > max_bytes:
        raise MxonePkiError("could not fetch the CA from %s: larger than %d bytes" % (shown, max_bytes))
    return data


def load_trust(ca_path=None, ca_url=None, timeout=5.0):
    """``Trust`` from exactly one of ``ca_path`` and ``ca_url``.

    A missing or unreadable file, a failed fetch or content without a
    certificate give a ``Trust`` with ``error`` set (every endpoint then
    fails with it); giving both or neither, or a URL that is not http(s),
    raises ``MxonePkiError``.
    """
    if bool(ca_path) == bool(ca_url):
        raise MxonePkiError("give exactly one of ca_path and ca_url", field="ca_path")
    if ca_url:
        source = _safe_url(ca_url)
        scheme = urllib.parse.urlsplit(ca_url).scheme.lower()
        if scheme not in ("http", "https"):
            raise MxonePkiError("ca_url must be an http:// or https:// URL, not %r" % (scheme or source),
                                field="ca_url")
    else:
        source = ca_path
    try:
        if ca_url:
            data = fetch(ca_url, timeout)
        else:
            data = read_bytes(ca_path)
            if data is None:
                raise MxonePkiError("CA file %s does not exist" % ca_path, file=ca_path, field="ca_path")
        return trust_from_bytes(data, source)
    except MxonePkiError as error:
        return Trust(source, error=error.msg)


# ------------------------------------------------------------ client identity


class ClientIdentity(object):
    """A client certificate and its key, checked up front; the passphrase stays in here."""

    def __init__(self, cert_path, key_path=None, passphrase=None):
        self.cert_path = cert_path
        self.key_path = key_path
        self._secret = passphrase.encode("utf-8") if isinstance(passphrase, str) else passphrase
        self.facts = None

    def __repr__(self):
        return "ClientIdentity(%r, %r)" % (self.cert_path, self.key_path)

    def check(self):
        """Load certificate and key with cryptography: clear errors before ssl's terse ones."""
        cert_data = read_bytes(self.cert_path)
        if cert_data is None:
            raise MxonePkiError("client certificate %s does not exist" % self.cert_path,
                                file=self.cert_path, field="client_cert_path")
        cert = None
        if b"-----BEGIN" in cert_data:
            for block in split_pem(cert_data, source=self.cert_path)[0]:
                if block.label == "CERTIFICATE":
                    cert = load_certificate(block.der, source=self.cert_path)
                    break
        else:
            cert = load_certificate(cert_data, source=self.cert_path)
        if cert is None:
            raise MxonePkiError("%s holds no certificate" % self.cert_path, file=self.cert_path,
                                field="client_cert_path")
        key_source = self.key_path or self.cert_path
        key_data = read_bytes(key_source) if self.key_path else cert_data
        if key_data is None:
            raise MxonePkiError("client key %s does not exist" % key_source, file=key_source,
                                field="client_key_path")
        if not self.key_path and not any(("-----BEGIN %s-----" % label).encode() in key_data
                                         for label in PRIVATE_KEY_LABELS):
            raise MxonePkiError("%s holds no private key; give client_key_path" % self.cert_path,
                                file=self.cert_path, field="client_key_path")
        field = "client_key_path" if self.key_path else "client_cert_path"
        key = load_private_key(key_data, self._secret, source=key_source, field=field)
        if not key_fits_certificate(key, cert):
            raise MxonePkiError("the client key %s does not belong to the client certificate %s"
                                % (key_source, self.cert_path), file=key_source, field=field)
        self.facts = facts(cert)
        return self

    def apply(self, context):
        secret = self._secret or b""
        try:
            context.load_cert_chain(self.cert_path, self.key_path, password=lambda: secret)
        except (ssl.SSLError, OSError, ValueError) as exc:
            raise MxonePkiError("ssl could not load the client certificate %s and its key: %s"
                                % (self.cert_path, _ssl_text(exc)), file=self.cert_path,
                                field="client_cert_path")


# ---------------------------------------------------------------- contexts


def verifying_context(cadata, identity=None):
    """What a peer or phone does: only this CA, names checked, TLS 1.2 or newer."""
    context = ssl.create_default_context(cadata=cadata)
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if identity is not None:
        identity.apply(context)
    return context


def looking_context(identity=None):
    """No verification at all: only to see which certificate a failing server sends."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if identity is not None:
        identity.apply(context)
    return context


# ------------------------------------------------------------------- probe


class _Failure(Exception):
    """One attempt's failure: the message, and whether trying again may help."""

    def __init__(self, message, retry=False, look=False):
        super(_Failure, self).__init__(message)
        self.message = message
        self.retry = retry
        self.look = look  # worth a second, unverified handshake to see the certificate


def _ssl_text(exc):
    """An ssl error's words without OpenSSL's ``[LIB: CODE]`` prefix and ``(_ssl.c:N)`` suffix."""
    text = getattr(exc, "verify_message", None) or str(exc)
    return _SSL_NOISE.sub("", text).strip() or type(exc).__name__


def _client_cert_failure(exc, offered):
    reason = getattr(exc, "reason", None) or ""
    if reason == "TLSV13_ALERT_CERTIFICATE_REQUIRED" or (reason in _CLIENT_CERT_ALERTS and not offered):
        return _Failure("the server requires a client certificate%s (%s)"
                        % (" and none was offered" if not offered else "", _ssl_text(exc)), look=True)
    if reason in _CLIENT_CERT_ALERTS:
        return _Failure("the server refused the client certificate (%s)" % _ssl_text(exc), look=True)
    return None


def _handshake_failure(exc, endpoint, offered):
    """``_Failure`` for an exception raised by the TLS handshake."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        if exc.verify_code in _NAME_MISMATCH_CODES:
            kind = "IP address" if exc.verify_code == 64 else "hostname"
            return _Failure("hostname mismatch: the certificate is not valid for %s %r"
                            % (kind, endpoint.server_name), look=True)
        return _Failure("certificate verify failed: %s" % _ssl_text(exc), look=True)
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return _Failure("timeout: no TLS handshake within the timeout", retry=True)
    if isinstance(exc, ssl.SSLError):
        known = _client_cert_failure(exc, offered)
        if known:
            return known
        if isinstance(exc, ssl.SSLEOFError):
            return _Failure("TLS handshake failed: the server closed the connection (%s)" % _ssl_text(exc),
                            look=True)
        hint = ""
        if not offered and (exc.reason or "") == "SSLV3_ALERT_HANDSHAKE_FAILURE":
            hint = "; no client certificate was offered: does the server require one?"
        elif (exc.reason or "") in ("WRONG_VERSION_NUMBER", "UNKNOWN_PROTOCOL", "RECORD_LAYER_FAILURE"):
            hint = "; is this port TLS?"
        return _Failure("TLS handshake failed: %s%s" % (_ssl_text(exc), hint), look=True)
    if isinstance(exc, ConnectionResetError):
        return _Failure("TLS handshake failed: connection reset by the server", look=True)
    return _Failure("TLS handshake failed: %s" % (getattr(exc, "strerror", None) or exc))


def _connect(endpoint, deadline):
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise _Failure("timeout: no TCP connection within the timeout", retry=True)
    try:
        return socket.create_connection((endpoint.address, endpoint.port), timeout=remaining)
    except ConnectionRefusedError:
        raise _Failure("connection refused", retry=True)
    except (socket.timeout, TimeoutError):
        raise _Failure("timeout: no TCP connection within the timeout", retry=True)
    except socket.gaierror as exc:
        raise _Failure("cannot resolve %s: %s" % (endpoint.address, exc.strerror or exc))
    except OSError as exc:
        if exc.errno == errno.ETIMEDOUT:
            raise _Failure("timeout: no TCP connection within the timeout", retry=True)
        raise _Failure("cannot connect: %s" % (exc.strerror or exc))


def _await_server_verdict(tls, deadline, offered):
    """TLS 1.3 only: wait for the server's session tickets (accepted) or its alert (refused).

    A server that sends no tickets costs ``SERVER_VERDICT_SECONDS``; data or
    a clean close from the server count as accepted.
    """
    if tls.version() != "TLSv1.3":
        return
    limit = min(deadline, time.monotonic() + SERVER_VERDICT_SECONDS)
    while True:
        session = tls.session
        if session is not None and session.has_ticket:
            return
        remaining = limit - time.monotonic()
        if remaining <= 0:
            return
        tls.settimeout(min(remaining, _POLL_SECONDS))
        try:
            tls.recv(1)
            return
        except (socket.timeout, TimeoutError, ssl.SSLWantReadError):
            continue
        except ssl.SSLError as exc:
            known = _client_cert_failure(exc, offered)
            raise known or _Failure("the server ended the session after the handshake: %s" % _ssl_text(exc))
        except ConnectionResetError:
            raise _Failure("the server reset the connection after the handshake%s"
                           % ("" if offered else " (does it require a client certificate?)"))


def _close(sock):
    try:
        sock.close()
    except OSError:
        pass


def _attempt(endpoint, context, timeout, offered, result):
    """One connect and handshake; fills ``result``, raises ``_Failure``."""
    deadline = time.monotonic() + timeout
    raw = _connect(endpoint, deadline)
    tls = None
    try:
        raw.settimeout(max(deadline - time.monotonic(), 0.001))
        try:
            tls = context.wrap_socket(raw, server_hostname=endpoint.server_name)
        except (OSError, ssl.SSLError) as exc:
            raise _handshake_failure(exc, endpoint, offered)
        result["tls_version"] = tls.version()
        result["cipher"] = (tls.cipher() or (None,))[0]
        der = tls.getpeercert(binary_form=True)
        if der:
            result["certificate"] = facts(load_certificate(der, source="certificate from %s" % endpoint.where))
            result["certificate_verified"] = True
        _await_server_verdict(tls, deadline, offered)
    finally:
        _close(tls if tls is not None else raw)


def _look(endpoint, context, timeout):
    """The server's certificate without verification; None when even that fails."""
    deadline = time.monotonic() + timeout
    try:
        raw = _connect(endpoint, deadline)
    except _Failure:
        return None
    tls = None
    try:
        raw.settimeout(max(deadline - time.monotonic(), 0.001))
        tls = context.wrap_socket(raw, server_hostname=endpoint.server_name)
        der = tls.getpeercert(binary_form=True)
        return facts(load_certificate(der, source="certificate from %s" % endpoint.where)) if der else None
    except (OSError, ssl.SSLError, MxonePkiError):
        return None
    finally:
        _close(tls if tls is not None else raw)


def served_certificate(endpoint, timeout=5.0):
    """The certificate ``endpoint`` serves (facts), whoever signed it; None when it does not answer TLS."""
    return _look(endpoint, looking_context(), timeout)


def _names(cert_facts):
    names = list(cert_facts.get("dns") or []) + list(cert_facts.get("ips") or [])
    cn = cert_facts.get("common_name")
    if cn and cn not in names:
        names.insert(0, "CN " + cn)
    return ", ".join(names) or "no names"


def probe(endpoint, context, look_context=None, timeout=5.0, retries=0, retry_delay=1.0, offered=False,
          sleep=time.sleep):
    """Check one endpoint; the result dict (never raises for network or TLS trouble)."""
    result = endpoint.as_dict()
    result.update(ok=False, error=None, attempts=0, tls_version=None, cipher=None, certificate=None,
                  certificate_verified=False)
    failure = None
    for attempt in range(retries + 1):
        if attempt:
            sleep(retry_delay)
        result["attempts"] = attempt + 1
        try:
            _attempt(endpoint, context, timeout, offered, result)
        except _Failure as exc:
            failure = exc
            if exc.retry:
                continue
            break
        except MxonePkiError as exc:  # the certificate sent could not be parsed
            failure = _Failure(exc.msg)
            break
        failure = None
        break
    if failure is None:
        result["ok"] = True
        return result
    message = failure.message
    if failure.look and look_context is not None and not result["certificate"]:
        seen = _look(endpoint, look_context, timeout)
        if seen:
            result["certificate"] = seen
    if message.startswith("hostname mismatch") and result["certificate"]:
        message += " (it names %s)" % _names(result["certificate"])
    elif message.startswith("certificate verify failed") and result["certificate"]:
        message += " (served: issuer %s, serial %s)" % (result["certificate"]["issuer"],
                                                        result["certificate"]["serial"])
    if failure.retry and result["attempts"] > 1:
        message += " (%d attempts)" % result["attempts"]
    result["error"] = message
    return result


def _checked_number(value, field, kind, minimum, inclusive=True):
    try:
        if isinstance(value, bool):
            raise ValueError
        number = kind(value)
    except (TypeError, ValueError):
        raise MxonePkiError("%s must be a number, not %r" % (field, value), field=field)
    if number < minimum or (not inclusive and number == minimum):
        raise MxonePkiError("%s must be %s %s, not %s" % (field, ">=" if inclusive else ">", minimum, value),
                            field=field)
    return number


class Checker(object):
    """The trust and client identity of one group of endpoints, loaded once, to probe them as often as needed.

    Bad options (including a client certificate that does not load) raise ``MxonePkiError`` naming the
    field; trouble with the CA file or URL fails every endpoint with its reason.
    """

    def __init__(self, ca_path=None, ca_url=None, client_cert_path=None, client_key_path=None,
                 client_key_passphrase=None, timeout=5.0):
        if (client_key_path or client_key_passphrase) and not client_cert_path:
            raise MxonePkiError("client_key_path and client_key_passphrase need client_cert_path",
                                field="client_cert_path")
        self.timeout = timeout
        self.identity = ClientIdentity(client_cert_path, client_key_path, client_key_passphrase).check() \
            if client_cert_path else None
        self.trust = load_trust(ca_path, ca_url, timeout)
        if not self.trust.error:
            self.context = verifying_context(self.trust.cadata, self.identity)
            self.look_context = looking_context(self.identity)

    def probe(self, endpoints, parallel=16, retries=0, retry_delay=1.0, sleep=time.sleep):
        """One result per endpoint (``Endpoint`` objects), in their order."""
        if self.trust.error:
            results = []
            for endpoint in endpoints:
                result = endpoint.as_dict()
                result.update(ok=False, error=self.trust.error, attempts=0, tls_version=None, cipher=None,
                              certificate=None, certificate_verified=False)
                results.append(result)
            return results
        if not endpoints:
            return []

        def one(endpoint):
            return probe(endpoint, self.context, self.look_context, self.timeout, retries, retry_delay,
                         offered=self.identity is not None, sleep=sleep)

        with concurrent.futures.ThreadPoolExecutor(max_workers=min(parallel, len(endpoints))) as pool:
            results = list(pool.map(one, endpoints))
        expected = {}
        for endpoint, result in zip(endpoints, results):
            if endpoint.expected_cert and result["ok"]:
                stale_check(result, endpoint.expected_cert, expected)
        return results


def stale_check(result, cert_path, cache):
    """A verified answer that is not the PKI store's certificate fails as stale, saying both serials."""
    if cert_path not in cache:
        data = read_bytes(cert_path)  # none yet (a system waiting for its customer's CA): nothing to compare
        cache[cert_path] = facts(load_certificate(data, source=cert_path)) if data is not None else None
    want, served = cache[cert_path], result.get("certificate") or {}
    if want is not None and served.get("sha256_fingerprint") != want["sha256_fingerprint"]:
        result.update(ok=False, stale=True, error="stale: serves serial %s (valid until %s), the PKI store has serial %s "
                      "(%s)" % (served.get("serial"), served.get("not_after"), want["serial"], cert_path))


def check_endpoints(endpoints, ca_path=None, ca_url=None, client_cert_path=None, client_key_path=None,
                    client_key_passphrase=None, timeout=5.0, parallel=16, retries=0, retry_delay=1.0,
                    sleep=time.sleep):
    """Probe every endpoint (concurrently); ``{results, failed_endpoints, ok, ca}``.

    ``results`` follows the order of ``endpoints``. Bad options (including a
    client certificate that does not load) raise ``MxonePkiError`` naming the
    field; trouble with the CA file or URL fails every endpoint with its reason.
    """
    timeout = _checked_number(timeout, "timeout", float, 0, inclusive=False)
    parallel = _checked_number(parallel, "parallel", int, 1)
    retries = _checked_number(retries, "retries", int, 0)
    retry_delay = _checked_number(retry_delay, "retry_delay", float, 0)
    parsed = parse_endpoints(endpoints)
    checker = Checker(ca_path, ca_url, client_cert_path, client_key_path, client_key_passphrase, timeout)
    results = checker.probe(parsed, parallel, retries, retry_delay, sleep)
    identity, trust = checker.identity, checker.trust
    failed = [r["name"] for r in results if not r["ok"]]
    return dict(results=results, failed_endpoints=failed, ok=not failed, ca=trust.as_dict(),
                client_certificate=_client_summary(identity))


def _client_summary(identity):
    if identity is None:
        return None
    f = identity.facts
    return dict(subject=f["subject"], issuer=f["issuer"], serial=f["serial"], not_after=f["not_after"],
                sha256_fingerprint=f["sha256_fingerprint"])


def failure_message(results):
    """Header plus one line per failed endpoint: ``name (address:port, server_name): error``."""
    failed = [r for r in results if not r["ok"]]
    lines = ["%d of %d TLS endpoint(s) failed verification:" % (len(failed), len(results))]
    for r in failed:
        endpoint = Endpoint(r["name"], r["address"], r["port"], r["server_name"])
        lines.append("%s: %s" % (endpoint.describe(), r["error"]))
    return "\n".join(lines)


# The options of mxone.pki.tls_check, for the module and for its in-process run on the controller
# (plugins/action/tls_check.py); one definition so they cannot drift apart.
TLS_CHECK_SPEC = dict(
    argument_spec=dict(
        endpoints=dict(type="list", elements="dict", required=True, options=dict(
            name=dict(type="str"),
            address=dict(type="str", required=True),
            port=dict(type="int", default=DEFAULT_PORT),
            server_name=dict(type="str"),
            system=dict(type="str"),
            expected_cert=dict(type="path"),
        )),
        ca_path=dict(type="path"),
        ca_url=dict(type="str"),
        client_cert_path=dict(type="path"),
        client_key_path=dict(type="path", no_log=False),
        client_key_passphrase=dict(type="str", no_log=True),
        timeout=dict(type="float", default=5),
        parallel=dict(type="int", default=16),
        retries=dict(type="int", default=0),
        retry_delay=dict(type="float", default=1),
        fail_on_error=dict(type="bool", default=True),
    ),
    mutually_exclusive=[("ca_path", "ca_url")],
    required_one_of=[("ca_path", "ca_url")],
    required_by=dict(client_key_path="client_cert_path", client_key_passphrase="client_cert_path"),
)


def tls_check(params):
    """mxone.pki.tls_check on validated params: (result, failure message or None). Raises MxonePkiError."""
    report = check_endpoints(
        params["endpoints"], ca_path=params["ca_path"], ca_url=params["ca_url"],
        client_cert_path=params["client_cert_path"], client_key_path=params["client_key_path"],
        client_key_passphrase=params["client_key_passphrase"], timeout=params["timeout"],
        parallel=params["parallel"], retries=params["retries"], retry_delay=params["retry_delay"])
    result = dict(changed=False, **report)
    failure = failure_message(report["results"]) if not report["ok"] and params["fail_on_error"] else None
    return result, failure
