# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rollout's plan step: CA -> each certificate -> the phones' CA file -> the manifest.

It runs where the PKI store is (the controller, or the PKI host) over one ``external.Staged`` store,
so every later step sees what the earlier ones would write: in check mode the whole chain is worked
out in memory and nothing is written (the caller commits ``store.staged`` only in a real run).

The manifest is plain data, with no key bytes and no passphrase in it:

- ``hosts``: per host of the play, the files it must hold (node path, SHA-256 of the exact bytes,
  mode, owner policy, why) and the store files they are made from, or why it gets nothing (``stop``);
- ``systems``: per selected system, whether a changed delivery activates it, or why not;
- ``stops``: each stop, its reason and the hosts it stops (licence and maintenance window are decided
  later, on the nodes, by mxone_activate: they are not in here);
- ``certificates`` (one outcome per certificate, shaped like server_cert's results) and ``ca``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import posixpath

from ansible_collections.mxone.pki.plugins.module_utils.bundle import (
    CA_BUNDLE_NAME, SN_BUNDLE_NAME, build_sn_bundle, check_sn_bundle)
from ansible_collections.mxone.pki.plugins.module_utils.ca import DEFAULT_CA_RENEW_BEFORE_DAYS, load_ca, plan_ca
from ansible_collections.mxone.pki.plugins.module_utils.certs import dump_certificate, facts, load_certificate
from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError
from ansible_collections.mxone.pki.plugins.module_utils.external import names_of, run_external
from ansible_collections.mxone.pki.plugins.module_utils.files import KEY_MODE, PUBLIC_MODE
from ansible_collections.mxone.pki.plugins.module_utils.fleet import NODE_CERT_DIR, node_settings, partial_stop
from ansible_collections.mxone.pki.plugins.module_utils.issue import renew_or_keep
from ansible_collections.mxone.pki.plugins.module_utils.keys import DEFAULT_KEY_TYPE, dump_private_key, load_private_key
from ansible_collections.mxone.pki.plugins.module_utils.module_glue import load_existing
from ansible_collections.mxone.pki.plugins.module_utils.pem import certificate_ders
from ansible_collections.mxone.pki.plugins.module_utils.renewal import DEFAULT_RENEW_BEFORE_DAYS


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def ca_step(store, paths, passphrase, now, check_mode, renew_before_days=DEFAULT_CA_RENEW_BEFORE_DAYS,
            new_ca=None):
    """(authority, outcome) of the enterprise CA after this run.

    A real run finds the CA that mxone_ca created or kept (it is the one place that writes it). A check run
    works out in memory what mxone_ca would do, by the same decision (``ca.plan_ca``; ``new_ca``: its
    common_name, key_type, validity_days), and stages it so that the certificates and bundles below are
    built on it.
    """
    cert_data, key_data = store.read(paths["cert"]), store.read(paths["key"])
    if check_mode:
        authority, decision = plan_ca(cert_data, key_data, passphrase, now, renew_before=renew_before_days,
                                      cert_source=paths["cert"], key_source=paths["key"], **(new_ca or {}))
        if decision.new_key:
            store.stage(paths["key"], dump_private_key(authority.key, passphrase), KEY_MODE)
        if decision.renew:
            store.stage(paths["cert"], dump_certificate(authority.cert), PUBLIC_MODE)
        return authority, dict(changed=decision.renew, reason=decision.reason, detail=decision.detail,
                               ca=facts(authority.cert, now))
    if cert_data is None:
        raise MxonePkiError("CA certificate %s does not exist; create the CA first (mxone.pki.enterprise_ca)"
                            % paths["cert"], file=paths["cert"], field="ca_cert_path")
    if key_data is None:
        raise MxonePkiError("CA key %s does not exist" % paths["key"], file=paths["key"], field="ca_key_path")
    authority = load_ca(cert_data, key_data, passphrase, cert_source=paths["cert"], key_source=paths["key"])
    return authority, dict(changed=False, reason=None, detail="CA kept", ca=facts(authority.cert, now))


def issue_step(store, cert, authority, now, passphrase, options):
    """Issue, renew or keep one certificate of the enterprise CA; its outcome, shaped like server_cert's result.

    ``options``: renew_or_keep's keyword arguments (key_type, key_policy, digest, validity_days, renew_before in
    days, force); those not given take its defaults, the one place they are set.
    """
    paths = cert["paths"]
    existing = load_existing(paths["cert"], paths["key"], passphrase, read=store.read)
    before = facts(existing.cert, now) if existing.cert is not None else {}
    decision, key, leaf = renew_or_keep(authority, names_of(cert), existing, now, **options)
    changed = []
    if decision.new_key and store.stage(paths["key"], dump_private_key(key, passphrase), KEY_MODE):
        changed.append(paths["key"])
    if decision.renew and store.stage(paths["cert"], dump_certificate(leaf), PUBLIC_MODE):
        changed.append(paths["cert"])
    return dict(item=dict(key=cert["id"], value=cert), changed=bool(changed), reason=decision.reason,
                detail=decision.detail, new_key=decision.new_key, certificate=facts(leaf, now), previous=before,
                renew=decision.renew, changed_files=changed)


def bundle_of(store, cert, passphrase, now):
    """The exact bytes of a certificate's ``eri_sn_cert.pem`` (key, certificate, chain), checked as a node would."""
    paths = cert["paths"]
    leaf = load_certificate(store.read(paths["cert"]), source=paths["cert"])
    key = load_private_key(store.read(paths["key"]), passphrase, source=paths["key"], field="key_passphrase",
                           own_store=True)
    chain_data = store.read(paths["chain"])
    if chain_data is None:
        raise MxonePkiError("%s does not exist" % paths["chain"], file=paths["chain"])
    chain = [load_certificate(der, source=paths["chain"])
             for der in certificate_ders(chain_data, source=paths["chain"])]
    bundle = build_sn_bundle(key, leaf, chain)
    check_sn_bundle(bundle, now, source=SN_BUNDLE_NAME)  # never plan what a node would refuse
    return bundle


def _file(path, data, mode, owner, source, why):
    return dict(path=path, sha256=sha256(data) if data is not None else None, mode="%04o" % mode, owner=owner,
                source=source, why=why)


def host_entries(plan, play_hosts, outcomes, bundle_hashes, store, ca_changed, waiting, partial_ok, download_ca):
    """Per host of the play: its files (or its stop), and the list of stops."""
    issued = dict((o["item"]["key"], o) for o in outcomes)
    partial = {} if partial_ok else dict(
        (s, partial_stop(plan, s, issued, ca_changed)) for s in plan.get("selected_systems", []))
    hosts, stops = {}, {}
    for host in sorted(set(play_hosts)):
        lim = plan["hosts"].get(host)
        if lim is not None and lim["system"] in plan.get("selected_systems", []):
            system = lim["system"]
            why_stop = waiting.get(system) or partial.get(system)
            if why_stop:
                reason = "waiting_for_customer_ca" if system in waiting else "partial_limit"
                stops.setdefault((reason, system), dict(reason=reason, system=system, message=why_stop,
                                                        hosts=[]))["hosts"].append(host)
                hosts[host] = dict(system=system, stop=why_stop, files=[])
                continue
            cert = plan["certificates"][lim["certificate"]]
            outcome = issued.get(cert["id"]) or {}
            chain = cert["paths"]["chain"]
            why_cert = ("certificate %s %s" % (cert["id"], outcome.get("reason"))
                        if outcome.get("changed") else "certificate %s as kept in the store" % cert["id"])
            why_ca = "CA changed in this run" if (ca_changed and cert["mode"] != "external") or \
                chain in (outcome.get("changed_files") or []) else "CA as kept in the store"
            hosts[host] = dict(system=system, certificate=cert["id"], stop=None, settings=node_settings(plan, host),
                               activation=bool(plan["systems"][system]["encryption"]), files=[
                                   _file(posixpath.join(NODE_CERT_DIR, SN_BUNDLE_NAME), None, KEY_MODE, "root",
                                         dict(cert_path=cert["paths"]["cert"], key_path=cert["paths"]["key"],
                                              chain_path=chain), why_cert),
                                   _file(posixpath.join(NODE_CERT_DIR, CA_BUNDLE_NAME), store.read(chain),
                                         PUBLIC_MODE, "keep", dict(path=chain), why_ca)])
            hosts[host]["files"][0]["sha256"] = bundle_hashes.get(cert["id"])
        elif host in plan.get("download_servers", {}) and download_ca is not None:
            directory = plan["download_servers"][host]["dir"]
            hosts[host] = dict(system=None, stop=None, files=[_file(
                posixpath.join(directory, CA_BUNDLE_NAME), store.read(download_ca), PUBLIC_MODE, "keep",
                dict(path=download_ca), "the phones' CA file: every CA in use")])
    return hosts, [stops[k] for k in sorted(stops)]


def system_entries(plan, hosts, outcomes, waiting):
    """Per selected system: whether a delivery that changes a LIM's files activates it, or why not."""
    issued = dict((o["item"]["key"], o) for o in outcomes)
    systems = {}
    for system_id in plan.get("selected_systems", []):
        system = plan["systems"][system_id]
        mine = [h for h in system["hosts"] if h in hosts]
        stopped = [h for h in mine if hosts[h].get("stop")]
        changed = ["%s (%s)" % (c, issued[c]["reason"]) for c in system["certificates"]
                   if issued.get(c, {}).get("changed")]
        if system_id in waiting:
            entry = dict(activate=False, why_not=waiting[system_id])
        elif stopped:
            entry = dict(activate=False, why_not=hosts[stopped[0]]["stop"])
        elif not system["encryption"]:
            entry = dict(activate=False, why_not="mxone_encryption is false: files only, no activation")
        else:
            entry = dict(activate=True, why="new certificate: %s" % ", ".join(changed) if changed else
                         "when delivery changes a LIM's files (compared on the node)")
        entry["hosts"] = mine
        systems[system_id] = entry
    return systems


def build_manifest(store, plan, play_hosts, selected, now, passphrase, check_mode, issue_options,
                   ca_options=None, ca_changed=False, partial_ok=False, subjects=None, pfx_passwords=None):
    """CA -> each selected certificate (issued, or the customer PKI's) -> bundles -> the manifest.

    ``selected``: the certificate ids to work on (those of the selected systems still in the play).
    ``ca_changed``: mxone_ca changed the CA in this run (a real run's answer; a check run's is worked out here).
    Returns (manifest, warnings). Writes are staged in ``store``.
    """
    ca_options = dict(ca_options or {})
    authority, ca = ca_step(store, plan["ca"], passphrase, now, check_mode,
                            ca_options.pop("renew_before", DEFAULT_CA_RENEW_BEFORE_DAYS), ca_options)
    certificates = plan["certificates"]
    outcomes = [issue_step(store, certificates[i], authority, now, passphrase, issue_options)
                for i in sorted(selected) if certificates[i]["mode"] != "external"]
    external_ids = [i for i in selected if certificates[i]["mode"] == "external"]
    waiting, warnings, download_ca = {}, [], plan["ca"]["cert"]
    if any(c["mode"] == "external" for c in certificates.values()):
        done = run_external(store, certificates, external_ids, now, passphrase,
                            issue_options.get("renew_before", DEFAULT_RENEW_BEFORE_DAYS), plan["pki_dir"],
                            plan["ca"]["cert"], plan["download_ca"], subjects=subjects, pfx_passwords=pfx_passwords,
                            key_type=issue_options.get("key_type", DEFAULT_KEY_TYPE))
        outcomes += done["outcomes"]
        waiting, warnings = done["waiting"], done["warnings"]
        download_ca = None if done["no_download_ca"] else plan["download_ca"]
        if download_ca is not None and not store.exists(download_ca):
            download_ca = None  # a check run on a new fleet: the phones' file waits for the enterprise CA
    hashes = dict((i, sha256(bundle_of(store, certificates[i], passphrase, now)))
                  for i in sorted(selected) if certificates[i]["system"] not in waiting)
    ca_changed = bool(ca_changed or ca["changed"])
    hosts, stops = host_entries(plan, play_hosts, outcomes, hashes, store, ca_changed, waiting, partial_ok,
                                download_ca)
    return dict(ca=ca, certificates=outcomes, hosts=hosts, stops=stops, waiting=waiting,
                systems=system_entries(plan, hosts, outcomes, waiting), download_ca=download_ca), warnings


def delivery_jobs(manifest):
    """The deliver action's jobs from the manifest: one per host, its files' store sources and wanted hashes."""
    jobs = []
    for host, entry in sorted(manifest["hosts"].items()):
        if entry.get("stop"):
            jobs.append(dict(host=host, stop=entry["stop"]))
            continue
        files = entry["files"]
        if entry.get("certificate"):
            bundle, ca = files
            outcome = dict((o["item"]["key"], o) for o in manifest["certificates"]).get(entry["certificate"]) or {}
            jobs.append(dict(host=host, dest_dir=posixpath.dirname(bundle["path"]), ca_path=ca["source"]["path"],
                             certificate=dict(bundle["source"]), settings=entry.get("settings") or [],
                             activation=bool(entry.get("activation")), bundle_sha256=bundle["sha256"],
                             ca_sha256=ca["sha256"],
                             pending_facts=dict(outcome.get("certificate") or {}, reason=outcome.get("reason"),
                                                detail=outcome.get("detail"))))
        else:
            ca = files[0]
            jobs.append(dict(host=host, dest_dir=posixpath.dirname(ca["path"]), ca_path=ca["source"]["path"],
                             ca_sha256=ca["sha256"]))
    return jobs
