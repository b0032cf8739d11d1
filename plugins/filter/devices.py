# -*- coding: utf-8 -*-
# Copyright: (c) 2026, mxone.pki contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the mxone_devices role: one-line wrappers over the device formats in module_utils."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.mxone.pki.plugins.module_utils import phones, sip_proxy
from ansible_collections.mxone.pki.plugins.module_utils.errors import MxonePkiError


def _wrap(func, *args, **kwargs):
    try:
        return func(*args, **kwargs)
    except MxonePkiError as error:
        raise AnsibleFilterError(str(error))


def kamailio_tls_cfg(paths, verify_client=False, verify_server=True, method=sip_proxy.KAMAILIO_DEFAULT_METHOD):
    return _wrap(sip_proxy.render_kamailio_tls_cfg, paths["cert"], paths["key"], paths["ca"],
                 verify_client=verify_client, verify_server=verify_server, method=method)


def opensips_tls_mgm(paths, domain="mxone", verify_client=False, verify_server=True,
                     method=sip_proxy.OPENSIPS_DEFAULT_METHOD):
    return _wrap(sip_proxy.render_opensips_tls_mgm, paths["cert"], paths["key"], paths["ca"], domain=domain,
                 verify_client=verify_client, verify_server=verify_server, method=method)


def phones_plan(models, bothway=False, client_cert_mode="shared", macs=None):
    """What the download server gets: fragment and client file names, and one entry per phone (per-phone mode)."""
    def plan():
        checked = phones.check_plan(models, bothway, client_cert_mode, macs)
        per_phone = [phones.per_phone_files(mac) for mac in checked] if bothway and client_cert_mode == "per_phone" \
            else []
        return dict(fragment_6000=phones.FRAGMENT_6000, fragment_5300=phones.FRAGMENT_5300,
                    shared_cert=phones.SHARED_CLIENT_CERT, shared_key=phones.SHARED_CLIENT_KEY,
                    shared=bool(bothway) and client_cert_mode == "shared", phones=per_phone)
    return _wrap(plan)


def mitel6000_fragment(ca_file, time_server, port=phones.TLS_PORT, aes256=True, bothway=False, client_cert=None,
                       client_key=None):
    return _wrap(lambda: phones.render_mitel6000(phones.mitel6000_settings(
        ca_file, time_server, port=int(port), aes256=aes256, bothway=bothway, client_cert=client_cert,
        client_key=client_key), comment="Mitel 6000 SIP phones: merge into aastra.cfg (or <MAC>.cfg)."))


def mitel6000_local_fragment(client_cert, client_key, mac=None):
    comment = "Bothway mode: this phone's own certificate%s; merge into its <MAC>.cfg." % (
        " (%s)" % mac if mac else "")
    return _wrap(lambda: phones.render_mitel6000(phones.mitel6000_local_settings(client_cert, client_key),
                                                 comment=comment))


def mivoice5300_fragment(ca_file, time_server, port=phones.TLS_PORT):
    return _wrap(lambda: phones.render_mivoice5300(phones.mivoice5300_settings(ca_file, time_server,
                                                                               port=int(port))))


class FilterModule(object):
    def filters(self):
        return {"kamailio_tls_cfg": kamailio_tls_cfg, "opensips_tls_mgm": opensips_tls_mgm,
                "phones_plan": phones_plan, "mitel6000_fragment": mitel6000_fragment,
                "mitel6000_local_fragment": mitel6000_local_fragment, "mivoice5300_fragment": mivoice5300_fragment}
