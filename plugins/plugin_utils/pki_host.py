# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The PKI host (``mxone_pki_host``): where the CA key, the store and the run lock live.

By default it is the controller (``localhost``) and everything runs in-process as before. Set to an
inventory host, the store is a directory there: CA and certificate work runs there (delegated tasks),
the run lock is a lease there (module_utils/runlock.py), and delivery reads the store's files from
there over the connection into memory (``read_store_files``): nothing with a private key is written
on the controller. Only public CA certificates are copied to the controller, for the TLS checks.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json
import os
import shlex

from ansible.module_utils.common.text.converters import to_bytes, to_native, to_text

from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError
from ansible_collections.mxone.pki.plugins.plugin_utils.fleet_exec import host_shell

VARIABLE = "mxone_pki_host"
CONTROLLER_NAMES = ("localhost", "127.0.0.1", "::1")


def is_remote(pki_host):
    """True when the store is not on the controller."""
    return bool(pki_host) and pki_host not in CONTROLLER_NAMES


def check_pki_host(pki_host, inventory_hosts, pki_dir):
    """The problem with ``mxone_pki_host`` / ``mxone_pki_dir``, in a sentence, or None."""
    if not isinstance(pki_host, str) or not pki_host.strip():
        return "%s must name an inventory host (or localhost, the controller); got %r" % (VARIABLE, pki_host)
    if not is_remote(pki_host):
        return None
    if pki_host not in inventory_hosts:
        return ("%s is %r, which is not a host of the inventory: add it (with ansible_host, ansible_user and "
                "ansible_python_interpreter of a Python with cryptography there), or leave %s unset for the "
                "controller" % (VARIABLE, pki_host, VARIABLE))
    if not pki_dir or not os.path.isabs(pki_dir):
        return ("%s is %s: mxone_pki_dir must be set to an absolute path on that host (the store there); got %r"
                % (VARIABLE, pki_host, pki_dir))
    return None


def run_module_on(action, task_vars, host, name, args):
    """Module ``name`` run on ``host`` from inside an action; its result."""
    shell = host_shell(action, host, task_vars)
    try:
        return shell.execute_module(name, args)
    finally:
        shell.close()


# Read on the PKI host with its Python: {path: base64 or null}; paths on stdin. Only reads.
_READER = (
    "import base64,json,sys\n"
    "out={}\n"
    "for p in json.load(sys.stdin):\n"
    "    try:\n"
    "        out[p]=base64.b64encode(open(p,'rb').read()).decode()\n"
    "    except OSError:\n"
    "        out[p]=None\n"
    "sys.stdout.write(json.dumps(out))\n"
)


def _python(task_vars, host):
    try:
        interpreter = task_vars["hostvars"][host].get("ansible_python_interpreter")
    except (KeyError, TypeError):
        interpreter = None
    if not interpreter or str(interpreter).startswith("auto"):
        return "python3"
    return str(interpreter)


def read_store_files(action, task_vars, host, paths):
    """The files at ``paths`` on ``host``, in memory: {path: bytes or None when missing}, one round trip.

    The answer travels on the SSH channel; nothing is written on either side.
    """
    paths = sorted(set(p for p in paths if p))
    if not paths:
        return {}
    shell = host_shell(action, host, task_vars)
    try:
        res = shell.run("%s -c %s" % (shlex.quote(_python(task_vars, host)), shlex.quote(_READER)),
                        to_bytes(json.dumps(paths)))
    finally:
        shell.close()
    if res.get("unreachable") or res.get("rc") != 0:
        raise MxonePkiError("cannot read the PKI store on %s (%s): %s" % (
            host, VARIABLE, res.get("msg") or to_text(res.get("stderr", "")).strip()[-300:] or "rc=%s" % res.get("rc")),
            host=host)
    try:
        answer = json.loads(to_text(res.get("stdout", "")))
        return dict((p, base64.b64decode(answer[p]) if answer.get(p) is not None else None) for p in paths)
    except (ValueError, KeyError, TypeError) as exc:
        raise MxonePkiError("unreadable answer from the PKI host %s: %s" % (host, to_native(exc)), host=host)


def write_public_copy(path, data):
    """A public CA certificate file on the controller (for the TLS checks); never called with a key."""
    if b"PRIVATE KEY" in data:  # a wrong path must never put a key on the controller
        raise MxonePkiError("refusing to copy %s: it holds a private key" % path, file=path)
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    current = None
    if os.path.exists(path):
        with open(path, "rb") as handle:
            current = handle.read()
    if current != data:
        temp = "%s.%d.tmp" % (path, os.getpid())
        with open(temp, "wb") as handle:
            handle.write(data)
        os.chmod(temp, 0o644)
        os.rename(temp, path)
