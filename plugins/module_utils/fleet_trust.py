# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the fleet already trusts, before a new enterprise CA is made: the CA interlock.

Every phone trusts the CA in the ``ca.pem`` it fetched. A PKI store without a CA (a copied inventory, a
throw-away CI checkout) would make a new CA and re-issue everything: an outage of every encrypted phone.
So before a CA is created, the CAs the LIMs serve chains from, and those in their ``ca.pem``, are
collected; if there is any, the run stops naming them, unless the operator replaces the CA on purpose.
Plain Python: the fleet_plan action gathers the evidence, this decides and words it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def existing_cas(ca_files, served):
    """The CAs in use: ``ca_files`` {host: [CA certificate facts]} (their ca.pem), ``served`` {host: leaf facts}.

    Returns one dict per CA - subject, sha256_fingerprint, not_after (None when only a served leaf names it),
    in_ca_pem and served_by (host lists) - ordered by subject.
    """
    found = {}
    for host, certs in sorted(ca_files.items()):
        for cert in certs:
            entry = found.setdefault(cert["subject"], dict(subject=cert["subject"], sha256_fingerprint=None,
                                                           not_after=None, in_ca_pem=[], served_by=[]))
            entry.update(sha256_fingerprint=cert["sha256_fingerprint"], not_after=cert["not_after"])
            if host not in entry["in_ca_pem"]:
                entry["in_ca_pem"].append(host)
    for host, leaf in sorted(served.items()):
        if not leaf:
            continue
        entry = found.setdefault(leaf["issuer"], dict(subject=leaf["issuer"], sha256_fingerprint=None,
                                                      not_after=None, in_ca_pem=[], served_by=[]))
        entry["served_by"].append(host)
    return [found[subject] for subject in sorted(found)]


def _hosts(hosts, limit=6):
    return ", ".join(hosts[:limit]) + (" and %d more" % (len(hosts) - limit) if len(hosts) > limit else "")


def describe(ca):
    what = ca["subject"]
    if ca["sha256_fingerprint"]:
        what += " (SHA-256 %s, valid until %s)" % (ca["sha256_fingerprint"], ca["not_after"])
    where = []
    if ca["served_by"]:
        where.append("served by %s" % _hosts(ca["served_by"]))
    if ca["in_ca_pem"]:
        where.append("in the ca.pem of %s" % _hosts(ca["in_ca_pem"]))
    return "%s, %s" % (what, " and ".join(where))


def interlock_message(cas, store):
    """Why the run stops before making a new CA in ``store``, or None when the fleet trusts no CA yet."""
    if not cas:
        return None
    return ("the PKI store %s holds no enterprise CA, but the fleet already trusts %s: %s. A new CA would replace "
            "every certificate, and every phone that trusts the old CA would stop registering over TLS. Point "
            "mxone_pki_dir at the store that holds that CA, or adopt it (copy its ca.pem and ca.key into %s/ca/; "
            "see README, 'Adopting an existing CA'); or set mxone_ca_create: true to replace the fleet's CA on "
            "purpose (phones must then fetch the new ca.pem before the LIMs switch). Nothing was changed."
            % (store, "this CA" if len(cas) == 1 else "these CAs", "; ".join(describe(ca) for ca in cas), store))
