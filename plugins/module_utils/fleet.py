# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Inventory -> systems -> LIMs -> certificates: the fleet plan, validated once.

``build_plan`` reads the variables of every host of the ``mxone_systems``
child groups and of ``mxone_download_servers`` and returns a plain dict the
roles use (which certificate each host gets, each system's leader and
activation settings). Every problem in the whole inventory is collected and
raised together, each naming the host (or group) and the variable, before
any node is touched.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import posixpath
import re

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.mxone.pki.plugins.module_utils.activation import validate_command_path
from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError
from ansible_collections.mxone.pki.plugins.module_utils.naming import (
    COMMON_NAMES, lim_fqdn, lim_names, system_names, validate_domain, validate_ip, validate_lim_number)
from ansible_collections.mxone.pki.plugins.module_utils.rolling import Window, time_zone

CERT_MODES = ("system", "lim", "external")
MEDIA_ENCRYPTION_TYPES = ("extension", "route", "intermgw")
RELOAD_SCOPES = ("system", "units")
TLS_CLIENT_VERIFICATION = ("none", "optional", "mandatory")
_SYSTEM_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")

# Variables read per LIM host (the rest of hostvars is never looked at).
LIM_VARS = ("mxone_system", "mxone_domain", "mxone_lim", "mxone_lim_ip", "ansible_host", "mxone_extra_dns",
            "mxone_extra_ips", "mxone_cert_mode", "mxone_encryption", "mxone_tls_client_verification",
            "mxone_media_encryption_types", "mxone_reload", "mxone_tls", "mxone_activate_window",
            "mxone_activate_timezone", "mxone_command_path", "mxone_import_require_ips", "mxone_cert_common_name",
            "ansible_port")
DOWNLOAD_VARS = ("mxone_download_dir", "ansible_host", "mxone_download_url", "ansible_port")
# Settings that act on the whole system: every LIM of it must agree.
_SYSTEM_WIDE = ("mxone_system", "mxone_domain", "mxone_encryption", "mxone_media_encryption_types", "mxone_reload",
                "mxone_tls", "mxone_activate_window", "mxone_activate_timezone", "mxone_command_path",
                "mxone_import_require_ips")


class FleetError(MxonePkiError):
    """Every inventory problem found, one line each."""

    def __init__(self, problems):
        problems = list(dict.fromkeys(problems))  # a host in two groups must not be reported twice
        self.problems = problems
        lines = ["%s: %s: %s" % (where, field, msg) for where, field, msg in problems]
        super(FleetError, self).__init__("inventory has %d problem(s):\n  %s" % (len(lines), "\n  ".join(lines)))


def _as_list(value):
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _as_bool(value, default):
    """An inventory flag read by Ansible's own rules (``boolean``, strict), so the plan and every ``| bool`` in
    the roles agree on what it means; None (unset) is ``default``. The caller names host or group and field."""
    if value is None:
        return default
    try:
        return boolean(value, strict=True)
    except TypeError:
        raise ValueError("%r is not a boolean (yes/no, true/false, on/off, y/n, t/f or 1/0)" % (value,))


class _Collector(object):
    def __init__(self):
        self.problems = []

    def add(self, where, field, msg):
        self.problems.append((where, field, msg))

    def check(self, where, field, func, *args):
        """Run a validator; record its error against ``where``/``field`` and return None."""
        try:
            return func(*args)
        except MxonePkiError as error:
            field = error.field or field  # the validator knows best which variable
            msg = error.msg[len(field) + 2:] if error.msg.startswith(field + ": ") else error.msg  # said once
            self.add(where, field, msg)
        except ValueError as error:
            self.add(where, field, str(error))
        return None


def _lim_entry(host, hv, problems):
    if hv.get("mxone_lim") is None:
        lim = None
        problems.add(host, "mxone_lim", "is required (the LIM number, 1..n)")
    else:
        lim = problems.check(host, "mxone_lim", validate_lim_number, hv.get("mxone_lim"))
    ip_source = "mxone_lim_ip" if hv.get("mxone_lim_ip") is not None else "ansible_host"
    ip = problems.check(host, ip_source, validate_ip, hv.get(ip_source, host), ip_source)
    mode = hv.get("mxone_cert_mode") or "system"
    if mode not in CERT_MODES:
        problems.add(host, "mxone_cert_mode", "%r is not one of %s" % (mode, ", ".join(CERT_MODES)))
    # None: leave the node's TlsClientVerificationMode as it is (the product's default is none)
    verification = hv.get("mxone_tls_client_verification")
    if verification is not None and verification not in TLS_CLIENT_VERIFICATION:
        problems.add(host, "mxone_tls_client_verification",
                     "%r is not one of %s" % (verification, ", ".join(TLS_CLIENT_VERIFICATION)))
    for field in ("mxone_extra_dns", "mxone_extra_ips"):
        value = hv.get(field)
        if value is not None and not isinstance(value, (list, tuple)):
            problems.add(host, field, "must be a list")
    common_name = hv.get("mxone_cert_common_name") or "name"
    if common_name not in COMMON_NAMES:
        problems.add(host, "mxone_cert_common_name", "%r is not one of %s" % (common_name, ", ".join(COMMON_NAMES)))
    return dict(host=host, lim=lim, ip=ip, cert_mode=mode, tls_client_verification=verification,
                common_name=common_name,
                extra_dns=_as_list(hv.get("mxone_extra_dns")), extra_ips=_as_list(hv.get("mxone_extra_ips")))


def _system_settings(group, hosts, hostvars, problems):
    """The system-wide settings, taken from the first LIM; the others must agree."""
    first = hostvars[hosts[0]]
    for field in _SYSTEM_WIDE:
        values = set(repr(hostvars[h].get(field)) for h in hosts)
        if len(values) > 1:
            odd = [h for h in hosts if repr(hostvars[h].get(field)) != repr(first.get(field))]
            problems.add(", ".join(odd), field, "differs from %s in system group %s; it is system-wide"
                         % (hosts[0], group))
    system_id = first.get("mxone_system")
    if not system_id:
        problems.add(group, "mxone_system", "is required on the system group (a fleet-unique id)")
    elif not _SYSTEM_ID.match(str(system_id)):
        problems.add(group, "mxone_system", "%r must be letters, digits, '.', '_' or '-'" % (system_id,))
    domain = problems.check(group, "mxone_domain", validate_domain, first.get("mxone_domain"))
    encryption = problems.check(group, "mxone_encryption", _as_bool, first.get("mxone_encryption"), True)
    tls = problems.check(group, "mxone_tls", _as_bool, first.get("mxone_tls"), True)
    types = _as_list(first.get("mxone_media_encryption_types") or ["extension"])
    for kind in types:
        if kind not in MEDIA_ENCRYPTION_TYPES:
            problems.add(group, "mxone_media_encryption_types",
                         "%r is not one of %s" % (kind, ", ".join(MEDIA_ENCRYPTION_TYPES)))
    reload_scope = first.get("mxone_reload") or "system"
    if reload_scope not in RELOAD_SCOPES:
        problems.add(group, "mxone_reload", "%r is not one of %s" % (reload_scope, ", ".join(RELOAD_SCOPES)))
    window, zone = first.get("mxone_activate_window") or None, first.get("mxone_activate_timezone") or None
    if window:
        problems.check(group, "mxone_activate_window", Window, window, zone)
    elif zone:
        problems.check(group, "mxone_activate_timezone", time_zone, zone)
    command_path = problems.check(group, "mxone_command_path", validate_command_path,
                                  first.get("mxone_command_path"))
    # A customer's certificate without a LIM's IP in its SAN: a warning (False) or a refusal (True).
    require_ips = problems.check(group, "mxone_import_require_ips", _as_bool, first.get("mxone_import_require_ips"),
                                 False)
    return dict(system=str(system_id) if system_id else None, domain=domain, encryption=encryption, tls=tls,
                media_encryption_types=types, reload=reload_scope, window=window, timezone=zone,
                command_path=command_path, import_require_ips=require_ips)


def _own_certificate(entry, lims):
    """A LIM with a certificate of its own: mode 'lim' (the enterprise CA's), or 'external' on some LIMs of the
    system but not all (the customer's CA signs that LIM's own CSR, as for a TLS SIP route that needs a certain
    root CA). 'external' on every LIM is the system's one shared customer certificate."""
    if entry["cert_mode"] == "lim":
        return True
    return entry["cert_mode"] == "external" and any(e["cert_mode"] != "external" for e in lims)


def _certificates(system, lims, problems):
    """One certificate for the system's shared LIMs, one per 'lim'-mode LIM and per LIM that alone is external."""
    shared = [entry for entry in lims if not _own_certificate(entry, lims)]
    modes = set(entry["cert_mode"] for entry in shared)
    if len(modes) > 1:
        problems.add(system["group"], "mxone_cert_mode", "mixes %s; LIMs sharing the system certificate "
                     "must agree (use 'lim' for LIMs with their own)" % " and ".join(sorted(modes)))
    certificates = []
    extra_dns = sorted(set(sum((e["extra_dns"] for e in shared), [])))
    extra_ips = sorted(set(sum((e["extra_ips"] for e in shared), [])))
    common_names = sorted(set(e["common_name"] for e in shared))
    if len(common_names) > 1:
        problems.add(system["group"], "mxone_cert_common_name", "mixes %s among the LIMs that share the system "
                     "certificate; one certificate has one CN" % " and ".join(common_names))
    if shared:
        names = problems.check(system["group"], "mxone_extra_dns", system_names, system["domain"],
                               [dict(lim=e["lim"], ip=e["ip"]) for e in shared], extra_dns, extra_ips,
                               common_names[0] if len(common_names) == 1 else "name")
        certificates.append(dict(id=system["system"], system=system["system"], mode=shared[0]["cert_mode"],
                                 lim=None, hosts=[e["host"] for e in shared], domain=system["domain"],
                                 lims=[dict(lim=e["lim"], ip=e["ip"]) for e in shared],
                                 extra_dns=extra_dns, extra_ips=extra_ips,
                                 import_require_ips=system.get("import_require_ips", False),
                                 common_name=common_names[0] if len(common_names) == 1 else "name",
                                 names=names.as_dict() if names else None))
    for entry in lims:
        if not _own_certificate(entry, lims):
            continue
        names = problems.check(entry["host"], "mxone_extra_dns", lim_names, system["domain"], entry["lim"],
                               entry["ip"], entry["extra_dns"], entry["extra_ips"], entry["common_name"])
        certificates.append(dict(id="%s-lim%d" % (system["system"], entry["lim"]), system=system["system"],
                                 mode=entry["cert_mode"], lim=entry["lim"], hosts=[entry["host"]], domain=system["domain"],
                                 lims=[dict(lim=entry["lim"], ip=entry["ip"])], extra_dns=entry["extra_dns"],
                                 extra_ips=entry["extra_ips"], import_require_ips=system.get("import_require_ips", False),
                                 common_name=entry["common_name"],
                                 names=names.as_dict() if names else None))
    return certificates


def ca_paths(pki_dir):
    """Where the enterprise CA lives in the controller's PKI store."""
    return dict(cert=posixpath.join(pki_dir, "ca", "ca.pem"), key=posixpath.join(pki_dir, "ca", "ca.key"))


def download_ca_path(pki_dir):
    """The phones' CA file (every CA in use) that the rollout writes for the download servers."""
    return posixpath.join(pki_dir, "download", "ca.pem")


def certificate_paths(pki_dir, cert_id, mode):
    """Where one certificate lives in the PKI store; the chain is the CA's unless a customer PKI signed it."""
    directory = posixpath.join(pki_dir, "certs", cert_id)
    chain = posixpath.join(directory, "chain.pem") if mode == "external" else ca_paths(pki_dir)["cert"]
    return dict(dir=directory, cert=posixpath.join(directory, "server.pem"),
                key=posixpath.join(directory, "server.key"), chain=chain,
                csr=posixpath.join(directory, "server.csr"))


def _unique_addresses(lims, hostvars, hosts, problems):
    """Two LIMs with one IP, or two hosts behind one SSH address and port, are a typo that would put one node's
    certificate (and reload) on another: refused, naming both hosts."""
    by_ip = {}
    for entry in lims:
        if entry["ip"] is not None:
            by_ip.setdefault(entry["ip"], []).append(entry["host"])
    for ip, owners in sorted(by_ip.items()):
        owners = sorted(set(owners))
        if len(owners) > 1:
            field = "mxone_lim_ip" if any(hostvars[h].get("mxone_lim_ip") is not None for h in owners) \
                else "ansible_host"
            problems.add(", ".join(owners), field, "%s is the address of %d LIMs; each LIM has its own address "
                         "(it goes into the certificate, and the LIM is reached there)" % (ip, len(owners)))
    by_ssh = {}
    for host in dict.fromkeys(hosts):
        variables = hostvars[host]
        address = str(variables.get("ansible_host") or host)
        by_ssh.setdefault((address, str(variables.get("ansible_port") or 22)), []).append(host)
    for (address, port), owners in sorted(by_ssh.items()):
        if len(owners) > 1:
            problems.add(", ".join(sorted(owners)), "ansible_host", "%s port %s is where %d hosts are reached; "
                         "each service node has its own SSH address (or port)" % (address, port, len(owners)))


def build_plan(system_groups, hostvars, download_hosts=(), pki_dir="pki"):
    """The fleet plan from the system groups ({group: [hosts]}) and each host's variables.

    ``hostvars`` maps host -> {variable: value} for at least ``LIM_VARS`` /
    ``DOWNLOAD_VARS``. Raises ``FleetError`` listing every problem.
    """
    problems = _Collector()
    if not system_groups:
        problems.add("mxone_systems", "children", "no system group: put one group per MX-ONE system under "
                     "mxone_systems")
    membership = {}
    for group, hosts in sorted(system_groups.items()):
        for host in hosts:
            membership.setdefault(host, []).append(group)
    for host, groups in sorted(membership.items()):
        if len(groups) > 1:
            problems.add(host, "groups", "is a LIM of %d systems (%s); a LIM belongs to one system"
                         % (len(groups), ", ".join(groups)))
    systems, hosts_plan, certificates, seen_ids, seen_domains, systems_by_group = {}, {}, [], {}, {}, {}
    every_lim = []
    for group, hosts in sorted(system_groups.items()):
        if not hosts:
            problems.add(group, "hosts", "system group has no LIM")
            continue
        settings = _system_settings(group, hosts, hostvars, problems)
        settings["group"] = group
        lims = [_lim_entry(host, hostvars[host], problems) for host in hosts]
        every_lim.extend(lims)
        numbers = {}
        for entry in lims:
            if entry["lim"] is not None:
                numbers.setdefault(entry["lim"], []).append(entry["host"])
        for number, owners in sorted(numbers.items()):
            if len(owners) > 1:
                problems.add(", ".join(owners), "mxone_lim", "LIM number %d is used by %d hosts of system group %s"
                             % (number, len(owners), group))
        system_id = settings["system"]
        if system_id in seen_ids:
            problems.add(group, "mxone_system", "%r is also the id of group %s; ids are fleet-unique"
                         % (system_id, seen_ids[system_id]))
        seen_ids.setdefault(system_id, group)
        if settings["domain"] in seen_domains:
            problems.add(group, "mxone_domain", "%r is also the domain of group %s"
                         % (settings["domain"], seen_domains[settings["domain"]]))
        seen_domains.setdefault(settings["domain"], group)
        if problems.problems:
            continue  # names would only repeat the errors above
        lims.sort(key=lambda e: e["lim"])
        system_certs = _certificates(settings, lims, problems)
        certificates.extend(system_certs)
        settings.update(leader=lims[0]["host"], hosts=[e["host"] for e in lims],
                        certificates=[c["id"] for c in system_certs])
        systems[system_id] = settings
        systems_by_group[group] = system_id
        for entry in lims:
            cert_id = next(c["id"] for c in system_certs if entry["host"] in c["hosts"])
            hosts_plan[entry["host"]] = dict(system=system_id, lim=entry["lim"], ip=entry["ip"],
                                             fqdn=lim_fqdn(entry["lim"], settings["domain"]), certificate=cert_id,
                                             tls_client_verification=entry["tls_client_verification"])
    downloads = {}
    for host in download_hosts:
        hv = hostvars[host]
        directory = hv.get("mxone_download_dir")
        if not directory:
            problems.add(host, "mxone_download_dir", "is required on a download server")
        elif not posixpath.isabs(str(directory)):
            problems.add(host, "mxone_download_dir", "%r must be an absolute path" % (directory,))
        downloads[host] = dict(dir=directory, url=hv.get("mxone_download_url"))
    _unique_addresses(every_lim, hostvars, list(membership) + list(download_hosts), problems)
    if problems.problems:
        raise FleetError(problems.problems)
    for cert in certificates:
        cert["paths"] = certificate_paths(pki_dir, cert["id"], cert["mode"])
    # Inventory order of the systems (the group tree's order): the order they are activated in.
    order = [systems_by_group[group] for group in system_groups if group in systems_by_group]
    return dict(systems=systems, hosts=hosts_plan, certificates=dict((c["id"], c) for c in certificates),
                order=list(dict.fromkeys(order)), download_servers=downloads, ca=ca_paths(pki_dir),
                download_ca=download_ca_path(pki_dir),
                pki_dir=pki_dir)


# Where MX-ONE's TLS programs read their files on a service node.
NODE_CERT_DIR = "/etc/opt/eri_sn/certs"
TLS_TELEPHONY_CONF = "/etc/opt/eri_sn/tls_telephony.conf"
IP_TELEPHONY_CONF = "/etc/opt/eri_sn/ip_telephony.conf"


def node_settings(plan, host):
    """The configuration lines this collection owns on a LIM.

    Whether TLS is used (written with the certificate, as the vendor tool does) and, where the
    inventory sets it, mutual TLS per LIM.
    """
    lim = plan["hosts"][host]
    settings = [dict(path=TLS_TELEPHONY_CONF, key="TlsEnabled",
                     value="yes" if plan["systems"][lim["system"]]["tls"] else "no")]
    if lim.get("tls_client_verification"):
        settings.append(dict(path=IP_TELEPHONY_CONF, key="TlsClientVerificationMode",
                             value=lim["tls_client_verification"]))
    return settings


def partial_stop(plan, system_id, issued, ca_changed):
    """Why a system that the limit selects only in part gets nothing, or None.

    ``reload`` acts on every LIM of a system: with a new shared certificate (or CA) on some LIMs only, the
    others would come back serving the old names. ``plan["outside_limit"]`` lists the LIMs left out.
    """
    outside = (plan.get("outside_limit") or {}).get(system_id) or []
    if not outside:
        return None
    system = plan["systems"][system_id]
    changing = []
    for cert_id in system["certificates"]:
        result = issued.get(cert_id) or {}
        if result.get("changed") and set(plan["certificates"][cert_id]["hosts"]) & set(outside):
            changing.append("certificate %s (%s)" % (cert_id, result.get("reason") or "changed"))
    if ca_changed:
        changing.append("the enterprise CA")
    if not changing:
        return None
    inside = [h for h in system["hosts"] if h not in outside]
    words = (system_id, ", ".join(inside), ", ".join(outside), " and ".join(changing), system["group"])
    return ("system %s: the limit selects %s but not %s, and %s changes; reload acts on every LIM of the system, "
            "so nothing is delivered to it. Run on the whole system (-l %s), or set mxone_activate_partial: true "
            "to go ahead on these LIMs only" % words)


def delivery_targets(plan, play_hosts, issue_results=(), ca_pending=False, pending_ca_paths=(),
                     download_ca=None, waiting=None, no_download_ca=False, partial_ok=False):
    """One delivery job per host of the play: its files, settings and, in check mode, what is still to be made.

    ``issue_results`` are the issue step's per-certificate results (``item.key`` = certificate id):
    what it (re)issued is pending in a check run, and its facts are the diff's after side.
    ``download_ca`` is the CA file the download servers get (the enterprise CA unless the customer
    PKI step made a union file). ``waiting``: system -> why it waits for its customer's CA; its LIMs
    get a ``stop`` (that message, nothing sent). ``no_download_ca``: no CA is in use yet, so the
    download servers keep what they have. ``partial_ok``: deliver to a system although the limit selects
    only some of its LIMs and its certificate or CA changes (see ``partial_stop``).
    """
    waiting = waiting or {}
    live = set(play_hosts)
    issued = dict(((r.get("item") or {}).get("key"), r) for r in issue_results or [] if isinstance(r, dict))
    pending_ca_paths = set(pending_ca_paths or ())
    partial = {} if partial_ok else dict(
        (s, partial_stop(plan, s, issued, ca_pending)) for s in plan.get("selected_systems", []))
    targets = []
    for host in sorted(live):
        lim = plan["hosts"].get(host)
        if lim is not None and lim["system"] in waiting:
            targets.append(dict(host=host, stop=waiting[lim["system"]]))
        elif lim is not None and partial.get(lim["system"]):
            targets.append(dict(host=host, stop=partial[lim["system"]]))
        elif lim is not None and lim["system"] in plan.get("selected_systems", []):
            cert = plan["certificates"][lim["certificate"]]
            issue = issued.get(cert["id"]) or {}
            targets.append(dict(
                host=host, dest_dir=NODE_CERT_DIR, ca_path=cert["paths"]["chain"],
                certificate=dict(cert_path=cert["paths"]["cert"], key_path=cert["paths"]["key"],
                                 chain_path=cert["paths"]["chain"]),
                settings=node_settings(plan, host),
                activation=bool(plan["systems"][lim["system"]]["encryption"]),
                pending_certificate=bool(issue.get("changed")),
                pending_ca=bool(ca_pending) or cert["paths"]["chain"] in pending_ca_paths,
                pending_facts=dict(issue.get("certificate") or {}, reason=issue.get("reason"),
                                   detail=issue.get("detail"))))
        elif host in plan.get("download_servers", {}) and not no_download_ca:
            ca_path = download_ca or plan["ca"]["cert"]
            targets.append(dict(host=host, dest_dir=plan["download_servers"][host]["dir"], ca_path=ca_path,
                                pending_ca=bool(ca_pending) or ca_path in pending_ca_paths))
    return targets
