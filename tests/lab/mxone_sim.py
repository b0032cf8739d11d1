"""Stand-in for Mitel MiVoice MX-ONE service-node commands, for the mxone.pki lab.

This is NOT the product.  It is a small, documented model of the parts of an
MX-ONE system that the ``mxone.pki`` collection touches, so that playbooks can
be run end to end against real ``sshd`` processes on this machine.  Only the
Python standard library and the ``openssl`` command line tool are used.

What it models
--------------
* A *system* (``lab1``, ``lab2``, ...) is a group of LIM nodes; each LIM has
  its own ``/etc/opt/eri_sn`` (a small tmpfs, bind-mounted inside the node's
  mount namespace).  The lab writes ``lab.json`` in its state directory.
* Where the commands live and who may run them (MX-ONE Security Guidelines
  and Certificate Management, Operational Directions): direct root login over
  SSH is disabled; an administrator logs in with an individual account (bash)
  and uses ``su -`` for root, or ``su - mxone_admin``; the certificate
  scripts run as root, or as ``mxone_admin`` with ``sudo -H``.  The lab's
  nodes have the accounts ``root``, ``ops1`` (the individual account) and
  ``mxone_admin``, each with a password.  The commands are wrappers in
  ``/opt/eri_sn/bin`` inside each LIM (a per-node directory, with a copy of
  this file at ``/opt/eri_sn/mxone_sim.py``).  The documents name no directory
  for the commands; ``/opt/eri_sn/bin`` follows the ``/etc/opt/eri_sn``
  layout they do name.  It is on the PATH of SSH sessions and of the
  accounts' login shells, but not on sudo's ``secure_path`` nor on the PATH
  of ``su -`` (root's login PATH): after those, a product must name the
  commands by their path.  Plain ``su`` (no ``-``) keeps the caller's PATH,
  as util-linux su does.
* A command learns which node and lab it runs on from the node's own file
  ``/opt/eri_sn/.lab-node.json`` (``{"node", "state_dir"}``), visible only in
  that node's mount namespace, so it works alike after ``sudo``, ``sudo -H``,
  ``su`` and ``su -`` (no session variable is involved).  Without that file
  (off a lab node) a command exits 127.
* The commands need root.  Run by anyone else (euid not 0) they exit 1 with
  ``<command>: must run as root: log in with your own account, then su - or
  sudo -H``, act on nothing and are not journaled.  The documents say "run
  from root or from mxone_admin as sudo -H"; they do not say what happens
  otherwise: refusing is the less forgiving choice, so a product that forgets
  to become root is caught.  ``mxone_admin`` itself is refused too (it must
  use ``sudo -H``).
* ``license_status``: prints a licence table.  ``VOIP-SECURITY`` is ``yes``
  unless the lab fault ``no-licence`` is set on any LIM of the system (the
  licence is a system property, so the fault applies system-wide).
* ``media_encryption_enable -type extension|route|intermgw``: exit 2 with a
  usage message on a missing/unknown type, exit 1 without the VOIP-SECURITY
  licence, otherwise records the type in the system state (idempotent).
* ``data_backup``: records a backup (counter, time, host) in the system state;
  fails (exit 1, "No space left on device") on a node under ``disk-full``.
* ``reload --system`` and ``reload -u SIPLP,IPLP,TLP65,CSTServer`` (exactly
  those four units, any order): both act system-wide.  For every LIM of the
  system ``certs/eri_sn_cert.pem`` is validated: BEGIN/END lines on lines of
  their own; block 1 an unencrypted private key (PKCS#8, RSA or EC); then the
  server certificate, the intermediates closest to the leaf first, and the
  self-signed root last (order checked by issuer/subject links); the key must
  match the leaf (``ssl.SSLContext.load_cert_chain``); the chain must verify
  (``openssl verify -purpose sslserver``); the leaf must be currently valid
  and must not be a CA.  ``ip_telephony.conf`` gives
  ``TlsClientVerificationMode`` (none|optional|mandatory; ``certs/ca.pem`` is
  the client trust and must load when not ``none``).  ``tls_telephony.conf``
  with ``TlsEnabled: no`` ("configure MX-ONE not to use TLS"; the key is the
  lab's stand-in, the documents do not give it) makes reload stop that LIM's
  listeners without checking its bundle, and succeed.  The checks run at the
  time of the order, and the bundle (and client CA) of each LIM that passes is
  snapshotted then: its listeners on its IP, ports 5061, 1300 and 1301, will
  serve that snapshot, whatever is written to the file afterwards, until the
  next reload.  A LIM that fails is named on stderr with the block and the
  reason, its listeners stay down, and ``reload`` exits 1.  A LIM under the
  ``down`` fault makes the reload fail for that LIM (its listeners are left as
  they were).  Under the ``reload-fails`` fault (set on any LIM of the system)
  the next ``reload`` exits 1 and stops the listeners of every LIM of the
  system, which stay down; the fault is then spent (a transient failure), so a
  following reload (a rollback) runs normally.
* A reload takes time.  A real ``reload --system`` restarts the program
  units of every LIM, and TLS is down until they are back (tens of seconds to
  minutes).  The lab models this: ``reload`` stops the listeners of every LIM
  of the system at once (open connections are closed too) and returns at
  once, without waiting; each LIM that passed the checks comes back N seconds
  after the order (the command's journal time), serving its snapshot.  N is
  the lab's ``reload_seconds`` (``lab up --reload-seconds``, default 2), or
  the system's or one LIM's own time (``lab reload-time``, kept in
  ``systems/<system>/reload.json``; read at the order, so a change applies to
  the next reload).  The figure and the "all LIMs at once, each back after its
  own time" shape are our model: the documents give no figure.  If the checks
  themselves took longer than N, the LIM comes back as soon as they end.
* A reload while a reload of the same system is in progress (some LIM that
  passed the checks is not back yet) is refused: exit 1, ``reload: a reload
  of system S is in progress (ordered ISO; not back yet: LIMs); try again
  when it has finished``, listeners untouched, journaled like any command.
  The vendor documents are silent on this; we chose the less forgiving
  behaviour, so that a product that reloads twice without waiting for the
  first reload gets caught.
* TLS listeners: TLS 1.2 minimum; after the handshake a request whose first
  line starts with ``OPTIONS `` gets a minimal ``SIP/2.0 200 OK``; anything
  else is read and ignored until the client closes or 5 s pass.
* Every invocation (usage errors included) is appended to the system's
  journal (``systems/<system>/journal.jsonl``: time, host, command, exit,
  user, as; the time is when the command started; ``user`` is the account
  that logged in over SSH for that session, read from the session's sshd
  process title ``sshd: USER@notty`` (or ``[priv]``, ``@pts/N``) among the
  command's ancestors, null when it runs under no SSH session; ``as`` is the
  effective user, ``root``) and every command of a system runs under
  that system's lock, so the commands' order is the execution order.  When a
  LIM's listeners come back after a reload, the lab daemon appends an event
  (time it came back, host, ``"event": "tls-up"``, ``"reload"``: the time of
  the order) with a single ``O_APPEND`` write; ``lab journal`` merges commands
  and events by time.  The outage has no event of its own: the reload command
  marks its start.

What it does not model
----------------------
Real program units, SIP or H.323 call handling, media, SRTP, the real licence
server, ``mxone_maintenance``/``mxone_certificate`` menus, mxone_user and the
other system accounts, PAM policies beyond the password (no lockout, no
ageing), backup contents, the real duration of a reload
(the lab's reload time is a setting, see above), partial reloads of single units (``-u`` reloads the whole system, like
``--system``), MTLS beyond the handshake, and TLS 1.0/SHA-1 for old phones.
A download server has no vendor commands (no ``/opt/eri_sn/bin``): the
shell answers 127, command not found.

The lab daemon (``labd``)
-------------------------
One process per lab serves every TLS listener (all LIMs) and every download
server's HTTP (``GET``/``HEAD`` of its directory).  It reconciles what runs
with the desired state kept in files (``lab.json``, ``faults.json``,
``tls/<node>.json``) whenever it is asked to ``sync`` over its control
socket ``run/labd.sock``; ``reload`` and the ``lab`` CLI write those files
and then ask it to sync.  A TLS spec carries ``up_at`` (epoch seconds: when
the listeners may come up) and ``reload`` (ISO time of the order); a timer
thread starts each listener when its time is up.  When the daemon starts
again it restores the listeners from the files: those due in the past start
at once, the others at their time.  A LIM under ``down`` gets no listener;
``clear`` brings it back only if it was up or due (at its time if still to
come).  ``tls/<node>.up`` keeps the last reload announced as tls-up, so a
restart of the listeners is not journaled twice.
"""

import base64
import binascii
import contextlib
import datetime
import fcntl
import functools
import hashlib
import http.server
import json
import os
import pwd
import re
import selectors
import shlex
import signal
import socket
import socketserver
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import uuid

HERE = os.path.dirname(os.path.realpath(__file__))
SIM_PATH = os.path.realpath(__file__)
PYTHON = "/usr/bin/python3"

TLS_PORTS = (5061, 1300, 1301)
MEDIA_TYPES = ("extension", "route", "intermgw")
RELOAD_UNITS = frozenset(("SIPLP", "IPLP", "TLP65", "CSTServer"))
FAULT_KINDS = ("down", "reload-fails", "disk-full", "no-licence", "clear")
FILLER_NAME = ".lab-disk-filler"
KEY_LABELS = ("PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY")
BUNDLE_REL = "certs/eri_sn_cert.pem"
CA_REL = "certs/ca.pem"
IPTEL_REL = "ip_telephony.conf"
TLSCONF_REL = "tls_telephony.conf"
DEFAULT_RELOAD_SECONDS = 2.0
# Inside each LIM's mount namespace: the vendor directory (the commands in bin/, a copy of this file)
# and the node's identity (node name, lab state dir), which tells the simulator where it runs.
VENDOR_DIR = "/opt/eri_sn"
NODE_FILE_NAME = ".lab-node.json"
NODE_FILE = os.path.join(VENDOR_DIR, NODE_FILE_NAME)
SSHD_SESSION_RE = re.compile(r"^sshd(?:-session)?: ([^\s@\[]+)(?:@\S+| \[priv\])")


def tls_enabled(eri):
    """'Configure MX-ONE (not) to use TLS': ``TlsEnabled: no`` in tls_telephony.conf turns TLS off.

    The source documents name the file and the menu choice, not its keys; this
    key is the lab's stand-in. Absent file or key: TLS is on (a certificate
    installed means TLS is used).
    """
    try:
        with open(os.path.join(eri, TLSCONF_REL), encoding="ascii", errors="replace") as fh:
            for line in fh:
                m = re.match(r"^\s*TlsEnabled\s*[:=]\s*(\S*)\s*$", line)
                if m:
                    return m.group(1).lower() not in ("no", "false", "0", "off")
    except OSError:
        pass
    return True


VERIFY_MODES = {
    "none": ssl.CERT_NONE,
    "optional": ssl.CERT_OPTIONAL,
    "mandatory": ssl.CERT_REQUIRED,
}


# --------------------------------------------------------------------------
# Small shared helpers (also used by the `lab` CLI)
# --------------------------------------------------------------------------

def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="microseconds")


def iso_of(epoch):
    """ISO 8601 (UTC, microseconds) of an epoch time, in the journal's format."""
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).isoformat(timespec="microseconds")


def load_json(path, default=None):
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        return default


def write_json(path, obj, mode=0o644):
    """Write JSON atomically (temporary file + rename)."""
    d = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=d)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(obj, fh, indent=1, sort_keys=True)
            fh.write("\n")
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def flocked(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def pid_alive(pid):
    """True when pid exists and is not a zombie."""
    if not pid:
        return False
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            stat = fh.read()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


class Lab:
    """Read access to a lab state directory."""

    def __init__(self, state_dir):
        self.dir = os.path.abspath(state_dir)

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    @property
    def data(self):
        data = load_json(self.path("lab.json"))
        if data is None:
            raise LabError(f"no lab is up in {self.dir}")
        return data

    def faults(self):
        return load_json(self.path("faults.json"), {}) or {}

    def node(self, name, data=None):
        data = data or self.data
        try:
            return data["nodes"][name]
        except KeyError:
            raise LabError(f"no node {name!r} in the lab at {self.dir}") from None

    def system_lims(self, system, data=None):
        data = data or self.data
        return sorted((n for n in data["nodes"].values()
                       if n["kind"] == "lim" and n["system"] == system),
                      key=lambda n: n["lim"])

    def system_faults(self, system, data=None, faults=None):
        faults = self.faults() if faults is None else faults
        kinds = set()
        for n in self.system_lims(system, data):
            kinds.update(faults.get(n["name"], []))
        return kinds

    def tls_spec_path(self, name):
        return self.path("tls", f"{name}.json")

    def system_dir(self, system):
        return self.path("systems", system)

    def reload_settings(self, system, data=None):
        """How long a reload of ``system`` keeps TLS down: the lab's default, the system's and per-LIM times.

        Returns {"lab": s, "system": s or None, "lims": {node: s}} from lab.json (``reload_seconds``)
        and ``systems/<system>/reload.json`` ({"seconds": s, "lims": {node: s}}, written by
        ``lab reload-time``).
        """
        data = data or self.data
        conf = load_json(os.path.join(self.system_dir(system), "reload.json"), {}) or {}
        return {"lab": float(data.get("reload_seconds", DEFAULT_RELOAD_SECONDS)),
                "system": conf.get("seconds"), "lims": dict(conf.get("lims") or {})}

    @staticmethod
    def reload_seconds(settings, name):
        """The reload time of LIM ``name``: its own, else its system's, else the lab's."""
        for value in (settings["lims"].get(name), settings["system"]):
            if value is not None:
                return float(value)
        return settings["lab"]

    def append_journal(self, system, entry):
        """One journal line, appended with a single O_APPEND write (lines never interleave)."""
        line = (json.dumps(entry) + "\n").encode()
        fd = os.open(os.path.join(self.system_dir(system), "journal.jsonl"),
                     os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)


class LabError(Exception):
    pass


# --------------------------------------------------------------------------
# eri_sn_cert.pem validation
# --------------------------------------------------------------------------

_MARK_RE = re.compile(r"^-----(BEGIN|END) ([A-Z0-9 ]+)-----$")


def parse_pem_blocks(text):
    """Split text into PEM blocks.  Returns (blocks, problem_or_None).

    Each block is a dict: label, body (the PEM text of the block, normalised),
    der (bytes), encrypted (legacy Proc-Type header seen).
    Text outside blocks (blank lines, "Bag Attributes" ...) is ignored, but a
    BEGIN/END marker that does not stand on a line of its own is an error.
    """
    blocks = []
    cur = None
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        has_mark = "-----BEGIN" in line or "-----END" in line
        m = _MARK_RE.match(line) if has_mark else None
        num = len(blocks) + 1
        if has_mark and not m:
            return blocks, (f"block {num}: line {lineno}: a BEGIN/END line does not stand "
                            f"on a line of its own")
        if m and m.group(1) == "BEGIN":
            if cur is not None:
                return blocks, (f"block {num}: line {lineno}: BEGIN {m.group(2)} before "
                                f"END {cur['label']}")
            cur = {"label": m.group(2), "lines": [], "headers": [], "start": lineno}
        elif m:  # END
            if cur is None:
                return blocks, f"block {num}: line {lineno}: END {m.group(2)} without BEGIN"
            if m.group(2) != cur["label"]:
                return blocks, (f"block {num}: line {lineno}: END {m.group(2)} does not "
                                f"match BEGIN {cur['label']}")
            b64 = "".join(cur["lines"])
            try:
                der = base64.b64decode(b64, validate=True)
            except (binascii.Error, ValueError):
                return blocks, f"block {num} ({cur['label']}): body is not valid base64"
            if not der:
                return blocks, f"block {num} ({cur['label']}): empty body"
            body = "\n".join([f"-----BEGIN {cur['label']}-----", *cur["headers"]]
                             + ([""] if cur["headers"] else [])
                             + [b64[i:i + 64] for i in range(0, len(b64), 64)]
                             + [f"-----END {cur['label']}-----"]) + "\n"
            blocks.append({
                "label": cur["label"], "der": der, "body": body,
                "encrypted": any(h.startswith("Proc-Type:") and "ENCRYPTED" in h
                                 for h in cur["headers"]),
                "start": cur["start"],
            })
            cur = None
        elif cur is not None:
            if ":" in line and not cur["lines"]:
                cur["headers"].append(line)
            elif line:
                cur["lines"].append(line)
    if cur is not None:
        return blocks, f"block {len(blocks) + 1} ({cur['label']}): no END line"
    return blocks, None


def _openssl(args, **kw):
    return subprocess.run(["openssl", *args], capture_output=True, text=True, check=False, **kw)


def _cert_facts(path):
    r = _openssl(["x509", "-in", path, "-noout", "-nameopt", "RFC2253", "-subject",
                  "-issuer", "-startdate", "-enddate", "-ext", "basicConstraints"])
    if r.returncode != 0:
        return None, (r.stderr.strip().splitlines() or ["openssl x509 failed"])[0]
    facts = {"ca": False}
    lines = r.stdout.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("subject="):
            facts["subject"] = line[len("subject="):].strip()
        elif line.startswith("issuer="):
            facts["issuer"] = line[len("issuer="):].strip()
        elif line.startswith("notBefore="):
            facts["not_before"] = line.split("=", 1)[1].strip()
        elif line.startswith("notAfter="):
            facts["not_after"] = line.split("=", 1)[1].strip()
        elif "Basic Constraints" in line and i + 1 < len(lines):
            facts["ca"] = "CA:TRUE" in lines[i + 1]
    return facts, None


def check_bundle(text, now=None):
    """Validate the text of an eri_sn_cert.pem.

    Returns (problem, info): problem is None when valid, else one sentence
    naming the block and the reason; info has subject/not_after of the leaf.
    """
    now = time.time() if now is None else now
    blocks, problem = parse_pem_blocks(text)
    if problem:
        return problem, {}
    if not blocks:
        return "no PEM block found (empty file?)", {}
    first = blocks[0]
    if first["label"] == "ENCRYPTED PRIVATE KEY" or (first["label"] in KEY_LABELS and first["encrypted"]):
        return "block 1 (private key): the key is encrypted; it must be unencrypted", {}
    if first["label"] not in KEY_LABELS:
        return (f"block 1 is a {first['label']}; the server's private key must come first "
                f"(then the server certificate, intermediates, root)"), {}
    if len(blocks) < 2:
        return "block 2: the server certificate is missing after the private key", {}
    for i, b in enumerate(blocks[1:], 2):
        if b["label"] in KEY_LABELS or "PRIVATE KEY" in b["label"]:
            return (f"block {i} is a second private key ({b['label']}); only the server "
                    f"key belongs here, never a CA key"), {}
        if b["label"] != "CERTIFICATE":
            return f"block {i} is a {b['label']}; expected a CERTIFICATE", {}
    certs = blocks[1:]
    if len(certs) < 2:
        return "block 2 is the only certificate; the root CA certificate must follow it", {}

    with tempfile.TemporaryDirectory(prefix="mxone-sim-") as tmp:
        paths = []
        facts = []
        for i, c in enumerate(certs, 2):
            p = os.path.join(tmp, f"block{i}.pem")
            with open(p, "w", encoding="ascii") as fh:
                fh.write(c["body"])
            f, err = _cert_facts(p)
            if f is None:
                return f"block {i}: not a readable X.509 certificate ({err})", {}
            paths.append(p)
            facts.append(f)
        leaf = facts[0]
        info = {"subject": leaf.get("subject"), "not_after": leaf.get("not_after")}
        # order by issuer/subject links
        for k in range(len(facts)):
            blk = k + 2
            f = facts[k]
            self_signed = f.get("subject") == f.get("issuer")
            last = k == len(facts) - 1
            if self_signed and not last:
                what = "server certificate" if k == 0 else "certificate"
                return (f"block {blk}: {what} is self-signed ({f.get('subject')}) but is not "
                        f"last; the root CA certificate must come last"), info
            if not last and facts[k + 1].get("subject") != f.get("issuer"):
                return (f"block {blk + 1}: expected the issuer of block {blk} "
                        f"({f.get('issuer')}) but found {facts[k + 1].get('subject')}; "
                        f"intermediates go closest to the server certificate first, "
                        f"root last"), info
            if last and not self_signed:
                return (f"block {blk}: the last certificate ({f.get('subject')}) is not a "
                        f"self-signed root CA certificate (issuer {f.get('issuer')})"), info
        if leaf["ca"]:
            return "block 2: the server certificate has CA:TRUE (must be CA:FALSE)", info
        # leaf validity
        try:
            nb = ssl.cert_time_to_seconds(leaf["not_before"])
            na = ssl.cert_time_to_seconds(leaf["not_after"])
        except (KeyError, ValueError):
            return "block 2: cannot read the validity dates of the server certificate", info
        if nb > now:
            return f"block 2: the server certificate is not valid before {leaf['not_before']}", info
        if na < now:
            return f"block 2: the server certificate expired {leaf['not_after']}", info
        # key matches leaf
        bundle = os.path.join(tmp, "bundle.pem")
        with open(bundle, "w", encoding="ascii") as fh:
            fh.write(first["body"] + certs[0]["body"])
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            ctx.load_cert_chain(bundle, password=lambda: b"")
        except ssl.SSLError as exc:
            reason = exc.reason or str(exc)
            if "KEY_VALUES_MISMATCH" in str(exc) or "mismatch" in str(exc).lower():
                return "block 1: the private key does not match the server certificate (block 2)", info
            return f"block 1: the private key cannot be used with block 2 ({reason})", info
        # chain verification
        root = paths[-1]
        cmd = ["verify", "-purpose", "sslserver", "-CAfile", root]
        if len(paths) > 2:
            inter = os.path.join(tmp, "inter.pem")
            with open(inter, "w", encoding="ascii") as fh:
                fh.write("".join(c["body"] for c in certs[1:-1]))
            cmd += ["-untrusted", inter]
        r = _openssl(cmd + [paths[0]])
        if r.returncode != 0:
            out = (r.stdout + r.stderr)
            m = re.search(r"error (\d+) at (\d+) depth lookup: (.*)", out)
            if m:
                return (f"block {int(m.group(2)) + 2}: chain does not verify: "
                        f"{m.group(3).strip()}"), info
            return f"block 2: chain does not verify: {out.strip().splitlines()[-1:]}", info
    return None, info


def read_verification_mode(conf_path):
    """TlsClientVerificationMode from ip_telephony.conf ('none' when absent)."""
    try:
        with open(conf_path, encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    except FileNotFoundError:
        return "none", None
    mode = "none"
    for line in text.splitlines():
        m = re.match(r"^\s*TlsClientVerificationMode\s*[:=]\s*(\S*)\s*$", line)
        if m:
            mode = m.group(1).strip().strip("\"'").lower()
    if mode not in VERIFY_MODES:
        return None, (f"ip_telephony.conf: TlsClientVerificationMode {mode!r} is not "
                      f"none, optional or mandatory")
    return mode, None


def build_server_context(bundle, ca, mode):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(bundle, password=lambda: b"")
    if mode != "none":
        ctx.load_verify_locations(cafile=ca)
        ctx.verify_mode = VERIFY_MODES[mode]
    return ctx


# --------------------------------------------------------------------------
# labd: TLS listeners + download-server HTTP, one process per lab
# --------------------------------------------------------------------------

class _TlsService:
    def __init__(self, node, generation, ctx):
        self.node = node
        self.generation = generation
        self.ctx = ctx
        self.socks = []
        self.conns = set()
        self.lock = threading.Lock()


class _DlHandler(http.server.SimpleHTTPRequestHandler):
    server_version = "mxone-lab-download/1"

    def log_message(self, format, *args):  # noqa: A002 - stdlib signature
        pass


class LabDaemon:
    def __init__(self, state_dir):
        self.lab = Lab(state_dir)
        self.sel = selectors.EpollSelector()
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.tls = {}
        self.pending = {}  # name -> {"node", "spec", "ctx", "generation", "up_at"}: starts due later
        self.errors = {}  # name -> why its listeners could not start (last attempt)
        self.http = {}
        self.stopping = False

    # -- TLS --------------------------------------------------------------
    def _accept_loop(self):
        while not self.stopping:
            try:
                events = self.sel.select(timeout=1.0)
            except OSError:
                time.sleep(0.05)
                continue
            for key, _mask in events:
                svc = key.data
                try:
                    conn, _addr = key.fileobj.accept()
                except OSError:
                    continue
                threading.Thread(target=self._serve_tls, args=(svc, conn), daemon=True).start()

    def _serve_tls(self, svc, raw):
        with svc.lock:
            svc.conns.add(raw)
        try:
            raw.settimeout(5)
            try:
                conn = svc.ctx.wrap_socket(raw, server_side=True)
            except (OSError, ssl.SSLError):
                return
            with svc.lock:
                svc.conns.add(conn)
            buf = b""
            while True:
                try:
                    data = conn.recv(4096)
                except (OSError, ssl.SSLError):
                    break
                if not data:
                    break
                buf += data
                while True:
                    sep = buf.find(b"\r\n\r\n")
                    seplen = 4
                    if sep < 0:
                        sep = buf.find(b"\n\n")
                        seplen = 2
                    if sep < 0:
                        break
                    head, buf = buf[:sep], buf[sep + seplen:]
                    lines = head.decode("utf-8", "replace").splitlines()
                    if lines and lines[0].startswith("OPTIONS "):
                        try:
                            conn.sendall(self._sip_ok(lines))
                        except (OSError, ssl.SSLError):
                            return
                if len(buf) > 65536:
                    buf = b""
            with contextlib.suppress(OSError, ssl.SSLError):
                conn.unwrap()
        finally:
            with svc.lock:
                svc.conns.discard(raw)
            with contextlib.suppress(OSError):
                raw.close()

    @staticmethod
    def _sip_ok(lines):
        keep = []
        for line in lines[1:]:
            name = line.split(":", 1)[0].strip().lower()
            if name in ("via", "v", "from", "f", "to", "t", "call-id", "i", "cseq"):
                if name in ("to", "t") and ";tag=" not in line:
                    line += ";tag=mxone-lab"
                keep.append(line)
        resp = ["SIP/2.0 200 OK", *keep,
                "Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, INFO, NOTIFY, REFER",
                "Server: MX-ONE lab simulator", "Content-Length: 0", "", ""]
        return "\r\n".join(resp).encode()

    def _stop_tls(self, name):
        svc = self.tls.pop(name, None)
        if not svc:
            return
        for s in svc.socks:
            with contextlib.suppress(KeyError, ValueError, OSError):
                self.sel.unregister(s)
            with contextlib.suppress(OSError):
                s.close()
        with svc.lock:
            conns = list(svc.conns)
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                c.close()

    def _start_tls(self, node, spec, ctx):
        """Listen on the LIM's TLS ports with ``ctx``; None, or why not.  Journals tls-up once per reload."""
        svc = _TlsService(node["name"], spec["generation"], ctx)
        for port in spec.get("ports", TLS_PORTS):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((node["ip"], port))
                s.listen(64)
                s.setblocking(False)
            except OSError as exc:
                s.close()
                for o in svc.socks:
                    o.close()
                return f"cannot listen on {node['ip']}:{port}: {exc.strerror}"
            svc.socks.append(s)
        for s in svc.socks:
            self.sel.register(s, selectors.EVENT_READ, svc)
        self.tls[node["name"]] = svc
        self._announce(node, spec)
        return None

    def _announce(self, node, spec):
        """The first start of a reload's listeners is a tls-up event in the system's journal.

        ``tls/<node>.up`` keeps the generation already announced, so that a restart of the
        listeners (``lab fault NODE clear``, a labd restart) is not journaled again.
        """
        if not spec.get("reload"):
            return
        mark = self.lab.path("tls", f"{node['name']}.up")
        try:
            with open(mark, encoding="ascii") as fh:
                if fh.read().strip() == spec["generation"]:
                    return
        except OSError:
            pass
        with contextlib.suppress(OSError):
            self.lab.append_journal(node["system"], {"time": now_iso(), "host": node["name"],
                                                     "event": "tls-up", "reload": spec["reload"]})
            with open(mark + ".tmp", "w", encoding="ascii") as fh:
                fh.write(spec["generation"] + "\n")
            os.replace(mark + ".tmp", mark)

    def _want_tls(self, node, spec):
        """Bring a LIM's listeners to ``spec`` (a new generation): now when due, else at ``up_at``."""
        name = node["name"]
        self._stop_tls(name)
        self.pending.pop(name, None)
        self.errors.pop(name, None)
        try:
            ctx = build_server_context(spec["bundle"], spec.get("ca"), spec.get("mode", "none"))
        except (OSError, ssl.SSLError, ValueError, KeyError) as exc:
            err = f"cannot load the TLS bundle: {exc}"
        else:
            up_at = float(spec.get("up_at") or 0)
            if up_at <= time.time():
                err = self._start_tls(node, spec, ctx)
            else:
                self.pending[name] = {"node": node, "spec": spec, "ctx": ctx,
                                      "generation": spec["generation"], "up_at": up_at}
                self.cond.notify_all()
                err = None
        if err:
            self.errors[name] = err
        return err

    def _timer_loop(self):
        """Start the listeners whose reload time is up (the program units are back)."""
        with self.cond:
            while not self.stopping:
                now = time.time()
                due = sorted((name for name, p in self.pending.items() if p["up_at"] <= now),
                             key=lambda name: self.pending[name]["up_at"])
                for name in due:
                    p = self.pending.pop(name)
                    err = self._start_tls(p["node"], p["spec"], p["ctx"])
                    if err:
                        self.errors[name] = err
                    else:
                        self.errors.pop(name, None)
                nxt = min((p["up_at"] for p in self.pending.values()), default=None)
                self.cond.wait(1.0 if nxt is None else min(1.0, max(0.0, nxt - time.time())))

    # -- HTTP -------------------------------------------------------------
    def _start_http(self, node, port):
        handler = functools.partial(_DlHandler, directory=node["mount"])
        try:
            srv = http.server.ThreadingHTTPServer((node["ip"], port), handler)
        except OSError as exc:
            return f"cannot listen on {node['ip']}:{port}: {exc.strerror}"
        srv.daemon_threads = True
        t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
        t.start()
        self.http[node["name"]] = srv
        return None

    def _stop_http(self, name):
        srv = self.http.pop(name, None)
        if srv:
            srv.shutdown()
            srv.server_close()

    # -- reconcile ----------------------------------------------------------
    def sync(self, names=None):
        with self.lock:
            data = self.lab.data
            faults = self.lab.faults()
            result = {}
            for name, node in data["nodes"].items():
                if names is not None and name not in names:
                    continue
                down = "down" in faults.get(name, [])
                if node["kind"] == "lim":
                    spec = load_json(self.lab.tls_spec_path(name)) or {}
                    want = bool(spec.get("active")) and not down
                    cur = self.tls.get(name)
                    pend = self.pending.get(name)
                    err = None
                    if not want:
                        self._stop_tls(name)
                        self.pending.pop(name, None)
                        self.errors.pop(name, None)
                    elif cur is not None and cur.generation == spec["generation"]:
                        pass
                    elif pend is not None and pend["generation"] == spec["generation"]:
                        pass
                    else:
                        err = self._want_tls(node, spec)
                    pend = self.pending.get(name)
                    result[name] = {"tls": name in self.tls, "error": err,
                                    "up_at": pend["up_at"] if pend else None}
                else:
                    err = None
                    if down:
                        self._stop_http(name)
                    elif name not in self.http:
                        err = self._start_http(node, data["http_port"])
                    result[name] = {"http": name in self.http, "error": err}
            # forget services of nodes that no longer exist
            for name in list(self.tls):
                if name not in data["nodes"]:
                    self._stop_tls(name)
            return result

    def status(self):
        with self.lock:
            return {"tls": {n: True for n in self.tls}, "http": {n: True for n in self.http},
                    "pending": {n: p["up_at"] for n, p in self.pending.items()},
                    "errors": dict(self.errors), "pid": os.getpid()}

    def shutdown(self):
        with self.lock:
            self.stopping = True
            self.pending.clear()
            self.cond.notify_all()
            for n in list(self.tls):
                self._stop_tls(n)
            for n in list(self.http):
                self._stop_http(n)

    def serve(self):
        sock_path = self.lab.path("run", "labd.sock")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(sock_path)
        daemon = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                line = self.rfile.readline()
                try:
                    req = json.loads(line)
                    op = req.get("op")
                    if op == "ping":
                        resp = {"ok": True, "pid": os.getpid()}
                    elif op == "sync":
                        resp = {"ok": True, "result": daemon.sync(req.get("nodes"))}
                    elif op == "status":
                        resp = {"ok": True, **daemon.status()}
                    elif op == "shutdown":
                        self.wfile.write(b'{"ok": true}\n')
                        daemon.shutdown()
                        os._exit(0)
                    else:
                        resp = {"ok": False, "error": f"unknown op {op!r}"}
                except Exception as exc:  # report, keep serving
                    resp = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
                self.wfile.write(json.dumps(resp).encode() + b"\n")

        class Server(socketserver.ThreadingUnixStreamServer):
            daemon_threads = True

        srv = Server(sock_path, Handler)
        os.chmod(sock_path, 0o600)
        threading.Thread(target=self._accept_loop, daemon=True).start()
        threading.Thread(target=self._timer_loop, daemon=True).start()
        self.sync()  # restores the listeners from the files: due ones now, the others at up_at
        srv.serve_forever(poll_interval=0.5)


def labd_main(state_dir):
    lab = Lab(state_dir)
    os.makedirs(lab.path("run"), exist_ok=True)
    lock_fd = os.open(lab.path("run", "labd.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        print("labd: another lab daemon already runs for this state dir", file=sys.stderr)
        return 0
    with open(lab.path("run", "labd.pid"), "w", encoding="ascii") as fh:
        fh.write(f"{os.getpid()}\n")
    d = LabDaemon(state_dir)

    def on_term(_sig, _frm):
        d.shutdown()
        os._exit(0)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    d.serve()
    return 0


def labd_request(state_dir, req, timeout=20.0):
    """Send one request to the lab daemon; returns the decoded answer."""
    path = os.path.join(state_dir, "run", "labd.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
        s.sendall(json.dumps(req).encode() + b"\n")
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    finally:
        s.close()
    if not buf:
        raise LabError("lab daemon closed the connection")
    return json.loads(buf)


def start_labd(state_dir):
    """Start the lab daemon (if it does not answer) and wait until it does."""
    with contextlib.suppress(OSError, LabError, ValueError):
        if labd_request(state_dir, {"op": "ping"}, timeout=2).get("ok"):
            return
    os.makedirs(os.path.join(state_dir, "run"), exist_ok=True)
    log = open(os.path.join(state_dir, "run", "labd.log"), "ab")
    try:
        subprocess.Popen([PYTHON, "-I", SIM_PATH, "labd", state_dir], stdin=subprocess.DEVNULL,
                         stdout=log, stderr=log, start_new_session=True, close_fds=True,
                         cwd="/")
    finally:
        log.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, LabError, ValueError):
            if labd_request(state_dir, {"op": "ping"}, timeout=2).get("ok"):
                return
        time.sleep(0.05)
    raise LabError(f"the lab daemon did not start (see {state_dir}/run/labd.log)")


def labd_sync(state_dir, nodes=None):
    start_labd(state_dir)
    resp = labd_request(state_dir, {"op": "sync", "nodes": nodes})
    if not resp.get("ok"):
        raise LabError(f"lab daemon: {resp.get('error')}")
    return resp["result"]


# --------------------------------------------------------------------------
# The MX-ONE commands
# --------------------------------------------------------------------------

class Ctx:
    """Where a command runs: lab, node, system."""

    def __init__(self, lab, data, node, started=None):
        self.lab = lab
        self.data = data
        self.node = node
        self.started = time.time() if started is None else started  # epoch; the journal's time
        self.system = node["system"]
        self.out = []
        self.err = []

    def say(self, msg):
        self.out.append(msg)

    def fail(self, msg):
        self.err.append(msg)

    def state_path(self):
        return os.path.join(self.lab.system_dir(self.system), "state.json")

    def load_state(self):
        return load_json(self.state_path(), {}) or {}

    def save_state(self, st):
        write_json(self.state_path(), st)

    def has_licence(self):
        return "no-licence" not in self.lab.system_faults(self.system, self.data)


def cmd_license_status(ctx, args):
    if args:
        ctx.fail("Usage: license_status")
        return 2
    lic = ctx.has_licence()
    nlims = len(ctx.lab.system_lims(ctx.system, ctx.data))
    rows = [
        ("IP-EXTENSION", "yes", "500", "0"),
        ("SIP-TRUNK", "yes", "100", "0"),
        ("H323-TRUNK", "yes", "50", "0"),
        ("LIM", "yes", "32", str(nlims)),
        ("VOIP-SECURITY", "yes" if lic else "no", "-", "-"),
        ("MOBILE-EXTENSION", "yes", "100", "0"),
    ]
    ctx.say(f"License status for system {ctx.system} (MX-ONE lab simulator)")
    ctx.say(f"License type: {'permanent' if lic else 'trial'}")
    ctx.say("")
    ctx.say(f"{'Feature':<20}{'Licensed':<10}{'Allowed':<9}Used")
    for r in rows:
        ctx.say(f"{r[0]:<20}{r[1]:<10}{r[2]:<9}{r[3]}")
    return 0


def cmd_media_encryption_enable(ctx, args):
    usage = "Usage: media_encryption_enable -type extension|route|intermgw"
    if len(args) != 2 or args[0] not in ("-type", "--type"):
        ctx.fail(usage)
        return 2
    kind = args[1]
    if kind not in MEDIA_TYPES:
        ctx.fail(f"media_encryption_enable: unknown type {kind!r}")
        ctx.fail(usage)
        return 2
    if not ctx.has_licence():
        ctx.fail("media_encryption_enable: license VOIP-SECURITY is not available "
                 "(see license_status); media encryption not enabled")
        return 1
    st = ctx.load_state()
    enabled = set(st.get("media_encryption", []))
    if kind in enabled:
        ctx.say(f"Media encryption for {kind} is already enabled")
    else:
        enabled.add(kind)
        st["media_encryption"] = sorted(enabled)
        ctx.save_state(st)
        ctx.say(f"Media encryption for {kind} enabled")
    return 0


def cmd_data_backup(ctx, args):
    if args:
        ctx.fail("Usage: data_backup")
        return 2
    faults = ctx.lab.faults()
    if "disk-full" in faults.get(ctx.node["name"], []):
        ctx.fail("data_backup: cannot write the backup: No space left on device")
        return 1
    st = ctx.load_state()
    backups = st.setdefault("backups", [])
    n = len(backups) + 1
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d%H%M%S")
    entry = {"n": n, "time": now_iso(), "host": ctx.node["name"],
             "file": f"/var/opt/eri_sn/backup/{ctx.system}-{stamp}-{n}.tar"}
    backups.append(entry)
    ctx.save_state(st)
    ctx.say(f"Data backup {n} of system {ctx.system} completed: {entry['file']}")
    return 0


def node_eri_sn(lab, node):
    """A LIM's /etc/opt/eri_sn as seen from this process.

    reload runs inside one node's mount namespace, made private when that
    node started; the tmpfs of a LIM added later (lab add-lim) is mounted
    on the host after that and is invisible from here under its host path.
    Going through the LIM's own process (/proc/PID/root) sees what it sees.
    """
    info = load_json(lab.path("nodes", node["name"], "run.json"), {}) or {}
    pid = info.get("pid")
    if pid and pid_alive(pid):
        view = "/proc/%d/root/etc/opt/eri_sn" % pid
        if os.path.isdir(view):
            return view
    return node["mount"]


def _lim_check(lim_node, cache, lab):
    """Validate one LIM; returns (problem, spec_parts).

    cache maps a bundle's sha256 to check_bundle()'s answer, so that a system
    certificate shared by every LIM is checked once per reload.
    """
    eri = node_eri_sn(lab, lim_node)
    bundle_path = os.path.join(eri, BUNDLE_REL)
    try:
        with open(bundle_path, encoding="ascii", errors="replace") as fh:
            text = fh.read()
    except FileNotFoundError:
        return "/etc/opt/eri_sn/certs/eri_sn_cert.pem: no such file", None
    except OSError as exc:
        return f"/etc/opt/eri_sn/certs/eri_sn_cert.pem: {exc.strerror}", None
    key = hashlib.sha256(text.encode("ascii", "replace")).hexdigest()
    if key not in cache:
        cache[key] = check_bundle(text)
    problem, info = cache[key]
    if problem:
        return f"/etc/opt/eri_sn/certs/eri_sn_cert.pem: {problem}", None
    mode, err = read_verification_mode(os.path.join(eri, IPTEL_REL))
    if err:
        return f"/etc/opt/eri_sn/{err}", None
    ca_text = None
    if mode != "none":
        try:
            with open(os.path.join(eri, CA_REL), encoding="ascii", errors="replace") as fh:
                ca_text = fh.read()
        except OSError:
            return (f"/etc/opt/eri_sn/certs/ca.pem: missing, but TlsClientVerificationMode is "
                    f"{mode}"), None
        try:
            ssl.create_default_context(cadata=ca_text)
        except (ssl.SSLError, ValueError) as exc:
            return f"/etc/opt/eri_sn/certs/ca.pem: no usable CA certificate ({exc})", None
    return None, {"text": text, "ca_text": ca_text, "mode": mode, "info": info}


def _reload_in_progress(lab, lims, now):
    """(order ISO, [names]) of the LIMs that validated at the last reload and are not back yet."""
    waiting = []
    order = None
    for n in lims:
        spec = load_json(lab.tls_spec_path(n["name"])) or {}
        if spec.get("active") and float(spec.get("up_at") or 0) > now:
            waiting.append(n["name"])
            order = max(order or "", spec.get("reload") or "")
    return order, waiting


def cmd_reload(ctx, args):
    usage = "Usage: reload --system | reload -u SIPLP,IPLP,TLP65,CSTServer"
    how = None
    if args == ["--system"]:
        how = "--system"
    elif len(args) == 2 and args[0] == "-u":
        units = args[1].split(",")
        if len(units) == len(RELOAD_UNITS) and set(units) == RELOAD_UNITS:
            how = "-u"
        else:
            ctx.fail(f"reload: unsupported unit list {args[1]!r} (this system reloads "
                     f"exactly SIPLP,IPLP,TLP65,CSTServer)")
    if how is None:
        ctx.fail(usage)
        return 2
    lab, data = ctx.lab, ctx.data
    lims = lab.system_lims(ctx.system, data)
    order_at = ctx.started
    order = iso_of(order_at)
    ordered, waiting = _reload_in_progress(lab, lims, time.time())
    if waiting:
        ctx.fail(f"reload: a reload of system {ctx.system} is in progress (ordered {ordered}; "
                 f"not back yet: {', '.join(waiting)}); try again when it has finished")
        return 1
    faults = lab.faults()
    names = [n["name"] for n in lims]
    st = ctx.load_state()
    if "reload-fails" in lab.system_faults(ctx.system, data, faults):
        for n in lims:
            _write_spec(lab, n["name"], None, order=order, problem="reload-fails fault")
        labd_sync(lab.dir, names)
        ctx.fail(f"reload: system {ctx.system}: program unit SIPLP did not start "
                 f"(lab fault reload-fails); TLS is down on every LIM of the system")
        # The fault is a transient failure: it is spent by the reload it failed, so the
        # next reload (a rollback, a retry) runs normally.
        with flocked(lab.path("run", "lab.lock")):
            spent = lab.faults()
            for n in lims:
                kinds = [k for k in spent.get(n["name"], []) if k != "reload-fails"]
                if kinds:
                    spent[n["name"]] = kinds
                else:
                    spent.pop(n["name"], None)
            write_json(lab.path("faults.json"), spent)
        st.setdefault("reloads", []).append({"time": order, "host": ctx.node["name"],
                                             "how": how, "ok": False})
        ctx.save_state(st)
        return 1
    ctx.say(f"reload {how}: system {ctx.system}, {len(lims)} LIM(s)")
    settings = lab.reload_settings(ctx.system, data)
    problems = {}
    cache = {}
    disabled = set()
    back = {}
    for n in lims:
        label = f"LIM {n['lim']} ({n['name']})"
        if "down" in faults.get(n["name"], []):
            problems[n["name"]] = f"{label}: not reachable (node is down); not reloaded"
            continue
        if not tls_enabled(node_eri_sn(lab, n)):
            _write_spec(lab, n["name"], None, order=order,
                        problem="TLS not used (TlsEnabled: no in /etc/opt/eri_sn/tls_telephony.conf)")
            disabled.add(n["name"])
            continue
        problem, parts = _lim_check(n, cache, lab)
        if problem:
            problems[n["name"]] = f"{label}: {problem}"
            _write_spec(lab, n["name"], None, order=order, problem=problem)
        else:
            seconds = lab.reload_seconds(settings, n["name"])
            back[n["name"]] = seconds
            _write_spec(lab, n["name"], parts, n, order=order, up_at=order_at + seconds)
    result = labd_sync(lab.dir, names)
    for n in lims:
        if n["name"] in problems:
            ctx.fail(f"reload: {problems[n['name']]}; TLS stays down on {n['ip']}")
            continue
        if n["name"] in disabled:
            ctx.say(f"LIM {n['lim']} ({n['name']}): TLS not used (tls_telephony.conf); listeners stopped")
            continue
        r = result.get(n["name"], {})
        if r.get("error"):
            problems[n["name"]] = r["error"]
            _write_spec(lab, n["name"], None, order=order, problem=r["error"])  # it will not come back
            ctx.fail(f"reload: LIM {n['lim']} ({n['name']}): {r['error']}")
            continue
        spec = load_json(lab.tls_spec_path(n["name"]), {})
        ctx.say(f"LIM {n['lim']} ({n['name']}): eri_sn_cert.pem OK "
                f"({spec.get('subject')}, valid until {spec.get('not_after')}); TLS on "
                f"{n['ip']} ports {','.join(map(str, TLS_PORTS))} back in {back[n['name']]:g} s, "
                f"client verification {spec.get('mode')}")
    st.setdefault("reloads", []).append({"time": order, "host": ctx.node["name"],
                                         "how": how, "ok": not problems,
                                         "failed": sorted(problems),
                                         "back_at": {k: iso_of(order_at + v) for k, v in back.items()
                                                     if k not in problems}})
    ctx.save_state(st)
    if problems:
        ctx.fail(f"reload: failed on {len(problems)} of {len(lims)} LIM(s)")
        return 1
    ctx.say("reload: done")
    return 0


def _write_spec(lab, name, parts, node=None, order=None, up_at=None, problem=None):
    """Desired TLS state of a LIM; parts None means listeners down (``problem`` says why).

    A LIM that validated gets a snapshot of its bundle (and client CA) for this
    generation, which the listener serves from ``up_at`` (epoch seconds) on.
    """
    os.makedirs(lab.path("tls"), exist_ok=True)
    spec_path = lab.tls_spec_path(name)
    generation = uuid.uuid4().hex
    old = [f for f in os.listdir(lab.path("tls"))
           if f.startswith(f"{name}.") and f.endswith((".bundle.pem", ".ca.pem"))]
    if parts is None:
        write_json(spec_path, {"active": False, "generation": generation, "reload": order,
                               "problem": problem})
    else:
        bundle = lab.path("tls", f"{name}.{generation}.bundle.pem")
        fd = os.open(bundle, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(parts["text"])
        ca = None
        if parts["ca_text"] is not None:
            ca = lab.path("tls", f"{name}.{generation}.ca.pem")
            fd = os.open(ca, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="ascii") as fh:
                fh.write(parts["ca_text"])
        write_json(spec_path, {
            "active": True, "generation": generation, "bundle": bundle, "ca": ca,
            "mode": parts["mode"], "ip": node["ip"], "ports": list(TLS_PORTS),
            "subject": parts["info"].get("subject"), "not_after": parts["info"].get("not_after"),
            "reloaded": order, "reload": order, "up_at": up_at, "back_at": iso_of(up_at),
        })
    for f in old:  # the snapshots of earlier reloads (a running listener has its own copy in memory)
        with contextlib.suppress(OSError):
            os.unlink(lab.path("tls", f))


COMMANDS = {
    "license_status": cmd_license_status,
    "media_encryption_enable": cmd_media_encryption_enable,
    "data_backup": cmd_data_backup,
    "reload": cmd_reload,
}


def _proc_parent(pid):
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return int(fh.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def session_user(pid=None):
    """The account that logged in over SSH for this session: from its sshd process among our ancestors.

    OpenSSH names a session's processes ``sshd: USER [priv]`` (root) and ``sshd: USER@notty`` or
    ``sshd: USER@pts/N`` (the user's); ``su`` and ``sudo`` in between change neither. None when the
    command does not run under an SSH session.
    """
    pid = os.getppid() if pid is None else pid
    seen = set()
    while pid > 1 and pid not in seen:
        seen.add(pid)
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                title = fh.read().split(b"\0")[0].decode(errors="replace")
        except OSError:
            title = ""
        m = SSHD_SESSION_RE.match(title)
        if m:
            return m.group(1)
        pid = _proc_parent(pid)
    return None


def user_name(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def where_am_i():
    """(node name, state dir) from the node's own file in its mount namespace, or None off a lab node."""
    try:
        with open(NODE_FILE, encoding="utf-8") as fh:
            info = json.load(fh)
        return info["node"], info["state_dir"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def run_command(name, args):
    here = where_am_i()
    if here is None:
        print(f"{name}: not on an MX-ONE lab node (no {NODE_FILE})", file=sys.stderr)
        return 127
    node_name, state_dir = here
    if os.geteuid() != 0:
        # The documents: the commands run as root, or as mxone_admin with sudo -H. The lab does not
        # let anyone else run them (the less forgiving reading); the refusal acts on nothing and is
        # not journaled.
        print(f"{name}: must run as root: log in with your own account, then su - or sudo -H",
              file=sys.stderr)
        return 1
    lab = Lab(state_dir)
    try:
        data = lab.data
        node = lab.node(node_name, data)
    except LabError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return 127
    if node["kind"] != "lim":
        print(f"{name}: command not found (this is a download server, not an MX-ONE "
              f"service node)", file=sys.stderr)
        return 127
    started_at = time.time()
    started = iso_of(started_at)
    login = session_user()
    as_user = user_name(os.geteuid())
    sysdir = lab.system_dir(node["system"])
    os.makedirs(sysdir, exist_ok=True)
    with flocked(os.path.join(sysdir, "lock")):
        ctx = Ctx(lab, data, node, started_at)
        try:
            rc = COMMANDS[name](ctx, args)
        except LabError as exc:
            ctx.fail(f"{name}: internal lab error: {exc}")
            rc = 1
        except Exception as exc:  # a simulator bug must still be journaled
            ctx.fail(f"{name}: internal simulator error: {type(exc).__name__}: {exc}")
            rc = 1
        entry = {"time": started, "host": node_name,
                 "command": shlex.join([name, *args]), "exit": rc, "user": login, "as": as_user}
        lab.append_journal(node["system"], entry)
    if ctx.out:
        print("\n".join(ctx.out))
    if ctx.err:
        print("\n".join(ctx.err), file=sys.stderr)
    return rc


def main(argv):
    if len(argv) >= 3 and argv[1] == "labd":
        return labd_main(argv[2])
    if len(argv) >= 2 and argv[1] in COMMANDS:
        return run_command(argv[1], argv[2:])
    print("usage: mxone_sim.py {license_status|media_encryption_enable|data_backup|reload} ARGS"
          "\n       mxone_sim.py labd STATE_DIR", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
