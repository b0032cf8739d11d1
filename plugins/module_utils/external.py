# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Customer PKI (``mxone_cert_mode: external``): the CSR goes out, the signed certificate comes back in.

Per external certificate (one per system, id = the system id; or one per LIM that alone of its system
is external, id = ``<system>-lim<N>``):

1. the CSR at ``paths.csr`` is written or kept; its key at ``paths.key`` is made once and kept;
2. the drop folder ``<pki_dir>/incoming/<id>/`` is read: ``server.pfx``, else ``server.p7b``, else
   ``server.pem`` (+ optional ``ca.pem``);
3. the importer takes it in (``importer.import_signed``: a file that does not cover the plan's names,
   or would be renewed at once, is refused before anything is written; that system then waits);
4. the certificate in place is judged by ``renewal.decide`` (coverage rule, issued by its own chain,
   renew-before window): no certificate, or one that must be renewed, makes the system wait;
5. the phones' CA file ``<pki_dir>/download/ca.pem`` is every CA in use.

Everything goes through a ``Staged`` store: reads see what this run would write, writes are only
recorded. The caller writes ``store.staged`` at the end (``files.Writer``), or, in check mode, does
not: the same decisions are taken in memory, with no scratch directory.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import posixpath

from ansible_collections.mxone.pki.plugins.module_utils.bundle import build_ca_bundle
from ansible_collections.mxone.pki.plugins.module_utils.certs import dump_certificate, facts, load_certificate
from ansible_collections.mxone.pki.plugins.module_utils.csr import build_csr, csr_reason, dump_csr, load_csr, \
    subject_warnings
from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError
from ansible_collections.mxone.pki.plugins.module_utils.files import KEY_MODE, PUBLIC_MODE
from ansible_collections.mxone.pki.plugins.module_utils.importer import guess_format, import_signed
from ansible_collections.mxone.pki.plugins.module_utils.keys import (
    DEFAULT_DIGEST, DEFAULT_KEY_TYPE, dump_private_key, generate_private_key, load_private_key, public_key_der)
from ansible_collections.mxone.pki.plugins.module_utils.naming import lim_names, system_names
from ansible_collections.mxone.pki.plugins.module_utils.pem import split_pem
from ansible_collections.mxone.pki.plugins.module_utils.renewal import Existing, Wanted, decide

# Precedence when several are there: PKCS#12 (brings its key), then PKCS#7, then PEM.
DROP_NAMES = ("server.pfx", "server.p7b", "server.pem")
DROP_CA_NAME = "ca.pem"
DOWNLOAD_DIR_MODE = 0o755  # the phones' CA file is public


class Staged(object):
    """The PKI store as this run would leave it: ``read`` sees staged writes first, then ``read_file``.

    ``read_file(path)`` returns bytes or None; ``mode_of(path)`` the file's mode or None.
    """

    def __init__(self, read_file, mode_of=None):
        self._read_file = read_file
        self._mode_of = mode_of or (lambda path: None)
        self.staged = {}  # path -> (content, mode), in the order staged

    def read(self, path):
        if path in self.staged:
            return self.staged[path][0]
        return self._read_file(path)

    def exists(self, path):
        return self.read(path) is not None

    def stage(self, path, content, mode):
        """Record a write; True when it changes the file (content or mode)."""
        if self.read(path) == content and (path in self.staged or self._mode_of(path) in (None, mode)):
            return False
        self.staged[path] = (content, mode)
        return True


def drop_dir(pki_dir, cert_id):
    return posixpath.join(pki_dir, "incoming", cert_id)


def pick_drop(directory, exists):
    """(main file, CA file or None) of the drop folder, or (None, None) when nothing is there."""
    for name in DROP_NAMES:
        src = posixpath.join(directory, name)
        if exists(src):
            ca_src = posixpath.join(directory, DROP_CA_NAME)
            return src, (ca_src if name == "server.pem" and exists(ca_src) else None)
    return None, None


def names_of(cert):
    """The names the plan's certificate entry must carry (a system's wildcard set, or one LIM's)."""
    common = cert.get("common_name") or "name"
    if cert.get("lim") is None:
        return system_names(cert["domain"], cert["lims"], cert.get("extra_dns") or [], cert.get("extra_ips") or [],
                            common)
    entry = [e for e in cert["lims"] if str(e.get("lim")) == str(cert["lim"])][0]
    return lim_names(cert["domain"], cert["lim"], entry.get("ip"), cert.get("extra_dns") or [],
                     cert.get("extra_ips") or [], common)


def waiting_message(system, csr_path, directory, why):
    """What a system that waits for its customer's CA tells the operator (the e2e tests read it)."""
    return ("system %s: waiting for the customer's CA (%s): have %s signed and put the result in %s/ as "
            "server.pem (+ ca.pem), server.p7b or server.pfx (password in mxone_pfx_password); then run again"
            % (system, why, csr_path, directory))


def ensure_csr(store, cert, names, subject, passphrase, key_type=DEFAULT_KEY_TYPE, digest=DEFAULT_DIGEST):
    """Write or keep the CSR; its key is made once and kept. Returns (key, result)."""
    paths = cert["paths"]
    key_data = store.read(paths["key"])
    key = None
    if key_data is not None:
        key = load_private_key(key_data, passphrase, source=paths["key"], field="key_passphrase")
    csr_data = store.read(paths["csr"])
    csr = None
    if csr_data is not None:
        try:
            csr = load_csr(csr_data)
        except ValueError:
            csr = None  # unreadable: a good one is written over it
    subject = dict((k, v) for k, v in (subject or {}).items() if v)
    reason, detail = csr_reason(csr, key, names, subject)
    changed = []
    if key is None:
        key = generate_private_key(key_type)
        if store.stage(paths["key"], dump_private_key(key, passphrase), KEY_MODE):
            changed.append(paths["key"])
    if reason is not None:
        csr = build_csr(key, names, subject, digest)[0]
        if store.stage(paths["csr"], dump_csr(csr), PUBLIC_MODE):
            changed.append(paths["csr"])
    return key, dict(changed=bool(changed), reason=reason, detail=detail, changed_files=changed,
                     warnings=subject_warnings(subject))


def import_drop(store, cert, names, src, ca_src, now, key, passphrase, password=None, renew_before=None):
    """Take what the customer's CA returned into the store; the result shaped like cert_import's.

    Raises ``MxonePkiError`` when the drop is refused (nothing is staged then).
    """
    paths = cert["paths"]
    data = store.read(src)
    ca_data = store.read(ca_src) if ca_src else None
    fmt = guess_format(data, src)
    imported = import_signed(data, src, now, ca_data=ca_data, ca_source=ca_src,
                             key=None if fmt == "pkcs12" else key, password=password, fmt=fmt, wanted=names,
                             require_ips=bool(cert.get("import_require_ips")), system=cert["system"],
                             renew_before=renew_before)
    changed = []
    if key is None or public_key_der(key) != public_key_der(imported.key):
        if store.stage(paths["key"], dump_private_key(imported.key, passphrase), KEY_MODE):
            changed.append(paths["key"])
    new_cert = store.stage(paths["cert"], dump_certificate(imported.leaf), PUBLIC_MODE)
    if new_cert:
        changed.append(paths["cert"])
    if store.stage(paths["chain"], build_ca_bundle(imported.chain), PUBLIC_MODE):
        changed.append(paths["chain"])
    after = facts(imported.leaf, now)
    if new_cert:
        reason, detail = "imported", "certificate %s (serial %s) from %s" % (after["subject"], after["serial"], fmt)
    elif changed:
        reason, detail = "files_updated", "certificate already imported; updated %s" % ", ".join(changed)
    else:
        reason, detail = None, "certificate already imported"
    warnings = []
    if imported.repaired:
        warnings.append("BEGIN/END lines in %s were not on lines of their own; repaired" % src)
    if imported.coverage is not None:
        warnings += ["%s (system %s): %s" % (src, cert["system"], w) for w in imported.coverage.warnings()]
    result = dict(changed=bool(changed), reason=reason, detail=detail, format=fmt, certificate=after,
                  chain=[c.subject.rfc4514_string() for c in imported.chain], repaired=imported.repaired,
                  changed_files=changed, warnings=warnings)
    if imported.coverage is not None:
        result["coverage"] = imported.coverage.as_dict()
    return result


def judge(store, cert, names, now, renew_before):
    """(decision, facts of the certificate in place or {}) by the import's own coverage rule.

    The certificate must be issued by its imported chain (not, say, by the enterprise CA before the
    switch), cover the names and be outside the renew-before window.
    """
    paths = cert["paths"]
    existing = Existing(key_checked=False)  # the key was checked at import
    data = store.read(paths["cert"])
    if data is not None:
        try:
            existing.cert = load_certificate(data, source=paths["cert"])
        except MxonePkiError as error:
            existing.problem = error.msg
    chain = store.read(paths["chain"])
    issuer = load_certificate(chain, source=paths["chain"]) if chain is not None else None
    wanted = Wanted(names, issuer, match="cover", require_ips=bool(cert.get("import_require_ips")))
    decision = decide(existing, wanted, now, renew_before)
    return decision, (facts(existing.cert, now) if existing.cert is not None else {})


def certificate_outcome(store, cert, now, key_passphrase, renew_before, pki_dir, subject=None, pfx_password=None,
                        key_type=DEFAULT_KEY_TYPE):
    """One external certificate, end to end: (outcome shaped like a server_cert result, wait message or None,
    warnings)."""
    names = names_of(cert)
    key, csr_result = ensure_csr(store, cert, names, subject, key_passphrase, key_type)
    warnings = list(csr_result.pop("warnings"))
    directory = drop_dir(pki_dir, cert["id"])
    src, ca_src = pick_drop(directory, store.exists)
    result, refused = {}, None
    if src is not None:
        try:
            result = import_drop(store, cert, names, src, ca_src, now, key, key_passphrase,
                                 password=pfx_password if src.endswith(".pfx") else None, renew_before=renew_before)
            warnings += result.pop("warnings")
        except MxonePkiError as error:
            refused = str(error)
            result = dict(changed=False, failed=True, msg=refused)
    decision, in_place = judge(store, cert, names, now, renew_before)
    # nothing imported yet: a certificate in place that came from elsewhere does not count
    nothing_imported = not store.exists(cert["paths"]["chain"])
    imported = result.get("reason") == "imported"
    outcome = dict(result, item=dict(key=cert["id"], value=cert), renew=imported, csr=csr_result,
                   previous=in_place if not imported else {})
    outcome.setdefault("certificate", in_place)
    if not (refused or decision.renew or nothing_imported):
        return outcome, None, warnings
    if refused:
        why = "the file in %s was refused: %s" % (directory, refused)
    elif nothing_imported:
        why = "missing: nothing imported yet"
    else:
        why = "%s: %s" % (decision.reason, decision.detail)
    message = waiting_message(cert["system"], cert["paths"]["csr"], directory, why)
    outcome.update(renew=True, detail=message,
                   reason="missing" if nothing_imported else (decision.reason if decision.renew else "refused"))
    return outcome, message, warnings


def phones_ca(pems):
    """The phones' CA file from PEM files (bytes): every certificate once, in the order first seen."""
    seen, out = set(), []
    for data in pems:
        for block in split_pem(data, source="CA file")[0]:
            if block.is_certificate and block.der not in seen:
                seen.add(block.der)
                out.append(block.to_pem().encode("ascii"))
    return b"".join(out)


def ca_sources(certificates, ca_cert_path):
    """The CA files in use, in a stable order: the enterprise CA when any certificate of the fleet is its own
    (mode system or lim), then each external chain of the whole fleet, sorted by certificate id."""
    enterprise = any(c["mode"] != "external" for c in certificates.values())
    return (([ca_cert_path] if enterprise else [])
            + [certificates[i]["paths"]["chain"] for i in sorted(certificates)
               if certificates[i]["mode"] == "external"]), enterprise


def run_external(store, certificates, selected, now, key_passphrase, renew_before, pki_dir, ca_cert_path,
                 download_ca_path, subjects=None, pfx_passwords=None, key_type=DEFAULT_KEY_TYPE):
    """Every selected external certificate, then the phones' CA file; all writes staged in ``store``.

    ``certificates`` is the plan's (the whole fleet: the phones' file holds every CA in use); ``selected``
    the ids to work on. Returns a dict: ``outcomes`` (one per certificate), ``waiting`` (system -> why),
    ``no_download_ca`` (no CA in use yet: the download servers keep their ca.pem), ``download_ca_changed``
    (the phones' file at ``download_ca_path`` changes), ``chains_changed`` (chain paths this run writes),
    ``warnings``.
    """
    subjects, pfx_passwords = subjects or {}, pfx_passwords or {}
    outcomes, waiting, warnings, chains_changed = [], {}, [], []
    for cert_id in sorted(selected):
        cert = certificates[cert_id]
        before = dict(store.staged)
        outcome, message, more = certificate_outcome(
            store, cert, now, key_passphrase, renew_before, pki_dir, subject=subjects.get(cert["system"]),
            pfx_password=pfx_passwords.get(cert["system"]), key_type=key_type)
        outcomes.append(outcome)
        warnings += more
        if message:
            waiting[cert["system"]] = message
        if store.staged.get(cert["paths"]["chain"]) != before.get(cert["paths"]["chain"]):
            chains_changed.append(cert["paths"]["chain"])
    sources, enterprise = ca_sources(certificates, ca_cert_path)
    present = [store.read(p) for p in sources if store.exists(p)]
    download_ca_changed = False
    # In a check run on a new fleet the enterprise CA is not there yet: the phones' file is pending anyway.
    if present and (not enterprise or store.exists(ca_cert_path)):
        download_ca_changed = store.stage(download_ca_path, phones_ca(present), PUBLIC_MODE)
    return dict(outcomes=outcomes, waiting=waiting, no_download_ca=not present,
                download_ca_changed=download_ca_changed, chains_changed=chains_changed, warnings=warnings)
